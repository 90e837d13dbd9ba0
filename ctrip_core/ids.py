"""Public object ids: a type prefix and 24 random base62 characters ("pay_3x9...").

Random, not sequential, so ids never reveal volumes or let one merchant guess another's objects.
The characters come from one 192-bit draw of the OS generator reduced modulo 62**24 (about 143
bits; the bias of the reduction is below 2**-49), one system call per id instead of one per character.
"""

from __future__ import annotations

import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 24
_SPACE = len(_ALPHABET) ** _LENGTH


def new_id(prefix: str) -> str:
    n = int.from_bytes(secrets.token_bytes(24)) % _SPACE
    chars = []
    for _ in range(_LENGTH):
        n, digit = divmod(n, 62)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_" + "".join(chars)


#: What an id given from outside (a URL path, a cursor) must look like before it is looked up:
#: a prefix, "_", and at most 60 base62 characters (ids made here have 24).
_SHAPE = re.compile(r"([a-z]{2,6})_[A-Za-z0-9]{1,60}")


def has_id_shape(value: str | None, *prefixes: str) -> bool:
    """Whether `value` could be an id of one of `prefixes` ("pay", "we"…): a NUL or 5,000
    characters asks the database nothing."""
    shape = _SHAPE.fullmatch(value) if isinstance(value, str) else None
    return shape is not None and shape.group(1) in prefixes

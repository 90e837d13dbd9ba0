"""Public object ids: a type prefix and 24 random base62 characters ("pay_3x9...").

Random, not sequential, so ids never reveal volumes or let one merchant guess another's objects.
The characters come from one 192-bit draw of the OS generator reduced modulo 62**24 (about 143
bits; the bias of the reduction is below 2**-49), one system call per id instead of one per character.
"""

from __future__ import annotations

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

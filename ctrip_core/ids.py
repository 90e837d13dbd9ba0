"""Public object ids: a type prefix and 24 random base62 characters ("pay_3x9...").

Random, not sequential, so ids never reveal volumes or let one merchant guess another's objects.
"""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))

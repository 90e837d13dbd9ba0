"""Dashboard users: a merchant's people, who log in with an email and a password.

A user belongs to one merchant and has a role (`owner` acts, `viewer` reads). The password is kept
only as its argon2id hash (argon2-cffi's defaults, RFC 9106's second recommended option: 64 MiB,
3 passes, 4 lanes); `check_password` verifies it in constant time and says when the stored hash
should be replaced by one of today's parameters. Emails are unique and kept lower-case, so
`Ann@Shop.example` and `ann@shop.example` are one user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import USER_ROLES, DashboardUser, Merchant
from ctrip_core.ids import new_id
from ctrip_core.services.errors import Conflict, InvalidField, NotFound

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; this bounds the work one login asks for
#: One @, no spaces or angle brackets, a dot in the domain: what a mail server would accept, roughly.
_EMAIL = re.compile(r"[^@\s<>\x00]{1,64}@[^@\s<>\x00]+\.[^@\s<>.\x00]+")


def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id


def normalized_email(email: str) -> str:
    """`email` stripped and lower-cased; InvalidField (field `email`) when it is not an address."""
    value = email.strip().lower()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise InvalidField(f"not an email address: {email.strip()[:80]!r}", field="email")
    return value


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidField(f"a password needs at least {MIN_PASSWORD_CHARS} characters", field="password")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidField(f"a password has at most {MAX_PASSWORD_CHARS} characters", field="password")
    if "\x00" in password:
        raise InvalidField("a password cannot hold NUL characters", field="password")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher().hash(password)


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    #: A hash of today's parameters to store in place of the old one (None: keep it).
    rehashed: str | None = None


def check_password(stored_hash: str, password: str) -> PasswordCheck:
    """Whether `password` matches `stored_hash`; a malformed stored hash matches nothing."""
    hasher = _hasher()
    try:
        hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return PasswordCheck(ok=False)
    return PasswordCheck(ok=True, rehashed=hasher.hash(password) if hasher.check_needs_rehash(stored_hash) else None)


async def add_user(session: AsyncSession, merchant_id: str, email: str, password: str,
                   role: str = "viewer") -> DashboardUser:
    """A new user of `merchant_id`; the caller commits. NotFound (no such merchant), InvalidField
    (email, password, role), Conflict (the email is taken, by this merchant or another)."""
    if role not in USER_ROLES:
        raise InvalidField(f"role must be one of {', '.join(USER_ROLES)}", field="role")
    address = normalized_email(email)
    password_hash = hash_password(password)
    if await session.get(Merchant, merchant_id) is None:
        raise NotFound(f"no merchant {merchant_id}", field="merchant")
    if await session.scalar(select(DashboardUser.id).where(DashboardUser.email == address)) is not None:
        raise Conflict(f"a user with email {address} exists already", field="email")
    user = DashboardUser(id=new_id("usr"), merchant_id=merchant_id, email=address, role=role,
                         password_hash=password_hash)
    session.add(user)
    return user


async def users_of(session: AsyncSession, merchant_id: str) -> list[DashboardUser] | None:
    """The merchant's users, oldest first; None when there is no such merchant."""
    if await session.get(Merchant, merchant_id) is None:
        return None
    return list(await session.scalars(select(DashboardUser).where(DashboardUser.merchant_id == merchant_id)
                                      .order_by(DashboardUser.created_at, DashboardUser.id)))

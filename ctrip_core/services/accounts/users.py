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
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import USER_ROLES, DashboardSession, DashboardUser, Merchant
from ctrip_core.ids import new_id
from ctrip_core.services.errors import Conflict, InvalidField, NotFound

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; this bounds the work one login asks for
#: One plain address: a local part of the characters RFC 5322's dot-atom allows (no quoting, no
#: comments, no groups or lists: `a,b@x` or `a:b;@x` would be two addresses or none in a To:
#: header), one @, a domain of labels (letters, digits, hyphens inside, underscores) with a dot.
_EMAIL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                    r"@[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)+")


def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id


def normalized_email(email: str) -> str:
    """`email` stripped and lower-cased; InvalidField (field `email`) when it is not an address."""
    value = email.strip().lower()
    if len(value) > 254 or len(value.partition("@")[0]) > 64 or not _EMAIL.fullmatch(value):
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


#: The stored hash of a user invited but without a password yet: not an argon2 hash, so no password matches it.
NO_PASSWORD = "!none"


async def add_user(session: AsyncSession, merchant_id: str, email: str, password: str | None,
                   role: str = "viewer") -> DashboardUser:
    """A new user of `merchant_id` (`password` None: none yet, an invitation's); the caller commits.
    NotFound (no such merchant), InvalidField (email, password, role), Conflict (the email is taken,
    by this merchant or another)."""
    if role not in USER_ROLES:
        raise InvalidField(f"role must be one of {', '.join(USER_ROLES)}", field="role")
    address = normalized_email(email)
    password_hash = NO_PASSWORD if password is None else hash_password(password)
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


async def _owners(session: AsyncSession, merchant_id: str) -> int:
    return await session.scalar(select(func.count()).select_from(DashboardUser).where(
        DashboardUser.merchant_id == merchant_id, DashboardUser.role == "owner"))


async def user_of(session: AsyncSession, merchant_id: str, user_id: str, *, lock: bool = False) -> DashboardUser:
    query = select(DashboardUser).where(DashboardUser.id == user_id, DashboardUser.merchant_id == merchant_id)
    user = await session.scalar(query.with_for_update() if lock else query)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


async def set_role(session: AsyncSession, merchant_id: str, user_id: str, role: str) -> DashboardUser:
    """Change a user's role; the merchant keeps at least one owner (Conflict). Takes effect at the
    user's next page: a session reads its user's role each time."""
    if role not in USER_ROLES:
        raise InvalidField(f"role must be one of {', '.join(USER_ROLES)}", field="role")
    await session.execute(select(Merchant.id).where(Merchant.id == merchant_id).with_for_update())  # one change at a time
    user = await user_of(session, merchant_id, user_id, lock=True)
    if user.role == "owner" and role != "owner" and await _owners(session, merchant_id) <= 1:
        raise Conflict("the merchant's last owner stays an owner: make someone else owner first", "role")
    user.role = role
    return user


async def remove_user(session: AsyncSession, merchant_id: str, user_id: str) -> DashboardUser:
    """Remove a user and end its sessions; never the merchant's last owner (Conflict)."""
    await session.execute(select(Merchant.id).where(Merchant.id == merchant_id).with_for_update())
    user = await user_of(session, merchant_id, user_id, lock=True)
    if user.role == "owner" and await _owners(session, merchant_id) <= 1:
        raise Conflict("the merchant's last owner cannot be removed", "id")
    await session.execute(delete(DashboardSession).where(DashboardSession.user_id == user.id))
    await session.delete(user)
    return user

"""Logging in: an email and a password against `dashboard_users`, with a lockout.

After `MAX_FAILURES` wrong passwords in a row a user cannot log in for `LOCKOUT` (the right
password included, so guessing gains nothing meanwhile); a success resets the count. An unknown
email costs the same argon2 work as a known one and answers the same refusal, so the answer does
not tell which emails exist. The API's limiter also bounds attempts per client address (the
blueprint's job).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import DashboardUser
from ctrip_core.services.accounts.users import check_password, hash_password, normalized_email
from ctrip_core.services.errors import InvalidField

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


@functools.cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so that both answers take one argon2 verification."""
    return hash_password("not the password of anyone at all")


WRONG = "wrong email or password"
LOCKED = "too many wrong passwords: try again later"


@dataclass(frozen=True)
class Login:
    """A login's outcome: the user, or why not (one message for every reason but a lockout)."""

    user: DashboardUser | None
    refusal: str | None = None


async def log_in(session: AsyncSession, email: str, password: str, now: datetime) -> Login:
    """Whether `email` and `password` name a user; the caller commits, refused or not (the failure
    count is written either way)."""
    try:
        address = normalized_email(email)
    except InvalidField:
        address = None
    user = None if address is None else await session.scalar(
        select(DashboardUser).where(DashboardUser.email == address).with_for_update())
    check = check_password(user.password_hash if user else _dummy_hash(), password[:1024])
    if user is None:
        return Login(None, WRONG)
    if user.locked_until is not None and user.locked_until > now:
        return Login(None, LOCKED)
    if not check.ok:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILURES:
            user.failed_logins, user.locked_until = 0, now + LOCKOUT
            return Login(None, LOCKED)
        return Login(None, WRONG)
    user.failed_logins, user.locked_until = 0, None
    if check.rehashed:
        user.password_hash = check.rehashed
    return Login(user)

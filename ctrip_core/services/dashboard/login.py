"""Logging in: an email and a password against `dashboard_users` (and, for a user who turned it
on, a current TOTP code: services/dashboard/totp.py), with a lockout.

After `MAX_FAILURES` wrong passwords (or codes) in a row a user cannot log in for `LOCKOUT` (the right
password included, so guessing gains nothing meanwhile); a success resets the count. An unknown
email costs the same argon2 work as a known one, and every refusal (locked out included) is the
same answer, so none tells which emails exist. A known limit: anyone who knows an email can keep
that user locked out with five tries every 15 minutes (per-address limits slow it, nothing more). The API's limiter also bounds attempts per client address (the
blueprint's job).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import DashboardUser
from ctrip_core.services.accounts.users import (NO_PASSWORD, PasswordCheck, check_password, hash_password,
                                                normalized_email)
from ctrip_core.services.dashboard import totp
from ctrip_core.services.errors import InvalidField
from ctrip_core.services.webhooks.secret_box import SecretBox

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


@functools.cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so that both answers take one argon2 verification."""
    return hash_password("not the password of anyone at all")


#: One answer for every refusal (wrong password, unknown email, locked out), so none tells which
#: emails have a user.
REFUSED = (f"wrong email, password or code (after {MAX_FAILURES} wrong ones in a row, wait "
           f"{LOCKOUT.seconds // 60} minutes)")


@dataclass(frozen=True)
class Login:
    """A login's outcome: the user, or why not (REFUSED)."""

    user: DashboardUser | None
    refusal: str | None = None


def count_failure(user: DashboardUser, now: datetime) -> bool:
    """One more wrong password or code in a row (at login, or confirming a change of the account);
    True when it locked the user out for `LOCKOUT` (the caller of an account change then ends the
    user's sessions). The caller commits."""
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= MAX_FAILURES:
        user.failed_logins, user.locked_until = 0, now + LOCKOUT
        return True
    return False


async def log_in(session: AsyncSession, email: str, password: str, now: datetime, *, code: str = "",
                 box: SecretBox | None = None) -> Login:
    """Whether `email` and `password` (and `code`, when the user's second factor is on; `box` opens
    its secret) name a user; the caller commits, refused or not (the failure count is written
    either way). The argon2 check runs in a thread, before the row is locked. A wrong code counts
    as a wrong password and gets the same answer."""
    try:
        address = normalized_email(email)
    except InvalidField:
        address = None
    found = None if address is None else await session.scalar(
        select(DashboardUser.password_hash).where(DashboardUser.email == address))
    # an unknown email, or a user invited who has no password yet, costs the same argon2 work
    usable = found if found and found != NO_PASSWORD else None
    check = await asyncio.to_thread(check_password, usable or _dummy_hash(), password[:1024])
    if usable is None and found:
        check = PasswordCheck(ok=False)
    if found is None:
        return Login(None, REFUSED)
    user = await session.scalar(select(DashboardUser).where(DashboardUser.email == address).with_for_update())
    if user is None or (user.locked_until is not None and user.locked_until > now):
        return Login(None, REFUSED)
    password_ok = check.ok and user.password_hash == found  # (changed meanwhile: the check was of the old one)
    # the code is looked at only after the right password, so a mistyped password spends no code
    if not password_ok or (totp.is_on(user) and (box is None or not totp.accepts(user, box, code, now))):
        count_failure(user, now)
        return Login(None, REFUSED)
    user.failed_logins, user.locked_until = 0, None
    if check.rehashed:
        user.password_hash = check.rehashed
    return Login(user)

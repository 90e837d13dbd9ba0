"""Inviting a person to a merchant's dashboard without ever handling their password: an owner
(or `ctrip merchant add-user --link`) adds the user with no password and gets a one-time link,
`/dashboard/setup/{token}`, to pass on; whoever opens it within `VALID` sets the password, once.

Only the token's sha256 is stored (a database reader learns no link); using it clears it. A new
invitation of the same user replaces the old link.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import DashboardUser
from ctrip_core.services.accounts.users import add_user, check_password_rules, hash_password
from ctrip_core.services.errors import NotFound

VALID = timedelta(days=3)
PATH = "/dashboard/setup/"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_link(user: DashboardUser, now: datetime) -> str:
    """A fresh one-time link for `user` (its path; the caller commits)."""
    token = secrets.token_urlsafe(32)
    user.setup_token_hash, user.setup_expires_at = _hash(token), now + VALID
    return PATH + token


async def invite(session: AsyncSession, merchant_id: str, email: str, role: str, now: datetime
                 ) -> tuple[DashboardUser, str]:
    """A new user without a password, and its link (add_user's errors)."""
    user = await add_user(session, merchant_id, email, None, role)
    return user, new_link(user, now)


async def invited(session: AsyncSession, token: str, now: datetime, *, lock: bool = False) -> DashboardUser:
    """The user whose live link `token` is; NotFound when used, expired or unknown."""
    if not token or len(token) > 100:
        raise NotFound("this link is not valid (used, expired or unknown): ask for a new one")
    query = select(DashboardUser).where(DashboardUser.setup_token_hash == _hash(token))
    user = await session.scalar(query.with_for_update() if lock else query)
    if user is None or user.setup_expires_at is None or user.setup_expires_at <= now:
        raise NotFound("this link is not valid (used, expired or unknown): ask for a new one")
    return user


async def set_password(session: AsyncSession, token: str, password: str, now: datetime) -> DashboardUser:
    """Set the password of the link's user and use the link up (the caller commits). The argon2
    hash is made in a thread, before the row is locked."""
    check_password_rules(password)
    await invited(session, token, now)
    password_hash = await asyncio.to_thread(hash_password, password)
    user = await invited(session, token, now, lock=True)
    user.password_hash = password_hash
    user.setup_token_hash = user.setup_expires_at = None
    user.failed_logins, user.locked_until = 0, None
    return user

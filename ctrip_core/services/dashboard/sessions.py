"""Server-side dashboard sessions: a random token in the browser's cookie, its sha256 in the database.

A session lasts `IDLE` since it was last used and at most `LIFETIME` in all; logging out deletes
it, and `end_all` (logout everywhere) every session of the user. Each session has its own CSRF
token, which every form it renders posts back (compared in constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import DashboardSession, DashboardUser

IDLE = timedelta(hours=12)
LIFETIME = timedelta(days=7)
#: The last-seen time is written at most this often (not on every page).
TOUCH_EVERY = timedelta(minutes=5)


def _id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _login_signature(secret_key: str, value: str) -> str:
    key = hashlib.sha256(b"ctrip dashboard login form\x00" + secret_key.encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def new_login_token(secret_key: str) -> str:
    """The CSRF token of a form shown before there is a session (login, an invitation's link): a
    random value signed with `secret_key`, so a cookie holding a value of someone else's choosing
    does not pass. (A token fetched from us and planted by a sibling subdomain would: the blueprint
    also requires the POST to come from this origin.)"""
    value = secrets.token_urlsafe(24)
    return f"{value}.{_login_signature(secret_key, value)}"


def login_token_ok(secret_key: str, given: str | None, cookie: str | None) -> bool:
    """The form posted back the cookie's token, and that token is one this server signed."""
    if not same_token(given, cookie) or given.count(".") != 1:
        return False
    value, signature = given.split(".")
    return hmac.compare_digest(signature.encode(), _login_signature(secret_key, value).encode())


@dataclass(frozen=True)
class Current:
    user: DashboardUser
    csrf_token: str


async def start(session: AsyncSession, user: DashboardUser, now: datetime) -> str:
    """A new session of `user`; returns the cookie's token (the caller commits)."""
    token = secrets.token_urlsafe(32)
    session.add(DashboardSession(id=_id(token), user_id=user.id, csrf_token=new_csrf_token(), created_at=now,
                                 last_seen_at=now, expires_at=now + LIFETIME))
    return token


async def current(session: AsyncSession, token: str | None, now: datetime) -> Current | None:
    """The live session of `token` and its user, or None (unknown, idle too long, or past its lifetime)."""
    if not token or len(token) > 200:
        return None
    row = await session.get(DashboardSession, _id(token))
    if row is None:
        return None
    if row.expires_at <= now or row.last_seen_at + IDLE <= now:
        await session.delete(row)
        return None
    user = await session.get(DashboardUser, row.user_id)
    if user is None:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return Current(user=user, csrf_token=row.csrf_token)


async def end(session: AsyncSession, token: str | None) -> None:
    if token:
        await session.execute(delete(DashboardSession).where(DashboardSession.id == _id(token)))


async def end_all(session: AsyncSession, user_id: str) -> None:
    await session.execute(delete(DashboardSession).where(DashboardSession.user_id == user_id))

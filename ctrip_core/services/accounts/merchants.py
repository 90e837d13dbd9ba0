"""Merchants and their API keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.hot_statements import HotStatement
from ctrip_core.db.models import ApiKey, Merchant
from ctrip_core.db.types import utcnow
from ctrip_core.ids import new_id
from ctrip_core.services.accounts.api_keys import KEY_PREFIX, display_prefix, generate_api_key, hash_api_key
from ctrip_core.services.accounts.scopes import stored_scopes
from ctrip_core.wallet import payout_index


@dataclass(frozen=True)
class NewMerchant:
    """A created merchant and its API key in clear: the only moment the key exists outside the caller."""

    merchant_id: str
    api_key_id: str
    api_key: str


async def create_merchant(session: AsyncSession, name: str, scopes: Iterable[str] | None = None) -> NewMerchant:
    """Create a merchant with one API key of `scopes` (read and payments by default); the caller commits
    (an unknown scope raises UnknownScope, and the caller's rollback takes the merchant with it)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError("merchant name must be 1-200 characters")
    taken = {payout_index(known) for known in await session.scalars(select(Merchant.id))}
    merchant_id = new_id("mer")
    while payout_index(merchant_id) in taken:  # two merchants never share a payout wallet
        merchant_id = new_id("mer")
    merchant = Merchant(id=merchant_id, name=name)
    session.add(merchant)
    await session.flush()
    key_id, api_key = await add_api_key(session, merchant.id, scopes)
    return NewMerchant(merchant.id, key_id, api_key)


async def add_api_key(session: AsyncSession, merchant_id: str, scopes: Iterable[str] | None = None, *,
                      created_by: str | None = None) -> tuple[str, str]:
    """A new key for the merchant with `scopes` (read and payments by default) → (key id, key in
    clear); `created_by`: the dashboard user who asked for it."""
    api_key = generate_api_key()
    row = ApiKey(id=new_id("key"), merchant_id=merchant_id, key_hash=hash_api_key(api_key),
                 key_prefix=display_prefix(api_key), scopes=stored_scopes(scopes), created_by=created_by)
    session.add(row)
    await session.flush()
    return row.id, api_key


async def merchants(session: AsyncSession) -> list[tuple[Merchant, int]]:
    """Every merchant, oldest first, with its count of active keys."""
    active = (select(ApiKey.merchant_id, func.count().label("n")).where(ApiKey.revoked_at.is_(None))
              .group_by(ApiKey.merchant_id).subquery())
    rows = await session.execute(select(Merchant, func.coalesce(active.c.n, 0))
                                 .outerjoin(active, active.c.merchant_id == Merchant.id)
                                 .order_by(Merchant.created_at, Merchant.id))
    return [(m, n) for m, n in rows.all()]


async def api_keys_of(session: AsyncSession, merchant_id: str) -> list[ApiKey] | None:
    """The merchant's keys (revoked ones too), oldest first; None when there is no such merchant."""
    if await session.get(Merchant, merchant_id) is None:
        return None
    return list(await session.scalars(select(ApiKey).where(ApiKey.merchant_id == merchant_id)
                                      .order_by(ApiKey.created_at, ApiKey.id)))


async def revoke_api_key(session: AsyncSession, key: str, merchant_id: str | None = None) -> ApiKey | None:
    """Revoke a key at once, named by its id or (passed by mistake) by the key itself; with
    `merchant_id`, only a key of that merchant (the dashboard's).

    Returns the revoked key's row, or None when no such active key exists.
    """
    by = ApiKey.key_hash == hash_api_key(key) if key.startswith(KEY_PREFIX) else ApiKey.id == key
    query = select(ApiKey).where(by, ApiKey.revoked_at.is_(None))
    if merchant_id is not None:
        query = query.where(ApiKey.merchant_id == merchant_id)
    row = await session.scalar(query.with_for_update())
    if row is None:
        return None
    row.revoked_at = utcnow()
    return row


#: The active API key with this SHA-256 (hex) → (its merchant id, its stored scopes): one indexed
#: read, run by the payment writer on the hot path (api/auth.py) and in a session elsewhere.
MERCHANT_FOR_KEY = HotStatement(select(ApiKey.merchant_id, ApiKey.scopes).where(
    ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None)))


async def merchant_for_key(session: AsyncSession, api_key: str) -> str | None:
    """The merchant id an active API key belongs to, or None (one indexed read)."""
    return await MERCHANT_FOR_KEY.scalar(await session.connection(), {"key_hash": hash_api_key(api_key)})

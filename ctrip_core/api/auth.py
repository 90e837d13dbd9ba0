"""Bearer API keys for every /v1 route: 401 without a valid, unrevoked key.

Only the key's SHA-256 is stored, and keys are looked up by it. A key verified in the database is
then remembered in `KeyCache` (api/key_cache.py) and trusted again only while the revocation mark,
which the rate limiter's Redis call returns anyway, is unchanged: a revoked key still stops working
at once, and a known key costs no database round trip. `g.merchant_id` scopes everything the
handler may see.
"""

from __future__ import annotations

from quart import g

from ctrip_core.api.errors import APIError
from ctrip_core.api.headers import single_header
from ctrip_core.api.ratelimit import Decision, LimiterUnavailable
from ctrip_core.api.state import app_state
from ctrip_core.services.accounts.api_keys import hash_api_key
from ctrip_core.services.accounts.merchants import MERCHANT_FOR_KEY

MAX_KEY_CHARS = 200


def _bearer_token() -> str:
    header = single_header("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > MAX_KEY_CHARS:
        raise APIError(401, "unauthorized", "missing or malformed Authorization: Bearer <api key>",
                       headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


async def authenticate() -> Decision | None:
    """Sets g.merchant_id and g.key_id (the key's hash); returns the rate-limit decision if it took one.

    A cached key is checked by taking its rate-limit token first (that call reads the revocation
    mark); an unknown or revoked key never touches the limiter, so a caller without a valid key
    cannot create buckets in Redis. When Redis cannot be reached, reading the mark fails and the
    request goes through (fail open) without trying Redis a second time for its token.
    """
    key_hash = hash_api_key(_bearer_token())
    state = app_state()
    decision = None
    if key_hash in state.key_cache:
        decision = await state.limiter.hit(key_hash)
        merchant_id = state.key_cache.merchant_for(key_hash, decision.revocation_mark)
        if merchant_id is not None:
            g.merchant_id, g.key_id = merchant_id, key_hash
            return decision
    # The mark is read before the lookup, so a revocation committed in between replaces it.
    if decision is not None:
        mark = decision.revocation_mark
    else:
        try:
            mark = await state.limiter.revocation_mark()
        except LimiterUnavailable:  # Redis is down: fail open now, without a second try at it
            decision, mark = Decision(True), None
    merchant_id = await state.runtime.payment_writer.read(MERCHANT_FOR_KEY, {"key_hash": key_hash})
    if merchant_id is None:
        raise APIError(401, "unauthorized", "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    state.key_cache.remember(key_hash, merchant_id, mark)
    g.merchant_id, g.key_id = merchant_id, key_hash
    return decision

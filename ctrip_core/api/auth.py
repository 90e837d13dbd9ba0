"""Bearer API keys for every /v1 route: 401 without a valid, unrevoked key.

Only the key's SHA-256 is stored, and keys are looked up by it. A key verified in the database is
then remembered in `KeyCache` (api/key_cache.py) and trusted again only while the revocation mark,
which the rate limiter's Redis call returns anyway, is unchanged: a revoked key still stops working
at once, and a known key costs no database round trip. `g.merchant_id` scopes everything the
handler may see; `require_scope` (below) what it may do: each /v1 route names the scope it needs
(`@scope("payments")`), and a key without it is answered 403 naming the missing scope.
"""

from __future__ import annotations

from quart import g

from ctrip_core.api.errors import APIError
from ctrip_core.api.headers import single_header
from ctrip_core.api.key_cache import KeyGrant
from ctrip_core.api.ratelimit import Decision, LimiterUnavailable
from ctrip_core.api.state import app_state
from ctrip_core.services.accounts.api_keys import hash_api_key
from ctrip_core.services.accounts.merchants import MERCHANT_FOR_KEY
from ctrip_core.services.accounts.scopes import SCOPES, scopes_of

MAX_KEY_CHARS = 200
#: The attribute `scope` sets on a route's view function: the scope a key needs to call it.
SCOPE_ATTRIBUTE = "ctrip_scope"


def scope(name: str):
    """Declare the scope a /v1 route needs (the /v1 guard refuses a route that declares none)."""
    if name not in SCOPES:
        raise ValueError(f"unknown scope {name!r}")

    def decorate(view):
        setattr(view, SCOPE_ATTRIBUTE, name)
        return view
    return decorate


def require_scope(view) -> None:
    """403 naming the scope the route needs when the key lacks it; a route that declares no scope is
    a bug caught here too (never served: tests/api/test_scopes.py checks every route declares one)."""
    needed = getattr(view, SCOPE_ATTRIBUTE, None)
    if needed is None:
        raise APIError(403, "forbidden", "this route declares no scope")
    if needed not in g.scopes:
        raise APIError(403, "missing_scope", f"this API key lacks the {needed!r} scope")


def _bearer_token() -> str:
    header = single_header("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > MAX_KEY_CHARS:
        raise APIError(401, "unauthorized", "missing or malformed Authorization: Bearer <api key>",
                       headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


async def authenticate() -> Decision | None:
    """Sets g.merchant_id, g.scopes and g.key_id (the key's hash); returns the rate-limit decision if it took one.

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
        grant = state.key_cache.grant_for(key_hash, decision.revocation_mark)
        if grant is not None:
            g.merchant_id, g.scopes, g.key_id = grant.merchant_id, grant.scopes, key_hash
            return decision
    # The mark is read before the lookup, so a revocation committed in between replaces it.
    if decision is not None:
        mark = decision.revocation_mark
    else:
        try:
            mark = await state.limiter.revocation_mark()
        except LimiterUnavailable:  # Redis is down: fail open now, without a second try at it
            decision, mark = Decision(True), None
    row = await state.runtime.payment_writer.read(MERCHANT_FOR_KEY, {"key_hash": key_hash})
    if row is None:
        raise APIError(401, "unauthorized", "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    grant = KeyGrant(row[0], scopes_of(row[1]))
    state.key_cache.remember(key_hash, grant, mark)
    g.merchant_id, g.scopes, g.key_id = grant.merchant_id, grant.scopes, key_hash
    return decision

"""Bearer API keys for every /v1 route: 401 without a valid, unrevoked key.

The key is looked up by its SHA-256 (the only form stored) on every request, so a revoked key
stops working at once; `g.merchant_id` scopes everything the handler may see.
"""

from __future__ import annotations

from quart import g, request

from ctrip_core.api.errors import APIError
from ctrip_core.api.state import app_state
from ctrip_core.services.api_keys import hash_api_key
from ctrip_core.services.merchants import merchant_for_key

MAX_KEY_CHARS = 200


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > MAX_KEY_CHARS:
        raise APIError(401, "unauthorized", "missing or malformed Authorization: Bearer <api key>",
                       headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


async def authenticate() -> None:
    """before_request of the /v1 blueprint: sets g.merchant_id and g.key_id (the key's hash)."""
    token = _bearer_token()
    async with app_state().runtime.connect() as conn:
        merchant_id = await merchant_for_key(conn, token)
    if merchant_id is None:
        raise APIError(401, "unauthorized", "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    g.merchant_id = merchant_id
    g.key_id = hash_api_key(token)

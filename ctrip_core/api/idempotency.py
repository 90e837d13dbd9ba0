"""`Idempotency-Key` on POST: the same key and body replay the first response; another body is 409.

The key is recorded in the same transaction as the work it guards. Two concurrent requests with
one key therefore cannot both create: the second insert waits for the first transaction (PostgreSQL
unique index; SQLite's single writer) and then finds the stored response, which it replays.
Keys are scoped per merchant and replay for `idempotency.ttl_s` (24 h); an older row is never
replayed, purged or not yet (services/idempotency_keys.py holds the rule and the purge).

A response that carries a secret (a webhook endpoint's `whsec_` secret, shown once) is stored only
sealed with the `secret_key` box (`@idempotent(sealed=True)`): the replay needs the secret, and no
secret is at rest in clear. Sealed bodies start with `SEALED`; anything else is plain JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import nullcontext
from functools import wraps

from quart import g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ctrip_core.api.errors import APIError
from ctrip_core.api.headers import single_header
from ctrip_core.api.state import app_state
from ctrip_core.api.transaction import open_transaction
from ctrip_core.db.models import IdempotencyKey
from ctrip_core.db.types import utcnow
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.idempotency_keys import SEALED, is_expired, ttl

MAX_KEY_CHARS = 255
#: C0 and C1 control characters and DEL: never part of a key (a tab or \x01 was stored as one).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
#: Attribute on an idempotent handler (copied outward by functools.wraps), read by /openapi.json.
HONOURS_KEY = "honours_idempotency_key"
#: The header as /openapi.json documents it on each POST that honours it.
OPENAPI_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Any string of yours (a UUID, say), 1-255 characters, no control characters. A retry with "
                   "the same key and body within 24 h (`idempotency.ttl_s`) replays the first response and does "
                   "nothing again; the same key with another body is 409 `idempotency_conflict`; while the "
                   "first request runs, 409 `idempotency_in_progress`. Keys are per merchant.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS, "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]+$"},
    "example": "5f0c7a4e-2b1d-4d8e-9a53-0f6c1d2e7b90"}


def _box() -> SecretBox:
    return SecretBox.from_settings(app_state().runtime.settings)


def _body(stored: str | None) -> object:
    if stored is None:
        return {}
    if stored.startswith(SEALED):
        return json.loads(_box().open(stored[len(SEALED):]))
    return json.loads(stored)


def _request_hash(body: bytes) -> str:
    return hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + body).hexdigest()


def _replay(row: IdempotencyKey, request_hash: str) -> tuple[object, int, dict[str, str]]:
    """The stored response as (body, status, headers), not a Response: quart-schema's
    @validate_response refuses a Response at the status it validates, and the stored JSON, loaded
    back, goes through the same model and serialiser as the first response, so the bytes match."""
    if row.request_hash != request_hash:
        raise APIError(409, "idempotency_conflict",
                       "this Idempotency-Key was used with a different request body", field="Idempotency-Key")
    return _body(row.response_body), row.response_status or 200, {"Idempotent-Replayed": "true"}


async def _stored(session, key: str) -> IdempotencyKey | None:
    row = await session.get(IdempotencyKey, (g.merchant_id, key), populate_existing=True)
    if row is not None and is_expired(row.created_at, utcnow(), ttl(app_state().runtime.settings)):
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.merchant_id == g.merchant_id,
                                                           IdempotencyKey.key == key))
        return None
    return row


async def _claim_or_replay(key: str, request_hash: str):
    """Insert the key in this request's transaction, or replay what a committed twin stored."""
    session = g.db
    row = await _stored(session, key)
    if row is not None:
        return _replay(row, request_hash)
    try:
        async with session.begin_nested():
            session.add(IdempotencyKey(merchant_id=g.merchant_id, key=key, request_hash=request_hash))
    except IntegrityError:
        async with app_state().runtime.sessions() as fresh:
            row = await fresh.scalar(select(IdempotencyKey).where(IdempotencyKey.merchant_id == g.merchant_id,
                                                                  IdempotencyKey.key == key))
        if row is None or row.response_status is None or \
                is_expired(row.created_at, utcnow(), ttl(app_state().runtime.settings)):  # a retry finds it gone
            raise APIError(409, "idempotency_in_progress", "a request with this Idempotency-Key is in progress",
                           field="Idempotency-Key") from None
        return _replay(row, request_hash)
    return None


def idempotent(handler=None, *, sealed: bool = False):
    """Wrap a POST handler: inside `@in_transaction` it joins that transaction; alone, it opens one
    when the request carries a key (the handler then writes within `g.db`, as creating a payment does).
    `sealed=True` (a response holding a secret): the stored replay is encrypted with `secret_key`."""
    if handler is None:
        return lambda h: idempotent(h, sealed=sealed)

    @wraps(handler)
    async def wrapper(*args, **kwargs):
        key = single_header("Idempotency-Key")
        if key is None:
            return await handler(*args, **kwargs)
        if not key or len(key) > MAX_KEY_CHARS:
            raise APIError(400, "bad_request", f"Idempotency-Key must be 1-{MAX_KEY_CHARS} characters",
                           field="Idempotency-Key")
        if _CONTROL.search(key):
            raise APIError(400, "bad_request", "Idempotency-Key must not contain control characters",
                           field="Idempotency-Key")
        request_hash = _request_hash(await request.get_data())
        async with nullcontext(g.db) if g.get("db") is not None else open_transaction():
            replay = await _claim_or_replay(key, request_hash)
            if replay is not None:
                return replay
            body, status = await handler(*args, **kwargs)
            payload = body.model_dump_json(by_alias=True) if hasattr(body, "model_dump_json") else json.dumps(body)
            row = await g.db.get(IdempotencyKey, (g.merchant_id, key))
            row.response_status, row.response_body = status, (SEALED + _box().seal(payload)) if sealed else payload
            return body, status

    setattr(wrapper, HONOURS_KEY, True)
    return wrapper

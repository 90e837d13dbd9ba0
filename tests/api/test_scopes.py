"""API key scopes (services/accounts/scopes.py): every /v1 route declares the scope it needs, a key
without it is answered 403 naming the scope, and keys default to read + payments."""

from __future__ import annotations

import pytest

from ctrip_core.api.auth import SCOPE_ATTRIBUTE
from ctrip_core.services.accounts.scopes import SCOPES, UnknownScope, scopes_of, stored_scopes
from testbed import key_headers

PAYMENT = {"chain": "anvil", "asset": "TUSD", "amount": "5"}


def test_every_v1_route_declares_a_known_scope(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/"):
            assert getattr(app.view_functions[rule.endpoint], SCOPE_ATTRIBUTE, None) in SCOPES, rule.rule


def test_stored_scopes_are_canonical_and_default_to_read_and_payments():
    assert stored_scopes(None) == stored_scopes([]) == "payments,read"
    assert stored_scopes(["refunds", " read", "refunds"]) == "read,refunds"
    with pytest.raises(UnknownScope, match="'admin'"):
        stored_scopes(["read", "admin"])
    assert scopes_of("payouts,read,bogus") == {"payouts", "read"}


async def test_a_read_only_key_reads_but_cannot_create(client, runtime, merchant):
    headers = await key_headers(runtime, merchant["id"], ["read"])
    assert (await client.get("/v1/payments", headers=headers)).status_code == 200
    response = await client.post("/v1/payments", json=PAYMENT, headers=headers)
    assert response.status_code == 403
    error = (await response.get_json())["error"]
    assert error["code"] == "missing_scope" and "'payments'" in error["message"]
    assert (await client.get("/v1/payments", headers=merchant["headers"])).status_code == 200


async def test_a_payments_only_key_cannot_read(client, runtime, merchant):
    headers = await key_headers(runtime, merchant["id"], ["payments"])
    created = await client.post("/v1/payments", json=PAYMENT, headers=headers)
    assert created.status_code == 201
    response = await client.get(f"/v1/payments/{(await created.get_json())['id']}", headers=headers)
    assert response.status_code == 403 and "'read'" in (await response.get_json())["error"]["message"]


async def test_the_default_key_has_read_and_payments(client, merchant):
    assert (await client.post("/v1/payments", json=PAYMENT, headers=merchant["headers"])).status_code == 201
    assert (await client.get("/v1/events", headers=merchant["headers"])).status_code == 200

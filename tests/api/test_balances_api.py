"""GET /v1/balances: scope read, the merchant's own rows only (what is in them is checked on Anvil
in tests/sweeps/test_balances.py)."""

from __future__ import annotations

from ctrip_core.services.accounts.merchants import add_api_key


async def test_balances_need_read_and_a_new_merchant_has_none(client, runtime, merchant):
    async with runtime.sessions() as session, session.begin():
        _, key = await add_api_key(session, merchant["id"], ["payments"])
    response = await client.get("/v1/balances", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403 and "'read'" in (await response.get_json())["error"]["message"]
    response = await client.get("/v1/balances", headers=merchant["headers"])
    assert response.status_code == 200 and await response.get_json() == {"object": "list", "data": []}

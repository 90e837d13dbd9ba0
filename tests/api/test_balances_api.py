"""GET /v1/balances: scope read, the merchant's own rows only (what is in them is checked on Anvil
in tests/sweeps/test_balances.py)."""

from __future__ import annotations

from ctrip_core.services.reports.transactions import COLUMNS
from testbed import key_headers


async def test_balances_need_read_and_a_new_merchant_has_none(client, runtime, merchant):
    response = await client.get("/v1/balances", headers=await key_headers(runtime, merchant["id"], ["payments"]))
    assert response.status_code == 403 and "'read'" in (await response.get_json())["error"]["message"]
    response = await client.get("/v1/balances", headers=merchant["headers"])
    assert response.status_code == 200 and await response.get_json() == {"object": "list", "data": []}


async def test_the_transactions_report_is_csv_and_refuses_a_bad_date(client, merchant):
    response = await client.get("/v1/reports/transactions.csv?from=2026-01-01&to=2027-01-01T00:00:00Z",
                                headers=merchant["headers"])
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert (await response.get_data(as_text=True)).splitlines() == [",".join(COLUMNS)]
    response = await client.get("/v1/reports/transactions.csv?from=soon", headers=merchant["headers"])
    assert response.status_code == 422 and "from" in str(await response.get_json())

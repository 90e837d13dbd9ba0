"""The happy path of the payments API over real PostgreSQL: create, get, list, cancel."""


async def test_create_get_list_cancel(client, merchant):
    created = await client.post("/v1/payments", json={"chain": "anvil", "asset": "TUSD", "amount": "12.50",
                                                      "order_id": "A-1", "metadata": {"cart": "7"}},
                                headers=merchant["headers"])
    assert created.status_code == 201, await created.get_data()
    body = await created.get_json()
    assert body["amount"] == "12.5" and body["amount_base_units"] == "12500000" and body["status"] == "pending"
    assert body["payment_uri"] == (f"ethereum:{body['token_address']}@31337/transfer?address={body['address']}"
                                   "&uint256=12500000")
    got = await client.get(f"/v1/payments/{body['id']}", headers=merchant["headers"])
    assert (await got.get_json())["address"] == body["address"]
    listed = await (await client.get("/v1/payments?order_id=A-1", headers=merchant["headers"])).get_json()
    assert [p["id"] for p in listed["data"]] == [body["id"]] and listed["has_more"] is False
    canceled = await client.post(f"/v1/payments/{body['id']}/cancel", headers=merchant["headers"])
    assert (await canceled.get_json())["status"] == "canceled"
    again = await client.post(f"/v1/payments/{body['id']}/cancel", headers=merchant["headers"])
    assert again.status_code == 409
    events = await (await client.get(f"/v1/events?payment_id={body['id']}", headers=merchant["headers"])).get_json()
    assert [e["type"] for e in events["data"]] == ["payment.canceled"]
    assert events["data"][0]["data"]["status"] == "canceled"

"""Refunds and payouts through real processes: `ctrip api`, a `ctrip worker` (scan, confirm,
webhooks), the sweeper (`ctrip worker --queues sweep`, the only one with the mnemonic) and
`ctrip scheduler`, over real Anvil, PostgreSQL and Redis. Asked for over HTTP, sent by the
sweeper, and checked on the chain."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import pytest_asyncio
import redis

from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY, GATEWAY_MNEMONIC, GATEWAY_XPUB
from ctrip_core.devnet.anvil import free_port
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.devnet.payer import Payer
from ctrip_core.runtime import build_runtime
from ctrip_core.services.accounts.merchants import add_api_key
from ctrip_core.services.watching.scanning import scan_chain
from ctrip_core.wallet import XpubDeriver, payout_path
from subprocesses import CTRIP, Processes, ctrip_env
from testbed import create_database, drop_database, make_settings, new_merchant

pytestmark = pytest.mark.timeout(150)
REDIS_URL = "redis://127.0.0.1:6379/7"
ETH = 10**18
PAYEE = "0x00bee00000000000000000000000000000000200"


@pytest_asyncio.fixture
async def stack(node, tusd, tmp_path):
    database = create_database()
    redis.Redis.from_url(REDIS_URL).flushdb()
    chains = write_anvil_chains_file(tmp_path / "chains.yaml", node.rpc_url, tusd)
    rt = build_runtime(make_settings(database, chains), "api")
    await scan_chain(rt, "anvil")  # scanning starts at the head
    merchant_id = (await new_merchant(rt))[0]
    async with rt.sessions() as s, s.begin():
        _, key = await add_api_key(s, merchant_id, ["read", "payments", "refunds", "payouts"])
    env = ctrip_env(database, chains, REDIS_URL)
    port = free_port()
    procs = Processes(tmp_path, env)
    sweeper = Processes(tmp_path, env | {"CTRIP_WALLET__MNEMONIC": GATEWAY_MNEMONIC})
    procs.start("api", [CTRIP, "api", "--bind", f"127.0.0.1:{port}", "--workers", "1"])
    procs.start("worker", [CTRIP, "worker", "--queues", "scan,confirm,webhooks"])
    procs.start("scheduler", [CTRIP, "scheduler"])
    sweeper.start("sweeper", [CTRIP, "worker", "--queues", "sweep"])
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                               timeout=10)
    try:
        for _ in range(300):
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        yield type("Stack", (), {"client": client, "merchant_id": merchant_id, "node": node, "token": tusd,
                                 "procs": procs, "payer": Payer(FUNDER_KEY, node.rpc_url)})
    finally:
        await client.aclose()
        procs.stop_all()
        sweeper.stop_all()
        await rt.close()
        drop_database(database)


async def until(client, path: str, field: str, wanted: set[str], procs, timeout_s: float = 60) -> dict:
    for _ in range(int(timeout_s * 5)):
        body = (await client.get(path)).json()
        if body.get(field) in wanted:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"{path} stayed {body.get(field)}:\n{procs.logs()}")


async def test_a_refund_and_a_payout_asked_over_http_are_sent_by_the_sweeper(stack):
    client = stack.client
    payment = (await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "0.3"})).json()
    stack.payer.wait([stack.payer.native(payment["address"], 3 * ETH // 10)])
    await until(client, f"/v1/payments/{payment['id']}", "status", {"confirmed"}, stack.procs)

    wallet = XpubDeriver(GATEWAY_XPUB).derive_path(payout_path(stack.merchant_id))
    stack.payer.wait([stack.payer.native(wallet, ETH // 2), stack.payer.token(stack.token, wallet, 10_000_000)])
    refund = await client.post(f"/v1/payments/{payment['id']}/refunds", json={},
                               headers={"Idempotency-Key": "refund-1"})
    payout = await client.post("/v1/payouts", json={"chain": "anvil", "asset": "TUSD", "address": PAYEE,
                                                    "amount": "4"})
    assert refund.status_code == payout.status_code == 201, (refund.text, payout.text)
    refund, payout = refund.json(), payout.json()
    assert (refund["amount"], refund["address"].lower()) == ("0.3", FUNDER.lower())

    done = await until(client, f"/v1/refunds/{refund['id']}", "status", {"succeeded", "failed"}, stack.procs)
    assert done["status"] == "succeeded", done
    tx = stack.node.rpc("eth_getTransactionByHash", done["tx_hash"])
    assert tx["from"].lower() == wallet.lower() and tx["to"].lower() == FUNDER.lower()
    assert int(tx["value"], 16) == 3 * ETH // 10
    sent = await until(client, f"/v1/payouts/{payout['id']}", "status", {"succeeded", "failed"}, stack.procs)
    assert sent["status"] == "succeeded", sent
    owner = "0x" + "0" * 24 + PAYEE[2:]
    balance = stack.node.rpc("eth_call", {"to": stack.token, "data": "0x70a08231" + owner[2:]}, "latest")
    assert int(balance, 16) == 4_000_000

    rows = {(b["chain"], b["asset"]): b for b in (await client.get("/v1/balances")).json()["data"]}
    assert rows[("anvil", "ETH")]["refunded"] == "0.3" and rows[("anvil", "TUSD")]["paid_out"] == "4"
    assert rows[("anvil", "TUSD")]["payout_wallet"] == {"address": wallet, "balance": "6"}

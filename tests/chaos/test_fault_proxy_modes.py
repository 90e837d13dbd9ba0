"""The fault proxy's modes the chaos soak relies on, against a real Anvil: `null_calls`, `chaos` and a
`full` lag (`behind(n, full=True)`)."""

from __future__ import annotations

import httpx
from eth_account import Account

from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.token import send_native, transfer
from fault_proxy import FaultProxy


def post(url: str, payload):
    return httpx.post(url, json=payload, timeout=10)


def call(method: str, *params, id_: int = 1) -> dict:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": list(params)}


def test_null_calls_nulls_only_the_named_method_in_a_batch(anvil):
    with FaultProxy(anvil.rpc_url) as proxy:
        proxy.fail_next(1, "null_calls", method="eth_getTransactionReceipt")
        answers = post(proxy.url, [call("eth_chainId", id_=1), call("eth_getTransactionReceipt", "0x" + "00" * 32,
                                                                    id_=2), call("eth_blockNumber", id_=3)]).json()
        by_id = {a["id"]: a["result"] for a in answers}
        assert by_id[1] == "0x7a69" and by_id[2] is None and int(by_id[3], 16) >= 0
        assert [s.fault for s in proxy.seen] == ["null_calls"] and proxy.pending_faults == 0


def test_chaos_faults_a_share_of_requests_drawn_from_its_seed_until_turned_off(anvil):
    def faults(seed: int) -> list[str | None]:
        with FaultProxy(anvil.rpc_url) as proxy:
            proxy.chaos(0.5, ["http500", "http429"], seed=seed)
            statuses = [post(proxy.url, call("eth_chainId")).status_code for _ in range(20)]
            proxy.chaos(0)
            assert post(proxy.url, call("eth_chainId")).status_code == 200
            seen = [s.fault for s in proxy.seen]
            assert [{None: 200, "http500": 500, "http429": 429}[f] for f in seen[:20]] == statuses
            return seen[:20]

    first = faults(7)
    assert first == faults(7)  # one seed, one sequence of faults over the same sequence of requests
    assert 3 <= sum(f is not None for f in first) <= 17 and {"http500", "http429"} >= set(first) - {None}


def test_a_full_lag_hides_receipts_logs_and_state_of_the_blocks_it_lacks(anvil, token):
    payee = Account.create().address
    tx_hash = send_native(anvil.rpc_url, FUNDER_KEY, payee, 12345)  # automine: one block each
    transfer(anvil.rpc_url, FUNDER_KEY, token, payee, 5)
    head = int(anvil.rpc("eth_blockNumber"), 16)
    logs = {"fromBlock": hex(head - 1), "toBlock": hex(head), "address": token}
    with FaultProxy(anvil.rpc_url) as proxy:
        proxy.behind(2)  # heads only: receipts, balances and logs are the real node's
        plain = {a["id"]: a["result"] for a in post(proxy.url, [
            call("eth_getTransactionReceipt", tx_hash, id_=1), call("eth_getBalance", payee, "latest", id_=2),
            call("eth_getLogs", logs, id_=3)]).json()}
        assert plain[1] is not None and int(plain[2], 16) == 12345 and len(plain[3]) == 1
        proxy.behind(2, full=True)
        lagged = {a["id"]: a["result"] for a in post(proxy.url, [
            call("eth_blockNumber", id_=1), call("eth_getTransactionReceipt", tx_hash, id_=2),
            call("eth_getTransactionByHash", tx_hash, id_=3), call("eth_getBalance", payee, "latest", id_=4),
            call("eth_getLogs", logs, id_=5)]).json()}
        assert int(lagged[1], 16) == head - 2
        assert lagged[2] is None and lagged[3] is None
        assert lagged[4] == "0x0" and lagged[5] == []
        proxy.clear()
        assert post(proxy.url, call("eth_getTransactionReceipt", tx_hash)).json()["result"] is not None

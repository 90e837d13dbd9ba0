"""Two sweepers at once, on a real Anvil: in one process (two runtimes, two connection pools) and as two
processes started on the same signal. The chain's sweep lock lets one work at a time; every deposit
is swept by exactly one transaction (one top-up per token deposit), and the totals are exact.
"""

import asyncio

import pytest
import pytest_asyncio

from ctrip_core.runtime import build_runtime
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.sweep_pass import sweep_pass
from ctrip_core.devnet.accounts import TREASURY
from sweep_support import ETH, close_gateway, finish, open_gateway

pytestmark = pytest.mark.timeout(90)
ORDERS = [("ETH", ETH + i) for i in range(4)] + [("TUSD", 2_000_000 + i) for i in range(4)]


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("concurrency"), node.rpc_url, tusd)
    yield g
    await close_gateway(g)


def balances(gw) -> tuple[int, int, int]:
    return gw.rpc.balance(TREASURY), gw.rpc.token_balance(gw.token, TREASURY), gw.rpc.nonce(gw.tank)


async def assert_swept_once(gw, payments, before) -> None:
    treasury_eth, treasury_tusd, tank_nonce = before
    moved_eth = 0
    for p in payments:
        sweeps = await gw.sweeps_of(p.address)
        assert gw.rpc.nonce(p.address) == 1, f"{p.address} sent {gw.rpc.nonce(p.address)} transactions"
        if p.asset == "ETH":
            (sweep,) = sweeps
            assert (sweep.kind, sweep.state) == ("native", "done")
            fee, left = gw.rpc.fee(sweep.tx_hash), gw.rpc.balance(p.address)
            assert sweep.amount_base_units == p.amount_base_units - fee - left
            moved_eth += sweep.amount_base_units
        else:
            assert [(s.kind, s.state) for s in sweeps] == [("gas_topup", "done"), ("token", "done")]
            assert gw.rpc.token_balance(gw.token, p.address) == 0
    tokens = [p for p in payments if p.asset != "ETH"]
    assert gw.rpc.balance(TREASURY) - treasury_eth == moved_eth
    assert gw.rpc.token_balance(gw.token, TREASURY) - treasury_tusd == sum(p.amount_base_units for p in tokens)
    assert gw.rpc.nonce(gw.tank) == tank_nonce + len(tokens)  # one top-up per token deposit


async def test_two_sweepers_in_one_process(gw):
    payments = await gw.paid_all(ORDERS)
    before = balances(gw)
    rt2 = build_runtime(gw.rt.settings, "sweeper")
    keys2 = SweepKeys.from_settings(rt2.settings, rt2.chain_configs())
    busy = created = 0
    try:
        for _ in range(20):
            a, b = await asyncio.gather(sweep_pass(gw.rt, gw.keys, gw.chain), sweep_pass(rt2, keys2, gw.chain))
            busy += a.busy + b.busy
            created += len(a.created) + len(b.created)
            if not a.created and not b.created and not await gw.open_sweeps():
                break
    finally:
        await rt2.close()
    assert busy > 0  # they did run at the same time, and one of them stood back
    assert created == 4 + 2 * 4  # each sweep (and top-up) signed once, by one of them
    await assert_swept_once(gw, payments, before)


async def test_two_sweeper_processes_started_together(gw, tmp_path):
    payments = await gw.paid_all(ORDERS)
    before = balances(gw)
    go = tmp_path / "go"
    procs = [gw.start_sweeper(passes=15, go_file=go) for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == b"ready", proc.stderr.read().decode()[-3000:]
        go.touch()
    finally:
        results = [finish(proc) for proc in procs]
    for code, _, err in results:
        assert code == 0, err[-3000:]
    reports = [r for _, rs, _ in results for r in rs]
    assert any(r["busy"] for r in reports)
    assert sum(len(r["created"]) for r in reports) <= 4 + 2 * 4
    await gw.sweep_until_quiet()  # whatever the two left half-way
    await assert_swept_once(gw, payments, before)

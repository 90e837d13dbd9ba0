"""A lagging node's answers are "not known yet", never "gone" or "empty": the sweeper's RPC traffic goes
through the fault proxy, which answers null receipts and old balances (a lagging backend, a fallback
node).

- A done sweep stays done, is not re-broadcast and fires no second `payment.swept`; only a block
  replaced at its height (a real reorg, see test_sweep_faults) sends it back to submitted.
- Balances are read at a fixed (ripe) block from a node that has it; a late transfer the balance
  there does not include is not linked to an old sweep (where it would stay on the deposit address
  forever) but swept by the next one.
"""

from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import update

from ctrip_core.db.models import Sweep
from ctrip_core.db.types import utcnow
from fault_proxy import FaultProxy
from ctrip_core.devnet.accounts import FUNDER_KEY, TREASURY
from ctrip_core.devnet.payer import Payer
from sweep_support import ETH, Rpc, close_gateway, open_gateway

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def proxy(node):
    with FaultProxy(node.rpc_url) as p:
        yield p


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, proxy, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("nulls"), proxy.url, tusd, sweeps={"replace_after_s": 1})
    g.rpc.close()
    g.rpc = Rpc(node.rpc_url)  # the test's own view of the chain bypasses the faults
    g.funder = Payer(FUNDER_KEY, g.rpc)
    yield g
    await close_gateway(g)


@pytest.fixture(autouse=True)
def no_faults_left(proxy):
    yield
    proxy.clear()


async def done_sweep(gw):
    p = await gw.paid("ETH", ETH)
    await gw.sweep_until_quiet()
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "done" and sweep.confirmed_block_hash is not None
    return p, sweep


@pytest.mark.parametrize("behind", [0, 3])
async def test_null_receipts_leave_a_done_sweep_done(gw, proxy, behind):
    """behind=3: the node answering also lacks the sweep's block (it answers null for it)."""
    p, sweep = await done_sweep(gw)
    events = await gw.events_of(p.id)
    assert events[-1] == "payment.swept"
    gw.rpc("anvil_mine", 3)  # the sweep's block is below the head: a lagging node may not have it

    proxy.reset_counters()
    proxy.behind(behind).fail_next(100, "null_result", method="eth_getTransactionReceipt")
    for _ in range(3):
        report = await gw.sweep_pass()
        assert report.rebroadcast == report.done == report.replaced == 0 and not report.created, report
        (now,) = await gw.sweeps_of(p.address)
        assert (now.state, now.confirmed_block, now.tx_hash) == ("done", sweep.confirmed_block, sweep.tx_hash)
    assert not [s for s in proxy.seen if "eth_sendRawTransaction" in s.methods]  # nothing sent again

    proxy.clear()  # the receipts answer again
    await gw.sweep_until_quiet()
    (now,) = await gw.sweeps_of(p.address)
    assert now.state == "done" and now.confirmed_block == sweep.confirmed_block
    assert await gw.events_of(p.id) == events  # no second payment.swept
    assert gw.rpc.nonce(p.address) == 1


async def test_null_receipts_do_not_replace_a_mined_submitted_sweep(gw, proxy):
    p = await gw.paid("ETH", ETH)
    assert (await gw.sweep_pass()).broadcast == 1  # mined at once (automine), not yet seen done
    (sweep,) = await gw.sweeps_of(p.address)
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(update(Sweep).where(Sweep.id == sweep.id).values(broadcast_at=utcnow() - timedelta(hours=1)))

    proxy.fail_next(100, "null_result", method="eth_getTransactionReceipt")
    report = await gw.sweep_pass()
    assert report.replaced == report.rebroadcast == 0 and not report.refused, report
    (now,) = await gw.sweeps_of(p.address)
    assert now.state == "submitted" and now.tx_hash == sweep.tx_hash and not now.replaced_tx_hashes

    proxy.clear()
    await gw.sweep_until_quiet()
    (now,) = await gw.sweeps_of(p.address)
    assert now.state == "done" and now.tx_hash == sweep.tx_hash and gw.rpc.nonce(p.address) == 1
    assert (await gw.events_of(p.id)).count("payment.swept") == 1


async def test_a_lagging_balance_does_not_strand_a_late_token_transfer(gw, proxy):
    p = await gw.paid("TUSD", 3_000_000)
    await gw.sweep_until_quiet()
    treasury = gw.rpc.token_balance(gw.token, TREASURY)
    assert gw.rpc.token_balance(gw.token, p.address) == 0  # the first sweep took everything

    gw.funder.wait([gw.send(p.address, "TUSD", 1_000_000)])  # later, more arrives
    gw.rpc("anvil_mine", 2)
    await gw.sync()
    late = [t for t in await gw.transfers_of(p.id) if t.sweep_id is None]
    assert [(t.amount_base_units, t.state) for t in late] == [(1_000_000, "confirmed")]

    # a node 3 blocks behind: its head and balances are from before the late transfer
    proxy.behind(int(gw.rpc("eth_blockNumber"), 16) - late[0].block_number + 1, state=True)
    report = await gw.sweep_pass()
    assert not report.created and not report.refused, report
    assert [t.sweep_id for t in await gw.transfers_of(p.id) if t.tx_hash == late[0].tx_hash] == [None]

    proxy.clear()
    await gw.sweep_until_quiet()
    assert gw.rpc.token_balance(gw.token, p.address) == 0
    assert gw.rpc.token_balance(gw.token, TREASURY) - treasury == 1_000_000
    (t,) = [t for t in await gw.transfers_of(p.id) if t.tx_hash == late[0].tx_hash]
    last = (await gw.sweeps_of(p.address))[-1]
    assert t.sweep_id == last.id and (last.kind, last.state) == ("token", "done")

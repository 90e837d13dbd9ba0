"""Only confirmed funds are swept, and a sweep whose funds are gone fails and is planned again.

On a real Anvil with 3 confirmations: balances are read at the ripe block, so a deposit not yet
confirmed is neither swept nor linked; a reorg (`anvil_reorg`) that removes it leaves the sweep of
the confirmed funds valid (before, the sweep took the unconfirmed deposit too and the node refused it
with "insufficient funds" forever). A signed sweep the node refuses for want of funds fails, its
transfers are released, and a new sweep is planned from what the chain holds.
"""

import pytest
import pytest_asyncio

from ctrip_core.devnet.accounts import TREASURY
from sweep_support import ETH, close_gateway, finish, open_gateway

pytestmark = pytest.mark.timeout(90)
CONFIRMATIONS = 3


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("unconfirmed"), node.rpc_url, tusd, confirmations=CONFIRMATIONS)
    yield g
    await close_gateway(g)


async def settle_sweeps(gw, max_passes: int = 12) -> list:
    """Scan, confirm and sweep, mining blocks between passes so sweeps reach their confirmations."""
    reports = []
    for _ in range(max_passes):
        await gw.sync()
        reports.append(await gw.sweep_pass())
        if not reports[-1].created and not await gw.open_sweeps():
            return reports
        gw.rpc("anvil_mine", CONFIRMATIONS)
    raise AssertionError(f"sweeps still open after {max_passes} passes: {reports}")


async def test_a_reorg_removing_an_unconfirmed_deposit_leaves_the_sweep_of_the_confirmed_one(gw):
    p = await gw.payment("ETH", ETH)
    gw.funder.wait([gw.send(p.address, "ETH", ETH)])
    gw.rpc("anvil_mine", CONFIRMATIONS)
    await gw.sync()
    assert (await gw.reload(p.id)).status == "confirmed"
    treasury = gw.rpc.balance(TREASURY)

    gw.funder.wait([gw.send(p.address, "ETH", ETH // 2)])  # a second deposit, not confirmed yet
    await gw.sync()
    first, second = sorted(await gw.transfers_of(p.id), key=lambda t: t.block_number)
    assert (first.state, second.state) == ("confirmed", "seen")

    report = await gw.sweep_pass()
    assert report.broadcast == 1
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.amount_base_units + 21_000 * sweep.max_fee_per_gas == ETH  # the confirmed funds only
    assert [t.sweep_id for t in await gw.transfers_of(p.id) if t.tx_hash == second.tx_hash] == [None]
    signed = sweep.tx_hash
    assert gw.rpc.receipt(signed) is not None  # mined at once (automine), one block above the second deposit

    gw.rpc("anvil_reorg", 2, [])  # both blocks replaced by empty ones: the second deposit and the sweep are gone
    assert gw.rpc.receipt(signed) is None and gw.rpc.balance(p.address) == ETH
    # the funder's dropped payment's nonce is free again: its Payer asks the node for the next one

    reports = await settle_sweeps(gw)
    assert not any(r.errors for r in reports)
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "done" and sweep.tx_hash == signed  # the same transaction, sent again
    assert gw.rpc.nonce(p.address) == 1
    assert gw.rpc.balance(TREASURY) - treasury == sweep.amount_base_units == \
        ETH - gw.rpc.fee(signed) - gw.rpc.balance(p.address)
    assert [t.sweep_id for t in await gw.transfers_of(p.id) if t.state == "confirmed"] == [sweep.id]


async def test_a_sweep_refused_for_want_of_funds_fails_and_a_new_one_is_planned(gw):
    p = await gw.payment("ETH", ETH)
    gw.funder.wait([gw.send(p.address, "ETH", ETH)])
    gw.rpc.set_balance(p.address, 3 * ETH)  # and funds no transfer explains (the ledger never saw them)
    gw.rpc("anvil_mine", CONFIRMATIONS)
    await gw.sync()
    treasury = gw.rpc.balance(TREASURY)

    code, _, err = finish(gw.start_sweeper(crash="before:1"))  # signed and stored, never sent
    assert code != 0, err
    (signed,) = await gw.sweeps_of(p.address)
    assert signed.state == "pending" and signed.raw_tx and signed.amount_base_units > 2 * ETH
    gw.rpc.set_balance(p.address, ETH + ETH // 2)  # those funds gone again before it is sent
    gw.rpc("anvil_mine", CONFIRMATIONS)

    reports = await settle_sweeps(gw)
    failed, sweep = await gw.sweeps_of(p.address)
    assert failed.state == "failed" and "insufficient funds" in failed.error.lower() and gw.rpc.receipt(failed.tx_hash) is None
    assert sweep.state == "done" and sweep.nonce == failed.nonce == 0  # planned again, at the nonce never used
    assert sum(r.failed for r in reports) == 1
    assert gw.rpc.nonce(p.address) == 1
    assert gw.rpc.balance(TREASURY) - treasury == sweep.amount_base_units == \
        ETH + ETH // 2 - gw.rpc.fee(sweep.tx_hash) - gw.rpc.balance(p.address)
    assert [t.sweep_id for t in await gw.transfers_of(p.id)] == [sweep.id]
    assert (await gw.events_of(p.id))[-1] == "payment.swept"

"""What goes wrong around a sweep, on a real Anvil: an empty gas tank, a sweep a reorg removed (done or
submitted), and a sweep stuck in the mempool that is replaced with a higher fee at the same nonce.
"""

from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import update

from ctrip_core.db.models import Sweep
from ctrip_core.db.types import utcnow
from ctrip_core.devnet.accounts import TREASURY
from sweep_support import ETH, close_gateway, open_gateway

pytestmark = pytest.mark.timeout(90)


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("faults"), node.rpc_url, tusd, sweeps={"replace_after_s": 1})
    yield g
    await close_gateway(g)


async def test_empty_gas_tank_is_reported_and_the_deposit_waits_for_a_refill(gw):
    tank_wei = gw.rpc.balance(gw.tank)
    gw.rpc.set_balance(gw.tank, 0)
    try:
        p = await gw.paid("TUSD", 5_000_000)
        for _ in range(2):
            report = await gw.sweep_pass()
            assert not report.created and not report.broadcast and not report.errors
            assert list(report.waiting) == [f"gas_tank_low:{gw.tank}"]  # said once by the actor, not each pass
            (error,) = report.waiting.values()
            assert gw.tank in error and "gas tank" in error and f"ctrip wallet gas-tank {gw.chain}" in error
            assert p.address in error
        assert await gw.sweeps_of(p.address) == []  # nothing signed, nothing linked
        assert all(t.sweep_id is None for t in await gw.transfers_of(p.id))
        assert gw.rpc.token_balance(gw.token, p.address) == 5_000_000  # the funds wait at the deposit
        assert gw.rpc.nonce(gw.tank) == 0
    finally:
        gw.rpc.set_balance(gw.tank, tank_wei)  # refilled
    treasury = gw.rpc.token_balance(gw.token, TREASURY)
    reports = await gw.sweep_until_quiet()
    assert not any(r.errors or r.waiting for r in reports)
    assert [(s.kind, s.state) for s in await gw.sweeps_of(p.address)] == [("gas_topup", "done"), ("token", "done")]
    assert gw.rpc.token_balance(gw.token, TREASURY) - treasury == 5_000_000
    assert gw.rpc.token_balance(gw.token, p.address) == 0


async def test_done_sweep_dropped_by_a_reorg_is_rebroadcast(gw):
    p = await gw.paid("ETH", 2 * ETH)
    treasury = gw.rpc.balance(TREASURY)
    await gw.sweep_until_quiet()
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "done"
    signed, mined_in = sweep.tx_hash, int(gw.rpc.receipt(sweep.tx_hash)["blockNumber"], 16)
    assert mined_in == int(gw.rpc("eth_blockNumber"), 16)

    gw.rpc("anvil_reorg", 1, [])  # the sweep's block is replaced by an empty one: its transaction is gone
    assert gw.rpc.receipt(signed) is None and gw.rpc.balance(p.address) == 2 * ETH
    assert gw.rpc.balance(TREASURY) == treasury

    report = await gw.sweep_pass()
    assert report.rebroadcast == 1 and not report.created
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "submitted" and sweep.tx_hash == signed  # the same bytes, sent again
    assert gw.rpc.receipt(signed) is not None  # mined again (automine)
    await gw.sweep_until_quiet()
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "done" and sweep.tx_hash == signed
    assert sweep.confirmed_block == int(gw.rpc.receipt(signed)["blockNumber"], 16)
    assert gw.rpc.nonce(p.address) == 1
    assert gw.rpc.balance(TREASURY) - treasury == sweep.amount_base_units == \
        2 * ETH - gw.rpc.fee(signed) - gw.rpc.balance(p.address)
    # announced again once it is done again (there is no "unswept" event for the reorg in between)
    assert (await gw.events_of(p.id))[-2:] == ["payment.swept", "payment.swept"]


async def test_submitted_sweep_dropped_by_a_revert_is_rebroadcast(gw):
    p = await gw.paid("ETH", ETH)
    treasury = gw.rpc.balance(TREASURY)
    snapshot = gw.rpc("evm_snapshot")
    report = await gw.sweep_pass()
    assert report.broadcast == 1
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "submitted" and gw.rpc.receipt(sweep.tx_hash) is not None
    signed = sweep.tx_hash

    assert gw.rpc("evm_revert", snapshot)  # the chain goes back to before the sweep
    assert gw.rpc.receipt(signed) is None and gw.rpc("eth_getTransactionByHash", signed) is None

    report = await gw.sweep_pass()
    assert report.rebroadcast == 1 and not report.created
    await gw.sweep_until_quiet()
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "done" and sweep.tx_hash == signed
    assert gw.rpc.nonce(p.address) == 1
    assert gw.rpc.balance(TREASURY) - treasury == sweep.amount_base_units == \
        ETH - gw.rpc.fee(signed) - gw.rpc.balance(p.address)


async def test_stuck_sweep_is_replaced_with_a_higher_fee_at_the_same_nonce(gw):
    p = await gw.paid("ETH", 2 * ETH)
    treasury = gw.rpc.balance(TREASURY)
    gw.rpc("evm_setAutomine", False)
    try:
        report = await gw.sweep_pass()
        assert report.broadcast == 1
        (stuck,) = await gw.sweeps_of(p.address)
        assert stuck.state == "submitted" and gw.rpc.receipt(stuck.tx_hash) is None
        assert gw.rpc("eth_getTransactionByHash", stuck.tx_hash) is not None  # waiting in the mempool
        first_hash, first_fee, first_value = stuck.tx_hash, stuck.max_fee_per_gas, stuck.amount_base_units

        report = await gw.sweep_pass()  # not old enough yet (replace_after_s = 1)
        assert report.replaced == 0
        async with gw.rt.sessions() as s, s.begin():
            await s.execute(update(Sweep).where(Sweep.id == stuck.id)
                            .values(broadcast_at=utcnow() - timedelta(seconds=60)))
        report = await gw.sweep_pass()
        assert report.replaced == 1 and not report.created
        (sweep,) = await gw.sweeps_of(p.address)
        assert sweep.replaced_tx_hashes == [first_hash] and sweep.tx_hash != first_hash
        assert sweep.nonce == stuck.nonce == 0 and sweep.state == "submitted"
        assert sweep.max_fee_per_gas >= first_fee * 125 // 100
        # the higher fee comes out of the swept value: the worst case still fits the balance
        assert sweep.amount_base_units == first_value - 21_000 * (sweep.max_fee_per_gas - first_fee)
        pool = gw.rpc("txpool_content")["pending"]
        (queued,) = pool[next(a for a in pool if a.lower() == p.address.lower())].values()
        assert queued["hash"] == sweep.tx_hash  # the node replaced the first version

        gw.rpc("evm_mine")
    finally:
        gw.rpc("evm_setAutomine", True)
    await gw.sweep_until_quiet()
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "done"
    mined = [h for h in [first_hash, *sweep.replaced_tx_hashes, sweep.tx_hash] if gw.rpc.receipt(h) is not None]
    assert mined == [sweep.tx_hash]  # exactly one version mined, the one the sweep records
    assert gw.rpc.nonce(p.address) == 1
    assert gw.rpc.balance(TREASURY) - treasury == sweep.amount_base_units == \
        2 * ETH - gw.rpc.fee(sweep.tx_hash) - gw.rpc.balance(p.address)


async def test_stuck_token_sweep_that_cannot_pay_more_is_done_when_its_first_version_is_mined(gw):
    """The top-up covered the token transfer at its first fee only, so no higher-fee replacement is signed
    (the node would refuse it: insufficient funds). The first version is mined and recognised."""
    p = await gw.paid("TUSD", 6_000_000)
    treasury = gw.rpc.token_balance(gw.token, TREASURY)
    assert (await gw.sweep_pass()).broadcast == 1  # the top-up
    gw.rpc("evm_setAutomine", False)
    try:
        report = await gw.sweep_pass()  # the top-up is done; the token transfer is signed and sent, then waits
        assert report.done == 1 and report.broadcast == 1
        topup, stuck = await gw.sweeps_of(p.address)
        assert stuck.state == "submitted" and gw.rpc.receipt(stuck.tx_hash) is None
        async with gw.rt.sessions() as s, s.begin():
            await s.execute(update(Sweep).where(Sweep.id == stuck.id)
                            .values(broadcast_at=utcnow() - timedelta(seconds=60)))
        assert (await gw.sweep_pass()).replaced == 0
        _, sweep = await gw.sweeps_of(p.address)
        assert sweep.replaced_tx_hashes is None and sweep.error is None and sweep.tx_hash == stuck.tx_hash
        assert gw.rpc("eth_getTransactionByHash", stuck.tx_hash) is not None  # the first version still waits
        gw.rpc("evm_mine")
    finally:
        gw.rpc("evm_setAutomine", True)
    await gw.sweep_until_quiet()
    _, sweep = await gw.sweeps_of(p.address)
    assert sweep.state == "done" and sweep.tx_hash == stuck.tx_hash  # the version mined is the one recorded
    assert gw.rpc.nonce(p.address) == 1
    assert gw.rpc.token_balance(gw.token, TREASURY) - treasury == 6_000_000
    assert gw.rpc.token_balance(gw.token, p.address) == 0


async def test_a_mined_earlier_version_of_a_replaced_gas_top_up_is_not_a_payment(gw):
    """The gateway's own transactions are never payments, whichever version of them is mined."""
    p = await gw.paid("TUSD", 8_000_000)
    treasury = gw.rpc.token_balance(gw.token, TREASURY)
    gw.rpc("evm_setAutomine", False)
    try:
        assert (await gw.sweep_pass()).broadcast == 1  # the top-up waits in the mempool
        topup, _ = await gw.sweeps_of(p.address)
        async with gw.rt.sessions() as s, s.begin():
            await s.execute(update(Sweep).where(Sweep.id == topup.id)
                            .values(broadcast_at=utcnow() - timedelta(seconds=60)))
        assert (await gw.sweep_pass()).replaced == 1
        replaced, _ = await gw.sweeps_of(p.address)
        assert replaced.replaced_tx_hashes == [topup.tx_hash]
        # the first version is the one mined: the replacement is dropped, the first sent again
        gw.rpc("anvil_dropTransaction", replaced.tx_hash)
        gw.rpc("eth_sendRawTransaction", topup.raw_tx)
        gw.rpc("evm_mine")
        assert gw.rpc.receipt(topup.tx_hash) is not None and gw.rpc.receipt(replaced.tx_hash) is None
    finally:
        gw.rpc("evm_setAutomine", True)

    await gw.sync()  # the scanner sees the first version's transfer into the deposit address
    await gw.sweep_until_quiet()
    await gw.sync()
    assert [t.asset for t in await gw.transfers_of(p.id)] == ["TUSD"]  # the top-up is not a payment
    assert "payment.late" not in await gw.events_of(p.id)
    topup, sweep = await gw.sweeps_of(p.address)
    assert topup.state == sweep.state == "done" and topup.tx_hash == replaced.replaced_tx_hashes[0]
    assert gw.rpc.token_balance(gw.token, TREASURY) - treasury == 8_000_000


async def test_an_earlier_version_mined_gives_back_the_transfers_only_its_replacement_moved(gw):
    """Chaos seed 1000 (stale_version): a replacement signed after a late transfer confirmed moves it
    too and links it; when the earlier version is the one mined, that transfer is still on the deposit
    address and must be swept again, not left linked to a sweep that never moved it."""
    p = await gw.paid("ETH", 2 * ETH)
    treasury = gw.rpc.balance(TREASURY)
    gw.rpc("evm_setAutomine", False)
    try:
        assert (await gw.sweep_pass()).broadcast == 1
        (first,) = await gw.sweeps_of(p.address)
        gw.rpc("anvil_dropTransaction", first.tx_hash)  # held back while a late transfer confirms
        late = gw.send(p.address, "ETH", ETH)
        gw.rpc("evm_mine")
        gw.rpc("evm_mine")
        await gw.sync()
        assert gw.rpc.receipt(late) is not None
        await gw.sweep_pass()  # the first version is not in the pool: sent again, the same bytes
        async with gw.rt.sessions() as s, s.begin():
            await s.execute(update(Sweep).where(Sweep.id == first.id)
                            .values(broadcast_at=utcnow() - timedelta(seconds=60)))
        assert (await gw.sweep_pass()).replaced == 1  # signed for the balance with the late transfer
        (replaced,) = await gw.sweeps_of(p.address)
        assert replaced.amount_base_units > first.amount_base_units + ETH // 2
        assert {t.sweep_id for t in await gw.transfers_of(p.id)} == {first.id}  # both linked
        gw.rpc("anvil_dropTransaction", replaced.tx_hash)  # the earlier version is the one mined
        gw.rpc("eth_sendRawTransaction", first.raw_tx)
        gw.rpc("evm_mine")
        assert gw.rpc.receipt(first.tx_hash) is not None
    finally:
        gw.rpc("evm_setAutomine", True)
    await gw.sweep_until_quiet()
    await gw.sync()
    await gw.sweep_until_quiet()
    sweeps = await gw.sweeps_of(p.address)
    assert [s.state for s in sweeps] == ["done", "done"]  # the late transfer swept by a sweep of its own
    assert gw.rpc.balance(p.address) < ETH // 100
    assert gw.rpc.balance(TREASURY) - treasury > 3 * ETH * 99 // 100
    linked = {t.tx_hash: t.sweep_id for t in await gw.transfers_of(p.id)}
    assert linked[late] == sweeps[1].id

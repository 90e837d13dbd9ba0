"""Scanning and confirming on a real Anvil: payments detected, confirmed, expired, late; reorgs survived.

This module runs its own Anvil and PostgreSQL database: it mines, reverts and reorgs freely.
"""

from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import select, update

from testbed import create_database, drop_database, make_settings, new_merchant
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.db.models import Event, Payment, Transfer
from ctrip_core.db.types import utcnow
from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.token import batch_transfer, send_native, send_transaction, transfer
from ctrip_core.runtime import build_runtime
from ctrip_core.services.watching.confirming import confirm_step
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.services.watching.scanning import scan_chain

ETH = 10**18


@pytest.fixture(scope="module")
def database():
    url = create_database()
    yield url
    drop_database(url)


@pytest_asyncio.fixture(scope="module")
async def rt(node, tusd, database, tmp_path_factory):
    chains = write_anvil_chains_file(tmp_path_factory.mktemp("scan") / "chains.yaml", node.rpc_url, tusd)
    runtime = build_runtime(make_settings(database, chains), "api")
    await scan_chain(runtime, "anvil")  # the cursor starts at the head
    yield runtime
    await runtime.close()


@pytest_asyncio.fixture(scope="module")
async def merchant_id(rt):
    return (await new_merchant(rt))[0]


async def pay_request(rt, merchant_id, asset="ETH", amount="1", expires_in=None):
    async with rt.sessions() as s, s.begin():
        p = await create_payment(rt, merchant_id, PaymentRequest("anvil", asset, amount, expires_in=expires_in),
                                 within=s)
    return p


async def reload(rt, payment_id):
    async with rt.sessions() as s:
        p = await s.get(Payment, payment_id)
        ts = list(await s.scalars(select(Transfer).where(Transfer.payment_id == payment_id).order_by(Transfer.id)))
        events = list(await s.scalars(select(Event.type).where(Event.payment_id == payment_id).order_by(Event.seq)))
    return p, ts, events


async def sync(rt):
    await scan_chain(rt, "anvil")
    await confirm_step(rt, "anvil")


async def test_native_exact_payment_detected_then_confirmed(rt, node, merchant_id):
    p = await pay_request(rt, merchant_id, "ETH", "1.5")
    send_native(node.rpc_url, FUNDER_KEY, p.address, 15 * ETH // 10)
    await scan_chain(rt, "anvil")
    p2, transfers, events = await reload(rt, p.id)
    assert p2.status == "detected" and p2.amount_received_base_units == 15 * ETH // 10
    assert [t.log_index for t in transfers] == [-1]
    await confirm_step(rt, "anvil")  # 1 confirmation: the block itself
    p3, transfers, events = await reload(rt, p.id)
    assert p3.status == "confirmed" and not p3.overpaid and transfers[0].state == "confirmed"
    assert events == ["payment.detected", "payment.confirmed"]


async def test_token_partial_then_complete_and_overpaid(rt, node, tusd, merchant_id):
    p = await pay_request(rt, merchant_id, "TUSD", "10")
    transfer(node.rpc_url, FUNDER_KEY, tusd, p.address, 4_000_000)
    await sync(rt)
    p1, _, _ = await reload(rt, p.id)
    assert p1.status == "detected" and p1.amount_received_base_units == 4_000_000
    transfer(node.rpc_url, FUNDER_KEY, tusd, p.address, 7_000_000)
    await sync(rt)
    p2, transfers, events = await reload(rt, p.id)
    assert p2.status == "confirmed" and p2.overpaid and p2.amount_received_base_units == 11_000_000
    assert len(transfers) == 2 and all(t.log_index >= 0 for t in transfers)
    assert events == ["payment.detected", "payment.confirmed"]


async def test_scanning_twice_counts_once(rt, node, merchant_id):
    p = await pay_request(rt, merchant_id, "ETH", "1")
    send_native(node.rpc_url, FUNDER_KEY, p.address, ETH)
    await sync(rt)
    async with rt.sessions() as s, s.begin():  # rewind the cursor: the same blocks are scanned again
        from ctrip_core.db.models import ChainCursor, RecentBlock
        cursor = await s.get(ChainCursor, "anvil")
        cursor.last_block -= 3
        await s.execute(RecentBlock.__table__.delete().where(RecentBlock.number > cursor.last_block))
    await sync(rt)
    p2, transfers, events = await reload(rt, p.id)
    assert len(transfers) == 1 and p2.amount_received_base_units == ETH
    assert events == ["payment.detected", "payment.confirmed"]


async def test_transfer_to_unknown_address_and_other_asset_ignored(rt, node, tusd, merchant_id):
    p = await pay_request(rt, merchant_id, "TUSD", "1")
    send_native(node.rpc_url, FUNDER_KEY, "0x000000000000000000000000000000000000dEaD", ETH)
    send_native(node.rpc_url, FUNDER_KEY, p.address, ETH)  # ETH to a TUSD payment: recorded, not counted
    await sync(rt)
    p2, transfers, events = await reload(rt, p.id)
    assert p2.status == "pending" and p2.amount_received_base_units == 0
    assert [t.asset for t in transfers] == ["ETH"] and events == []


async def test_reverted_native_transfer_is_ignored(rt, node, merchant_id):
    p = await pay_request(rt, merchant_id, "ETH", "1")
    node.rpc("anvil_setCode", p.address, "0xfe")  # the deposit address now reverts on every call
    try:
        tx_hash = send_transaction(node.rpc_url, FUNDER_KEY, p.address, value=ETH, gas=100_000)
        receipt = None
        while receipt is None:
            receipt = node.rpc("eth_getTransactionReceipt", tx_hash)
        assert receipt["status"] == "0x0"
    finally:
        node.rpc("anvil_setCode", p.address, "0x")
    await sync(rt)
    p2, transfers, _ = await reload(rt, p.id)
    assert p2.status == "pending" and transfers == []


async def test_one_transaction_pays_two_payments(rt, node, tusd, merchant_id):
    a = await pay_request(rt, merchant_id, "TUSD", "2")
    b = await pay_request(rt, merchant_id, "TUSD", "3")
    batch_transfer(node.rpc_url, FUNDER_KEY, tusd, [a.address, b.address], [2_000_000, 3_000_000])
    await sync(rt)
    (pa, ta, _), (pb, tb, _) = await reload(rt, a.id), await reload(rt, b.id)
    assert pa.status == pb.status == "confirmed"
    assert ta[0].tx_hash == tb[0].tx_hash and ta[0].log_index != tb[0].log_index


async def test_two_payments_in_one_block(rt, node, merchant_id):
    a = await pay_request(rt, merchant_id, "ETH", "1")
    b = await pay_request(rt, merchant_id, "ETH", "2")
    node.rpc("evm_setAutomine", False)
    try:
        send_transaction(node.rpc_url, FUNDER_KEY, a.address, value=ETH)
        send_transaction(node.rpc_url, FUNDER_KEY, b.address, value=2 * ETH)
        node.rpc("evm_mine")
    finally:
        node.rpc("evm_setAutomine", True)
    await sync(rt)
    (pa, ta, _), (pb, tb, _) = await reload(rt, a.id), await reload(rt, b.id)
    assert pa.status == pb.status == "confirmed" and ta[0].block_number == tb[0].block_number


async def expire_now(rt, payment_id, node):
    """Move expires_at into the past and mine a block: expiry waits for a scanned block at or past it."""
    async with rt.sessions() as s, s.begin():
        await s.execute(update(Payment).where(Payment.id == payment_id)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
    node.rpc("evm_mine")


async def test_expired_then_late_payment(rt, node, merchant_id):
    p = await pay_request(rt, merchant_id, "ETH", "1")
    await expire_now(rt, p.id, node)
    await sync(rt)
    assert (await reload(rt, p.id))[0].status == "expired"
    send_native(node.rpc_url, FUNDER_KEY, p.address, ETH)
    await sync(rt)
    p2, transfers, events = await reload(rt, p.id)
    assert p2.status == "expired" and p2.late and transfers[0].late
    assert p2.amount_received_base_units == ETH
    assert events == ["payment.expired", "payment.late"]


async def test_underpaid_at_expiry(rt, node, merchant_id):
    p = await pay_request(rt, merchant_id, "ETH", "2")
    send_native(node.rpc_url, FUNDER_KEY, p.address, ETH)
    await sync(rt)
    await expire_now(rt, p.id, node)
    await sync(rt)
    p2, _, events = await reload(rt, p.id)
    assert p2.status == "underpaid" and p2.amount_received_base_units == ETH
    assert events == ["payment.detected", "payment.underpaid"]


async def test_new_chain_starts_at_head_not_block_zero(rt):
    from ctrip_core.db.models import ChainCursor

    async with rt.sessions() as s:
        cursor = await s.get(ChainCursor, "anvil")
    assert cursor.last_block > 0

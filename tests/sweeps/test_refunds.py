"""Refunds end to end on Anvil: a payment's money given back from the merchant's payout wallet by
the sweeper, checked against the chain (each refund's transaction: its sender, recipient, value).

Invariants: by default all the payment received, to the address that paid; the sum of a payment's
refunds that have not failed (or that the sweeper signed) never exceeds what it received in that asset (409 otherwise, nothing
recorded); a late transfer is refundable too; another address needs the `payouts` scope.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import func, select, update

from ctrip_core.db.models import Event, Payment, Payout, Sweep
from ctrip_core.db.types import utcnow
from ctrip_core.devnet.accounts import FUNDER
from ctrip_core.services.errors import Conflict, InvalidField, MissingScope
from ctrip_core.services.payouts.requests import RefundRequest, create_refund
from ctrip_core.services.webhooks.secret_box import SecretBox
from sweep_support import ETH, TOKEN_DECIMALS, close_gateway, open_gateway
from testbed import TEST_SECRET_KEY

pytestmark = pytest.mark.timeout(120)
TUSD = 10**TOKEN_DECIMALS
ELSEWHERE = "0x00bee00000000000000000000000000000000077"


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("refunds"), node.rpc_url, tusd)
    wallet = g.keys.payout_address(g.merchant_id)
    g.funder.wait([g.send(wallet, "ETH", ETH), g.send(wallet, "TUSD", 100 * TUSD)])
    yield g
    await close_gateway(g)


async def refund(gw, payment_id: str, *, anywhere: bool = False, **fields) -> Payout:
    chains = gw.rt.chain_configs()
    async with gw.rt.sessions() as s, s.begin():
        return await create_refund(s, gw.rt.settings, chains, SecretBox(TEST_SECRET_KEY), gw.merchant_id,
                                   payment_id, RefundRequest(**fields), may_pay_anywhere=anywhere)


async def sent(gw, refund_id: str) -> dict:
    """The refund's transaction as the chain has it, after the sweeper sent it."""
    async with gw.rt.sessions() as s:
        row = await s.get(Payout, refund_id)
        assert row.status == "succeeded", row.failure_reason
        sweep = await s.get(Sweep, row.sweep_id)
    tx = gw.rpc("eth_getTransactionByHash", sweep.tx_hash)
    assert tx["from"].lower() == gw.keys.payout_address(gw.merchant_id).lower()
    return tx


def token_transfer(tx: dict) -> tuple[str, int]:
    """(recipient, amount) of an ERC-20 transfer's calldata."""
    data = tx["input"]
    return "0x" + data[34:74], int(data[74:138], 16)


async def refunds_count(gw) -> int:
    async with gw.rt.sessions() as s:
        return await s.scalar(select(func.count()).select_from(Payout).where(Payout.payment_id.is_not(None)))


async def test_a_full_refund_goes_to_the_payer_and_nothing_more_can_be_refunded(gw):
    p = await gw.paid("TUSD", 7 * TUSD)
    r = await refund(gw, p.id)
    assert (r.amount_base_units, r.address.lower(), r.id[:3]) == (7 * TUSD, FUNDER.lower(), "rf_")
    await gw.sweep_until_quiet()
    tx = await sent(gw, r.id)
    assert tx["to"].lower() == gw.token.lower() and token_transfer(tx) == (FUNDER.lower(), 7 * TUSD)

    before = await refunds_count(gw)
    with pytest.raises(Conflict, match="nothing to refund"):
        await refund(gw, p.id, amount="0.000001")
    assert await refunds_count(gw) == before
    async with gw.rt.sessions() as s:
        types = list(await s.scalars(select(Event.type).where(Event.payment_id == p.id).order_by(Event.seq)))
    assert [t for t in types if t.startswith("refund.")] == ["refund.created", "refund.succeeded"]


async def test_partial_refunds_never_sum_to_more_than_was_received(gw):
    p = await gw.paid("ETH", ETH // 10)
    first = await refund(gw, p.id, amount="0.04")
    with pytest.raises(Conflict, match="at most 0.06 ETH"):
        await refund(gw, p.id, amount="0.07")
    second = await refund(gw, p.id, amount="0.06")
    await gw.sweep_until_quiet()
    values = [int((await sent(gw, r.id))["value"], 16) for r in (first, second)]
    assert values == [4 * ETH // 100, 6 * ETH // 100]
    with pytest.raises(Conflict):
        await refund(gw, p.id)


async def test_a_late_transfer_is_refunded(gw):
    p = await gw.payment("ETH", ETH // 20)
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(update(Payment).where(Payment.id == p.id).values(expires_at=utcnow() - timedelta(seconds=5)))
    gw.rpc("evm_mine")
    await gw.sync()
    gw.funder.wait([gw.send(p.address, "ETH", ETH // 20)])
    await gw.sync()
    async with gw.rt.sessions() as s:
        payment = await s.get(Payment, p.id)
    assert payment.status == "expired" and payment.late
    r = await refund(gw, p.id)
    await gw.sweep_until_quiet()
    tx = await sent(gw, r.id)
    assert tx["to"].lower() == FUNDER.lower() and int(tx["value"], 16) == ETH // 20


async def test_another_address_needs_the_payouts_scope(gw):
    p = await gw.paid("ETH", ETH // 50)
    before = await refunds_count(gw)
    with pytest.raises(MissingScope, match="'payouts' scope"):
        await refund(gw, p.id, address=ELSEWHERE)
    with pytest.raises(InvalidField, match="EIP-55"):
        await refund(gw, p.id, address="0x00BEe00000000000000000000000000000000077", anywhere=True)
    assert await refunds_count(gw) == before
    r = await refund(gw, p.id, address=ELSEWHERE, anywhere=True)
    await gw.sweep_until_quiet()
    assert (await sent(gw, r.id))["to"].lower() == ELSEWHERE
    assert gw.rpc.balance(ELSEWHERE) == ETH // 50


async def test_a_sent_refund_set_to_failed_in_the_database_still_counts(gw):
    """Its transaction was mined: failed in the database (or on a node's false "reverted" receipt), it
    must not free the room for a second refund of the same money."""
    p = await gw.paid("ETH", ETH // 50)
    r = await refund(gw, p.id)
    await gw.sweep_until_quiet()
    await sent(gw, r.id)
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(update(Payout).where(Payout.id == r.id).values(status="failed"))
    before = await refunds_count(gw)
    with pytest.raises(Conflict, match="nothing to refund"):
        await refund(gw, p.id)
    assert await refunds_count(gw) == before

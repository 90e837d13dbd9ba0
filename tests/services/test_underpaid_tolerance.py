"""payments.underpaid_tolerance on Anvil: a payment short by no more than that share of its amount is
confirmed and says so; shorter, it stays detected and ends underpaid; the share is decided at creation."""

from __future__ import annotations

from decimal import Decimal

import pytest_asyncio

from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.devnet.payer import Payer
from ctrip_core.runtime import build_runtime
from ctrip_core.services.payments.operations import PaymentRequest, create_payment, tolerated
from ctrip_core.services.payments.payment_view import render_one
from ctrip_core.db.models import Payment
from ctrip_core.services.watching.confirming import confirm_step
from ctrip_core.services.watching.scanning import scan_chain
from testbed import make_settings, new_merchant


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, module_database, tmp_path_factory):
    chains = write_anvil_chains_file(tmp_path_factory.mktemp("tolerance") / "chains.yaml", node.rpc_url, tusd)
    rt = build_runtime(make_settings(module_database, chains, payments={"underpaid_tolerance": "0.01"}), "api")
    await scan_chain(rt, "anvil")
    yield {"rt": rt, "merchant": (await new_merchant(rt))[0], "payer": Payer(FUNDER_KEY, node.rpc_url), "tusd": tusd}
    await rt.close()


async def _paid(gw, units: int):
    rt = gw["rt"]
    p = await create_payment(rt, gw["merchant"], PaymentRequest("anvil", "TUSD", "10"))
    assert p.tolerance_base_units == 100_000  # 1% of 10 TUSD, fixed at creation
    gw["payer"].wait([gw["payer"].token(gw["tusd"], p.address, units)])
    await scan_chain(rt, "anvil")
    await confirm_step(rt, "anvil")
    async with rt.sessions() as s:
        payment = await s.get(Payment, p.id)
        return payment, await render_one(s, payment)


async def test_short_within_the_tolerance_is_confirmed_and_says_so(gw):
    payment, body = await _paid(gw, 9_900_000)
    assert payment.status == "confirmed" and body["underpaid_within_tolerance"] is True
    assert body["amount_received"] == "9.9"


async def test_short_beyond_the_tolerance_stays_detected(gw):
    payment, body = await _paid(gw, 9_899_999)
    assert payment.status == "detected" and body["underpaid_within_tolerance"] is False


async def test_paid_in_full_is_not_flagged(gw):
    payment, body = await _paid(gw, 10_000_000)
    assert payment.status == "confirmed" and body["underpaid_within_tolerance"] is False


def test_the_tolerance_is_rounded_down_exactly():
    assert tolerated(10_000_000, Decimal("0.01")) == 100_000
    assert tolerated(999, Decimal("0.01")) == 9  # 9.99 → 9: never more than the share
    assert tolerated(2**255, Decimal("0.000001")) == 2**255 // 1_000_000
    assert tolerated(123, Decimal(0)) == 0

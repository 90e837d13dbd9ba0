"""The ledger of GET /v1/balances (services/reports/balances.py) against the chain itself: after
payments, sweeps, a payout and a refund, what was received equals what was swept, paid in gas and
left on the deposit addresses (read from the chain), and what was paid out equals what arrived."""

from __future__ import annotations

import pytest
import pytest_asyncio

from ctrip_core.services.payouts.requests import PayoutRequest, RefundRequest, create_payout, create_refund
from ctrip_core.services.reports.balances import balances_of
from ctrip_core.services.webhooks.secret_box import SecretBox
from sweep_support import ETH, TOKEN_DECIMALS, close_gateway, open_gateway
from testbed import TEST_SECRET_KEY

pytestmark = pytest.mark.timeout(120)
TUSD = 10**TOKEN_DECIMALS
PAYEE = "0x00bee00000000000000000000000000000000100"


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("balances"), node.rpc_url, tusd)
    yield g
    await close_gateway(g)


async def test_received_is_swept_plus_gas_plus_what_the_chain_still_holds(gw):
    chains = {name: chain.config for name, chain in gw.rt.chains.items()}
    box = SecretBox(TEST_SECRET_KEY)
    paid = await gw.paid_all([("ETH", ETH // 3), ("ETH", ETH // 7), ("TUSD", 9 * TUSD), ("TUSD", 4 * TUSD)])
    unswept = await gw.paid("ETH", ETH // 9)  # confirmed, not swept yet when first looked at
    wallet = gw.keys.payout_address(gw.merchant_id)
    gw.funder.wait([gw.send(wallet, "ETH", ETH // 10), gw.send(wallet, "TUSD", 5 * TUSD)])
    async with gw.rt.sessions() as s, s.begin():
        await create_payout(s, gw.rt.settings, chains, box, gw.merchant_id,
                            PayoutRequest(gw.chain, "TUSD", PAYEE, "2.5"))
        await create_refund(s, gw.rt.settings, chains, box, gw.merchant_id, paid[0].id,
                            RefundRequest(amount="0.01"), may_pay_anywhere=False)
    async with gw.rt.sessions() as s:  # the unswept payment's transfer counts as awaiting a sweep
        before = {(b.chain, b.asset): b.units for b in await balances_of(s, gw.merchant_id, chains)}
    assert before[(gw.chain, "ETH")]["awaiting_sweep"] >= ETH // 9

    await gw.sweep_until_quiet()
    async with gw.rt.sessions() as s:
        rows = {(b.chain, b.asset): b.units for b in await balances_of(s, gw.merchant_id, chains)}
    eth, tusd_ = rows[(gw.chain, "ETH")], rows[(gw.chain, "TUSD")]
    deposits = [p.address for p in (*paid, unswept)]
    # the chain's own word (token deposit addresses hold what is left of the gas tank's top-up: not theirs)
    left = sum(gw.rpc.balance(p.address) for p in (paid[0], paid[1], unswept))
    assert eth["received"] == ETH // 3 + ETH // 7 + ETH // 9
    assert eth["received"] == eth["awaiting_sweep"] + eth["in_sweep"] + eth["moved"]
    assert eth["in_sweep"] == eth["awaiting_sweep"] == 0
    assert eth["moved"] == eth["swept"] + eth["gas"] + left  # the fee reserved and not spent stays behind
    assert tusd_["received"] == 13 * TUSD == tusd_["swept"] + sum(gw.rpc.token_balance(gw.token, a) for a in deposits)
    assert tusd_["paid_out"] == 5 * TUSD // 2 == gw.rpc.token_balance(gw.token, PAYEE)
    assert eth["refunded"] == ETH // 100 and eth["payout_fees"] > 0
    assert gw.rpc.balance(wallet) == ETH // 10 - ETH // 100 - eth["payout_fees"]  # fees as the chain charged them

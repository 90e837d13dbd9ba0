"""The ledger of GET /v1/balances (services/reports/balances.py) against the chain itself: after
payments, sweeps, a payout and a refund, what was received equals what was swept, paid in gas and
left on the deposit addresses (read from the chain), and what was paid out equals what arrived.
Then the transactions report of the same history: each row's transaction and fee as the chain has it."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio

from ctrip_core.services.payouts.requests import PayoutRequest, RefundRequest, create_payout, create_refund
from ctrip_core.services.reports.balances import balances_of
from ctrip_core.services.reports.transactions import COLUMNS, as_csv, transaction_rows
from ctrip_core.services.webhooks.secret_box import SecretBox
from sweep_support import ETH, TOKEN_DECIMALS, close_gateway, open_gateway
from testbed import TEST_SECRET_KEY

pytestmark = pytest.mark.timeout(120)
TUSD = 10**TOKEN_DECIMALS
PAYEE = "0x00bee00000000000000000000000000000000100"
CTRIP = Path(sys.executable).parent / "ctrip"


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("balances"), node.rpc_url, tusd)
    yield g
    await close_gateway(g)


async def test_received_is_swept_plus_gas_plus_what_the_chain_still_holds(gw):
    chains = gw.rt.chain_configs()
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


async def test_the_transactions_report_agrees_with_the_chain_and_ctrip_export(gw):
    chains = gw.rt.chain_configs()
    async with gw.rt.sessions() as s:
        rows = await transaction_rows(s, gw.merchant_id, chains)
    text = as_csv(rows)
    table = list(csv.DictReader(io.StringIO(text)))
    assert tuple(csv.reader(io.StringIO(text)).__next__()) == COLUMNS
    kinds = {kind: [r for r in table if r["type"] == kind] for kind in ("payment", "transfer", "sweep", "refund",
                                                                         "payout")}
    assert len(kinds["payment"]) == len(kinds["transfer"]) == 5
    assert len(kinds["refund"]) == len(kinds["payout"]) == 1
    for row in kinds["transfer"]:  # each incoming transfer is on chain as reported
        tx = gw.rpc("eth_getTransactionByHash", row["tx_hash"])
        assert tx is not None and int(tx["blockNumber"], 16) > 0
        if row["asset"] == "ETH":
            assert int(tx["value"], 16) == int(row["amount_base_units"]) and tx["to"].lower() == row["to"].lower()
    for row in [*kinds["sweep"], *kinds["refund"], *kinds["payout"]]:  # fees as the chain charged them
        assert row["status"] in ("done", "succeeded") and int(row["fee_base_units"]) == gw.rpc.fee(row["tx_hash"])
    assert kinds["payout"][0]["amount"] == "2.5" and kinds["refund"][0]["amount"] == "0.01"
    assert [r["created_at"] for r in table] == sorted(r["created_at"] for r in table)

    done = subprocess.run([str(CTRIP), "export", gw.merchant_id], capture_output=True, env=gw.env(), timeout=60)
    assert done.returncode == 0 and done.stdout.decode() == text  # bytes: the CSV's CRLF line ends too
    later = subprocess.run([str(CTRIP), "export", gw.merchant_id, "--from", "2999-01-01"], capture_output=True,
                           text=True, env=gw.env(), timeout=60)
    assert later.returncode == 0 and later.stdout.splitlines() == [",".join(COLUMNS)]
    bad = subprocess.run([str(CTRIP), "export", gw.merchant_id, "--to", "yesterday"], capture_output=True,
                         text=True, env=gw.env(), timeout=60)
    assert bad.returncode == 2 and "is not an ISO 8601 date" in bad.stderr and "Traceback" not in bad.stderr

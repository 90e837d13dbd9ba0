"""/v1/balances: the merchant's ledger per chain and asset (services/reports/balances.py) and its
payout wallet's balance, read from the chain; /v1/reports/transactions.csv: every payment, transfer,
sweep, refund and payout (services/reports/transactions.py)."""

from __future__ import annotations

from quart import Blueprint, Response, g
from quart_schema import validate_querystring, validate_response

from ctrip_core.api.auth import scope
from ctrip_core.api.docs import errors
from ctrip_core.api.schemas import BalanceList, BalanceOut, TransactionsReportQuery
from ctrip_core.api.state import app_state
from ctrip_core.services.reports.balance_sheet import balance_sheet
from ctrip_core.services.reports.transactions import transactions_csv

blueprint = Blueprint("reports", __name__)


@blueprint.get("/balances")
@scope("read")
@validate_response(BalanceList, 200)
@errors()
async def list_balances():
    """Per chain and asset: received, awaiting sweep, in a sweep, moved, swept, gas, refunded, paid
    out, payout fees (decimal strings), and the payout wallet with its balance now."""
    data = [BalanceOut(**row) for row in await balance_sheet(app_state().runtime, g.merchant_id)]
    return BalanceList(object="list", data=data), 200


@blueprint.get("/reports/transactions.csv")
@scope("read")
@validate_querystring(TransactionsReportQuery)
@errors()
async def transactions_report(query_args: TransactionsReportQuery):
    """Every payment, transfer, sweep, refund and payout created in [from, to), oldest first, as CSV
    in the documented column order (docs/payouts.md#the-transactions-report)."""
    text = await transactions_csv(app_state().runtime, g.merchant_id, query_args.since, query_args.until)
    return Response(text, status=200, mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="transactions.csv"'})

"""The dashboard's balances (the ledger per chain and asset beside the payout wallet's balance now,
services/reports/balance_sheet.py) and the transactions export as CSV (the report the API serves)."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import hide

from ctrip_core.api.blueprints.dashboard.site import signed_in, signed_in_page
from ctrip_core.api.state import app_state
from ctrip_core.services.errors import InvalidField
from ctrip_core.services.reports.balance_sheet import balance_sheet
from ctrip_core.services.reports.balances import FIELDS
from ctrip_core.services.reports.transactions import transactions_csv

blueprint = Blueprint("balances", __name__)


@blueprint.get("/dashboard/balances")
@hide
@signed_in
async def balances_page(now):
    return await _page(now)


async def _page(now, error: str | None = None, status: int = 200):
    rows = await balance_sheet(app_state().runtime, now.user.merchant_id)
    return await signed_in_page(now, "balances.html", status, rows=rows, fields=FIELDS, error=error,
                                since=request.args.get("from", ""), until=request.args.get("to", ""))


@blueprint.get("/dashboard/balances/transactions.csv")
@hide
@signed_in
async def export(now):
    """Every payment, transfer, sweep, refund and payout created in [from, to) as CSV; a bad date is
    the balances page with the error."""
    try:
        text = await transactions_csv(app_state().runtime, now.user.merchant_id,
                                      request.args.get("from") or None, request.args.get("to") or None)
    except InvalidField as exc:
        return await _page(now, exc.message, 422)
    return Response(text, status=200, mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="transactions.csv"'})

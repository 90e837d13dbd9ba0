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
from ctrip_core.chains.erc20 import balance_of
from ctrip_core.chains.rpc import RpcError
from ctrip_core.money import format_amount
from ctrip_core.services.reports.balances import FIELDS, balances_of
from ctrip_core.services.reports.transactions import as_csv, parse_moment, transaction_rows
from ctrip_core.wallet import payout_path

blueprint = Blueprint("reports", __name__)


@blueprint.get("/balances")
@scope("read")
@validate_response(BalanceList, 200)
@errors()
async def list_balances():
    """Per chain and asset: received, awaiting sweep, in a sweep, moved, swept, gas, refunded, paid
    out, payout fees (decimal strings), and the payout wallet with its balance now."""
    runtime = app_state().runtime
    chains = runtime.chain_configs()
    async with runtime.read_sessions() as session:
        rows = await balances_of(session, g.merchant_id, chains)
    wallet = runtime.deriver.derive_path(payout_path(g.merchant_id))
    data = []
    for row in rows:
        chain = runtime.chains[row.chain]
        token = getattr(chain.config.asset(row.asset), "address", None)
        balance = None  # not known (yet): no node answered, or no payout wallet address
        if wallet is not None:
            try:
                units = await (chain.get_balance(wallet) if token is None else balance_of(chain, token, wallet))
                balance = format_amount(units, row.decimals)
            except RpcError:
                pass
        shown = {name: format_amount(row.units[name], row.decimals) for name in FIELDS}
        data.append(BalanceOut(chain=row.chain, asset=row.asset, **shown,
                               payout_wallet={"address": wallet, "balance": balance}))
    return BalanceList(object="list", data=data), 200


@blueprint.get("/reports/transactions.csv")
@scope("read")
@validate_querystring(TransactionsReportQuery)
@errors()
async def transactions_report(query_args: TransactionsReportQuery):
    """Every payment, transfer, sweep, refund and payout created in [from, to), oldest first, as CSV
    in the documented column order (docs/payouts.md#the-transactions-report)."""
    since, until = parse_moment(query_args.since, "from"), parse_moment(query_args.until, "to")
    runtime = app_state().runtime
    chains = runtime.chain_configs()
    async with runtime.read_sessions() as session:
        rows = await transaction_rows(session, g.merchant_id, chains, since, until)
    return Response(as_csv(rows), status=200, mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="transactions.csv"'})

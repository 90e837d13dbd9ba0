"""What GET /v1/balances and the dashboard's balances page show: the ledger per chain and asset
(balances.py) as decimal strings, beside the merchant's payout wallet and its balance read from the
chain now (None when no node answered: not known yet, never zero)."""

from __future__ import annotations

from typing import Any

from ctrip_core.chains.erc20 import balance_of
from ctrip_core.chains.rpc import RpcError
from ctrip_core.money import format_amount
from ctrip_core.runtime import Runtime
from ctrip_core.services.reports.balances import FIELDS, balances_of
from ctrip_core.wallet import payout_path


async def balance_sheet(runtime: Runtime, merchant_id: str) -> list[dict[str, Any]]:
    """One row per (chain, asset): chain, asset, each of FIELDS, and payout_wallet {address, balance}."""
    chains = runtime.chain_configs()
    async with runtime.read_sessions() as session:
        rows = await balances_of(session, merchant_id, chains)
    wallet = runtime.deriver.derive_path(payout_path(merchant_id))
    sheet = []
    for row in rows:
        chain = runtime.chains[row.chain]
        token = getattr(chain.config.asset(row.asset), "address", None)
        balance = None
        if wallet is not None:
            try:
                units = await (chain.get_balance(wallet) if token is None else balance_of(chain, token, wallet))
                balance = format_amount(units, row.decimals)
            except RpcError:
                pass
        sheet.append({"chain": row.chain, "asset": row.asset,
                      **{name: format_amount(row.units[name], row.decimals) for name in FIELDS},
                      "payout_wallet": {"address": wallet, "balance": balance}})
    return sheet

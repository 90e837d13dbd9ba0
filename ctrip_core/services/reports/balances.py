"""A merchant's balances per chain and asset, from the ledger (GET /v1/balances).

For each (chain, asset) the merchant's payments received:

    received       = Σ confirmed transfers to its payments (late and misdirected ones too)
                   = awaiting_sweep (no sweep has taken them) + in_sweep (a sweep in flight)
                   + moved (a done sweep took them)
    moved          = swept (what done deposit sweeps delivered to a treasury)
                   + gas (native coin only: what those sweeps paid for gas)
                   + left on the deposit addresses (what a native sweep reserved for its fee and
                     did not spend: `left_behind`, known only from the chain)

and, out of the payout wallet: `refunded` and `paid_out` (succeeded refunds and payouts) and
`payout_fees` (their gas, native coin only). tests/sweeps/test_balances.py checks the identity
against the chain's own balances. Gas top-ups are the gas tank's cost, not the merchant's: not here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.config import ChainConfig
from ctrip_core.db.models import FINISHED_SWEEP_STATES, OPEN_SWEEP_STATES, Payment, Payout, Sweep, Transfer

FIELDS = ("received", "awaiting_sweep", "in_sweep", "moved", "swept", "gas", "refunded", "paid_out", "payout_fees")


@dataclass
class AssetBalance:
    chain: str
    asset: str
    decimals: int
    units: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))


def _asset_of(chain: ChainConfig | None, token: str | None) -> tuple[str, int] | None:
    found = chain.asset_at(token) if chain is not None else None
    return (found.symbol, found.decimals) if found else None


async def balances_of(session: AsyncSession, merchant_id: str, chains: dict[str, ChainConfig]) -> list[AssetBalance]:
    """Every (chain, asset) the merchant received or sent, sorted by chain then asset."""
    rows: dict[tuple[str, str], AssetBalance] = {}
    totals: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))

    def add(chain: str, token: str | None, name: str, units: int) -> None:
        found = _asset_of(chains.get(chain), token)
        if found is None:
            return  # an asset no longer configured: nothing to name it by
        symbol, decimals = found
        rows.setdefault((chain, symbol), AssetBalance(chain, symbol, decimals))
        totals[(chain, symbol)][name] += int(units or 0)

    sweep_state = select(Sweep.state).where(Sweep.id == Transfer.sweep_id).scalar_subquery()
    transfers = await session.execute(
        select(Transfer.chain, Transfer.token_address, sweep_state, func.sum(Transfer.amount_base_units))
        .join(Payment, Payment.id == Transfer.payment_id)
        .where(Payment.merchant_id == merchant_id, Transfer.state == "confirmed")
        .group_by(Transfer.chain, Transfer.token_address, sweep_state))
    for chain, token, state, units in transfers.all():
        add(chain, token, "received", units)
        add(chain, token, "awaiting_sweep" if state is None else "in_sweep" if state in OPEN_SWEEP_STATES
            else "moved", units)
    sweeps = await session.execute(
        select(Sweep.chain, Sweep.token_address, Sweep.payout_id.is_(None), Sweep.state,
               func.sum(Sweep.amount_base_units), func.sum(func.coalesce(Sweep.fee_base_units, 0)))
        .where(Sweep.merchant_id == merchant_id, Sweep.kind != "gas_topup", Sweep.state.in_(FINISHED_SWEEP_STATES))
        .group_by(Sweep.chain, Sweep.token_address, Sweep.payout_id.is_(None), Sweep.state))
    for chain, token, deposit, state, units, fees in sweeps.all():
        if deposit and state == "done":
            add(chain, token, "swept", units)
        if not deposit:
            add(chain, None, "payout_fees", fees)
        elif token is None:  # a token sweep's gas came from the gas tank's top-up: not the merchant's coin
            add(chain, None, "gas", fees)
    sent = await session.execute(
        select(Payout.chain, Payout.token_address, Payout.payment_id.is_(None), func.sum(Payout.amount_base_units))
        .where(Payout.merchant_id == merchant_id, Payout.status == "succeeded")
        .group_by(Payout.chain, Payout.token_address, Payout.payment_id.is_(None)))
    for chain, token, is_payout, units in sent.all():
        add(chain, token, "paid_out" if is_payout else "refunded", units)
    for key, balance in rows.items():
        balance.units = totals[key]
    return [rows[key] for key in sorted(rows)]

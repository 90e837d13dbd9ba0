"""The one place a sweep's transaction is built and signed: checked first, recorded before it leaves.

The database is not trusted for where money goes: anyone who can `UPDATE` a sweep row (the API host
can) would otherwise redirect funds without the mnemonic. Before any version of a sweep is signed
(the first, or a fee-bumped replacement) `sign_sweep` re-derives everything that decides where the
money goes from the sweeper's own configuration and keys, and checks the amount against the chain:

- from: a deposit sweep's sender is the address the sweeper's keys derive for its index; a gas
  top-up's sender is the chain's gas tank;
- to: a deposit sweep pays its merchant's treasury, verified by its operator authorization, or
  the chain's configured treasury when the merchant has none (`SweepKeys.treasury_for`), or, when
  `payouts.payout_float` names the asset, the merchant's own payout wallet (derived here); a gas
  top-up pays the deposit address derived from its index (never anything else);
- token: a token sweep's contract is one of the chain's configured tokens;
- amount: within the sender's on-chain balance (native value plus the worst-case fee; a token
  sweep's amount within its token balance).

A payout's transaction (`sweep.payout_id`) is checked against its verified route instead
(`SweepKeys.payouts`, from the API's seal and the operator's approval: services/payouts): from the
merchant's payout wallet, to the payout's address, that token, exactly that amount.

Anything else raises `Refused` (one log line; the worker counts it as
`ctrip_sweeps_refused_total{chain,reason}`) and nothing is signed: the funds stay where they are
until a sweep planned from configuration moves them.

Every signed hash is added to `sweep_transactions` in the session that stores the signed bytes, so
it is committed before the broadcast; `own_transactions` is how the scanner tells the gateway's own
transactions (gas top-ups and each of their versions) from payments.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.chains.erc20 import transfer_calldata
from ctrip_core.chains.transactions import sign, unsigned_tx
from ctrip_core.chains.types import FeeQuote
from ctrip_core.config import ChainConfig
from ctrip_core.db.models import Sweep, SweepTransaction
from ctrip_core.services.payouts.authorization import PayoutRoute
from ctrip_core.services.sweeps.keys import SweepKeys

log = logging.getLogger(__name__)
REASONS = ("from_address", "destination", "token", "amount", "fee")


class Refused(Exception):
    """The sweeper will not sign this: `reason` is one of REASONS (a metric label), `detail` says why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def note_refusal(report, exc: Refused) -> None:
    """One log line and one reason in the pass's report (`SweepReport.refused`, counted by the worker)."""
    log.error("sweep refused, nothing signed: %s", exc)
    report.refused.append(exc.reason)


def routable(config: ChainConfig, keys: SweepKeys, sweep: Sweep) -> bool:
    """Whether `check_route` passes (so the row's addresses may be asked for balances)."""
    try:
        check_route(config, keys, sweep)
    except Refused:
        return False
    return True


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()


def check(config: ChainConfig, keys: SweepKeys, sweep: Sweep, *, amount: int, fee: FeeQuote,
          balance: int, token_balance: int | None = None) -> PayoutRoute | None:
    """Raise `Refused` unless a transaction of `sweep` for `amount` at `fee` goes where configuration says.

    `balance` is the sender's native balance and `token_balance` its token balance, both read from
    the chain by the caller. Returns a payout's verified route (None for other sweeps).
    """
    route = check_route(config, keys, sweep)
    gas_cost = fee.worst_case_cost(sweep.gas_limit)
    if route is not None and amount != route.amount:
        raise Refused("amount", f"payout {sweep.payout_id} would move {amount}, not its authorized amount")
    if amount <= 0:
        raise Refused("amount", f"sweep {sweep.id} would move {amount}")
    if sweep.kind == "token":
        if token_balance is None or amount > token_balance:
            raise Refused("amount", f"sweep {sweep.id} would move {amount} of a token balance of {token_balance}")
    elif amount + gas_cost > balance:
        raise Refused("amount", f"sweep {sweep.id} would move {amount} plus up to {gas_cost} in fees "
                                f"from a balance of {balance}")
    return route


def treasury_of(config: ChainConfig, keys: SweepKeys, merchant_id: str | None) -> str:
    """Where a deposit sweep of `merchant_id` goes (`SweepKeys.treasury_for`); `Refused` when the
    merchant's treasury row does not verify."""
    treasury = keys.treasury_for(config.name, merchant_id)
    if treasury is None:
        raise Refused("destination", f"the treasury of merchant {merchant_id} on {config.name} is not "
                                     f"authorized by this wallet")
    return treasury


def deposit_destination(config: ChainConfig, keys: SweepKeys, sweep: Sweep) -> str:
    """Where a deposit sweep may pay, as the sweeper's own configuration and keys say: the row's
    `to_address` when it is the merchant's treasury (or the chain's), or its payout wallet under
    `payouts.payout_float`; `Refused` otherwise."""
    treasury = treasury_of(config, keys, sweep.merchant_id)
    if _same(sweep.to_address, treasury):
        return treasury
    if sweep.merchant_id is not None and keys.float_of(config.name, sweep.token_address) is not None:
        wallet = keys.payout_address(sweep.merchant_id)
        if _same(sweep.to_address, wallet):
            return wallet
    raise Refused("destination", f"sweep {sweep.id} pays {sweep.to_address}, not the treasury of "
                                 f"{sweep.merchant_id or 'the chain'} on {config.name}")


def check_route(config: ChainConfig, keys: SweepKeys, sweep: Sweep) -> PayoutRoute | None:
    """The part of `check` that needs no chain read: sender, recipient and token (before asking balances).
    Returns a payout's verified route, the one every later step of its signing uses."""
    if sweep.payout_id is not None:
        return _check_payout_route(config, keys, sweep)
    index = sweep.derivation_index
    if index is None or index < 0:
        raise Refused("from_address", f"sweep {sweep.id} has no derivation index")
    deposit = keys.deposit_address(index)
    if sweep.kind == "gas_topup":
        if not _same(sweep.from_address, keys.tank_address(config.name)):
            raise Refused("from_address", f"gas top-up {sweep.id} is not sent by the gas tank of {config.name}")
        if not _same(sweep.to_address, deposit) or sweep.token_address is not None:
            raise Refused("destination", f"gas top-up {sweep.id} pays {sweep.to_address}, not the deposit "
                                         f"address of index {index}")
    else:
        if not _same(sweep.from_address, deposit):
            raise Refused("from_address", f"sweep {sweep.id} sends from {sweep.from_address}, not the deposit "
                                          f"address of index {index}")
        deposit_destination(config, keys, sweep)
        if sweep.kind == "token":
            if not any(_same(sweep.token_address, t.address) for t in config.tokens):
                raise Refused("token", f"sweep {sweep.id} moves {sweep.token_address}, not a configured token of "
                                       f"{config.name}")
        elif sweep.kind != "native" or sweep.token_address is not None:
            raise Refused("token", f"sweep {sweep.id} of kind {sweep.kind} names token {sweep.token_address}")
    return None


def _check_payout_route(config: ChainConfig, keys: SweepKeys, sweep: Sweep) -> PayoutRoute:
    route = keys.payout_route(config.name, sweep.payout_id)
    if route is None or sweep.chain != config.name:
        raise Refused("destination", f"payout {sweep.payout_id} of sweep {sweep.id} is not authorized")
    # One payout, one nonce: a first version only while the sweeper has no record of signing it; any
    # later version only at the nonce its record names (a row's nonce changed elsewhere is refused).
    signed = sweep.tx_hash is not None
    if (route.sent_nonce is not None) != signed or (signed and sweep.nonce != route.sent_nonce):
        raise Refused("amount", f"payout {sweep.payout_id}: sweep {sweep.id} at nonce {sweep.nonce} is not the "
                                f"one the sweeper signed (nonce {route.sent_nonce})")
    if not _same(sweep.from_address, keys.payout_address(route.merchant_id)):
        raise Refused("from_address", f"payout sweep {sweep.id} sends from {sweep.from_address}, not the payout "
                                      f"wallet of merchant {route.merchant_id}")
    if not _same(sweep.to_address, route.address):
        raise Refused("destination", f"payout sweep {sweep.id} pays {sweep.to_address}, not {route.address}")
    token_ok = sweep.kind == "native" and sweep.token_address is None and route.token_address is None
    token_ok = token_ok or (sweep.kind == "token" and _same(sweep.token_address, route.token_address))
    if not token_ok:
        raise Refused("token", f"payout sweep {sweep.id} moves {sweep.token_address or 'the native coin'}, not "
                               f"{route.token_address or 'the native coin'}")
    return route


def sign_sweep(session: AsyncSession, config: ChainConfig, keys: SweepKeys, sweep: Sweep, *, nonce: int,
               amount: int, fee: FeeQuote, balance: int, token_balance: int | None = None) -> None:
    """Check (see `check`; `Refused` is raised for the caller to `note_refusal`), sign, and store on `sweep` (nonce, amount, fee, raw bytes, hash) a new version.

    The previous hash, if any, moves to `replaced_tx_hashes`. The new hash is added to the session as
    a `SweepTransaction`: the caller commits before broadcasting. On `Refused`, `sweep` is unchanged.
    """
    route = check(config, keys, sweep, amount=amount, fee=fee, balance=balance, token_balance=token_balance)
    # Built from configuration and derivation alone (`check` proved the row agrees with them).
    if route is not None:  # ... or from the payout's verified route
        to, value, data = (route.address, amount, "0x") if route.token_address is None else \
            (route.token_address, 0, transfer_calldata(route.address, amount))
    elif sweep.kind == "token":
        token = next(t.address for t in config.tokens if _same(t.address, sweep.token_address))
        to, value, data = token, 0, transfer_calldata(deposit_destination(config, keys, sweep), amount)
    elif sweep.kind == "gas_topup":
        to, value, data = keys.deposit_address(sweep.derivation_index), amount, "0x"
    else:
        to, value, data = deposit_destination(config, keys, sweep), amount, "0x"
    tx = unsigned_tx(chain_id=config.chain_id, nonce=nonce, to=to, value=value, data=data, gas=sweep.gas_limit,
                     fee=fee)
    signed = sign(tx, keys.payout_key(route.merchant_id) if route is not None else keys.key_for(config.name, sweep))
    if sweep.tx_hash is not None:
        sweep.replaced_tx_hashes = [*(sweep.replaced_tx_hashes or []), sweep.tx_hash]
    sweep.nonce, sweep.amount_base_units = nonce, amount
    sweep.raw_tx, sweep.tx_hash = signed.raw, signed.tx_hash
    sweep.gas_price = fee.gas_price
    sweep.max_fee_per_gas, sweep.max_priority_fee_per_gas = fee.max_fee_per_gas, fee.max_priority_fee_per_gas
    session.add(SweepTransaction(tx_hash=signed.tx_hash, chain=config.name, sweep_id=sweep.id, amount_base_units=amount,
                                 raw_tx=signed.raw, gas_price=fee.gas_price, max_fee_per_gas=fee.max_fee_per_gas,
                                 max_priority_fee_per_gas=fee.max_priority_fee_per_gas))


async def adopt_version(session: AsyncSession, sweep: Sweep, tx_hash: str) -> None:
    """An earlier version of `sweep` was mined: it becomes the sweep's transaction (hash, bytes, amount, fee)."""
    if tx_hash == sweep.tx_hash:
        return
    others = [h for h in [*(sweep.replaced_tx_hashes or []), sweep.tx_hash] if h != tx_hash]
    version = await session.get(SweepTransaction, tx_hash)
    sweep.tx_hash, sweep.replaced_tx_hashes = tx_hash, others
    if version is not None and version.amount_base_units is not None:
        sweep.raw_tx, sweep.amount_base_units = version.raw_tx, version.amount_base_units
        sweep.gas_price = version.gas_price
        sweep.max_fee_per_gas, sweep.max_priority_fee_per_gas = version.max_fee_per_gas, version.max_priority_fee_per_gas


async def own_transactions(session: AsyncSession, chain: str, tx_hashes: Iterable[str]) -> set[str]:
    """Which of `tx_hashes` the sweeper signed on `chain` (any version of any sweep; not payouts or
    refunds: one paid into a deposit address is a payment like any other)."""
    hashes = sorted(set(tx_hashes))
    if not hashes:
        return set()
    return set(await session.scalars(select(SweepTransaction.tx_hash).join(
        Sweep, Sweep.id == SweepTransaction.sweep_id).where(
        SweepTransaction.chain == chain, SweepTransaction.tx_hash.in_(hashes), Sweep.payout_id.is_(None))))

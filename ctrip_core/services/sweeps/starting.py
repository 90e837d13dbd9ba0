"""Starting sweeps: sign new sweeps for confirmed transfers that no sweep has moved yet.

Per deposit address and asset, one sweep at a time (so nonces and the gas a token sweep needs are
never contended):

- native: send balance − gas × max fee per gas − the L1 data fee (OP-stack chains) to the treasury;
  nothing when the balance does not cover the fee (retried when more arrives). What stays behind is
  less than a sweep would cost. The gas is the node's estimate (`native_gas`): 21,000 for an account
  without code, more on Arbitrum (its estimate carries the L1 component) or for a contract treasury.
- token: the deposit address has tokens but no gas. The gas tank sends exactly the gas the token
  transfer needs (estimate × `sweeps.gas_margin_pct` × max fee, minus what is already there);
  the token sweep is stored waiting for that top-up and signed only once the top-up is done,
  for the full token balance. Balances below the token's `min_sweep` wait for more.

Every transaction is signed by `signing.sign_sweep` (checked against configuration and the
chain first) and committed (raw bytes and hash) before it is broadcast.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from ctrip_core.chains import EVMChain
from ctrip_core.chains.erc20 import transfer_calldata
from ctrip_core.chains.rpc import RpcError
from ctrip_core.chains.types import FeeQuote, MalformedAnswer, quantity
from ctrip_core.db.models import OPEN_SWEEP_STATES, Payment, Sweep, Transfer
from ctrip_core.ids import new_id
from ctrip_core.runtime import Runtime
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.reads import PassReads
from ctrip_core.services.sweeps.signing import Refused, check_route, note_refusal, routable, sign_sweep, treasury_of
from ctrip_core.services.sweeps.tracking import SweepReport, link_transfers, link_within, send_stored, set_fee, unlink

log = logging.getLogger(__name__)
#: The gas of a native transfer to an account without code, on chains that charge nothing else.
NATIVE_GAS = 21_000
#: A native transfer's estimate above this is not believed: a node saying so would have a sweep
#: reserve (and leave behind) most of a small balance.
NATIVE_GAS_CEILING = 1_000_000


async def native_gas(runtime: Runtime, chain: EVMChain, sender: str, to: str) -> int:
    """The gas limit of a native transfer from `sender` to `to`, from the node's estimate.

    Exactly 21,000 where the estimate says so (or less: never below what a transfer costs); else
    the estimate with `sweeps.gas_margin_pct`, as a token sweep's (Arbitrum's estimates include the
    L1 component, which moves with the L1 price; a Safe treasury runs code when paid).
    """
    def parse(method: str, _params, raw) -> int:  # inside the retry loop: a node saying so is asked no more
        estimate = quantity(raw, method)
        if estimate > NATIVE_GAS_CEILING:
            raise MalformedAnswer(f"{method}: {estimate} gas for a native transfer to {to} is not believed")
        return estimate

    estimate = await chain.rpc.call("eth_estimateGas", {"from": sender, "to": to, "value": hex(1)}, parse=parse)
    if estimate <= NATIVE_GAS:
        return NATIVE_GAS
    return estimate * runtime.settings.sweeps.gas_margin_pct // 100


async def next_nonce(session, chain: EVMChain, address: str, used: int | None = None) -> int:
    """From the node (pending count) and the database (signed but maybe unbroadcast), never from memory.

    A failed deposit sweep's nonce is handed out again (its funds were not there: the next sweep of
    them replaces it); a payout's never is, whatever its state says: its signed bytes may still be
    broadcast (by anyone who read them) and pay. `used`: a nonce the caller knows is taken (the
    payout wallet's records, services/payouts/sending.py)."""
    node = await chain.get_transaction_count(address, "pending")
    stored = await session.scalar(select(func.max(Sweep.nonce)).where(
        Sweep.chain == chain.config.name, Sweep.from_address == address,
        (Sweep.state != "failed") | Sweep.payout_id.is_not(None)))
    taken = [n for n in (stored, used) if n is not None]
    return max(node, max(taken) + 1 if taken else 0)


async def _latest_sweep(session, chain: str, address: str, token: str | None) -> str | None:
    query = select(Sweep.id).where(Sweep.chain == chain, Sweep.from_address == address, Sweep.state != "failed",
                                   Sweep.kind != "gas_topup").order_by(Sweep.created_at.desc()).limit(1)
    query = query.where(Sweep.token_address.is_(None) if token is None else Sweep.token_address == token)
    return await session.scalar(query)


async def _already_moved(runtime: Runtime, chain: str, address: str, token: str | None, block: int) -> None:
    """Zero balance at `block` (read from a node that has it): an earlier sweep already took the funds
    of the transfers mined up to there (they arrived before it was signed)."""
    async with runtime.sessions() as session, session.begin():
        latest = await _latest_sweep(session, chain, address, token)
        if latest:
            await link_transfers(session, chain, address, token, latest, block=block, covered=2**256)


async def _destination(runtime: Runtime, chain: EVMChain, keys: SweepKeys, merchant_id: str | None, address: str,
                       token: str | None, report: SweepReport, reads: PassReads) -> str | None:
    """The merchant's verified treasury (or the chain's); None, with the refusal noted, when its row
    does not verify: the deposit at `address` stays where it is. Under `payouts.payout_float`, the
    merchant's payout wallet while it holds less than the float (at the ripe block, with the sweeps
    to it still in flight): the whole deposit goes there, so the wallet ends at or above the float."""
    try:
        treasury = treasury_of(chain.config, keys, merchant_id)
    except Refused as exc:
        note_refusal(report, Refused(exc.reason, f"deposits at {address}: {exc.detail}"))
        return None
    target = keys.float_of(chain.config.name, token) if merchant_id is not None else None
    if target is None:
        return treasury
    wallet = keys.payout_address(merchant_id)
    held = await reads.balance(wallet, token)
    async with runtime.sessions() as session:
        same_token = Sweep.token_address.is_(None) if token is None else Sweep.token_address == token
        coming = await session.scalar(select(func.coalesce(func.sum(Sweep.amount_base_units), 0)).where(
            Sweep.chain == chain.config.name, Sweep.to_address == wallet, Sweep.kind != "gas_topup",
            Sweep.state.in_(OPEN_SWEEP_STATES), same_token))
    return wallet if held + int(coming) < target else treasury


async def sweep_native(runtime: Runtime, chain: EVMChain, keys: SweepKeys, address: str, index: int,
                       merchant_id: str | None, report: SweepReport, reads: PassReads) -> None:
    name = chain.config.name
    treasury = await _destination(runtime, chain, keys, merchant_id, address, None, report, reads)
    if treasury is None:
        return
    balance = await reads.balance(address)
    if balance == 0:
        return await _already_moved(runtime, name, address, None, reads.block)
    fee = await reads.fee()
    gas = await native_gas(runtime, chain, address, treasury)
    value = balance - fee.worst_case_cost(gas)
    if value <= 0:
        report.waiting[f"fee_not_covered:{address}"] = f"{address}: native balance {balance} does not cover the fee yet"
        return
    sweep = Sweep(id=new_id("swp"), chain=name, kind="native", state="pending", derivation_index=index,
                  merchant_id=merchant_id, from_address=address, to_address=treasury, token_address=None,
                  amount_base_units=value, gas_limit=gas)
    async with runtime.sessions() as session, session.begin():
        try:
            sign_sweep(session, chain.config, keys, sweep, nonce=await next_nonce(session, chain, address),
                       amount=value, fee=fee, balance=balance)
        except Refused as exc:
            note_refusal(report, exc)
            return
        session.add(sweep)
        await session.flush()
        await link_transfers(session, name, address, None, sweep.id, block=reads.block, covered=balance)
    report.created.append(sweep.id)
    await send_stored(runtime, chain, sweep.id, report)


async def _fund_gas(runtime: Runtime, session, chain: EVMChain, keys: SweepKeys, address: str, index: int,
                    needed: int, fee: FeeQuote, report: SweepReport) -> Sweep | None:
    """The gas tank's top-up of `address` (signed and added to `session`), or None with a clear error
    when the tank is too poor (or the top-up is refused: see `signing`)."""
    name = chain.config.name
    tank = keys.tank_address(name)
    tank_balance = await chain.get_balance(tank)
    gas = await native_gas(runtime, chain, tank, address)
    cost = needed + fee.worst_case_cost(gas)
    if tank_balance < cost:
        report.waiting.setdefault(f"gas_tank_low:{tank}", (
            f"gas tank {tank} of chain {name} has {tank_balance} wei but a token sweep of {address} needs "
            f"{cost}; refill it (`ctrip wallet gas-tank {name}`)"))
        return None
    topup = Sweep(id=new_id("swp"), chain=name, kind="gas_topup", state="pending", derivation_index=index,
                  from_address=tank, to_address=address, token_address=None, amount_base_units=needed,
                  gas_limit=gas)
    try:
        sign_sweep(session, chain.config, keys, topup, nonce=await next_nonce(session, chain, tank), amount=needed,
                   fee=fee, balance=tank_balance)
    except Refused as exc:
        note_refusal(report, exc)
        return None
    session.add(topup)
    return topup


async def sweep_token(runtime: Runtime, chain: EVMChain, keys: SweepKeys, address: str, index: int, token: str,
                      merchant_id: str | None, report: SweepReport, reads: PassReads) -> None:
    name, cfg = chain.config.name, chain.config
    treasury = await _destination(runtime, chain, keys, merchant_id, address, token, report, reads)
    if treasury is None:
        return
    token_cfg = cfg.token(token)  # configured: start_new leaves out any other
    amount = await reads.balance(address, token)
    if amount == 0:
        return await _already_moved(runtime, name, address, token, reads.block)
    if amount < token_cfg.min_sweep_base_units():
        return
    gas = await chain.estimate_gas({"from": address, "to": token, "data": transfer_calldata(treasury, amount)})
    gas_limit = gas * runtime.settings.sweeps.gas_margin_pct // 100
    fee = await reads.fee()
    have = await reads.balance(address)
    topup = None
    async with runtime.sessions() as session, session.begin():
        if have < fee.worst_case_cost(gas_limit):
            topup = await _fund_gas(runtime, session, chain, keys, address, index,
                                    fee.worst_case_cost(gas_limit) - have, fee, report)
            if topup is None:
                return
        sweep = Sweep(id=new_id("swp"), chain=name, kind="token", state="pending", derivation_index=index,
                      merchant_id=merchant_id, from_address=address, to_address=treasury, token_address=token,
                      amount_base_units=amount, gas_limit=gas_limit, waits_for=topup.id if topup else None)
        set_fee(sweep, fee)
        session.add(sweep)
        await session.flush()
        await link_transfers(session, name, address, token, sweep.id, block=reads.block, covered=amount)
    report.created.append(sweep.id)
    if topup is not None:
        report.created.append(topup.id)
        await send_stored(runtime, chain, topup.id, report)
    else:
        await _sign_token_sweep(runtime, chain, keys, sweep.id, report, reads)


async def _sign_token_sweep(runtime: Runtime, chain: EVMChain, keys: SweepKeys, sweep_id: str,
                            report: SweepReport, reads: PassReads) -> None:
    """Sign a waiting token sweep for the address's whole token balance, within the gas it now holds.

    A row that no longer agrees with configuration (see `signing`) is refused and failed: its
    transfers are released, and the next pass plans a sweep of them from configuration."""
    async with runtime.sessions() as session, session.begin():
        sweep = await session.get(Sweep, sweep_id, with_for_update=True)
        try:
            check_route(chain.config, keys, sweep)  # before any balance is read from the row's addresses
            amount = await reads.balance(sweep.from_address, sweep.token_address)
            if amount <= 0:  # a row pointing at another index of the wallet: refused, never "waiting" for gas
                raise Refused("amount", f"token sweep {sweep.id}: {sweep.from_address} holds none of "
                                        f"{sweep.token_address} at block {reads.block}")
            have = await reads.balance(sweep.from_address)
            fee = await reads.fee()
            if have < fee.worst_case_cost(sweep.gas_limit):
                fee = _fee_within(fee, (have - fee.l1_fee) // sweep.gas_limit)
                if fee is None:
                    sweep.error = "gas fees rose above the topped-up gas; waiting"
                    return
            sign_sweep(session, chain.config, keys, sweep, nonce=await next_nonce(session, chain, sweep.from_address),
                       amount=amount, fee=fee, balance=have, token_balance=amount)
        except Refused as exc:
            note_refusal(report, exc)
            sweep.state, sweep.error = "failed", f"refused: {exc.detail}"[:500]
            await unlink(session, sweep)
            return
        sweep.error = None
        await link_within(session, sweep, block=reads.block, moves=amount)
    await send_stored(runtime, chain, sweep_id, report)


def _fee_within(fee: FeeQuote, per_gas: int) -> FeeQuote | None:
    """The quote lowered to what the address can pay per gas, if that still beats the base fee."""
    if fee.model == "legacy":
        return None
    base = fee.max_fee_per_gas - fee.max_priority_fee_per_gas  # quote = 2 × base + tip
    if per_gas <= base // 2:
        return None
    return FeeQuote("eip1559", max_fee_per_gas=per_gas, max_priority_fee_per_gas=min(fee.max_priority_fee_per_gas,
                                                                                      per_gas - base // 2),
                    l1_fee=fee.l1_fee)


async def sign_waiting(runtime: Runtime, chain: EVMChain, keys: SweepKeys, report: SweepReport, ripe: int) -> None:
    """Token sweeps whose gas top-up is done get signed; a failed top-up releases its transfers."""
    async with runtime.sessions() as session:
        waiting = list(await session.scalars(select(Sweep).where(
            Sweep.chain == chain.config.name, Sweep.kind == "token", Sweep.state == "pending", Sweep.raw_tx.is_(None),
            Sweep.payout_id.is_(None))))  # a payout is signed only by services/payouts/sending
        topups = {s.id: s for s in await session.scalars(select(Sweep).where(
            Sweep.id.in_([w.waits_for for w in waiting if w.waits_for])))} if waiting else {}
    ready = [s for s in waiting if topups.get(s.waits_for) is None or topups[s.waits_for].state == "done"]
    reads = PassReads(chain, ripe)
    await reads.prefetch([(s.from_address, s.token_address) for s in ready  # their top-ups are done: read now
                          if routable(chain.config, keys, s)])  # (a changed row is refused, never asked about)
    for sweep in waiting:
        topup = topups.get(sweep.waits_for)
        if topup is not None and topup.state == "failed":
            await _fail_waiting(runtime, sweep.id)
        elif topup is None or topup.state == "done":
            await _sign_token_sweep(runtime, chain, keys, sweep.id, report, reads)


async def _fail_waiting(runtime: Runtime, sweep_id: str) -> None:
    async with runtime.sessions() as session, session.begin():
        sweep = await session.get(Sweep, sweep_id, with_for_update=True)
        sweep.state, sweep.error = "failed", "gas top-up failed"
        await unlink(session, sweep)


async def _unswept(runtime: Runtime, chain: str, limit: int) -> dict[tuple[str, str | None], tuple[int, str]]:
    """(deposit address, token) → (derivation index, merchant id), for confirmed transfers no sweep has taken."""
    async with runtime.sessions() as session:
        rows = (await session.execute(
            select(Transfer.to_address, Transfer.token_address, Payment.derivation_index, Payment.merchant_id)
            .join(Payment, Payment.id == Transfer.payment_id)
            .where(Transfer.chain == chain, Transfer.state == "confirmed", Transfer.sweep_id.is_(None))
            .distinct().limit(limit))).all()
        busy = set(await session.scalars(select(Sweep.from_address).where(
            Sweep.chain == chain, Sweep.state.in_(OPEN_SWEEP_STATES))))
        busy |= set(await session.scalars(select(Sweep.to_address).where(
            Sweep.chain == chain, Sweep.kind == "gas_topup", Sweep.state.in_(OPEN_SWEEP_STATES))))
    groups: dict[tuple[str, str | None], tuple[int, str]] = {}
    for address, token, index, merchant_id in rows:
        if address not in busy:
            groups[(address, token)] = (index, merchant_id)
    return groups


async def start_new(runtime: Runtime, chain: EVMChain, keys: SweepKeys, report: SweepReport, ripe: int) -> None:
    groups = await _unswept(runtime, chain.config.name, runtime.settings.sweeps.batch)
    tokens = {t.address.lower() for t in chain.config.tokens}
    for address, token in [g for g in groups if g[1] is not None and g[1].lower() not in tokens]:
        del groups[(address, token)]  # a transfer row naming a token the chain does not configure
        note_refusal(report, Refused("token", f"transfers to {address} name {token}, not a configured token of "
                                              f"{chain.config.name}"))
    reads = PassReads(chain, ripe)
    try:
        await reads.prefetch(list(groups))
    except RpcError as exc:  # then each sweep asks for its own balances
        log.warning("sweep %s: balances not read in one batch: %s", chain.config.name, exc)
    started: set[str] = set()
    for (address, token), (index, merchant_id) in groups.items():
        if address in started:
            continue  # one sweep per address per pass: the next pass takes its other asset
        try:
            if token is None:
                await sweep_native(runtime, chain, keys, address, index, merchant_id, report, reads)
            else:
                await sweep_token(runtime, chain, keys, address, index, token, merchant_id, report, reads)
        except RpcError as exc:
            report.errors.append(f"{address}: {exc}")
        started.add(address)

"""Sending payouts, in the sweep pass (only the sweeper holds the mnemonic).

Each pass first takes the routes of the chain's payouts in flight (`verify_payouts`: sealed by the
API, approved above the threshold), then signs new ones (`send_new`), at most one transaction in
flight per payout wallet (so nonces are never contended and a refused one leaves no gap):

- `payouts.daily_limit` (services/payouts/limits.py): an unapproved payout past it waits as
  `awaiting_approval`;
- the wallet's balances are read at the ripe block (funds a reorg could still remove are not spent);
  a payout they do not cover fails at once, with the reason, and nothing is signed:
  `insufficient_balance` (the asset) or `insufficient_gas` (the native coin for a token payout's gas);
- the transaction is signed by `sweeps.signing.sign_sweep` along the verified route only, recorded
  (bytes and hash) in the same transaction that ties it to the payout, then broadcast; from there
  the sweep tracking carries it (fee bumps at the same nonce, reorgs, re-broadcast of the same bytes),
  and the payout's status follows (payout_status.follow_sweep). One payout, one nonce: never paid twice.
"""

from __future__ import annotations

import dataclasses
import logging

from sqlalchemy import func, select

from ctrip_core.chains import EVMChain
from ctrip_core.chains.erc20 import transfer_calldata
from ctrip_core.chains.rpc import RpcError, RpcResponseError
from ctrip_core.db.models import IN_FLIGHT_PAYOUT_STATUSES, OPEN_SWEEP_STATES, Payout, Sweep
from ctrip_core.db.types import utcnow
from ctrip_core.ids import new_id
from ctrip_core.runtime import Runtime
from ctrip_core.services.payouts.authorization import PayoutRoute, approved, judge, verified_routes
from ctrip_core.services.payouts.limits import over_daily_limit
from ctrip_core.services.payouts.payout_events import record_payout_event
from ctrip_core.services.sweeps.keys import ForgedRecord, SweepKeys
from ctrip_core.services.sweeps.reads import PassReads
from ctrip_core.services.sweeps.signing import Refused, note_refusal, sign_sweep
from ctrip_core.services.sweeps.starting import native_gas, next_nonce
from ctrip_core.services.sweeps.tracking import SweepReport, send_stored
from ctrip_core.services.webhooks.secret_box import SecretBox

log = logging.getLogger(__name__)


async def verify_payouts(runtime: Runtime, keys: SweepKeys, box: SecretBox | None, chain_name: str) -> None:
    """The chain's payout routes for this pass (`keys.payout_route`): its payouts in flight whose
    authorization verifies, each with the nonce the sweeper's own record says it was signed at."""
    if box is None:
        keys.take_payouts(chain_name, {})
        return
    async with runtime.sessions() as session:
        rows = list(await session.scalars(select(Payout).where(Payout.chain == chain_name,
                                                               Payout.status.in_(IN_FLIGHT_PAYOUT_STATUSES))))
    routes = verified_routes(rows, box, keys.authority, runtime.chains[chain_name].config,
                             runtime.settings.payouts.approval_above)
    for payout in rows:
        route = routes.get(payout.id)
        if route is None:
            continue
        try:
            nonce = keys.sent_nonce(chain_name, payout.id, keys.payout_address(route.merchant_id), payout.sent_as)
        except ForgedRecord as exc:
            log.error("%s (written in the database?): refused", exc)
            del routes[payout.id]
        else:
            routes[payout.id] = dataclasses.replace(route, sent_nonce=nonce)
    keys.take_payouts(chain_name, routes)


async def send_new(runtime: Runtime, chain: EVMChain, keys: SweepKeys, box: SecretBox | None,
                   report: SweepReport, ripe: int) -> None:
    name = chain.config.name
    async with runtime.sessions() as session:
        in_flight = select(Sweep.merchant_id).where(Sweep.chain == name, Sweep.payout_id.is_not(None),
                                                    Sweep.merchant_id.is_not(None),  # NOT IN (.., NULL) is never true
                                                    Sweep.state.in_(OPEN_SWEEP_STATES))
        # The oldest unsigned payout of each merchant whose wallet is not busy (one transaction in flight per
        # wallet), so that no merchant's payouts, held or stuck, take the batch from the others'.
        first = select(Payout.id, func.row_number().over(partition_by=Payout.merchant_id,
                                                         order_by=(Payout.created_at, Payout.id)).label("n")).where(
            Payout.chain == name, Payout.status == "pending", Payout.sweep_id.is_(None),
            Payout.sent_as.is_(None),  # one the sweeper signed is never signed again (_send_one)
            Payout.merchant_id.not_in(in_flight)).subquery()
        waiting = list(await session.scalars(select(Payout).join(first, first.c.id == Payout.id).where(first.c.n == 1)
                                             .order_by(Payout.created_at, Payout.id)
                                             .limit(runtime.settings.sweeps.batch)))
        busy = set(await session.scalars(select(Sweep.from_address).where(
            Sweep.chain == name, Sweep.payout_id.is_not(None), Sweep.state.in_(OPEN_SWEEP_STATES))))
    if not waiting:
        return
    if box is None:
        report.waiting[f"payouts_need_secret_key:{name}"] = (
            f"{len(waiting)} payout(s) on {name} wait: the sweeper needs secret_key (the API's) to verify them")
        return
    reads = PassReads(chain, ripe)
    for payout in waiting:
        route = keys.payout_route(name, payout.id)
        if route is None:
            await _hold(runtime, chain, keys, box, payout.id)
            continue
        wallet = keys.payout_address(route.merchant_id)
        if wallet in busy:
            continue  # one transaction in flight per payout wallet
        busy.add(wallet)
        try:
            await _send_one(runtime, chain, keys, route, wallet, report, reads)
        except RpcError as exc:
            report.errors.append(f"payout {payout.id}: {exc}")


async def _hold(runtime: Runtime, chain: EVMChain, keys: SweepKeys, box: SecretBox, payout_id: str) -> None:
    """A pending payout without a verified route: back to awaiting_approval, or failed when refused."""
    async with runtime.sessions() as session, session.begin():
        payout = await session.get(Payout, payout_id, with_for_update=True)
        if payout is None or payout.status != "pending" or payout.sweep_id is not None:
            return
        verdict = judge(payout, box, keys.authority, chain.config, runtime.settings.payouts.approval_above)
        if verdict == "awaiting_approval":
            payout.status, payout.updated_at = "awaiting_approval", utcnow()
        elif isinstance(verdict, str):
            await _fail(session, chain, payout, verdict)


async def _fail(session, chain: EVMChain, payout: Payout, reason: str) -> None:
    if payout.sent_as is not None:  # the sweeper signed it: its bytes may yet be mined, so never "failed"
        log.error("payout %s has the sweeper's record of signing it; not failed (%s)", payout.id, reason)
        return
    payout.status, payout.failure_reason, payout.updated_at = "failed", reason[:500], utcnow()
    log.warning("payout %s failed: %s", payout.id, reason)
    asset = chain.config.asset(payout.asset)
    await record_payout_event(session, payout, "failed", asset.decimals if asset is not None else 0)


async def _recorded_nonces(session, chain: EVMChain, keys: SweepKeys, merchant_id: str, wallet: str) -> set[int]:
    """The nonces the sweeper's verified records say it signed payouts of this wallet at, on this chain
    (a record that does not verify, written or moved from another chain, names none)."""
    records = await session.execute(select(Payout.id, Payout.sent_as).where(
        Payout.merchant_id == merchant_id, Payout.chain == chain.config.name, Payout.sent_as.is_not(None)))
    recorded = set()
    for payout_id, sent_as in records.all():
        try:
            recorded.add(keys.sent_nonce(chain.config.name, payout_id, wallet, sent_as))
        except ForgedRecord:
            continue
    return recorded - {None}


async def _unaccounted(chain: EVMChain, wallet: str, recorded: set[int]) -> list[int]:
    """The nonces the payout wallet has used on chain (pending included) that no verified record of the
    sweeper names: a record deleted or cleared in the database (to have a payout signed again), or the
    wallet's key used outside cTrip. While any is missing, nothing more is signed from the wallet."""
    used = await chain.get_transaction_count(wallet, "pending")
    top = max(recorded, default=-1)  # the records bound the work: never a loop as long as a node's answer
    missing = [n for n in range(min(used, top + 1)) if n not in recorded]
    return missing + ([top + 1] if used > top + 1 else [])  # and beyond the last record: none accounts for them


async def _send_one(runtime: Runtime, chain: EVMChain, keys: SweepKeys, route: PayoutRoute, wallet: str,
                    report: SweepReport, reads: PassReads) -> None:
    """Check the wallet covers it, sign along `route`, record, then broadcast."""
    async with runtime.sessions() as session, session.begin():
        payout = await session.get(Payout, route.payout_id, with_for_update=True)
        if payout is None or payout.status != "pending" or payout.sweep_id is not None:
            return
        if route.sent_nonce is not None:  # signed already: its row was set back (to have it paid twice)
            log.error("payout %s was signed at nonce %s, yet its row says it was not: never signed again",
                      payout.id, route.sent_nonce)
            return
        recorded = await _recorded_nonces(session, chain, keys, route.merchant_id, wallet)
        missing = await _unaccounted(chain, wallet, recorded)
        if missing:
            report.waiting[f"payout_wallet_unaccounted:{wallet}"] = (
                f"payout wallet {wallet} on {chain.config.name} used nonces {missing[:5]} that no record of the "
                f"sweeper accounts for (records deleted, or the key used outside cTrip): nothing is signed from it")
            return
        if not approved(payout, keys.authority):
            too_much = await over_daily_limit(session, runtime.settings, chain.config, payout, utcnow(),
                                              signed_only=True)
            if too_much:
                log.warning("payout %s waits for `ctrip payouts approve`: %s", payout.id, too_much)
                payout.status, payout.updated_at = "awaiting_approval", utcnow()
                return
        balance = await reads.balance(wallet)
        fee = await reads.fee()
        token_balance = None
        if route.token_address is None:
            try:
                gas = await native_gas(runtime, chain, wallet, route.address)
            except RpcResponseError as exc:  # the node says it cannot be done (a recipient refusing it)
                return await _fail(session, chain, payout, f"refused: the node will not estimate it: {exc.message}")
            needed = route.amount + fee.worst_case_cost(gas)
            if balance < needed:
                return await _fail(session, chain, payout, f"insufficient_balance: the payout wallet {wallet} holds "
                                                           f"{balance} base units, the payout needs {needed} with its fee")
        else:
            token_balance = await reads.balance(wallet, route.token_address)
            if token_balance < route.amount:
                return await _fail(session, chain, payout, f"insufficient_balance: the payout wallet {wallet} holds "
                                                           f"{token_balance} base units of {payout.asset}, the payout "
                                                           f"needs {route.amount}")
            try:
                estimate = await chain.estimate_gas({"from": wallet, "to": route.token_address,
                                                     "data": transfer_calldata(route.address, route.amount)})
            except RpcResponseError as exc:  # the token refuses the transfer (a blocked recipient, say)
                return await _fail(session, chain, payout, f"refused: the node will not estimate it: {exc.message}")
            gas = estimate * runtime.settings.sweeps.gas_margin_pct // 100
            if balance < fee.worst_case_cost(gas):
                return await _fail(session, chain, payout, f"insufficient_gas: the payout wallet {wallet} holds "
                                                           f"{balance} wei, the transfer's gas needs up to "
                                                           f"{fee.worst_case_cost(gas)}")
        sweep = Sweep(id=new_id("swp"), chain=chain.config.name, kind="native" if route.token_address is None
                      else "token", state="pending", derivation_index=None, merchant_id=route.merchant_id,
                      from_address=wallet, to_address=route.address, token_address=route.token_address,
                      amount_base_units=route.amount, gas_limit=gas, payout_id=payout.id)
        nonce = await next_nonce(session, chain, wallet, used=max(recorded, default=None))  # never one recorded
        try:
            sign_sweep(session, chain.config, keys, sweep, nonce=nonce, amount=route.amount, fee=fee,
                       balance=balance, token_balance=token_balance)
        except Refused as exc:
            note_refusal(report, exc)
            return await _fail(session, chain, payout, f"refused: {exc.detail}")
        session.add(sweep)
        payout.sweep_id, payout.updated_at = sweep.id, utcnow()
        payout.sent_as = f"{nonce}:{keys.sent_mac(chain.config.name, payout.id, wallet, nonce)}"  # with the bytes
    report.created.append(sweep.id)
    await send_stored(runtime, chain, sweep.id, report)

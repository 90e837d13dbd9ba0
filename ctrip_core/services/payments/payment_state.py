"""The payment lifecycle (CONTRACT §4) as one pure-ish function over a payment and its transfers.

pending → detected (a matching transfer is in a block) → confirmed (transfers at or past the
confirmation threshold add up to the amount). pending → expired when nothing arrived by
`expires_at`; detected → underpaid when it expired with 0 < received < amount, all confirmed.
A reorg that orphans every transfer of a detected payment returns it to pending (payment.reorged).
Final payments stay final: later transfers are recorded as late (payment.late).

Scanner, confirmer and expiry all call `settle(...)` after changing transfers, so the rules live
in one place, and every transition writes its event in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import PAYMENT_STATUSES, Payment, PaymentStatus, Transfer
from ctrip_core.services.outbox.events import record_payment_event
from ctrip_core.services.payments.equivalence import same_asset

#: Statuses `settle` and `expire` can still move a payment out of; every other status is final.
OPEN_STATUSES: tuple[PaymentStatus, ...] = ("pending", "detected")
FINAL_STATUSES = tuple(s for s in PAYMENT_STATUSES if s not in OPEN_STATUSES)
#: Final statuses reached with nothing received (expired while pending, canceled): no sweep follows.
UNPAID_FINAL_STATUSES: tuple[PaymentStatus, ...] = ("expired", "canceled")
#: `settle(..., expiry_clock=EXPIRY_NOT_JUDGED)`: settle the transfers, leave expiry to the clock
#: whose turn it is (the payment's own chain's scanner and confirmer).
EXPIRY_NOT_JUDGED = datetime.min.replace(tzinfo=UTC)


def credit_of(payment: Payment, transfer: Transfer) -> int:
    """What `transfer` credits `payment` in its asset's base units (0: nothing): `credited_base_units`,
    decided when it was recorded (services/payments/equivalence.py). A row without one (written by a
    process of before migration 0009, during a rolling upgrade) credits its amount exactly when it is
    the payment's own asset on its own chain, the rule those processes counted by."""
    if transfer.credited_base_units is not None:
        return transfer.credited_base_units
    if payment.options:  # an open payment (newer than 0009): its own "asset" is a currency no transfer is in
        return 0
    own = same_asset(transfer.chain, transfer.token_address, payment.chain, payment.token_address)
    return transfer.amount_base_units if own else 0


def counts_toward(payment: Payment, transfer: Transfer) -> bool:
    """A transfer pays its payment when it credits it something (the payment's own asset on its own
    chain, or an equivalent one) and only while not orphaned. Anything else, a transfer crediting
    nothing (zero value, or dust of an 18-decimal equivalent under one unit of a 6-decimal asset)
    included, is recorded, never counted: it neither detects nor moves the payment."""
    return transfer.state != "orphaned" and credit_of(payment, transfer) > 0


def due(payment: Payment) -> int:
    """What must arrive for the payment to be confirmed: its amount less its tolerance (if any)."""
    return payment.amount_base_units - (payment.tolerance_base_units or 0)


def received(payment: Payment, transfers: Sequence[Transfer]) -> int:
    return sum(credit_of(payment, t) for t in transfers if counts_toward(payment, t))


def confirmed_amount(payment: Payment, transfers: Sequence[Transfer]) -> int:
    return sum(credit_of(payment, t) for t in transfers if counts_toward(payment, t) and t.state == "confirmed")


async def _move(session: AsyncSession, payment: Payment, status: str, now: datetime, event: str,
                transfers: Sequence[Transfer]) -> None:
    payment.status = status
    payment.updated_at = now
    if status == "detected" and payment.detected_at is None:
        payment.detected_at = now
    if status == "confirmed":
        payment.confirmed_at = now
    await record_payment_event(session, payment, event, transfers=transfers)


async def settle(session: AsyncSession, payment: Payment, transfers: Sequence[Transfer], now: datetime,
                 *, expiry_clock: datetime | None = None) -> None:
    """Bring `payment` to the status its transfers and clock imply, emitting one event per transition.

    `payment` must be locked by the caller (SELECT ... FOR UPDATE) and `transfers` must be all of
    its transfers as they will be committed. Expiry is judged at `expiry_clock` when given (the
    confirmer passes the last scanned block's time, so expiry never runs ahead of the scanner).
    """
    total = received(payment, transfers)
    if total != payment.amount_received_base_units:
        payment.amount_received_base_units = total
        payment.updated_at = now
    payment.overpaid = total > payment.amount_base_units
    live = [t for t in transfers if counts_toward(payment, t)]
    if payment.status == "pending" and live:
        await _move(session, payment, "detected", now, "payment.detected", transfers)
    elif payment.status == "detected" and not live:
        await _move(session, payment, "pending", now, "payment.reorged", transfers)
    if payment.status == "detected" and confirmed_amount(payment, transfers) >= due(payment):
        await _move(session, payment, "confirmed", now, "payment.confirmed", transfers)
    await expire_if_due(session, payment, transfers, now, expiry_clock=expiry_clock)


async def expire_if_due(session: AsyncSession, payment: Payment, transfers: Sequence[Transfer],
                        now: datetime, *, expiry_clock: datetime | None = None) -> None:
    """pending past expiry → expired; detected past expiry, all confirmed, short → underpaid."""
    if (now if expiry_clock is None else expiry_clock) < payment.expires_at:
        return
    if payment.status == "pending":
        await _move(session, payment, "expired", now, "payment.expired", transfers)
    elif payment.status == "detected":
        live = [t for t in transfers if counts_toward(payment, t)]
        if live and all(t.state == "confirmed" for t in live) and received(payment, transfers) < due(payment):
            await _move(session, payment, "underpaid", now, "payment.underpaid", transfers)


async def mark_late(session: AsyncSession, payment: Payment, transfer: Transfer, now: datetime) -> None:
    """A transfer that reached a final payment: recorded, flagged, announced, and later swept."""
    transfer.late = True
    payment.late = True
    payment.updated_at = now
    await record_payment_event(session, payment, "payment.late")

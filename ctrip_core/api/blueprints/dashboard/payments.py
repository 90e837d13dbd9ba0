"""The dashboard's payments: the list (filters, search, pages), a payment's timeline, and acting on
one (owner): a refund in two steps (the form, then what exactly would be sent, then confirmed),
redelivering an event, creating a payment."""

from __future__ import annotations

from quart import Blueprint, redirect, request
from quart_schema import hide
from sqlalchemy import select

from ctrip_core.api.blueprints.dashboard.site import signed_in, signed_in_page
from ctrip_core.api.state import app_state
from ctrip_core.db.models import PAYMENT_STATUSES, Event, Payout
from ctrip_core.money import format_amount
from ctrip_core.services.checkout.public import valid_payment_id
from ctrip_core.services.dashboard import form_once
from ctrip_core.services.dashboard.rehearsal import rehearse
from ctrip_core.services.dashboard.search import find_payments
from ctrip_core.services.errors import InvalidField, NotFound, ServiceError
from ctrip_core.services.outbox import events
from ctrip_core.services.payments import operations as payments
from ctrip_core.services.payments.payment_view import render_many, render_one
from ctrip_core.services.payouts import requests as payouts
from ctrip_core.services.payouts.payout_view import render as render_refund
from ctrip_core.services.webhooks.redelivery import redeliver
from ctrip_core.services.webhooks.secret_box import SecretBox

blueprint = Blueprint("payments", __name__)

PAGE = 25
#: What a `?done=` after an action says on the page it lands on.
DONE = {"refund": "Refund created: the sweeper sends it from the payout wallet.",
        "redelivered": "Redelivery queued.", "nothing-to-redeliver": "No enabled endpoint takes this event.",
        "created": "Payment created."}


def _clean(text: str | None) -> str:
    return (text or "").replace("\x00", "").strip()


@blueprint.get("/dashboard")
@hide
@signed_in
async def payments_page(now):
    args = request.args
    status = args.get("status") or None
    status = status if status in PAYMENT_STATUSES else None
    chain, text, after = (args.get("chain") or None), _clean(args.get("q")), (args.get("after") or None)
    if after and "\x00" in after:
        after = None
    chains = sorted(app_state().runtime.chains)
    chain = chain if chain in chains else None
    error, has_more = None, False
    async with app_state().runtime.read_sessions() as session:
        try:
            if text:
                rows = await find_payments(session, now.user.merchant_id, text)
            else:
                rows, has_more = await payments.list_payments(session, now.user.merchant_id, status=status,
                                                              chain=chain, limit=PAGE, starting_after=after)
        except InvalidField as exc:
            rows, error = [], exc.message
        data = await render_many(session, rows)
    return await signed_in_page(now, "payments.html", payments=data, statuses=PAYMENT_STATUSES, chains=chains,
                                status=status, chain=chain, q=text, has_more=has_more, error=error,
                                next_after=data[-1]["id"] if has_more and data else None,
                                done=DONE.get(args.get("done", "")))


async def _payment_or_404(session, now, payment_id: str):
    if not valid_payment_id(payment_id):  # a malformed id (NUL, 5000 characters) asks nothing
        raise NotFound(f"no payment {payment_id[:40]}")
    return await payments.get_payment(session, now.user.merchant_id, payment_id)


async def _not_found(now):
    return await signed_in_page(now, "not_found.html", 404)


@blueprint.get("/dashboard/payments/<payment_id>")
@hide
@signed_in
async def payment_page(now, payment_id: str):
    """A payment's timeline: its transfers (confirmations, explorer links), events with each delivery
    attempt, and refunds. Another merchant's payment, or none, is the same 404."""
    runtime = app_state().runtime
    async with runtime.read_sessions() as session:
        try:
            payment = await _payment_or_404(session, now, payment_id)
        except NotFound:
            return await _not_found(now)
        view = await render_one(session, payment)
        rows, _ = await events.list_events(session, now.user.merchant_id, payment_id=payment.id, limit=100)
        attempts = await events.attempts_of(session, [e.id for e in rows])
        config = runtime.chains[payment.chain].config if payment.chain in runtime.chains else None
        refunds = []
        for refund in await session.scalars(select(Payout).where(Payout.payment_id == payment.id)
                                            .order_by(Payout.created_at)):
            asset = config.asset(refund.asset) if config else None
            refunds.append(await render_refund(session, refund, asset.decimals if asset else 0))
    explorer = config.explorer_url.rstrip("/") if config and config.explorer_url else None
    return await signed_in_page(now, "payment.html", p=view, explorer=explorer, refunds=refunds,
                                events=[(e, attempts[e.id]) for e in rows], done=DONE.get(request.args.get("done", "")))


# --- acting on a payment (owner) -----------------------------------------------------------------

@blueprint.post("/dashboard/events/<event_id>/redeliver")
@hide
@signed_in(owner=True)
async def redeliver_event(now, event_id: str):
    """Queue the event again to each enabled endpoint that takes it; back to its payment's timeline."""
    runtime = app_state().runtime
    try:
        async with runtime.sessions() as session, session.begin():
            count = await redeliver(session, now.user.merchant_id, event_id[:64])
            payment_id = await session.scalar(select(Event.payment_id).where(Event.id == event_id))
    except NotFound:
        return await _not_found(now)
    done = "redelivered" if count else "nothing-to-redeliver"
    where = f"/dashboard/payments/{payment_id}" if payment_id else "/dashboard/webhooks"
    return redirect(f"{where}?done={done}", 303)


def _refund_request(form) -> payouts.RefundRequest:
    return payouts.RefundRequest(amount=_clean(form.get("amount")) or None, asset=None,
                                 address=_clean(form.get("address")) or None, chain=None,
                                 reference=_clean(form.get("reference")) or None)


def _refund_work(now, payment_id: str, req: payouts.RefundRequest):
    runtime = app_state().runtime
    chains = runtime.chain_configs()

    async def work(session):
        refund = await payouts.create_refund(session, runtime.settings, chains, SecretBox.from_settings(runtime.settings),
                                             now.user.merchant_id, payment_id, req, may_pay_anywhere=True)
        decimals = payouts.decimals_of(chains, refund)
        return {"amount": format_amount(refund.amount_base_units, decimals), "asset": refund.asset,
                "chain": refund.chain, "address": refund.address, "status": refund.status,
                "reference": refund.reference}
    return work


async def _refund_form(now, payment_id: str, *, error: str | None = None, status: int = 200, form=None):
    async with app_state().runtime.read_sessions() as session:
        try:
            payment = await _payment_or_404(session, now, payment_id)
        except NotFound:
            return await _not_found(now)
        view = await render_one(session, payment)
    return await signed_in_page(now, "refund.html", status, p=view, error=error, form=form or {})


@blueprint.get("/dashboard/payments/<payment_id>/refund")
@hide
@signed_in(owner=True)
async def refund_form(now, payment_id: str):
    return await _refund_form(now, payment_id)


@blueprint.post("/dashboard/payments/<payment_id>/refund")
@hide
@signed_in(owner=True)
async def refund(now, payment_id: str):
    """Without `confirm`: what would be sent (rehearsed, nothing written). With it: sent, once."""
    form = await request.form
    req = _refund_request(form)
    runtime = app_state().runtime
    try:
        if form.get("confirm") != "1":
            review = await rehearse(runtime.sessions, _refund_work(now, payment_id, req))
            return await signed_in_page(now, "refund_review.html", payment_id=payment_id, r=review,
                                        nonce=form_once.new_nonce(), form=form)
        async with runtime.sessions() as session, session.begin():
            location = f"/dashboard/payments/{payment_id}?done=refund"
            seen = await form_once.claim(session, now.user.merchant_id, form.get("nonce"))
            if seen is None:
                await _refund_work(now, payment_id, req)(session)
                await form_once.settle(session, now.user.merchant_id, form["nonce"], location)
        return redirect(seen or location, 303)
    except NotFound:
        return await _not_found(now)
    except ServiceError as exc:
        return await _refund_form(now, payment_id, error=exc.message, status=422 if isinstance(exc, InvalidField)
                                  else 409, form=form)

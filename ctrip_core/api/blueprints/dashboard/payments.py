"""The dashboard's payments: the list (filters, search, pages), a payment's timeline, and acting on
one (owner): a refund in two steps (the form, then what exactly would be sent, then confirmed),
redelivering an event, creating a payment (with the API's rules: services/payments/operations.py)."""

from __future__ import annotations

from urllib.parse import urlencode

from quart import Blueprint, redirect, request
from quart_schema import hide
from sqlalchemy import select

from ctrip_core.api.blueprints.dashboard.site import asset_choices, local_path, signed_in, signed_in_page
from ctrip_core.api.state import app_state
from ctrip_core.db.types import utcnow
from ctrip_core.db.models import PAYMENT_STATUSES, Event, Payout
from ctrip_core.ids import has_id_shape
from ctrip_core.services.checkout.public import valid_payment_id
from ctrip_core.services.dashboard import form_once
from ctrip_core.services.dashboard.rehearsal import rehearse
from ctrip_core.services.dashboard.search import find_payments
from ctrip_core.services.errors import InvalidField, NotFound, RateUnavailableError, ServiceError
from ctrip_core.services.outbox import events
from ctrip_core.services.payments import operations as payments
from ctrip_core.services.payments.payment_view import render_many, render_one
from ctrip_core.services.payouts import requests as payouts
from ctrip_core.services.payouts.payout_view import render as render_refund
from ctrip_core.services.payouts.payout_view import render_payout
from ctrip_core.services.reports.transactions import parse_moment
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
    """Newest first, PAGE a page; filtered by status, chain, asset and creation dates [from, to), or
    one search box (services/dashboard/search.py). A filter value that cannot be is dropped."""
    args = request.args
    runtime = app_state().runtime
    chains = sorted(runtime.chains)
    assets = sorted({symbol for _, symbol in asset_choices()})
    status = args.get("status") if args.get("status") in PAYMENT_STATUSES else None
    chain = args.get("chain") if args.get("chain") in chains else None
    asset = args.get("asset") if args.get("asset") in assets else None
    text = _clean(args.get("q"))
    after = args.get("after") if valid_payment_id(args.get("after")) else None
    since, until = _clean(args.get("from")), _clean(args.get("to"))
    error, has_more = None, False
    async with runtime.read_sessions() as session:
        try:
            if text:
                rows = await find_payments(session, now.user.merchant_id, text)
            elif chain and asset and runtime.chains[chain].config.asset(asset) is None:
                rows = []  # no payment can match; asked, PostgreSQL would walk the merchant's whole index
            else:
                rows, has_more = await payments.list_payments(
                    session, now.user.merchant_id, status=status, chain=chain, asset=asset,
                    created_from=parse_moment(since, "from"), created_before=parse_moment(until, "to"),
                    limit=PAGE, starting_after=after)
        except InvalidField as exc:
            rows, error = [], exc.message
        data = await render_many(session, rows)
    filters = {k: v for k, v in (("status", status), ("chain", chain), ("asset", asset), ("from", since),
                                 ("to", until)) if v}
    next_page = urlencode({**filters, "after": data[-1]["id"]}) if has_more and data else None
    return await signed_in_page(now, "payments.html", payments=data, statuses=PAYMENT_STATUSES, chains=chains,
                                assets=assets, status=status, chain=chain, asset=asset, since=since, until=until,
                                q=text, error=error, next_page=next_page, done=DONE.get(args.get("done", "")))


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
        if not has_id_shape(event_id, "evt"):
            raise NotFound("no such event")
        async with runtime.sessions() as session, session.begin():
            count = await redeliver(session, now.user.merchant_id, event_id)
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
        return render_payout(refund, payouts.decimals_of(chains, refund), None)
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
    if not valid_payment_id(payment_id):
        return await _not_found(now)
    form = await request.form
    req = _refund_request(form)
    runtime = app_state().runtime
    try:
        if form.get("confirm") != "1":
            review = await rehearse(runtime.sessions, _refund_work(now, payment_id, req))
            return await signed_in_page(now, "refund_review.html", payment_id=payment_id, r=review,
                                        nonce=form_once.new_nonce(utcnow()), form=form)
        async with runtime.sessions() as session, session.begin():
            location = f"/dashboard/payments/{payment_id}?done=refund"
            seen = await form_once.claim(session, now.user.merchant_id, form.get("nonce"), f"refund:{payment_id}",
                                         utcnow())
            if seen is None:
                await _refund_work(now, payment_id, req)(session)
                await form_once.settle(session, now.user.merchant_id, form["nonce"], location)
        return redirect(local_path(seen) or location, 303)
    except NotFound:
        return await _not_found(now)
    except ServiceError as exc:
        return await _refund_form(now, payment_id, error=exc.message, status=422 if isinstance(exc, InvalidField)
                                  else 409, form=form)


# --- creating a payment (owner) ------------------------------------------------------------------

def payment_form_context() -> dict:
    """What the payment form offers (each chain's assets, the rates' currencies): the payment link form too."""
    return {"assets": asset_choices(), "currencies": list(app_state().runtime.rates.currencies)}


async def _new_payment_form(now, *, error: str | None = None, status: int = 200, form=None):
    return await signed_in_page(now, "payment_new.html", status, error=error, form=form or {},
                                nonce=form_once.new_nonce(utcnow()), **payment_form_context())


@blueprint.get("/dashboard/payments/new")
@hide
@signed_in(owner=True)
async def new_payment(now):
    return await _new_payment_form(now)


def payment_request(form) -> payments.PaymentRequest:
    """The form as the API's request: an amount in the chosen asset, or a price in a currency
    (quoted in the chosen asset, or payable in any accepted asset when none is chosen). The payment
    link form (dashboard/links.py) is the same form, less the order id."""
    chain, _, asset = (form.get("asset") or "").partition(":")
    amount = _clean(form.get("amount")) or None
    currency = _clean(form.get("currency"))
    expires = _clean(form.get("expires_in_minutes"))
    try:
        expires_in = int(expires) * 60 if expires else None
    except ValueError:
        raise InvalidField("expires in: a whole number of minutes", "expires_in") from None
    priced = form.get("kind") == "price"
    return payments.PaymentRequest(
        chain=chain or None, asset=asset or None, amount=None if priced else amount,
        price={"amount": amount, "currency": currency} if priced else None,
        order_id=_clean(form.get("order_id")) or None, expires_in=expires_in)


@blueprint.post("/dashboard/payments/new")
@hide
@signed_in(owner=True)
async def create_payment(now):
    """The payment, once (the form's nonce): its timeline, with the checkout link to send the payer."""
    form = await request.form
    runtime = app_state().runtime
    try:
        req = payment_request(form)
        async with runtime.sessions() as session, session.begin():
            seen = await form_once.claim(session, now.user.merchant_id, form.get("nonce"), "payment", utcnow())
            if seen is None:
                made = await payments.create_payment(runtime, now.user.merchant_id, req, within=session)
                seen = f"/dashboard/payments/{made.id}?done=created"
                await form_once.settle(session, now.user.merchant_id, form["nonce"], seen)
    except ServiceError as exc:
        return await _new_payment_form(now, error=exc.message, status=503 if isinstance(exc, RateUnavailableError) else 422, form=form)
    return redirect(local_path(seen) or "/dashboard", 303)

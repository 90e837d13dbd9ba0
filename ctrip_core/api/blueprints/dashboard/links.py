"""The dashboard's payment links: the list (each link's public URL, what it asks, how many payments
it made, whether it is active), and (owner) creating one, once, from the payment form (the same
conversion as creating a payment: dashboard/payments.py), deactivating and activating one. The
rules live in services/payments/payment_links.py; the public URL is api/blueprints/payment_links.py."""

from __future__ import annotations

from quart import Blueprint, redirect, request, url_for
from quart_schema import hide

from ctrip_core.api.blueprints.dashboard.payments import payment_form_context, payment_request
from ctrip_core.api.blueprints.dashboard.site import local_path, secure_scheme, signed_in, signed_in_page
from ctrip_core.api.state import app_state
from ctrip_core.db.types import utcnow
from ctrip_core.db.models import PaymentLink
from ctrip_core.services.dashboard import form_once
from ctrip_core.services.errors import NotFound, ServiceError
from ctrip_core.services.payments import payment_links

blueprint = Blueprint("links", __name__)

#: Links the list shows, newest first.
SHOWN = 100
#: What a `?done=` after an action says on the list it lands on.
DONE = {"created": "Payment link created: send its URL to your customers.",
        "deactivated": "Payment link deactivated: its URL makes no more payments.",
        "activated": "Payment link activated."}


def _asks(link: PaymentLink) -> str:
    """What a link's payments are owed, in words: "5 ETH on anvil", "25.00 USD in ETH on anvil",
    "25.00 USD in any accepted asset"."""
    where = f" on {link.chain}" if link.chain else ""
    if link.price_currency is None:
        return f"{link.amount} {link.asset}{where}"
    return f"{link.price_amount} {link.price_currency} in " + (f"{link.asset}{where}" if link.asset
                                                                else "any accepted asset")


def _row(link: PaymentLink) -> dict:
    return {"id": link.id, "description": link.description, "asks": _asks(link), "active": link.active,
            "payments_created": link.payments_created, "created_at": link.created_at,
            # https but at this machine's own address, as the session cookie's Secure (behind a proxy
            # that ends TLS the scheme seen here is http)
            "url": url_for("payment_links.payment_link", link_id=link.id, _external=True,
                           _scheme="https" if secure_scheme() else "http")}


async def _list(now, *, error: str | None = None, status: int = 200):
    async with app_state().runtime.read_sessions() as session:
        rows = await payment_links.list_links(session, now.user.merchant_id, limit=SHOWN)
    return await signed_in_page(now, "links.html", status, links=[_row(link) for link in rows], shown=SHOWN,
                                error=error, done=DONE.get(request.args.get("done", "")))


@blueprint.get("/dashboard/links")
@hide
@signed_in
async def links_page(now):
    return await _list(now)


async def _new_link_form(now, *, error: str | None = None, status: int = 200, form=None):
    return await signed_in_page(now, "link_new.html", status, error=error, form=form or {},
                                nonce=form_once.new_nonce(utcnow()), **payment_form_context())


@blueprint.get("/dashboard/links/new")
@hide
@signed_in(owner=True)
async def new_link(now):
    return await _new_link_form(now)


@blueprint.post("/dashboard/links/new")
@hide
@signed_in(owner=True)
async def create_link(now):
    """The link, once (the form's nonce); checked by the payment rules, though no rate is asked for."""
    form = await request.form
    runtime = app_state().runtime
    try:
        req = payment_request(form)
        async with runtime.sessions() as session, session.begin():
            seen = await form_once.claim(session, now.user.merchant_id, form.get("nonce"), "payment link", utcnow())
            if seen is None:
                await payment_links.create_link(session, runtime, now.user.merchant_id, req, form.get("description"))
                seen = "/dashboard/links?done=created"
                await form_once.settle(session, now.user.merchant_id, form["nonce"], seen)
    except ServiceError as exc:
        return await _new_link_form(now, error=exc.message, status=422, form=form)
    return redirect(local_path(seen) or "/dashboard/links", 303)


async def _set_active(now, link_id: str, active: bool):
    try:
        async with app_state().runtime.sessions() as session, session.begin():
            await payment_links.set_active(session, now.user.merchant_id, link_id, active)
    except NotFound:
        return await signed_in_page(now, "not_found.html", 404, what="payment link")
    return redirect(f"/dashboard/links?done={'activated' if active else 'deactivated'}", 303)


@blueprint.post("/dashboard/links/<link_id>/deactivate")
@hide
@signed_in(owner=True)
async def deactivate(now, link_id: str):
    return await _set_active(now, link_id, False)


@blueprint.post("/dashboard/links/<link_id>/activate")
@hide
@signed_in(owner=True)
async def activate(now, link_id: str):
    return await _set_active(now, link_id, True)

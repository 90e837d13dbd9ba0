"""The dashboard's payouts: the list (refunds too, filtered by status), and sending one (owner) in
two steps: the form, then exactly what would be sent (rehearsed by the same use-case, nothing
written), then confirmed, once. A payout above `payouts.approval_above` waits for the operator's
approval (`ctrip payouts approve`, with the mnemonic): the dashboard cannot approve it, by design,
since whoever reaches the API host must not be able to authorize money out."""

from __future__ import annotations

from quart import Blueprint, redirect, request
from quart_schema import hide

from ctrip_core.api.blueprints.dashboard.site import asset_choices, local_path, signed_in, signed_in_page
from ctrip_core.api.state import app_state
from ctrip_core.db.types import utcnow
from ctrip_core.db.models import PAYOUT_STATUSES
from ctrip_core.ids import has_id_shape
from ctrip_core.services.dashboard import form_once
from ctrip_core.services.dashboard.rehearsal import rehearse
from ctrip_core.services.errors import InvalidField, ServiceError
from ctrip_core.services.payouts import requests as payouts
from ctrip_core.services.payouts.payout_view import render, render_payout
from ctrip_core.services.webhooks.secret_box import SecretBox

blueprint = Blueprint("payouts", __name__)

PAGE = 25


def _field(form, name: str) -> str | None:
    return (form.get(name) or "").replace("\x00", "").strip() or None


@blueprint.get("/dashboard/payouts")
@hide
@signed_in
async def payouts_page(now):
    runtime = app_state().runtime
    status = request.args.get("status") or None
    status = status if status in PAYOUT_STATUSES else None
    after = request.args.get("after") if has_id_shape(request.args.get("after"), "po", "rf") else None
    chains, error, has_more, shown = runtime.chain_configs(), None, False, []
    async with runtime.read_sessions() as session:
        try:
            rows, has_more = await payouts.list_payouts(session, now.user.merchant_id, status=status, limit=PAGE,
                                                        starting_after=after, refunds=None)
        except InvalidField as exc:
            rows, error = [], exc.message
        for row in rows:
            shown.append(await render(session, row, payouts.decimals_of(chains, row)))
    done = "Payout created." if request.args.get("done") == "payout" else None
    return await signed_in_page(now, "payouts.html", payouts=shown, statuses=PAYOUT_STATUSES, status=status,
                                error=error, done=done, next_after=shown[-1]["id"] if has_more and shown else None)


async def _form(now, *, error: str | None = None, status: int = 200, form=None):
    return await signed_in_page(now, "payout_new.html", status, assets=asset_choices(), error=error, form=form or {})


@blueprint.get("/dashboard/payouts/new")
@hide
@signed_in(owner=True)
async def new_payout(now):
    return await _form(now)


def _work(now, req: payouts.PayoutRequest):
    runtime = app_state().runtime
    chains = runtime.chain_configs()

    async def work(session):
        payout = await payouts.create_payout(session, runtime.settings, chains, SecretBox.from_settings(runtime.settings),
                                             now.user.merchant_id, req)
        return render_payout(payout, payouts.decimals_of(chains, payout), None)
    return work


@blueprint.post("/dashboard/payouts")
@hide
@signed_in(owner=True)
async def create_payout(now):
    """Without `confirm`: the review. With it: the payout, once (a second submission lands on the list)."""
    form = await request.form
    chain, _, asset = (form.get("asset") or "").partition(":")
    req = payouts.PayoutRequest(chain=chain or None, asset=asset or None, address=_field(form, "address"),
                                amount=_field(form, "amount"), reference=_field(form, "reference"))
    runtime = app_state().runtime
    try:
        if form.get("confirm") != "1":
            review = await rehearse(runtime.sessions, _work(now, req))
            return await signed_in_page(now, "payout_review.html", r=review, nonce=form_once.new_nonce(utcnow()))
        location = "/dashboard/payouts?done=payout"
        async with runtime.sessions() as session, session.begin():
            seen = await form_once.claim(session, now.user.merchant_id, form.get("nonce"), "payout", utcnow())
            if seen is None:
                await _work(now, req)(session)
                await form_once.settle(session, now.user.merchant_id, form["nonce"], location)
        return redirect(local_path(seen) or location, 303)
    except ServiceError as exc:
        return await _form(now, error=exc.message, status=422 if isinstance(exc, InvalidField) else 409, form=form)

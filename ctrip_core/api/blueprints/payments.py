"""/v1/payments: create, get, list, cancel."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import validate_querystring, validate_request, validate_response

from ctrip_core.api.auth import scope
from ctrip_core.api.docs import errors
from ctrip_core.api.idempotency import idempotent
from ctrip_core.api.schemas import CreatePayment, ListPaymentsQuery, PaymentList, PaymentOut
from ctrip_core.api.state import app_state
from ctrip_core.api.transaction import in_transaction
from ctrip_core.services.payments import operations as payments
from ctrip_core.services.payments.payment_view import render_many, render_new, render_one

blueprint = Blueprint("payments", __name__)


@blueprint.post("/payments")
@scope("payments")
@validate_request(CreatePayment)
@validate_response(PaymentOut, 201)
@errors(404, 409, 503)
@idempotent
async def create_payment(data: CreatePayment):
    """Create a payment with a fresh deposit address, for an amount in the asset or a price in a currency
    (quoted at a rate locked until it expires; 503 `rate_unavailable` when no fresh rate can be had)."""
    price = {"amount": data.price.amount, "currency": data.price.currency} if data.price is not None else None
    req = payments.PaymentRequest(chain=data.chain, asset=data.asset, amount=data.amount, price=price,
                                  order_id=data.order_id, metadata=data.metadata or {}, expires_in=data.expires_in,
                                  redirect_url=data.redirect_url)
    payment = await payments.create_payment(app_state().runtime, g.merchant_id, req, within=g.get("db"))
    return PaymentOut.model_validate(render_new(payment)), 201


@blueprint.get("/payments/<payment_id>")
@scope("read")
@validate_response(PaymentOut, 200)
@errors(404)
async def get_payment(payment_id: str):
    """Retrieve a payment."""
    async with app_state().runtime.read_sessions() as session:
        payment = await payments.get_payment(session, g.merchant_id, payment_id)
        return PaymentOut.model_validate(await render_one(session, payment)), 200


@blueprint.get("/payments")
@scope("read")
@validate_querystring(ListPaymentsQuery)
@validate_response(PaymentList, 200)
@errors()
async def list_payments(query_args: ListPaymentsQuery):
    """List payments, newest first; page with `starting_after`."""
    async with app_state().runtime.read_sessions() as session:
        rows, has_more = await payments.list_payments(
            session, g.merchant_id, status=query_args.status, chain=query_args.chain, order_id=query_args.order_id,
            limit=query_args.limit, starting_after=query_args.starting_after)
        data = await render_many(session, rows)
    return PaymentList(object="list", data=[PaymentOut.model_validate(d) for d in data], has_more=has_more), 200


@blueprint.post("/payments/<payment_id>/cancel")
@scope("payments")
@validate_response(PaymentOut, 200)
@errors(404, 409)
@in_transaction
@idempotent
async def cancel_payment(payment_id: str):
    """Cancel a pending payment (409 from any other status)."""
    payment = await payments.cancel_payment(g.db, g.merchant_id, payment_id)
    return PaymentOut.model_validate(await render_one(g.db, payment)), 200

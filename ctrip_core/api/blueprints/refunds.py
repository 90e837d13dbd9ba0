"""/v1/payments/{id}/refunds and /v1/refunds: give a payment's money back (key scope `refunds`; to
an address other than the sender's, `payouts` too); read refunds."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import validate_querystring, validate_request, validate_response

from ctrip_core.api.auth import scope
from ctrip_core.api.docs import errors
from ctrip_core.api.idempotency import idempotent
from ctrip_core.api.schemas import CreateRefund, ListRefundsQuery, RefundList, RefundOut
from ctrip_core.api.state import app_state
from ctrip_core.api.transaction import in_transaction
from ctrip_core.services.payouts import requests as payouts
from ctrip_core.services.payouts.payout_view import render
from ctrip_core.services.webhooks.secret_box import SecretBox

blueprint = Blueprint("refunds", __name__)


def _chains() -> dict:
    return app_state().runtime.chain_configs()


@blueprint.post("/payments/<payment_id>/refunds")
@scope("refunds")
@validate_request(CreateRefund)
@validate_response(RefundOut, 201)
@errors(404, 409)
@in_transaction
@idempotent
async def create_refund(payment_id: str, data: CreateRefund):
    """Refund a payment from the merchant's payout wallet: by default all it received in its asset
    (less earlier refunds), to the address that paid; never more (409)."""
    runtime, chains = app_state().runtime, _chains()
    refund = await payouts.create_refund(
        g.db, runtime.settings, chains, SecretBox.from_settings(runtime.settings), g.merchant_id, payment_id,
        payouts.RefundRequest(data.amount, data.asset, data.address, data.chain, data.reference),
        may_pay_anywhere="payouts" in g.scopes)
    return RefundOut.model_validate(await render(g.db, refund, payouts.decimals_of(chains, refund))), 201


@blueprint.get("/refunds/<refund_id>")
@scope("read")
@validate_response(RefundOut, 200)
@errors(404)
async def get_refund(refund_id: str):
    """Retrieve a refund."""
    async with app_state().runtime.read_sessions() as session:
        refund = await payouts.get_payout(session, g.merchant_id, refund_id, refund=True)
        return RefundOut.model_validate(await render(session, refund, payouts.decimals_of(_chains(), refund))), 200


@blueprint.get("/refunds")
@scope("read")
@validate_querystring(ListRefundsQuery)
@validate_response(RefundList, 200)
@errors()
async def list_refunds(query_args: ListRefundsQuery):
    """List refunds, newest first (of one payment with `payment_id`); page with `starting_after`."""
    chains = _chains()
    async with app_state().runtime.read_sessions() as session:
        rows, has_more = await payouts.list_payouts(session, g.merchant_id, status=query_args.status,
                                                    limit=query_args.limit, starting_after=query_args.starting_after,
                                                    refunds=True, payment_id=query_args.payment_id)
        data = [RefundOut.model_validate(await render(session, r, payouts.decimals_of(chains, r))) for r in rows]
    return RefundList(object="list", data=data, has_more=has_more), 200

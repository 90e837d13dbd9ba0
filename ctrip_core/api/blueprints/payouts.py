"""/v1/payouts: send money out of the merchant's payout wallet (key scope `payouts`); read them."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import validate_querystring, validate_request, validate_response

from ctrip_core.api.auth import scope
from ctrip_core.api.docs import errors
from ctrip_core.api.idempotency import idempotent
from ctrip_core.api.schemas import CreatePayout, ListPayoutsQuery, PayoutList, PayoutOut
from ctrip_core.api.state import app_state
from ctrip_core.api.transaction import in_transaction
from ctrip_core.services.payouts import requests as payouts
from ctrip_core.services.payouts.payout_view import render
from ctrip_core.services.webhooks.secret_box import SecretBox

blueprint = Blueprint("payouts", __name__)


def _chains() -> dict:
    return {name: chain.config for name, chain in app_state().runtime.chains.items()}


@blueprint.post("/payouts")
@scope("payouts")
@validate_request(CreatePayout)
@validate_response(PayoutOut, 201)
@errors()
@in_transaction
@idempotent
async def create_payout(data: CreatePayout):
    """Send `amount` of `asset` to `address` from the merchant's payout wallet: `pending` (or
    `awaiting_approval` above the operator's `payouts.approval_above`), then `submitted`, then
    `succeeded` or `failed` with its `failure_reason` (events `payout.*`)."""
    runtime, chains = app_state().runtime, _chains()
    payout = await payouts.create_payout(
        g.db, runtime.settings, chains, SecretBox.from_settings(runtime.settings), g.merchant_id,
        payouts.PayoutRequest(data.chain, data.asset, data.address, data.amount, data.reference))
    return PayoutOut.model_validate(await render(g.db, payout, payouts.decimals_of(chains, payout))), 201


@blueprint.get("/payouts/<payout_id>")
@scope("read")
@validate_response(PayoutOut, 200)
@errors(404)
async def get_payout(payout_id: str):
    """Retrieve a payout."""
    async with app_state().runtime.read_sessions() as session:
        payout = await payouts.get_payout(session, g.merchant_id, payout_id, refund=False)
        return PayoutOut.model_validate(await render(session, payout, payouts.decimals_of(_chains(), payout))), 200


@blueprint.get("/payouts")
@scope("read")
@validate_querystring(ListPayoutsQuery)
@validate_response(PayoutList, 200)
@errors()
async def list_payouts(query_args: ListPayoutsQuery):
    """List payouts, newest first; page with `starting_after`."""
    chains = _chains()
    async with app_state().runtime.read_sessions() as session:
        rows, has_more = await payouts.list_payouts(session, g.merchant_id, status=query_args.status,
                                                    chain=query_args.chain, limit=query_args.limit,
                                                    starting_after=query_args.starting_after)
        data = [PayoutOut.model_validate(await render(session, p, payouts.decimals_of(chains, p))) for p in rows]
    return PayoutList(object="list", data=data, has_more=has_more), 200

"""/v1/payouts and /v1/payout-batches: send money out of the merchant's payout wallet (key scope
`payouts`), one at a time or up to 100 at once; read them."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import validate_querystring, validate_request, validate_response

from ctrip_core.api.auth import scope
from ctrip_core.api.docs import errors
from ctrip_core.api.idempotency import idempotent
from ctrip_core.api.schemas import (CreatePayout, CreatePayoutBatch, ListPayoutsQuery, PayoutBatchOut, PayoutList,
                                    PayoutOut)
from ctrip_core.api.state import app_state
from ctrip_core.api.transaction import in_transaction
from ctrip_core.services.errors import NotFound
from ctrip_core.services.payouts import requests as payouts
from ctrip_core.services.payouts.payout_view import render
from ctrip_core.services.webhooks.secret_box import SecretBox

blueprint = Blueprint("payouts", __name__)


def _chains() -> dict:
    return app_state().runtime.chain_configs()


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
                                                    starting_after=query_args.starting_after,
                                                    batch_id=query_args.batch_id)
        data = [PayoutOut.model_validate(await render(session, p, payouts.decimals_of(chains, p))) for p in rows]
    return PayoutList(object="list", data=data, has_more=has_more), 200


@blueprint.post("/payout-batches")
@scope("payouts")
@validate_request(CreatePayoutBatch)
@validate_response(PayoutBatchOut, 201)
@errors(409)
@in_transaction
@idempotent
async def create_payout_batch(data: CreatePayoutBatch):
    """Up to 100 payouts at once, all or none: a refused item is 422 (or 409) naming `items[i].field`,
    and nothing is recorded. Each is sent as a payout (one in flight per payout wallet)."""
    runtime, chains = app_state().runtime, _chains()
    items = [payouts.PayoutRequest(i.chain, i.asset, i.address, i.amount, i.reference) for i in data.items]
    batch_id, made = await payouts.create_batch(g.db, runtime.settings, chains, SecretBox.from_settings(runtime.settings),
                                                g.merchant_id, items)
    shown = [PayoutOut.model_validate(await render(g.db, p, payouts.decimals_of(chains, p))) for p in made]
    return PayoutBatchOut(id=batch_id, object="payout_batch", payouts=shown), 201


@blueprint.get("/payout-batches/<batch_id>")
@scope("read")
@validate_response(PayoutBatchOut, 200)
@errors(404)
async def get_payout_batch(batch_id: str):
    """A batch with each of its payouts as it is now."""
    chains = _chains()
    async with app_state().runtime.read_sessions() as session:
        rows, _ = await payouts.list_payouts(session, g.merchant_id, batch_id=batch_id, limit=payouts.BATCH_MAX)
        if not rows:
            raise NotFound(f"no payout batch {batch_id}", "id")
        shown = [PayoutOut.model_validate(await render(session, p, payouts.decimals_of(chains, p)))
                 for p in reversed(rows)]
    return PayoutBatchOut(id=batch_id, object="payout_batch", payouts=shown), 200

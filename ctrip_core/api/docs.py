"""What /openapi.json says beyond the routes' own decorators: the introduction, the sections (tags)
and the error responses every authenticated route documents. The webhooks are api/webhook_docs.py."""

from __future__ import annotations

from quart_schema import document_response

from ctrip_core.api.errors import ErrorResponse

#: Statuses any /v1 route may answer besides its success: auth, scope, rate limit, bad body, size.
COMMON_ERRORS = (400, 401, 403, 413, 422, 429)


#: The reference's sections (OpenAPI tags), by blueprint: name and what the section holds.
TAGS = {
    "payments": ("Payments", "Ask for a payment; cTrip gives a fresh deposit address and watches the chain."),
    "refunds": ("Refunds", "Send what a payment received back, from the merchant's payout wallet (scope `refunds`)."),
    "payouts": ("Payouts", "Send from the merchant's payout wallet to any address, one or a batch (scope `payouts`)."),
    "reports": ("Balances and reports", "The ledger per chain and asset, and every transaction as CSV."),
    "chains": ("Chains", "The chains and assets this gateway accepts."),
    "events": ("Events", "Every event written for the merchant, with each webhook delivery attempt."),
    "webhook_endpoints": ("Webhook endpoints", "Where events are POSTed, signed (see the Webhooks section)."),
    "checkout": ("Hosted checkout", "The public payment page a payer opens: no API key."),
    "payment_links": ("Hosted checkout", "The public payment page a payer opens: no API key."),
    "ops": ("Operations", "Health, readiness and metrics for the operator: no API key."),
    "reference": ("Operations", "Health, readiness and metrics for the operator: no API key."),
    "webhooks": ("Webhooks", "What cTrip POSTs to your endpoints, one event type each, signed as Standard Webhooks "
                             "specify (`webhook-id`, `webhook-timestamp`, `webhook-signature`)."),
}

#: Each path parameter by name: (description, example).
PATH_PARAMETERS = {
    "id": ("The payment's id (`pay_…`), from the payment object.", "pay_sOaqyJHGN6gv0iSNGrB7xDWp"),
    "payment_id": ("The payment's id (`pay_…`).", "pay_sOaqyJHGN6gv0iSNGrB7xDWp"),
    "refund_id": ("The refund's id (`rf_…`).", "rf_Q3n8T0cYw2LbV7kPzX1mA9dE"),
    "payout_id": ("The payout's id (`po_…`).", "po_H7eW2kLs9QpZ4xRv1NcB8uTy"),
    "batch_id": ("The payout batch's id (`pob_…`).", "pob_M4tY8wQe2RzX6cVb1NkL9pHs"),
    "event_id": ("The event's id (`evt_…`), as in `webhook-id`.", "evt_FQotx1Hkd3IbXRe4vZiYReVX"),
    "endpoint_id": ("The webhook endpoint's id (`we_…`).", "we_Z1xC5vB9nM3aS7dF2gH6jK0l"),
    "link_id": ("The payment link's id (`plink_…`), from its URL on the dashboard.", "plink_T5rW8nQ2xK7bL1vZ4mC9pJ3d"),
}

INTRO = """\
cTrip is a self-hosted crypto payment gateway for EVM chains. Ask for a payment and cTrip gives a
fresh deposit address, watches the chain for the native coin or a configured ERC-20 token, counts
confirmations, tells your server through signed webhooks and sweeps the funds to your treasury.

**Authentication.** Every `/v1` route takes `Authorization: Bearer <api key>` (401 without a valid
one). A key has scopes (`read`, `payments`, `refunds`, `payouts`); a route outside them answers 403
naming the missing scope. A key sees only its own merchant's objects: another's id is 404.

**Amounts** are decimal strings in the asset's units (`"12.50"`) and integer strings in base units
(`*_base_units`). Parse them as decimals or big integers, never as floats; a JSON number is refused.

**Errors** are `{"error": {"code", "message", "field"?}}`: 400 malformed, 401, 403, 404, 409 a
conflict with the object's state, 413 too large, 422 a field that does not validate (named in
`field`), 429 rate limited (see `Retry-After`), 503 a dependency (a rate, a node) not answering.

**Retries.** Every POST takes an `Idempotency-Key` header: the same key and body within 24 h replay
the first response and do nothing twice.

**Lists** are newest first: `limit` (1-100) and, where listed, `starting_after` (the last id you got)
page them;
`has_more` says whether there is another page.

**Webhooks** (the last section) are what cTrip POSTs to your endpoints: one event type each, signed
as Standard Webhooks specify.
"""


def errors(*statuses: int):
    """Document ErrorResponse for the common statuses plus `statuses` on a route.

    Documentation only: errors are raised and rendered by api/errors.py's handlers, never returned
    by a route, so a validating wrapper per status (as `validate_response` adds) had nothing to
    check and cost every /v1 request six nested calls.
    """

    def decorate(handler):
        for status in sorted(set(COMMON_ERRORS + statuses)):
            handler = document_response(ErrorResponse, status)(handler)
        return handler

    return decorate

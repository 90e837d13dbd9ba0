"""Request and response models: they validate input and feed the OpenAPI document.

Structure is checked here (types, lengths, unknown fields); meaning (chain, asset, amount against
the asset's decimals, expiry bounds) is checked by the services, with the same field names.
Constraints given as `json_schema_extra` (an amount's pattern, metadata's 50 keys, a webhook URL's
scheme) only document in /openapi.json what the services check, with clearer messages than
pydantic's (`money.parse_amount` says why an amount is refused).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from ctrip_core.db.models import SWEEP_STATES, EndpointStatus, PaymentStatus, PayoutStatus, TransferSource, TransferState
from ctrip_core.money import DECIMAL_PATTERN
from ctrip_core.services.outbox.events import EVENT_TYPES


#: An example per field name, shown in /openapi.json where a field gives none of its own (Redoc's
#: request and response samples are built from them). Ids by the model they identify.
EXAMPLES = {
    "chain": "ethereum", "chain_id": 1, "asset": "USDC", "decimals": 6, "token_address": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
    "amount": "12.5", "amount_base_units": "12500000", "amount_received": "12.5", "amount_received_base_units": "12500000",
    "address": "0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0", "from": "0x1f9840a85d5aF5bf1D1762F925BDADdC4201F984",
    "payment_uri": "ethereum:0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48@1/transfer?"
                   "address=0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0&uint256=12500000",
    "tx_hash": "0x9f1c3b6a5e0d4c2b8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291",
    "block_hash": "0x5be2a0c7d1e4f3b6a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6", "block_number": 21004211,
    "log_index": 41, "confirmations": 12, "confirmations_required": 12, "order_id": "order-1042",
    "metadata": {"customer": "c_77"}, "created_at": "2026-11-25T15:45:58Z", "updated_at": "2026-11-25T15:47:10Z",
    "expires_at": "2026-11-25T16:45:58Z", "reference": "withdrawal-881", "currency": "USD",
    "url": "https://shop.example/hooks/ctrip", "payment_id": "pay_sOaqyJHGN6gv0iSNGrB7xDWp",
    "event_id": "evt_FQotx1Hkd3IbXRe4vZiYReVX", "endpoint_id": "we_Z1xC5vB9nM3aS7dF2gH6jK0l",
}
IDS = {"PaymentOut": "pay_sOaqyJHGN6gv0iSNGrB7xDWp", "RefundOut": "rf_Q3n8T0cYw2LbV7kPzX1mA9dE",
       "PayoutOut": "po_H7eW2kLs9QpZ4xRv1NcB8uTy", "PayoutBatchOut": "pob_M4tY8wQe2RzX6cVb1NkL9pHs",
       "EventOut": "evt_FQotx1Hkd3IbXRe4vZiYReVX", "WebhookEndpointOut": "we_Z1xC5vB9nM3aS7dF2gH6jK0l"}


def _with_examples(schema: dict, model: type) -> None:
    for name, prop in schema.get("properties", {}).items():
        example = IDS.get(model.__name__) if name == "id" else EXAMPLES.get(name, ...)
        if example is not ... and example is not None and "examples" not in prop:
            prop["examples"] = [example]


class _Model(BaseModel):
    """Every model here: the string under a field is its description in /openapi.json, and a field
    named in EXAMPLES shows that example."""

    model_config = ConfigDict(use_attribute_docstrings=True, json_schema_extra=_with_examples)


class _In(_Model):
    model_config = ConfigDict(extra="forbid")


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL; refusing it here makes it a 422 on the field, not a 500."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[StrictStr, AfterValidator(_no_nul)]
QueryText = Annotated[str, AfterValidator(_no_nul)]
MetadataKey = Annotated[Text, Field(min_length=1, max_length=40)]
MetadataValue = Annotated[Text, Field(max_length=500)]


class PriceIn(_In):
    amount: Text = Field(max_length=100, description='decimal string in the currency, e.g. "25.00" (at most its '
                         'minor units: 2 for USD, 0 for JPY)', examples=["25.00"],
                         json_schema_extra={"pattern": f"^{DECIMAL_PATTERN}$"})
    currency: Text = Field(max_length=8, description="one of rates.currencies, e.g. USD", examples=["USD"])


class CreatePayment(_In):
    chain: Text | None = Field(None, max_length=64, description="chain name from GET /v1/chains; with asset, "
                               "omitted only for an open payment (a price, payable in any accepted asset)")
    asset: Text | None = Field(None, max_length=32, description="native symbol or a configured token symbol")
    amount: Text | None = Field(None, max_length=100, description='decimal string in asset units, e.g. "12.50"; '
                                'exactly one of amount and price', examples=["12.50"],
                                json_schema_extra={"pattern": f"^{DECIMAL_PATTERN}$"})
    price: PriceIn | None = Field(None, description="instead of amount: a price in a currency, quoted in the asset "
                                  "at a rate locked until expires_at (rounded up to the asset's decimals)")
    order_id: Text | None = Field(None, max_length=200)
    """Yours (an order or invoice id), shown on the checkout page and searchable."""
    metadata: dict[MetadataKey, MetadataValue] | None = Field(None, description="≤ 50 string keys/values",
                                                              json_schema_extra={"maxProperties": 50})
    expires_in: StrictInt | None = Field(None, description="seconds until the payment expires")
    redirect_url: Text | None = Field(None, max_length=2000, pattern=r"^https?://")
    """Where the checkout page sends the payer back once the payment is final."""

    @field_validator("metadata")
    @classmethod
    def _at_most_50(cls, value):
        if value is not None and len(value) > 50:
            raise ValueError("at most 50 keys")
        return value


class ListPaymentsQuery(_Model):
    status: PaymentStatus | None = None
    """Only payments in this state."""
    chain: QueryText | None = Field(None, max_length=64)
    """Only payments on this chain."""
    order_id: QueryText | None = Field(None, max_length=200)
    """Only payments with this order id."""
    limit: int = Field(10, ge=1, le=100)
    """How many to return, 1 to 100."""
    starting_after: QueryText | None = Field(None, max_length=64)
    """The id of the last object of the previous page: the page after it."""


class TransferOut(_Model):
    tx_hash: str
    """The transaction that carried the transfer."""
    log_index: int | None
    """The ERC-20 Transfer log's index in its block; null for a native transfer."""
    block_number: int
    """The block that holds the transfer."""
    block_hash: str
    """That block's hash: a reorg that replaces it orphans the transfer."""
    from_: str = Field(alias="from")
    """The sender (EIP-55): where a refund goes by default."""
    amount_base_units: str
    """What arrived, as an integer string in the asset's base units."""
    confirmations: int
    """Blocks from the transfer's block to the head, its own included."""
    state: TransferState
    """`seen` (in a block), `confirmed` (past the chain's rule) or `orphaned` (its block was replaced)."""
    late: bool
    """It arrived after the payment was final; still recorded and swept."""
    source: TransferSource
    """How it was found: a transaction's value, a token log, a call trace (internal transfer), or reconciliation."""
    chain: str
    """Where it landed and in what: the payment's own chain and asset, or (payments.equivalent_assets) an equivalent
    one, its confirmations counted on its own chain."""
    asset: str
    """The asset it is in."""
    token_address: str | None
    """The token it is in; null for the native coin."""
    credited_base_units: str | None
    """What it credits the payment, in the payment's asset's base units (an equivalent asset of other decimals is
    converted, rounded down); null: it counts for nothing (another asset)."""
    value: str | None = None
    """A priced payment's: what it credits, in the price's currency at the locked rate (rounded down to the currency's
    minor units); null for a payment priced in its asset."""

    model_config = ConfigDict(populate_by_name=True)


class MisdirectedTransferOut(TransferOut):
    """A transfer to the payment's address on another configured chain than the payment's, in an
    asset that does not count for the payment's (credited_base_units is null)."""

    sweep_state: Literal[("none", *SWEEP_STATES)]  # type: ignore[valid-type]
    """The state of the sweep that moved it on its own chain ("none": not yet)."""


class SweepOut(_Model):
    state: Literal[("none", *SWEEP_STATES)]  # type: ignore[valid-type]  # "none": no sweep yet
    """The latest sweep's state; `none` before the first."""
    tx_hashes: list[str]
    """Every sweep transaction that moved this payment's funds."""


class OptionOut(_Model):
    """One asset an open payment may be paid in, quoted at a rate locked at creation."""

    chain: str
    """The chain to pay on."""
    chain_id: int
    """Its EIP-155 id."""
    asset: str
    """The asset to pay in."""
    token_address: str | None
    """The token's contract address (EIP-55); null for the native coin."""
    decimals: int
    """How many decimals the asset has: base units per unit is 10 to this power."""
    amount: str
    """What to pay in this asset, a decimal string."""
    amount_base_units: str
    """The same, an integer string in base units."""
    payment_uri: str
    """EIP-681 of this option's whole amount."""
    rate: RateOut
    """The rate the amount was quoted at, locked at creation."""


class PriceOut(_Model):
    amount: str
    """The price, a decimal string in the currency."""
    currency: str
    """The currency's code (one of `rates.currencies`), e.g. USD."""


class RateOut(_Model):
    value: str
    """Units of `currency` per unit of the payment's asset, exact decimal text."""
    currency: str
    """The currency the rate is in."""
    source: str
    """The provider ("fixed", "coinbase", "median(coinbase,kraken)")."""
    at: str
    """The rate's own timestamp (the provider's), ISO 8601."""


class PaymentOut(_Model):
    id: str
    """`pay_` and 24 random characters."""
    object: Literal["payment"]
    """Always `payment`."""
    status: PaymentStatus
    """`pending` → `detected` → `confirmed`; or `expired`, `canceled`, `underpaid` (all final but detected)."""
    chain: str
    """The chain to pay on."""
    chain_id: int
    """The chain's EIP-155 id."""
    asset: str
    """The asset to pay in (an open payment: the price's currency)."""
    token_address: str | None
    """The token's contract address (EIP-55); null for the native coin."""
    decimals: int
    """How many decimals the asset has: base units per unit is 10 to this power."""
    amount: str
    """What to pay, a decimal string in the asset's units."""
    amount_base_units: str
    """The same amount as an integer string in base units."""
    amount_received: str
    """What confirmed and seen transfers add up to, a decimal string."""
    amount_received_base_units: str
    """The same, an integer string in base units."""
    address: str
    """The deposit address, unique to this payment and never reused (EIP-55)."""
    payment_uri: str
    """EIP-681 URI of the whole amount, for wallets and QR codes."""
    confirmations_required: int | Literal["finalized"]
    """Blocks a transfer needs to count, or `finalized` on chains that wait for finality."""
    order_id: str | None
    """Yours, as given."""
    metadata: dict[str, str]
    """Yours, as given: string keys and values, never shown to the payer."""
    created_at: str
    """When it was created (UTC, ISO 8601)."""
    expires_at: str
    """When an unpaid payment expires, judged by block time (UTC, ISO 8601)."""
    overpaid: bool
    """More than the amount arrived."""
    late: bool
    """A transfer arrived after the payment was final."""
    redirect_url: str | None
    """Where the checkout page sends the payer back; null for none."""
    transfers: list[TransferOut]
    """Every transfer to the address in the payment's asset (equivalent assets too), oldest first."""
    misdirected: list[MisdirectedTransferOut]
    """Paid to this address on another chain (or in its native coin there): recorded, never counted toward the amount,
    swept on the chain where it landed (`payment.misdirected`)."""
    sweep: SweepOut
    """Moving the received funds to the treasury."""
    price: PriceOut | None = None
    """A priced payment's price and the rate its amount was quoted at, locked at creation; else null."""
    rate: RateOut | None = None
    """The rate a priced payment's amount was quoted at, locked at creation; null otherwise."""
    underpaid_within_tolerance: bool = False
    """Confirmed although short of `amount`, by no more than payments.underpaid_tolerance allowed."""
    options: list[OptionOut] | None = None
    """An open payment's options (its asset is then the price's currency); null otherwise."""


class PaymentList(_Model):
    object: Literal["list"]
    """Always `list`."""
    data: list[PaymentOut]
    """The payments of this page, newest first."""
    has_more: bool
    """Whether another page follows (ask with `starting_after`)."""


class CreatePayout(_In):
    chain: Text = Field(..., max_length=64, description="chain name from GET /v1/chains")
    asset: Text = Field(..., max_length=32, description="native symbol or a configured token symbol")
    address: Text = Field(..., max_length=64, description="where to send: 0x and 40 hex digits (EIP-55 checked "
                          "when mixed-case)")
    amount: Text = Field(..., max_length=100, description='decimal string in asset units, e.g. "12.50"',
                         examples=["12.50"], json_schema_extra={"pattern": f"^{DECIMAL_PATTERN}$"})
    reference: Text | None = Field(None, max_length=200, description="yours: an invoice or withdrawal id")


class _SentOut(_Model):
    """What a payout and a refund both show (services/payouts/payout_view.py)."""

    id: str
    """`po_` (a payout) or `rf_` (a refund) and random characters."""
    chain: str
    """The chain it is sent on."""
    asset: str
    """The asset sent."""
    token_address: str | None
    """The token's contract address (EIP-55); null for the native coin."""
    address: str
    """Where it is sent (EIP-55)."""
    amount: str
    """What is sent, a decimal string in the asset's units (the fee is paid on top, in the native coin)."""
    amount_base_units: str
    """The same amount as an integer string in base units."""
    reference: str | None
    """Yours, stored as given: an invoice or withdrawal id."""
    status: PayoutStatus
    """`awaiting_approval` → `pending` → `submitted` → `succeeded` or `failed`."""
    failure_reason: str | None
    """Why it failed: `insufficient_balance: …`, `insufficient_gas: …` or `refused: …`; null otherwise."""
    tx_hash: str | None
    """The transaction sent (the latest, after a fee bump); null before it is signed."""
    created_at: str
    """When it was created (UTC, ISO 8601)."""
    updated_at: str
    """When it last changed (UTC, ISO 8601)."""


class PayoutOut(_SentOut):
    object: Literal["payout"]
    """Always `payout`."""
    batch_id: str | None
    """The batch it was made in (`pob_…`); null for a single payout."""


class CreatePayoutBatch(_In):
    items: list[CreatePayout] = Field(..., description="1 to 100 payouts: all are made, or none")


class PayoutBatchOut(_Model):
    id: str
    """`pob_` and random characters."""
    object: Literal["payout_batch"]
    """Always `payout_batch`."""
    payouts: list[PayoutOut]
    """Its payouts, in the order given."""


class CreateRefund(_In):
    amount: Text | None = Field(None, max_length=100, description="decimal string in asset units; default: all "
                                "the payment received in the asset, less what was already refunded",
                                json_schema_extra={"pattern": f"^{DECIMAL_PATTERN}$"})
    asset: Text | None = Field(None, max_length=32, description="default: the payment's asset")
    chain: Text | None = Field(None, max_length=64, description="default: the payment's chain (another for a "
                               "misdirected transfer)")
    address: Text | None = Field(None, max_length=64, description="default: the address that paid; any other "
                                 "needs the key scope `payouts`")
    reference: Text | None = Field(None, max_length=200)
    """Yours: a return or ticket id."""


class RefundOut(_SentOut):
    object: Literal["refund"]
    """Always `refund`."""
    payment_id: str
    """The payment refunded."""


class ListRefundsQuery(_Model):
    payment_id: QueryText | None = Field(None, max_length=64)
    """Only refunds of this payment."""
    status: PayoutStatus | None = None
    """Only refunds in this state."""
    limit: int = Field(10, ge=1, le=100)
    """How many to return, 1 to 100."""
    starting_after: QueryText | None = Field(None, max_length=64)
    """The id of the last object of the previous page: the page after it."""


class RefundList(_Model):
    object: Literal["list"]
    """Always `list`."""
    data: list[RefundOut]
    """The refunds of this page, newest first."""
    has_more: bool
    """Whether another page follows (ask with `starting_after`)."""


class PayoutWalletOut(_Model):
    address: str | None = Field(description="null when the address deriver has no paths")
    balance: str | None = Field(description="read from the chain now; null when no node answered")


class BalanceOut(_Model):
    chain: str
    """The chain."""
    asset: str
    """The asset."""
    received: str
    """Confirmed transfers to the merchant's payments (late and misdirected too) = awaiting_sweep + in_sweep + moved."""
    awaiting_sweep: str
    """Received and not yet taken by a sweep."""
    in_sweep: str
    """Taken by a sweep still in flight."""
    moved: str
    """Taken by done sweeps = swept + gas (+ what a native sweep reserved for its fee and left behind)."""
    swept: str
    """What done sweeps delivered to the treasury (or the payout wallet's float)."""
    gas: str
    """Native coin only: what those sweeps paid for gas."""
    refunded: str
    """What succeeded refunds sent, from the payout wallet."""
    paid_out: str
    """What succeeded payouts sent, from the payout wallet."""
    payout_fees: str
    """Native coin only: the gas refunds and payouts paid."""
    payout_wallet: PayoutWalletOut
    """The merchant's payout wallet for this chain and asset."""


class BalanceList(_Model):
    object: Literal["list"]
    """Always `list`."""
    data: list[BalanceOut]
    """One balance per chain and asset."""


class TransactionsReportQuery(_Model):
    model_config = ConfigDict(populate_by_name=True)

    since: QueryText | None = Field(None, alias="from", max_length=40, description="ISO 8601 date or date-time, "
                                    "inclusive (UTC unless it says otherwise)")
    until: QueryText | None = Field(None, alias="to", max_length=40, description="ISO 8601, exclusive")


class ListPayoutsQuery(_Model):
    batch_id: QueryText | None = Field(None, max_length=64)
    """Only payouts of this batch."""
    status: PayoutStatus | None = None
    """Only payouts in this state."""
    chain: QueryText | None = Field(None, max_length=64)
    """Only payouts on this chain."""
    limit: int = Field(10, ge=1, le=100)
    """How many to return, 1 to 100."""
    starting_after: QueryText | None = Field(None, max_length=64)
    """The id of the last object of the previous page: the page after it."""


class PayoutList(_Model):
    object: Literal["list"]
    """Always `list`."""
    data: list[PayoutOut]
    """The payouts of this page, newest first."""
    has_more: bool
    """Whether another page follows (ask with `starting_after`)."""


class AssetOut(_Model):
    symbol: str
    """The symbol to name the asset by in a payment."""
    decimals: int
    """Its decimals."""
    token_address: str | None
    """The token's contract (EIP-55); null for the native coin."""


class ChainOut(_Model):
    name: str
    """The name to use as `chain` in a payment."""
    chain_id: int
    """The chain's EIP-155 id."""
    adapter: str
    """The chain plugin that serves it (e.g. `evm`, `op_stack`)."""
    confirmations: int | Literal["finalized"]
    """Blocks a transfer needs, or `finalized`."""
    assets: list[AssetOut]
    """The assets accepted on it: the native coin first, then the tokens."""
    head_block: int | None
    """The latest block a node reported; null when none answered."""


class ChainList(_Model):
    object: Literal["list"]
    """Always `list`."""
    data: list[ChainOut]
    """The enabled chains."""


EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class CreateWebhookEndpoint(_In):
    url: Text = Field(max_length=2000, description="absolute http(s) URL",
                      json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"})
    events: list[EventType] | None = None
    """The event types to send; omitted or empty: all of them."""


class WebhookEndpointOut(_Model):
    id: str
    """`we_` and random characters."""
    object: Literal["webhook_endpoint"]
    """Always `webhook_endpoint`."""
    url: str
    """Where events are POSTed."""
    events: list[str]
    """The event types sent; empty: all of them."""
    status: EndpointStatus
    """`enabled`, or `disabled` after failing for too long."""
    created_at: str
    """When it was created (UTC, ISO 8601)."""
    failing_since: str | None = None
    """Since when every delivery to it has failed (UTC, ISO 8601); null while it is answering."""
    disabled_at: str | None = None
    """When it was disabled (UTC, ISO 8601); null while enabled."""
    secret: str | None = Field(None, description="whsec_...; returned only when created")


class WebhookEndpointList(_Model):
    object: Literal["list"]
    """Always `list`."""
    data: list[WebhookEndpointOut]
    """The merchant's endpoints."""


class DeletedOut(_Model):
    id: str
    """The deleted object's id."""
    deleted: bool
    """Always true."""


class AttemptOut(_Model):
    attempt: int
    """1 for the first attempt, counting up across retries."""
    endpoint_id: str
    """The endpoint it was sent to."""
    status_code: int | None
    """The endpoint's HTTP status; null when it never answered."""
    latency_ms: int | None
    """How long the endpoint took to answer, in milliseconds; null when it never answered."""
    error: str | None
    """Why it failed (a timeout, a refused connection, a non-2xx); null on success."""
    created_at: str
    """When it was made (UTC, ISO 8601)."""


class EventOut(_Model):
    id: str
    """`evt_` and random characters; the `webhook-id` of its deliveries."""
    object: Literal["event"]
    """Always `event`."""
    type: str
    """The event type, e.g. `payment.confirmed`."""
    payment_id: str | None
    """The payment it is about; null for a payout's or a webhook endpoint's."""
    created_at: str
    """When it was written (UTC, ISO 8601)."""
    data: dict
    """The object it carries (a payment, refund, payout or webhook endpoint) as it was then: the webhook body's `data`."""
    attempts: list[AttemptOut]
    """Each delivery attempt to each endpoint, oldest first."""


class EventList(_Model):
    object: Literal["list"]
    """Always `list`."""
    data: list[EventOut]
    """The events of this page, newest first."""
    has_more: bool
    """Whether another page follows (ask with `starting_after`)."""


class ListEventsQuery(_Model):
    payment_id: QueryText | None = Field(None, max_length=64)
    """Only events about this payment."""
    type: EventType | None = None
    """Only events of this type."""
    limit: int = Field(20, ge=1, le=100)
    """How many to return, 1 to 100."""


class RedeliverOut(_Model):
    event_id: str
    """The event queued again."""
    deliveries: int
    """How many endpoints it was queued for."""


class Health(_Model):
    status: Literal["ok"]
    """Always `ok`."""


class Readiness(_Model):
    status: Literal["ready", "not_ready"]
    """`ready`, or `not_ready` (503) when a check is down."""
    checks: dict[str, str] = Field(description="`database`, `broker`, `chain:<name>` → `ok` or `down: <reason>` "
                                               "(an exception type or a scanner stall; never a URL, host or address)")
    warnings: dict[str, str] = Field(default_factory=dict, description="degraded but serving, e.g. a low gas tank "
                                                                       "(named without its address or balance)")
    scan_lag_s: dict[str, float | None] = Field(
        default_factory=dict, description="per chain: wall clock minus the last scanned block's timestamp, in "
                                          "seconds (null before the first scan); past the threshold with unscanned "
                                          "blocks, the chain's check is down")

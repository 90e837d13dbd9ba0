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


class _In(BaseModel):
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
    metadata: dict[MetadataKey, MetadataValue] | None = Field(None, description="≤ 50 string keys/values",
                                                              json_schema_extra={"maxProperties": 50})
    expires_in: StrictInt | None = Field(None, description="seconds until the payment expires")
    redirect_url: Text | None = Field(None, max_length=2000, pattern=r"^https?://")

    @field_validator("metadata")
    @classmethod
    def _at_most_50(cls, value):
        if value is not None and len(value) > 50:
            raise ValueError("at most 50 keys")
        return value


class ListPaymentsQuery(BaseModel):
    status: PaymentStatus | None = None
    chain: QueryText | None = Field(None, max_length=64)
    order_id: QueryText | None = Field(None, max_length=200)
    limit: int = Field(10, ge=1, le=100)
    starting_after: QueryText | None = Field(None, max_length=64)


class TransferOut(BaseModel):
    tx_hash: str
    log_index: int | None
    block_number: int
    block_hash: str
    from_: str = Field(alias="from")
    amount_base_units: str
    confirmations: int
    state: TransferState
    late: bool
    source: TransferSource
    #: Where it landed and in what: the payment's own chain and asset, or (payments.equivalent_assets)
    #: an equivalent one, its confirmations counted on its own chain.
    chain: str
    asset: str
    token_address: str | None
    #: What it credits the payment, in the payment's asset's base units (an equivalent asset of other
    #: decimals is converted, rounded down); null: it counts for nothing (another asset).
    credited_base_units: str | None
    #: A priced payment's: what it credits, in the price's currency at the locked rate (rounded down
    #: to the currency's minor units); null for a payment priced in its asset.
    value: str | None = None

    model_config = ConfigDict(populate_by_name=True)


class MisdirectedTransferOut(TransferOut):
    """A transfer to the payment's address on another configured chain than the payment's, in an
    asset that does not count for the payment's (credited_base_units is null)."""

    #: The state of the sweep that moved it on its own chain ("none": not yet).
    sweep_state: Literal[("none", *SWEEP_STATES)]  # type: ignore[valid-type]


class SweepOut(BaseModel):
    state: Literal[("none", *SWEEP_STATES)]  # type: ignore[valid-type]  # "none": no sweep yet
    tx_hashes: list[str]


class OptionOut(BaseModel):
    """One asset an open payment may be paid in, quoted at a rate locked at creation."""

    chain: str
    chain_id: int
    asset: str
    token_address: str | None
    decimals: int
    amount: str
    amount_base_units: str
    #: EIP-681 of this option's whole amount.
    payment_uri: str
    rate: RateOut


class PriceOut(BaseModel):
    amount: str
    currency: str


class RateOut(BaseModel):
    #: Units of `currency` per unit of the payment's asset, exact decimal text.
    value: str
    currency: str
    #: The provider ("fixed", "coinbase", "median(coinbase,kraken)").
    source: str
    #: The rate's own timestamp (the provider's), ISO 8601.
    at: str


class PaymentOut(BaseModel):
    id: str
    object: Literal["payment"]
    status: PaymentStatus
    chain: str
    chain_id: int
    asset: str
    token_address: str | None
    decimals: int
    amount: str
    amount_base_units: str
    amount_received: str
    amount_received_base_units: str
    address: str
    payment_uri: str
    confirmations_required: int | Literal["finalized"]
    order_id: str | None
    metadata: dict[str, str]
    created_at: str
    expires_at: str
    overpaid: bool
    late: bool
    redirect_url: str | None
    transfers: list[TransferOut]
    #: Paid to this address on another chain (or in its native coin there): recorded, never counted
    #: toward the amount, swept on the chain where it landed (`payment.misdirected`).
    misdirected: list[MisdirectedTransferOut]
    sweep: SweepOut
    #: A priced payment's price and the rate its amount was quoted at, locked at creation; else null.
    price: PriceOut | None = None
    rate: RateOut | None = None
    #: Confirmed although short of `amount`, by no more than payments.underpaid_tolerance allowed.
    underpaid_within_tolerance: bool = False
    #: An open payment's options (its asset is then the price's currency); null otherwise.
    options: list[OptionOut] | None = None


class PaymentList(BaseModel):
    object: Literal["list"]
    data: list[PaymentOut]
    has_more: bool


class CreatePayout(_In):
    chain: Text = Field(..., max_length=64, description="chain name from GET /v1/chains")
    asset: Text = Field(..., max_length=32, description="native symbol or a configured token symbol")
    address: Text = Field(..., max_length=64, description="where to send: 0x and 40 hex digits (EIP-55 checked "
                          "when mixed-case)")
    amount: Text = Field(..., max_length=100, description='decimal string in asset units, e.g. "12.50"',
                         examples=["12.50"], json_schema_extra={"pattern": f"^{DECIMAL_PATTERN}$"})
    reference: Text | None = Field(None, max_length=200, description="yours: an invoice or withdrawal id")


class _SentOut(BaseModel):
    """What a payout and a refund both show (services/payouts/payout_view.py)."""

    id: str
    chain: str
    asset: str
    token_address: str | None
    address: str
    amount: str
    amount_base_units: str
    reference: str | None
    status: PayoutStatus
    failure_reason: str | None
    tx_hash: str | None
    created_at: str
    updated_at: str


class PayoutOut(_SentOut):
    object: Literal["payout"]
    batch_id: str | None


class CreatePayoutBatch(_In):
    items: list[CreatePayout] = Field(..., description="1 to 100 payouts: all are made, or none")


class PayoutBatchOut(BaseModel):
    id: str
    object: Literal["payout_batch"]
    payouts: list[PayoutOut]


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


class RefundOut(_SentOut):
    object: Literal["refund"]
    payment_id: str


class ListRefundsQuery(BaseModel):
    payment_id: QueryText | None = Field(None, max_length=64)
    status: PayoutStatus | None = None
    limit: int = Field(10, ge=1, le=100)
    starting_after: QueryText | None = Field(None, max_length=64)


class RefundList(BaseModel):
    object: Literal["list"]
    data: list[RefundOut]
    has_more: bool


class PayoutWalletOut(BaseModel):
    address: str | None = Field(description="null when the address deriver has no paths")
    balance: str | None = Field(description="read from the chain now; null when no node answered")


class BalanceOut(BaseModel):
    chain: str
    asset: str
    received: str
    awaiting_sweep: str
    in_sweep: str
    moved: str
    swept: str
    gas: str
    refunded: str
    paid_out: str
    payout_fees: str
    payout_wallet: PayoutWalletOut


class BalanceList(BaseModel):
    object: Literal["list"]
    data: list[BalanceOut]


class TransactionsReportQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    since: QueryText | None = Field(None, alias="from", max_length=40, description="ISO 8601 date or date-time, "
                                    "inclusive (UTC unless it says otherwise)")
    until: QueryText | None = Field(None, alias="to", max_length=40, description="ISO 8601, exclusive")


class ListPayoutsQuery(BaseModel):
    batch_id: QueryText | None = Field(None, max_length=64)
    status: PayoutStatus | None = None
    chain: QueryText | None = Field(None, max_length=64)
    limit: int = Field(10, ge=1, le=100)
    starting_after: QueryText | None = Field(None, max_length=64)


class PayoutList(BaseModel):
    object: Literal["list"]
    data: list[PayoutOut]
    has_more: bool


class AssetOut(BaseModel):
    symbol: str
    decimals: int
    token_address: str | None


class ChainOut(BaseModel):
    name: str
    chain_id: int
    adapter: str
    confirmations: int | Literal["finalized"]
    assets: list[AssetOut]
    head_block: int | None


class ChainList(BaseModel):
    object: Literal["list"]
    data: list[ChainOut]


EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class CreateWebhookEndpoint(_In):
    url: Text = Field(max_length=2000, description="absolute http(s) URL",
                      json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"})
    events: list[EventType] | None = None


class WebhookEndpointOut(BaseModel):
    id: str
    object: Literal["webhook_endpoint"]
    url: str
    events: list[str]
    status: EndpointStatus
    created_at: str
    secret: str | None = Field(None, description="whsec_...; returned only when created")


class WebhookEndpointList(BaseModel):
    object: Literal["list"]
    data: list[WebhookEndpointOut]


class DeletedOut(BaseModel):
    id: str
    deleted: bool


class AttemptOut(BaseModel):
    attempt: int
    endpoint_id: str
    status_code: int | None
    latency_ms: int | None
    error: str | None
    created_at: str


class EventOut(BaseModel):
    id: str
    object: Literal["event"]
    type: str
    payment_id: str | None
    created_at: str
    data: dict
    attempts: list[AttemptOut]


class EventList(BaseModel):
    object: Literal["list"]
    data: list[EventOut]
    has_more: bool


class ListEventsQuery(BaseModel):
    payment_id: QueryText | None = Field(None, max_length=64)
    type: EventType | None = None
    limit: int = Field(20, ge=1, le=100)


class RedeliverOut(BaseModel):
    event_id: str
    deliveries: int


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description="`database`, `broker`, `chain:<name>` → `ok` or `down: <reason>` "
                                               "(an exception type or a scanner stall; never a URL, host or address)")
    warnings: dict[str, str] = Field(default_factory=dict, description="degraded but serving, e.g. a low gas tank "
                                                                       "(named without its address or balance)")
    scan_lag_s: dict[str, float | None] = Field(
        default_factory=dict, description="per chain: wall clock minus the last scanned block's timestamp, in "
                                          "seconds (null before the first scan); past the threshold with unscanned "
                                          "blocks, the chain's check is down")

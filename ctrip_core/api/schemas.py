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

from ctrip_core.db.models import PaymentStatus
from ctrip_core.money import DECIMAL_PATTERN
from ctrip_core.services.events import EVENT_TYPES


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


class CreatePayment(_In):
    chain: Text = Field(max_length=64, description="chain name from GET /v1/chains")
    asset: Text = Field(max_length=32, description="native symbol or a configured token symbol")
    amount: Text = Field(max_length=100, description='decimal string in asset units, e.g. "12.50"',
                         examples=["12.50"], json_schema_extra={"pattern": f"^{DECIMAL_PATTERN}$"})
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
    state: Literal["seen", "confirmed", "orphaned"]
    late: bool
    source: Literal["transaction", "log", "trace", "reconcile"]

    model_config = ConfigDict(populate_by_name=True)


class SweepOut(BaseModel):
    state: Literal["none", "pending", "submitted", "done", "failed"]
    tx_hashes: list[str]


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
    sweep: SweepOut


class PaymentList(BaseModel):
    object: Literal["list"]
    data: list[PaymentOut]
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
    status: Literal["enabled", "disabled"]
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
    checks: dict[str, str]
    warnings: dict[str, str] = Field(default_factory=dict, description="degraded but serving, e.g. a low gas tank")
    scan_lag_s: dict[str, float | None] = Field(
        default_factory=dict, description="per chain: wall clock minus the last scanned block's timestamp, in "
                                          "seconds (null before the first scan); past the threshold with unscanned "
                                          "blocks, the chain's check is down")

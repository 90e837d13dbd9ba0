"""The rule for a free-text field a merchant gives: a payment's `order_id`, a payout's or refund's
`reference`. At most `MAX_CHARS` characters (their columns' width) and no NUL (PostgreSQL refuses
it in text), or InvalidField naming the field. The API's schemas say the same to /openapi.json;
this is what the use-cases hold every caller to, the dashboard's forms included."""

from __future__ import annotations

from ctrip_core.services.errors import InvalidField

MAX_CHARS = 200


def checked_text(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField("must be a string", field)
    if len(value) > MAX_CHARS:
        raise InvalidField(f"at most {MAX_CHARS} characters, not {len(value)}", field)
    if "\x00" in value:
        raise InvalidField("cannot hold NUL characters", field)
    return value

"""Which events become emails, and the emails themselves: plain text, one recipient each.

Merchant-provided text (`order_id`, `reference`, `metadata` is never shown) is attacker-controllable:
it is cut short and every control character (CR and LF included) is replaced before it reaches a
header or the body, and the message is an `email.message.EmailMessage`, whose policy refuses a
header value with a line break anyway. Each email's Message-ID is derived from the event id and the
recipient, so the same email sent again (at-least-once) is recognisable as the same one.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from ctrip_core.notifiers import EventEnvelope

#: What is not a safe id character in a Message-ID's left part.
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")


def clean(value: Any, limit: int = 120) -> str:
    """`value` as one line of at most `limit` characters, every control or format character
    (CR, LF, tab, bidi overrides) shown as U+FFFD."""
    text = "" if value is None else str(value)
    text = "".join("\ufffd" if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def message_id(event_id: str, recipient: str, domain: str) -> str:
    """`<event id.hash of the recipient@domain>`: the same for the same event and recipient, always."""
    digest = hashlib.sha256(recipient.strip().lower().encode()).hexdigest()[:20]
    return f"<{_UNSAFE_ID.sub('_', event_id)}.{digest}@{_UNSAFE_ID.sub('_', domain)}>"


def _payment(data: dict, headline: str) -> tuple[str, list[str]]:
    subject = f"Payment {clean(data.get('id'), 40)} {headline}"
    if data.get("order_id"):
        subject += f" (order {clean(data['order_id'], 60)})"
    lines = [f"Payment:   {clean(data.get('id'), 40)}",
             f"Order:     {clean(data.get('order_id'), 200) or '-'}",
             f"Status:    {clean(data.get('status'), 24)}",
             f"Chain:     {clean(data.get('chain'), 40)}",
             f"Amount:    {clean(data.get('amount'), 80)} {clean(data.get('asset'), 16)}",
             f"Received:  {clean(data.get('amount_received'), 80)} {clean(data.get('asset'), 16)}",
             f"Address:   {clean(data.get('address'), 64)}"]
    return subject, lines


def _confirmed(data: dict) -> tuple[str, list[str]]:
    subject, lines = _payment(data, f"confirmed: {clean(data.get('amount_received') or data.get('amount'), 80)} "
                                    f"{clean(data.get('asset'), 16)}")
    return subject, ["The payment is confirmed: you can fulfil the order.", "", *lines]


def _underpaid(data: dict) -> tuple[str, list[str]]:
    asset = clean(data.get("asset"), 16)
    subject, lines = _payment(data, f"underpaid: {clean(data.get('amount_received'), 80)} of "
                                    f"{clean(data.get('amount'), 80)} {asset}")
    return subject, ["The payment expired with only part of the amount received (all of it confirmed).", "", *lines]


def _late(data: dict) -> tuple[str, list[str]]:
    subject, lines = _payment(data, f"received a late transfer ({clean(data.get('status'), 24)})")
    return subject, ["A transfer arrived after the payment was final. Its funds are swept like any "
                     "other; decide whether to refund or credit the customer.", "", *lines]


def _payout_awaiting_approval(data: dict) -> tuple[str, list[str]] | None:
    if data.get("status") != "awaiting_approval":
        return None
    amount = f"{clean(data.get('amount'), 80)} {clean(data.get('asset'), 16)}"
    return (f"Payout {clean(data.get('id'), 40)} awaiting approval: {amount}",
            ["A payout is above the approval threshold and waits for an operator: "
             f"ctrip payouts approve {clean(data.get('id'), 40)}", "",
             f"Payout:    {clean(data.get('id'), 40)}",
             f"Reference: {clean(data.get('reference'), 200) or '-'}",
             f"Chain:     {clean(data.get('chain'), 40)}",
             f"Amount:    {amount}",
             f"To:        {clean(data.get('address'), 64)}"])


def _endpoint_disabled(data: dict) -> tuple[str, list[str]]:
    return (f"Webhook endpoint {clean(data.get('id'), 40)} disabled after failures",
            ["A webhook endpoint failed every delivery for too long and was disabled: nothing more is sent "
             "to it. Create a new endpoint, then replay missed events with POST /v1/events/{id}/redeliver.", "",
             f"Endpoint:      {clean(data.get('id'), 40)}",
             f"URL:           {clean(data.get('url'), 300)}",
             f"Failing since: {clean(data.get('failing_since'), 40)}",
             f"Disabled at:   {clean(data.get('disabled_at'), 40)}"])


#: Event type → (its data → (subject, body lines), or None when this one is not worth an email).
KINDS: dict[str, Callable[[dict], tuple[str, list[str]] | None]] = {
    "payment.confirmed": _confirmed,
    "payment.underpaid": _underpaid,
    "payment.late": _late,
    "payout.created": _payout_awaiting_approval,
    "webhook_endpoint.disabled": _endpoint_disabled,
}


def content(event: EventEnvelope) -> tuple[str, list[str]] | None:
    """(subject, body lines) of the email `event` is worth, or None."""
    kind = KINDS.get(event.type)
    data = event.payload.get("data")
    return kind(data) if kind is not None and isinstance(data, dict) else None


def compose(event: EventEnvelope, subject: str, lines: list[str], *, sender: str, recipient: str,
            domain: str) -> EmailMessage:
    """One email of `event` to `recipient`."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = format_datetime(_when(event.created_at))
    msg["Message-ID"] = message_id(event.id, recipient, domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to it
    msg["X-Ctrip-Event"] = f"{clean(event.type, 64)} {clean(event.id, 64)}"
    footer = ["", "--", f"cTrip event {clean(event.id, 64)} ({clean(event.type, 64)}, {clean(event.created_at, 40)}).",
              "You get this email as a dashboard user of the merchant."]
    msg.set_content("\n".join([*lines, *footer]) + "\n")
    return msg


def _when(created_at: str) -> datetime:
    try:
        return datetime.fromisoformat(created_at.replace("Z", "+00:00")).astimezone(UTC)
    except (AttributeError, ValueError):
        return datetime.now(UTC)

"""What the hosted checkout shows a payer: a whitelist of the payment object, never all of it.

The payment object (`services.payments.payment_view.render_one`) carries the merchant's metadata, transfers
and sweeps; a page anyone holding the link can open must show only what a payer needs: amount and
asset, chain, deposit address, EIP-681 URI, order id, merchant display name, status, confirmations,
time left. Everything here is built field by field from that object, so a new field added to the
payment object never reaches the public page by accident.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import segno
from pydantic import BaseModel, ConfigDict

from ctrip_core.db.models import PAYMENT_STATUSES, PaymentStatus
from ctrip_core.ids import has_id_shape
from ctrip_core.money import format_amount
from ctrip_core.pricing.currencies import MINOR_UNITS
from ctrip_core.pricing.quotes import quote_base_units
from ctrip_core.services.errors import InvalidField
from ctrip_core.services.payments.payment_state import FINAL_STATUSES
from ctrip_core.services.payments.payment_view import eip681_uri, iso
from ctrip_core.services.urls import check_http_url

#: "pay_" and base62 (`ids.new_id`); anything else is answered 404 before the database is asked.
#: Friendly names of well-known chain ids; other chains show their chains.yaml name.
KNOWN_CHAINS = {1: "Ethereum", 10: "OP Mainnet", 56: "BNB Smart Chain", 97: "BNB Smart Chain Testnet",
                137: "Polygon", 8453: "Base", 42161: "Arbitrum One", 17000: "Holesky",
                11155111: "Sepolia", 31337: "Anvil (local devnet)"}


def valid_payment_id(value: str) -> bool:
    return has_id_shape(value, "pay")


class OptionDue(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    amount_due: str
    """What is still to pay in this option, a decimal string."""
    payment_uri: str
    """EIP-681 URI of what is still due."""
    qr_svg: str
    """That URI as a QR code, an SVG document."""


class CheckoutStatus(BaseModel):
    """The live part of the checkout: what `/pay/{id}/status` answers and `/pay/{id}/events` streams."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """The payment's id."""
    status: PaymentStatus
    """The payment's status."""
    stage: Literal[(*PAYMENT_STATUSES, "partly_paid")]  # type: ignore[valid-type]  # partly_paid: detected, some due
    """What the page shows: the status, except "partly_paid" for a detected payment with more still due (no
    confirmation bar then: the payment cannot confirm until the rest arrives)."""
    final: bool
    """The status is final: the page stops listening."""
    asset: str
    """The native coin's symbol or a configured token's symbol."""
    amount: str
    """Decimal string in the asset's units."""
    amount_received: str
    """What arrived so far, a decimal string."""
    amount_due: str
    """What is still to pay, a decimal string."""
    amount_due_base_units: str
    """Base units still due (integer string): what the browser-wallet button sends."""
    payment_uri: str
    """EIP-681 URI of what is still due (the whole amount until something arrives), and its QR code as inline SVG: a
    payer who re-scans after a partial payment is asked for the rest, not all."""
    qr_svg: str
    """The payment URI as a QR code, an SVG document."""
    confirmations: int
    """The confirmations of the least confirmed counted transfer: what the payer is waiting on."""
    confirmations_required: int | Literal["finalized"]
    """Blocks a transfer needs, or `finalized`."""
    expires_at: str
    """When an unpaid payment expires (UTC, ISO 8601)."""
    server_time: str
    """The server's clock now, so the page's countdown does not trust the payer's clock."""
    redirect_url: str | None
    """Where the merchant wants the payer sent back; only once the payment is confirmed."""
    options: list[OptionDue] | None = None
    """An open payment's options, in order: what is still due in each one's asset, its URI and QR code."""


def chain_label(chain: str, chain_id: int) -> str:
    return KNOWN_CHAINS.get(chain_id, chain)


def _confirmations(payment: dict[str, Any]) -> int:
    """The confirmations of the least confirmed counted transfer (what the payer is waiting on)."""
    required = payment["confirmations_required"]
    if payment["status"] == "confirmed":
        return required if isinstance(required, int) else 1
    live = [t for t in payment["transfers"] if t["state"] != "orphaned" and not t.get("late")]
    if not live:
        return 0
    waiting = [t["confirmations"] for t in live if t["state"] == "seen"]
    count = min(waiting) if waiting else max(t["confirmations"] for t in live)
    return min(count, required) if isinstance(required, int) and required > 0 else count


def safe_redirect(url: str | None) -> str | None:
    """Only URLs that pass the API's rule are followed (services/urls.py; this page does not trust the row)."""
    if not url or len(url) > 2000:
        return None
    try:
        return check_http_url(url, "redirect_url")
    except InvalidField:
        return None


def public_status(payment: dict[str, Any], now: datetime | None = None) -> CheckoutStatus:
    """The live status of a rendered payment object (`render_one`), whitelisted."""
    now = now or datetime.now(UTC)
    decimals = payment["decimals"]
    due = max(0, int(payment["amount_base_units"]) - int(payment["amount_received_base_units"]))
    if payment["status"] == "confirmed":
        due = 0
    options = None
    if payment.get("options"):
        options = [OptionDue(amount_due=o["amount_due"], payment_uri=o["payment_uri"], qr_svg=o["qr_svg"])
                   for o in option_dues(payment, due)]
    return CheckoutStatus(
        id=payment["id"], status=payment["status"],
        stage="partly_paid" if payment["status"] == "detected" and due > 0 else payment["status"], final=payment["status"] in FINAL_STATUSES,
        asset=payment["asset"], amount=payment["amount"], amount_received=payment["amount_received"],
        amount_due=format_amount(due, decimals), amount_due_base_units=str(due),
        payment_uri=(uri := due_uri(payment, due)), qr_svg=qr_svg(uri),
        confirmations=_confirmations(payment), confirmations_required=payment["confirmations_required"],
        expires_at=payment["expires_at"], server_time=iso(now),
        redirect_url=safe_redirect(payment.get("redirect_url")) if payment["status"] == "confirmed" else None,
        options=options)


def due_uri(payment: dict[str, Any], due: int) -> str:
    """The EIP-681 URI a payer's wallet should be given now: the amount still due, once any arrived
    (an open payment's: its first option's, in that option's asset; never the currency's units)."""
    if payment.get("options"):
        return option_dues(payment, due)[0]["payment_uri"]
    if due == 0 or due == int(payment["amount_base_units"]):
        return payment["payment_uri"]
    return eip681_uri(payment["address"], payment["chain_id"], payment["token_address"], due)


def option_dues(payment: dict[str, Any], due: int) -> list[dict[str, Any]]:
    """An open payment's options with what is still due in each one's asset: `due` (the price's minor
    units) at the option's locked rate, rounded up (paying it in full always settles the rest)."""
    minor = payment["decimals"]
    dues = []
    for option in payment["options"]:
        units = (quote_base_units(Decimal(due).scaleb(-minor), Decimal(option["rate"]["value"]), option["decimals"])
                 if due > 0 else 0)
        uri = (eip681_uri(payment["address"], option["chain_id"], option["token_address"], units) if units
               else option["payment_uri"])
        dues.append({"asset": option["asset"], "chain_label": chain_label(option["chain"], option["chain_id"]),
                     "chain_id": option["chain_id"], "token_address": option["token_address"],
                     "amount_due": format_amount(units, option["decimals"]) if units else option["amount"],
                     "payment_uri": uri, "qr_svg": qr_svg(uri)})
    return dues


def qr_svg(data: str) -> str:
    """An inline SVG QR code of `data` (no width/height: sized by CSS; white quiet zone for scanning)."""
    code = segno.make(data, error="m", micro=False)
    return code.svg_inline(scale=1, border=4, dark="#000", light="#fff", omitsize=True,
                           svgclass="qr-code", lineclass=None)


def time_left(expires_at: str, now: datetime | None = None) -> str:
    """"14:59", "2 h 05 min", "3 d 4 h"; "0:00" once past (the page says expiring until the status moves)."""
    now = now or datetime.now(UTC)
    moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    return format_seconds(int((moment - now).total_seconds()))


def format_seconds(seconds: int) -> str:
    """The same format checkout.js uses for its countdown."""
    seconds = max(0, seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes}:{secs:02d}"


def address_groups(address: str) -> list[str]:
    """"0xAbCd", then groups of four: easier to compare by eye; copied or selected, they read as one string."""
    return [address[:6]] + [address[i:i + 4] for i in range(6, len(address), 4)]


def page_view(payment: dict[str, Any], merchant_name: str | None, now: datetime | None = None) -> dict[str, Any]:
    """Everything the page template shows, and nothing else."""
    now = now or datetime.now(UTC)
    status = public_status(payment, now)
    required = payment["confirmations_required"]
    return {
        "id": payment["id"], "merchant_name": (merchant_name or "").strip() or "Merchant",
        "order_id": payment["order_id"], "chain": payment["chain"],
        "chain_label": chain_label(payment["chain"], payment["chain_id"]), "chain_id": payment["chain_id"],
        "asset": payment["asset"], "token_address": payment["token_address"], "address": payment["address"],
        "address_groups": address_groups(payment["address"]),
        "payment_uri": status.payment_uri, "qr_svg": status.qr_svg,
        "time_left": time_left(payment["expires_at"], now),
        "finalized_rule": required == "finalized", "status": status,
        "price": price_line(payment),
        "options": option_dues(payment, int(status.amount_due_base_units)) if payment.get("options") else None,
    }


def price_line(payment: dict[str, Any]) -> dict[str, str] | None:
    """A priced payment's price and locked rate as the page shows them ("25.00 USD", "3000.00 USD"), else None."""
    price, rate = payment.get("price"), payment.get("rate")
    if not price or not rate:  # an open payment's rates are its options'
        return None
    minor = MINOR_UNITS.get(price["currency"], 2)
    return {"price": f"{Decimal(price['amount']):.{minor}f} {price['currency']}",
            "rate": f"{rate['value']} {rate['currency']}", "currency": price["currency"]}

"""A payment link's public URL, `GET /pay/links/{link_id}`: each visit makes a new payment of the
link (services/payments/payment_links.py) and sends the browser to its hosted checkout page
(303 to `/pay/{id}`).

Unauthenticated, under /pay, so the checkout's strict Content-Security-Policy and its HTML 404 for
an unrouted /pay path apply (api/blueprints/checkout.py). An unknown or malformed id is the
checkout's 404 page; a deactivated link a 410 page saying so; a priced link whose rate cannot be
had now a 503 page with Retry-After. A HEAD makes no payment (link checkers and previews send it).

Every visit derives a deposit address and inserts a payment, so visits are rate limited per client
address with a bucket of their own (`api.payment_link_rate_*`, far tighter than the checkout's
page loads; 429 with Retry-After), IPv6 clients per /64 (one host commonly holds a whole /64).
What that leaves (many addresses, previews that GET) is in docs/checkout.md.
"""

from __future__ import annotations

import ipaddress
import logging

from quart import Blueprint, Response, redirect, render_template, request, url_for
from quart_schema import security_scheme_blueprint

from ctrip_core.api.blueprints.checkout import asset_url, not_found, text_responses
from ctrip_core.api.client_address import request_client
from ctrip_core.api.state import app_state
from ctrip_core.services.errors import InvalidField, NotFound, RateUnavailableError
from ctrip_core.services.payments.payment_links import InactiveLink, open_link

log = logging.getLogger(__name__)

blueprint = Blueprint("payment_links", __name__)  # templates: the app's, api/templates/checkout/
security_scheme_blueprint(blueprint, [])  # unauthenticated, like the checkout

#: Seconds a visitor is asked to wait when a priced link's rate cannot be had.
RATE_RETRY_S = 30


def client_bucket(address: str) -> str:
    """The rate-limit bucket of a client address: itself, or for IPv6 its /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a Unix socket peer): as it is
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


@blueprint.before_request
async def limit_per_client() -> Response | None:
    settings = app_state().runtime.settings.api
    decision = await app_state().limiter.hit(f"plink:{client_bucket(request_client())}",
                                             rate_per_s=settings.payment_link_rate_per_s,
                                             burst=settings.payment_link_rate_burst)
    if decision.allowed:
        return None
    retry = str(max(1, int(decision.retry_after_s + 0.999)))
    return Response("Too many requests\n", status=429, headers={"Retry-After": retry},
                    content_type="text/plain; charset=utf-8")


def _opened_as_a_page() -> bool:
    """The browser navigates to the link as a document, as the browser says (`Sec-Fetch-Dest`,
    `Sec-Fetch-Mode`): another site's `<img>` or `<iframe>` pointing at it makes no payment in
    each of its readers' browsers. Without those headers (a script, an old browser) it counts."""
    dest, mode = request.headers.get("Sec-Fetch-Dest"), request.headers.get("Sec-Fetch-Mode")
    return dest in (None, "document") and mode in (None, "navigate")


async def _unavailable(status: int, page_id: str, heading: str, message: str,
                       headers: dict[str, str] | None = None) -> Response:
    body = await render_template("checkout/link_unavailable.html", asset_url=asset_url, page_id=page_id,
                                 heading=heading, message=message)
    return Response(body, status=status, headers=headers or {}, content_type="text/html; charset=utf-8")


@blueprint.get("/pay/links/<link_id>")
@text_responses({
    303: ("text/html", "A new payment of the link was made: `Location` is its checkout page, /pay/{id}"),
    403: ("text/html", "Fetched as part of another page (Sec-Fetch-Dest not document): no payment made"),
    404: ("text/html", "No such payment link (unknown or malformed id): a plain HTML page"),
    410: ("text/html", "The merchant deactivated this payment link: a plain HTML page"),
    503: ("text/html", "The link's price cannot be quoted now (see Retry-After), or the link cannot take "
                       "payments now: a plain HTML page")})
async def payment_link(link_id: str):
    """A payment link: each visit makes a new payment of it and redirects to its checkout page."""
    if request.method == "HEAD":
        return Response(b"", content_type="text/html; charset=utf-8")
    if not _opened_as_a_page():
        return await _unavailable(403, "link-embedded", "Open this link in your browser",
                                  "A payment is made only when this link is opened as a page, not when another "
                                  "page embeds it.")
    runtime = app_state().runtime
    try:
        made = await open_link(runtime, link_id)
    except NotFound:
        return await not_found()
    except InactiveLink:
        return await _unavailable(410, "link-inactive", "Payment link no longer active",
                                  "The merchant no longer takes payments through this link. Ask the merchant "
                                  "for a new one.")
    except RateUnavailableError:
        return await _unavailable(503, "link-unavailable", "Price not available right now",
                                  "The exchange rate for this price cannot be had right now. Try again in a "
                                  "minute.", {"Retry-After": str(RATE_RETRY_S)})
    except InvalidField as exc:  # the link's request no longer holds (a chain removed, expiry bounds changed)
        log.warning("payment link %s cannot make a payment: %s", link_id, exc.message)
        return await _unavailable(503, "link-unavailable", "Payment link not available",
                                  "This link cannot take payments right now. Ask the merchant.")
    return redirect(url_for("checkout.page", id=made.id), 303)

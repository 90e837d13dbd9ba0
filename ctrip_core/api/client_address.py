"""The client's address behind reverse proxies: `X-Forwarded-For`, believed only from a trusted peer.

The TCP peer is the client unless it lies inside `api.trusted_proxies` (default: none, so the header
is never read). From a trusted peer, each proxy has appended the address of its own peer to
`X-Forwarded-For`, so the header is walked from the right: hops inside the trusted networks are
proxies, and the first one outside them is the client. Anything left of it was written by the
client and is never read. A hop the walk reaches that is not an IP address (`unknown`, garbage, a
hostname) makes the whole header ignored: the client is then the peer. Empty list elements are
skipped, as HTTP list syntax allows. Used by the checkout's per-client rate limit and the access log.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from quart import g, request

from ctrip_core.api.state import app_state

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


def _address(text: str) -> IPAddress | None:
    """An IP address, with an optional port (`v4:port`, `[v6]:port`); IPv4-mapped IPv6 as IPv4."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def _trusted(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[IPNetwork]) -> str:
    """The client of a request from `peer` carrying these `X-Forwarded-For` values (in header order)."""
    nearest = _address(peer or "")
    if nearest is None:
        return peer or UNKNOWN  # not an IP peer (a Unix socket): nothing to walk from
    if not _trusted(nearest, trusted):
        return str(nearest)
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = nearest
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return str(nearest)  # a malformed header is ignored, not half-believed
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)


def request_client() -> str:
    """This request's client address (computed once per request)."""
    cached = getattr(g, "client_address", None)
    if cached is None:
        trusted = app_state().runtime.settings.api.trusted_proxies
        cached = client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"), trusted)
        g.client_address = cached
    return cached

"""SSRF guard: webhook URLs must not reach loopback, private, link-local or metadata addresses.

Checked when an endpoint is created and again before every delivery (DNS answers can change).
`webhooks.allow_private_targets` lifts it (on in development and testing only).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


class UnsafeTarget(ValueError):
    """The URL resolves to an address a webhook must not reach."""


def _unsafe(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or not ip.is_global)


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeTarget(f"host {host} does not resolve ({exc.strerror})") from None
    return sorted({info[4][0] for info in infos})


async def check_target(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeTarget unless every address `url`'s host resolves to is public."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeTarget("URL has no host")
    if allow_private:
        return
    if host in METADATA_HOSTS or host == "localhost" or host.endswith(".localhost"):
        raise UnsafeTarget(f"host {host} is not a public address")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in await _resolve(host, port):
        if _unsafe(ipaddress.ip_address(address.split("%")[0])):
            raise UnsafeTarget(f"host {host} resolves to {address}, which is not a public address")

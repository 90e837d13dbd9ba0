"""SSRF guard: webhook URLs must not reach loopback, private, link-local, metadata or any other
special-purpose address (IANA IPv4 and IPv6 special-purpose registries).

Checked when an endpoint is created, and at every new connection a delivery opens: the host is
resolved once, every address it resolves to is checked, and the connection dials exactly a checked
address (`PinnedBackend`), so DNS that answers differently the second time (rebinding) cannot steer
a delivery inside. TLS SNI and the Host header keep the host name. `webhooks.allow_private_targets`
lifts the address check (on in development and testing only).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpcore

METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}

#: Special-purpose blocks not meant for a webhook receiver, beyond what `ipaddress` flags itself;
#: the IPv6 ones that embed an IPv4 address are judged by their embedded address as well.
_BLOCKED = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24",
    "192.88.99.0/24", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
    "::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
    "2001::/32", "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10",
    "fec0::/10", "ff00::/8", "::/96")]

Resolver = Callable[[str, int], Awaitable[list[str]]]


class UnsafeTarget(ValueError):
    """The URL resolves to an address a webhook must not reach."""


def _unsafe(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return _unsafe(ip.ipv4_mapped)  # ::ffff:a.b.c.d is a.b.c.d
    if any(ip in net for net in _BLOCKED if net.version == ip.version):
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and _unsafe(embedded):
            return True
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or not ip.is_global)


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order, each once."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeTarget(f"host {host} does not resolve ({exc.strerror})") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


async def safe_addresses(host: str, port: int, *, allow_private: bool,
                         resolve: Resolver = system_resolve) -> list[str]:
    """Resolve `host` once; → its addresses, or UnsafeTarget if any is not public (unless allowed)."""
    host = host.rstrip(".").lower()
    if not host:
        raise UnsafeTarget("URL has no host")
    if not allow_private and (host in METADATA_HOSTS or host == "localhost" or host.endswith(".localhost")):
        raise UnsafeTarget(f"host {host} is not a public address")
    addresses = await resolve(host, port)
    if not addresses:
        raise UnsafeTarget(f"host {host} does not resolve")
    if not allow_private:
        for address in addresses:
            if _unsafe(ipaddress.ip_address(address.split("%")[0])):
                # which address is not told: the attempt log, which viewers read, would map internal DNS
                raise UnsafeTarget(f"host {host} resolves to an address that is not public")
    return addresses


async def check_target(url: str, *, allow_private: bool, resolve: Resolver = system_resolve) -> None:
    """Raise UnsafeTarget unless every address `url`'s host resolves to is public."""
    parts = urlsplit(url)
    if allow_private:
        if not parts.hostname:
            raise UnsafeTarget("URL has no host")
        return
    await safe_addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80),
                         allow_private=False, resolve=resolve)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that dials only addresses `safe_addresses` checked.

    httpcore asks it for a TCP stream to (host, port) and then starts TLS on that stream with the
    host name as SNI (and certificate check), while the request keeps its Host header: only the
    dialed address is pinned.
    """

    def __init__(self, *, allow_private: bool, resolve: Resolver = system_resolve,
                 inner: httpcore.AsyncNetworkBackend | None = None):
        self.allow_private = allow_private
        self.resolve = resolve
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = await safe_addresses(host, port, allow_private=self.allow_private, resolve=self.resolve)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise UnsafeTarget("webhooks are never sent over a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)

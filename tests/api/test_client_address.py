"""The client address behind reverse proxies: X-Forwarded-For only from a peer in api.trusted_proxies,
walked from the right to the first untrusted hop; used by the checkout's rate limit and the access log.
A header that cannot be read is ignored (the peer is the client), never a 500."""

from __future__ import annotations

import ipaddress
import json
import logging

import pytest

from ctrip_core.api import create_app
from ctrip_core.api.client_address import client_address
from ctrip_core.api.ratelimit import MemoryRateLimiter
from ctrip_core.config import ConfigError
from ctrip_core.logs import JsonFormatter
from ctrip_core.runtime import build_runtime

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),                     # untrusted peer: header ignored
    ("203.0.113.9", ["10.0.0.3"], "203.0.113.9"),                         # ... even naming a proxy
    ("10.0.0.2", [], "10.0.0.2"),                                          # trusted, no header: the proxy
    ("10.0.0.2", [""], "10.0.0.2"),                                        # an empty header: the proxy
    ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),                        # one proxy
    ("10.0.0.2", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),               # a forged left part is ignored
    ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.1.1.1"], "198.51.100.1"),     # a chain of two proxies
    ("10.0.0.2", ["6.6.6.6", "198.51.100.1, 10.1.1.1"], "198.51.100.1"),   # the header given twice
    ("10.0.0.2", ["10.9.9.9, 10.1.1.1"], "10.9.9.9"),                      # every hop trusted: the leftmost
    ("10.0.0.2", ["198.51.100.1,,"], "198.51.100.1"),                      # empty list elements skipped
    ("10.0.0.2", ["garbage, 198.51.100.1"], "198.51.100.1"),               # left of the client: never read
    ("10.0.0.2", ["198.51.100.1:4711"], "198.51.100.1"),                   # a port is dropped
    ("fd00::5", ["2001:db8::7"], "2001:db8::7"),                           # IPv6
    ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),                 # IPv4-mapped peer
    ("10.0.0.2", ["[2001:db8::7]:443"], "2001:db8::7"),
])
def test_the_rightmost_untrusted_hop_is_the_client(peer, forwarded, client):
    assert client_address(peer, forwarded, PROXIES) == client


@pytest.mark.parametrize("forwarded", [
    "garbage", "198.51.100.1, garbage", "unknown", "198.51.100.1, 10.1.1.1, not-an-ip", "300.1.1.1",
    "198.51.100.1 10.1.1.1", "[2001:db8::7", "::ffff:zz", "\x00", "é", "1" * 5000, ",".join(["x"] * 2000),
    "10.1.1.1, _", "_hidden", "198.51.100.1;for=1.2.3.4",
])
def test_a_malformed_header_is_ignored_and_the_peer_is_the_client(forwarded):
    assert client_address("10.0.0.2", [forwarded], PROXIES) == "10.0.0.2"


def test_without_trusted_proxies_the_header_is_never_believed():
    assert client_address("10.0.0.2", ["198.51.100.1"], []) == "10.0.0.2"


def test_a_peer_that_is_not_an_ip_address_is_the_client_as_given():
    assert client_address(None, ["198.51.100.1"], PROXIES) == "unknown"
    assert client_address("/run/ctrip.sock", ["198.51.100.1"], PROXIES) == "/run/ctrip.sock"


@pytest.mark.parametrize("value", [["10.0.0.0/33"], ["10.0.0.1/8"], ["proxy.internal"], "10.0.0.0/8"])
def test_a_bad_trusted_proxies_value_is_a_config_error_naming_the_key(settings_with, value):
    with pytest.raises(ConfigError) as err:
        settings_with(api={"trusted_proxies": value})
    assert str(err.value).startswith("api.trusted_proxies"), err.value


def test_trusted_proxies_take_addresses_and_networks(settings_with):
    settings = settings_with(api={"trusted_proxies": ["10.0.0.0/8", "192.0.2.7", "fd00::/8"]})
    assert [str(n) for n in settings.api.trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8"]
    assert settings_with().api.trusted_proxies == []


@pytest.fixture
async def behind_proxy(settings_with):
    runtime = build_runtime(settings_with(api={
        "checkout_rate_limit_per_s": 0.01, "checkout_rate_limit_burst": 2, "trusted_proxies": ["10.0.0.0/8"]}),
        "api")
    yield create_app(runtime, limiter=MemoryRateLimiter(100, 100))
    await runtime.close()


def via(peer: str, forwarded: str | None = None) -> dict:
    return {"scope_base": {"client": (peer, 40000)},
            "headers": {"X-Forwarded-For": forwarded} if forwarded is not None else {}}


async def test_checkout_limits_each_client_behind_a_trusted_proxy(behind_proxy):
    client = behind_proxy.test_client()
    first = [(await client.get("/pay/pay_missing", **via("10.0.0.2", "198.51.100.1"))).status_code for _ in range(3)]
    assert first == [404, 404, 429], first
    # Another payer through the same proxy has its own bucket ...
    assert (await client.get("/pay/pay_missing", **via("10.0.0.2", "198.51.100.2"))).status_code == 404
    # ... and a client forging the header from outside is limited by its own address, whatever it claims.
    forged = [(await client.get("/pay/pay_missing", **via("203.0.113.5", f"198.51.100.{n}"))).status_code
              for n in range(10, 13)]
    assert forged == [404, 404, 429], forged


async def test_a_malformed_header_through_the_app_is_never_a_500(behind_proxy):
    client = behind_proxy.test_client()
    statuses = [(await client.get("/pay/pay_missing", **via("10.0.0.3", value))).status_code
                for value in ("garbage", "198.51.100.1, \x7f", "[::1", "1" * 3000)]
    # Each is ignored, so all four are the proxy's own address and share its bucket (burst 2) ...
    assert statuses == [404, 404, 429, 429], statuses
    # ... while a well-formed header still gives a client its own.
    assert (await client.get("/pay/pay_missing", **via("10.0.0.3", "198.51.100.77"))).status_code == 404


async def test_the_access_log_names_the_client(behind_proxy, caplog):
    client = behind_proxy.test_client()
    with caplog.at_level(logging.INFO, logger="ctrip.access"):
        await client.get("/health", **via("10.0.0.2", "6.6.6.6, 198.51.100.1"))
        await client.get("/health", **via("203.0.113.5", "198.51.100.1"))
        await client.get("/health", **via("10.0.0.2", "198.51.100.1, garbage"))
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "ctrip.access"]
    assert [line["client"] for line in lines] == ["198.51.100.1", "203.0.113.5", "10.0.0.2"], lines

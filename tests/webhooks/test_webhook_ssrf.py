"""SSRF: with `webhooks.allow_private_targets` false, private, loopback, link-local and metadata
targets are refused when an endpoint is created (422 naming `url`) and again at delivery time.
"""

from __future__ import annotations

import socket

import pytest
import pytest_asyncio

from testbed import new_merchant
from ctrip_core.services.webhooks.ssrf import UnsafeTarget, _unsafe, safe_addresses
from ctrip_core.services.webhooks.transport import webhook_client
from webhooks_support import (add_endpoint, attempts_of, db_url, deliveries_of, emit, hooks, http,  # noqa: F401
                              make_due, new_payment, one_round, quiet_endpoints_after, rt, runtimes)

REFUSED = [
    "http://127.0.0.1", "http://localhost", "http://169.254.169.254", "http://10.0.0.1", "http://[::1]",
    # the same places spelled otherwise, and their neighbours
    "http://127.0.0.1:8545/hooks", "http://LOCALHOST./x", "http://api.localhost/x", "http://0.0.0.0",
    "http://[::ffff:127.0.0.1]/x", "http://[::]/x", "http://2130706433/x", "http://0x7f000001/x", "http://127.1/x",
    "http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/computeMetadata/v1/",
    "http://192.168.1.10:8080/x", "http://172.16.0.1/x", "http://100.64.0.1/x", "http://[fd00::1]/x",
    "http://[fe80::1]/x", "http://224.0.0.1/x", "https://10.1.2.3/x",
]


@pytest.fixture(scope="module")
def strict(runtimes):
    return runtimes(webhooks={"allow_private_targets": False})


@pytest_asyncio.fixture
async def strict_http():
    """The delivery client of a production worker (private targets refused)."""
    async with webhook_client(allow_private=False) as client:
        yield client


@pytest_asyncio.fixture(scope="module")
async def strict_api(strict):
    from ctrip_core.api import create_app

    merchant_id, key = await new_merchant(strict)
    return create_app(strict), {"id": merchant_id, "headers": {"Authorization": f"Bearer {key}"}}


@pytest.mark.parametrize("url", REFUSED)
async def test_creation_is_refused_for_a_private_target(strict_api, url):
    app, merchant = strict_api
    response = await app.test_client().post("/v1/webhook-endpoints", json={"url": url}, headers=merchant["headers"])
    assert response.status_code == 422, (url, await response.get_data())
    error = (await response.get_json())["error"]
    assert error["field"] == "url" and "public" in error["message"], error
    listed = await (await app.test_client().get("/v1/webhook-endpoints", headers=merchant["headers"])).get_json()
    assert all(e["url"] != url for e in listed["data"])


@pytest.mark.parametrize("url", ["http://93.184.215.14/hooks", "https://8.8.8.8:8443/ctrip"])
async def test_creation_accepts_a_public_address(strict_api, url):
    app, merchant = strict_api
    response = await app.test_client().post("/v1/webhook-endpoints", json={"url": url}, headers=merchant["headers"])
    assert response.status_code == 201, await response.get_data()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_delivery_to_a_private_target_is_refused_at_send_time(strict, strict_http, hooks, host):
    """An endpoint row that got in anyway (made while allowed, or DNS that changed since)."""
    receiver = hooks()
    merchant_id, _ = await new_merchant(strict)
    endpoint_id, _ = await add_endpoint(strict, merchant_id, receiver.url.replace("127.0.0.1", host))
    await emit(strict, await new_payment(strict, merchant_id), "payment.confirmed")

    await one_round(strict, strict_http)

    assert receiver.requests == []
    [(_, attempt)] = await attempts_of(strict, endpoint_id)
    assert attempt.error.startswith("refused") and attempt.status_code is None, attempt.error
    [delivery] = await deliveries_of(strict, endpoint_id)
    assert delivery.state == "pending" and delivery.attempts == 1  # retried: DNS answers change


async def test_the_same_endpoint_is_delivered_to_when_private_targets_are_allowed(rt, strict, strict_http, http,
                                                                                  hooks):
    """The refusal is the setting's doing, not the endpoint's: a permissive worker sends it."""
    receiver = hooks()
    merchant_id, _ = await new_merchant(rt)
    endpoint_id, _ = await add_endpoint(rt, merchant_id, receiver.url)
    await emit(rt, await new_payment(rt, merchant_id), "payment.confirmed")
    await one_round(strict, strict_http)
    assert receiver.requests == []
    await make_due(rt, endpoint_id)
    await one_round(rt, http)
    assert len(receiver.requests) == 1


MALFORMED = ["http://[", "https://[x]/", "http://example.com:99999/x", "http://example.com:0/x",
             "http://example.com/x\r\nX-Injected: 1", "http://example.com/\nx", "http://exa mple.com/"]


@pytest.mark.parametrize("url", MALFORMED)
async def test_a_malformed_url_is_a_422_naming_url(strict_api, url):
    """Issue 14: these answered 500 (urlsplit's or `.port`'s ValueError), or were stored (CR/LF, port 0)."""
    app, merchant = strict_api
    response = await app.test_client().post("/v1/webhook-endpoints", json={"url": url}, headers=merchant["headers"])
    assert response.status_code == 422, (url, await response.get_data())
    assert (await response.get_json())["error"]["field"] == "url"


async def test_dns_rebinding_cannot_steer_a_delivery_to_a_local_receiver(runtimes, strict_http, hooks, monkeypatch):
    """Issue 14, defect 8: the name answered a public address to the check and 127.0.0.1 to the HTTP
    client's own lookup. Now the host is resolved once per connection and that checked address dialed."""
    quick = runtimes(webhooks={"allow_private_targets": False, "timeout_s": 1.0})
    receiver = hooks()
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    answers = {"n": 0}
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if (host.decode() if isinstance(host, bytes) else host) != "rebind.example":  # anyio passes bytes
            return real(host, *args, **kwargs)
        answers["n"] += 1
        address = "93.184.215.14" if answers["n"] == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    merchant_id, _ = await new_merchant(quick)
    endpoint_id, _ = await add_endpoint(quick, merchant_id, receiver.url.replace("127.0.0.1", "rebind.example"))
    await emit(quick, await new_payment(quick, merchant_id), "payment.confirmed")

    await one_round(quick, strict_http)

    assert receiver.requests == []
    [(_, attempt)] = await attempts_of(quick, endpoint_id)
    assert attempt.status_code is None and attempt.error, attempt
    assert answers["n"] == 1  # one lookup: the address checked is the address dialed


SPECIAL = ["2002:7f00:1::1", "2002:c0a8:101::1", "fec0::1", "64:ff9b::7f00:1", "64:ff9b::808:808",
           "2001:0:4136:e378:8000:63bf:3fff:fdd2", "::ffff:10.0.0.1", "::ffff:0:7f00:1", "100::1", "2001:db8::1",
           "::127.0.0.1", "192.0.0.8", "198.18.0.1", "240.0.0.1", "255.255.255.255", "192.88.99.1"]


@pytest.mark.parametrize("address", SPECIAL)
def test_every_special_purpose_range_is_refused(address):
    import ipaddress

    assert _unsafe(ipaddress.ip_address(address)), address


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001::200e",
                                     "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    import ipaddress

    assert not _unsafe(ipaddress.ip_address(address))


async def test_one_unsafe_answer_among_public_ones_refuses_the_host():
    async def resolve(host, port):
        return ["8.8.8.8", "2002:7f00:1::1"]

    with pytest.raises(UnsafeTarget, match="mixed.example resolves to an address that is not public") as refused:
        await safe_addresses("mixed.example", 443, allow_private=False, resolve=resolve)
    assert "2002:7f00" not in str(refused.value)  # the attempt log, which viewers read, must not map internal DNS

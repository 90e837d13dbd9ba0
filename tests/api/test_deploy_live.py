"""A real `ctrip api` as deployed behind a TLS-terminating proxy: /metrics only on `metrics.port` (or to
`metrics.token`), the client address from X-Forwarded-For only when the peer is in
`api.trusted_proxies`, and the checkout's per-client limit and the access log use it.

The proxy is the test itself: its requests come from 127.0.0.1 (trusted) or, to play a client that
reaches the API directly, from another loopback address (127.x.y.z, untrusted); then real ones:
examples/deploy/nginx.conf and Caddyfile served by nginx and Caddy (each skipped where not
installed). Client addresses are drawn per run, so buckets left in Redis by an earlier run never
meet this one's.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from proxy_examples import CADDY, NGINX, caddy_command, caddy_env, caddy_local_copy, nginx_command, nginx_local_copy
from subprocesses import CTRIP, ctrip_env
from test_concurrency import LiveApi

from ctrip_core.devnet.anvil import free_port

TOKEN = "live-metrics-token-0123456789"


def _client_ip() -> str:
    return f"2001:db8:{random.randrange(1, 0xFFFF):x}::{random.randrange(1, 0xFFFF):x}"


def _untrusted_peer() -> str:
    return f"127.{random.randrange(1, 255)}.{random.randrange(1, 255)}.{random.randrange(2, 255)}"


@pytest.fixture(scope="module")
def behind_proxy(chains_file, tmp_path_factory):
    """`ctrip api` with a metrics port, 127.0.0.1 as its one trusted proxy and a small /pay burst."""
    metrics_port = free_port()
    api = LiveApi(chains_file, tmp_path_factory.mktemp("deploy_live") / "ctrip-api.log", workers=1, env={
        "CTRIP_METRICS__PORT": str(metrics_port), "CTRIP_API__TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "CTRIP_API__CHECKOUT_RATE_LIMIT_PER_S": "0.01", "CTRIP_API__CHECKOUT_RATE_LIMIT_BURST": "2"})
    api.metrics_url = f"http://127.0.0.1:{metrics_port}"
    api.start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def with_token(chains_file, tmp_path_factory):
    """`ctrip api` with a metrics token and no metrics port."""
    api = LiveApi(chains_file, tmp_path_factory.mktemp("deploy_token") / "ctrip-api.log", workers=1,
                  env={"CTRIP_METRICS__TOKEN": TOKEN})
    api.start()
    yield api
    api.stop()


def test_metrics_is_404_on_the_api_port_and_served_on_the_metrics_port(behind_proxy):
    hidden = httpx.get(behind_proxy.base_url + "/metrics", timeout=5)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    served = httpx.get(behind_proxy.metrics_url + "/metrics", timeout=5)
    assert served.status_code == 200 and "# TYPE ctrip_http_requests_total counter" in served.text
    assert 'route="/metrics",status="404"' in served.text  # the refused scrape is counted, not served


def test_the_metrics_port_serves_only_metrics_and_health(behind_proxy):
    assert httpx.get(behind_proxy.metrics_url + "/health", timeout=5).status_code == 200
    for path in ("/ready", "/v1/payments", "/openapi.json", "/pay/pay_missing"):
        assert httpx.get(behind_proxy.metrics_url + path, timeout=5).status_code == 404, path
    assert httpx.get(behind_proxy.base_url + "/openapi.json", timeout=5).status_code == 200


def test_the_metrics_port_listens_on_loopback_only_by_default(behind_proxy):
    port = int(behind_proxy.metrics_url.rsplit(":", 1)[1])
    with pytest.raises(httpx.ConnectError):  # 127.0.0.2 reaches a 0.0.0.0 listener, not a 127.0.0.1 one
        httpx.get(f"http://127.0.0.2:{port}/metrics", timeout=2)


def _pay(api: LiveApi, forwarded: str | None = None, peer: str = "127.0.0.1") -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    with httpx.Client(transport=httpx.HTTPTransport(local_address=peer), timeout=5) as http:
        return http.get(api.base_url + "/pay/pay_missing", headers=headers).status_code


def test_each_client_behind_the_trusted_proxy_has_its_own_checkout_bucket(behind_proxy):
    alice, bob = _client_ip(), _client_ip()
    assert [_pay(behind_proxy, f"6.6.6.6, {alice}") for _ in range(3)] == [404, 404, 429]
    assert _pay(behind_proxy, bob) == 404
    assert _pay(behind_proxy, f"{alice}, 127.0.0.1") == 429  # a second trusted hop: still alice


def test_a_client_reaching_the_api_directly_cannot_choose_its_address(behind_proxy):
    peer = _untrusted_peer()
    assert [_pay(behind_proxy, _client_ip(), peer=peer) for _ in range(3)] == [404, 404, 429]


def test_a_malformed_header_from_the_proxy_is_ignored_never_a_500(behind_proxy):
    for value in ("garbage", f"{_client_ip()}, not-an-ip", "[2001:db8::1", "1" * 4000, ",, ,"):
        assert _pay(behind_proxy, value) in (404, 429), value


def test_the_access_log_names_the_client_the_proxy_forwarded(behind_proxy):
    client, peer = _client_ip(), _untrusted_peer()
    with httpx.Client(timeout=5) as http:
        http.get(behind_proxy.base_url + "/health", headers={"X-Forwarded-For": f"6.6.6.6, {client}"})
    with httpx.Client(transport=httpx.HTTPTransport(local_address=peer), timeout=5) as http:
        http.get(behind_proxy.base_url + "/health", headers={"X-Forwarded-For": "6.6.6.7"})
    seen = [json.loads(line).get("client") for line in behind_proxy.log_tail(200_000).splitlines()
            if line.startswith("{") and '"request"' in line]
    assert client in seen and peer in seen, seen
    assert "6.6.6.6" not in seen and "6.6.6.7" not in seen, seen


def test_a_token_serves_metrics_on_the_api_port_to_its_bearer_only(with_token):
    url = with_token.base_url + "/metrics"
    bare = httpx.get(url, timeout=5)
    assert bare.status_code == 401 and bare.headers["WWW-Authenticate"] == "Bearer"
    assert httpx.get(url, headers={"Authorization": "Bearer wrong-token-0123456789"}, timeout=5).status_code == 401
    right = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert right.status_code == 200 and "ctrip_http_requests_total" in right.text
    assert TOKEN not in with_token.log_tail(200_000)


def _api_exit(env: dict[str, str], bind: str) -> subprocess.CompletedProcess:
    return subprocess.run([CTRIP, "api", "--bind", bind], env=env, capture_output=True, text=True, timeout=60)


def test_a_metrics_port_equal_to_the_api_port_exits_2_naming_the_key(migrated_pg_url, chains_file, redis_url):
    port = free_port()
    done = _api_exit(ctrip_env(migrated_pg_url, chains_file, redis_url, CTRIP_METRICS__PORT=str(port)),
                     f"127.0.0.1:{port}")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"ctrip: configuration error: metrics.port: {port} is also the API's port (127.0.0.1:{port}); choose another"]


def test_a_short_metrics_token_exits_2_without_echoing_it(migrated_pg_url, chains_file, redis_url):
    done = _api_exit(ctrip_env(migrated_pg_url, chains_file, redis_url, CTRIP_METRICS__TOKEN="tooShort42"),
                     f"127.0.0.1:{free_port()}")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "ctrip: configuration error: metrics.token: must be at least 16 characters"]
    assert "tooShort42" not in done.stderr + done.stdout


@contextmanager
def _serve(command: list[str], port: int, log_path: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    """Run a proxy in its own session until the caller is done; ready once `port` completes a TLS handshake.

    Accepting a connection is not enough: Caddy listens before its internal CA has issued the
    certificate for 127.0.0.1 and answers a handshake in that window with an `internal_error` alert.
    """
    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw, \
                        unverified.wrap_socket(raw):
                    break
            except OSError:  # ssl.SSLError included: no certificate yet
                assert time.monotonic() < deadline, f"{command[0]} did not complete a TLS handshake within 20 s: {log_path.read_text()}"
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module", params=["nginx", "caddy"])
def proxy(request, behind_proxy, tmp_path_factory):
    """The example configuration of nginx or Caddy serving TLS on 127.0.0.1 in front of `behind_proxy`."""
    tool = request.param
    if {"nginx": NGINX, "caddy": CADDY}[tool] is None:
        pytest.skip(f"{tool} is not installed (Debian: apt-get install {tool})")
    directory = tmp_path_factory.mktemp(tool)
    https_port, http_port = free_port(), free_port()
    ports = {"https_port": https_port, "http_port": http_port,
             "upstream_port": int(behind_proxy.base_url.rsplit(":", 1)[1])}
    if tool == "nginx":
        command, env = nginx_command(nginx_local_copy(directory, **ports), serve=True), None
    else:
        command, env = caddy_command(caddy_local_copy(directory, **ports), serve=True), caddy_env(directory)
    with _serve(command, https_port, directory / f"{tool}.out", env):
        yield SimpleNamespace(tool=tool, https=f"https://127.0.0.1:{https_port}", http=f"http://127.0.0.1:{http_port}")


def _through(proxy, path: str, peer: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=peer, verify=False)
    with httpx.Client(transport=transport, timeout=5) as http:
        return http.get(proxy.https + path, headers=headers or {})


def test_through_the_example_proxy_the_client_is_the_payer_and_never_what_it_claims(proxy, behind_proxy):
    payer = _untrusted_peer()  # the proxy's peer: an address outside api.trusted_proxies, as a payer's is
    statuses = [_through(proxy, "/pay/pay_missing", payer, {"X-Forwarded-For": _client_ip()}).status_code
                for _ in range(3)]
    assert statuses == [404, 404, 429], statuses  # one bucket: the forged addresses were not believed
    response = _through(proxy, "/health", payer, {"X-Forwarded-For": "6.6.6.6"})
    request_id = response.headers["X-Request-Id"]
    assert response.status_code == 200 and not request_id.startswith("req_")  # the proxy's id, passed on
    lines = [json.loads(line) for line in behind_proxy.log_tail(400_000).splitlines()
             if line.startswith("{") and '"request"' in line]
    (logged,) = [line for line in lines if line.get("request_id") == request_id]
    assert logged["client"] == payer, logged


def test_the_example_proxy_refuses_metrics(proxy):
    for path in ("/metrics", "/metrics/", "/metrics?x=1"):
        response = _through(proxy, path, _untrusted_peer())
        assert response.status_code == 404 and "ctrip_" not in response.text, path
        assert not response.headers.get("Content-Type", "").startswith("application/json"), path  # the proxy's own


def test_the_example_proxy_redirects_plain_http(proxy):
    host = "pay.example.com" if proxy.tool == "nginx" else "127.0.0.1"
    plain = httpx.get(proxy.http + "/pay/x", headers={"Host": host}, timeout=5)
    assert plain.status_code in (301, 308) and plain.headers["Location"].startswith(f"https://{host}"), plain.headers

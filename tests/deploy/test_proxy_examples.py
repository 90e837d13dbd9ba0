"""examples/deploy/nginx.conf and Caddyfile: the settings they state are valid and match them (the API
upstream is api.bind, the proxy is in api.trusted_proxies, /metrics is refused and never proxied), and
the real tools accept the files (`nginx -t`, `caddy validate`) where they are installed."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from proxy_examples import CADDY, NGINX, caddy_command, caddy_env, nginx_command, nginx_local_copy
from proxy_examples import CADDY_EXAMPLE as CADDYFILE
from proxy_examples import NGINX_EXAMPLE as NGINX_CONF

from ctrip_core.config.settings import ApiSettings, MetricsSettings


def stated_settings(path: Path) -> tuple[ApiSettings, MetricsSettings]:
    """The [production.api] and [production.metrics] tables quoted in the file's header comment."""
    quoted = [line[1:].strip() for line in path.read_text().splitlines()
              if re.match(r"#\s{2,}(\[production\.|\w+ = )", line)]
    tables = tomllib.loads("\n".join(quoted))["production"]
    return ApiSettings(**tables["api"]), MetricsSettings(**tables["metrics"])


def _blocks(text: str, opener: str) -> list[str]:
    """The bodies of every `opener ... { ... }` block (nested braces included)."""
    bodies = []
    for match in re.finditer(opener, text):
        start = text.index("{", match.end() - 1)
        depth, end = 0, start
        for end in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        bodies.append(text[start + 1:end])
    return bodies


def _uncommented(path: Path) -> str:
    return "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())


@pytest.mark.parametrize("path", [NGINX_CONF, CADDYFILE], ids=["nginx", "caddy"])
def test_the_stated_settings_are_valid_and_trust_the_proxy(path):
    api, metrics = stated_settings(path)
    host, port = api.bind.rsplit(":", 1)
    assert ipaddress.ip_address(host).is_loopback  # reached through the proxy only
    assert any(ipaddress.ip_address(host) in net for net in api.trusted_proxies)  # the proxy's own address
    assert metrics.port is not None and metrics.port != int(port) and metrics.token is None
    assert metrics.host == "127.0.0.1"
    text = _uncommented(path)
    assert f"{host}:{port}" in text  # the upstream is api.bind
    assert str(metrics.port) not in text  # the metrics port is never proxied


def test_nginx_forwards_the_client_and_refuses_metrics():
    text = _uncommented(NGINX_CONF)
    (upstream,) = _blocks(text, r"upstream ctrip_api\s*\{")
    api, _ = stated_settings(NGINX_CONF)
    assert re.search(rf"^\s*server {re.escape(api.bind)};", upstream, re.M)
    locations = dict(zip(re.findall(r"location ([^{]+?)\s*\{", text), _blocks(text, r"location [^{]+\{")))
    assert locations["= /metrics"].split() == ["return", "404;"]
    assert locations["^~ /metrics/"].split() == ["return", "404;"]
    proxied = {where: body for where, body in locations.items() if "proxy_pass" in body}
    assert proxied and set(proxied) == {"/", r"~ ^/pay/[^/]+/events$"}
    for where, body in proxied.items():
        assert "proxy_pass http://ctrip_api;" in body, where
        assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in body, where
        assert "proxy_set_header X-Forwarded-Proto $scheme;" in body, where
        assert "proxy_set_header Host $host;" in body, where
    assert "proxy_buffering off;" in proxied[r"~ ^/pay/[^/]+/events$"]  # server-sent events
    assert re.search(r"client_max_body_size 64k;", text) and ApiSettings().max_body_bytes == 64 * 1024
    assert re.search(r"listen 443 ssl", text)


def test_caddy_forwards_the_client_and_refuses_metrics():
    text = _uncommented(CADDYFILE)
    api, _ = stated_settings(CADDYFILE)
    assert re.search(r"@metrics path /metrics /metrics/\*", text)
    assert re.search(r"respond @metrics 404", text)
    (proxy,) = _blocks(text, rf"reverse_proxy {re.escape(api.bind)}\s*\{{")
    assert "flush_interval -1" in proxy  # server-sent events
    assert "header_up X-Forwarded-For" not in proxy  # Caddy's own: the peer, never what a client sent
    assert re.search(r"max_size 64KB", text)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian: apt-get install nginx)")
def test_nginx_accepts_the_example(tmp_path):
    conf = nginx_local_copy(tmp_path, https_port=8443, http_port=8080, upstream_port=8000)
    done = subprocess.run(nginx_command(conf, serve=False), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


@pytest.mark.skipif(CADDY is None, reason="caddy is not installed (Debian: apt-get install caddy)")
def test_caddy_accepts_the_example(tmp_path):
    done = subprocess.run(caddy_command(CADDYFILE, serve=False), capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=caddy_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "Valid configuration" in done.stdout + done.stderr

"""/metrics is never public on the API's port: its own port (metrics.port) or a bearer token (metrics.token).

In-process apps: a test client's request names the port it arrived on (its ASGI scope's `server`),
which is what the app decides by. The same through a real `ctrip api` is in test_deploy_live.py.
"""

from __future__ import annotations

import pytest
from metrics_scrape import METRICS_PORT, ON_API_PORT, ON_METRICS_PORT

from ctrip_core.api import create_app
from ctrip_core.api.metrics_access import metrics_bind
from ctrip_core.config import ConfigError
from ctrip_core.config.settings import MetricsSettings
from ctrip_core.runtime import build_runtime

TOKEN = "m3trics-t0ken-for-tests"


@pytest.fixture
async def app_for(settings_with):
    runtimes = []

    def make(**overrides):
        runtime = build_runtime(settings_with(**overrides), "api")
        runtimes.append(runtime)
        return create_app(runtime)

    yield make
    for runtime in runtimes:
        await runtime.close()


async def test_the_api_port_answers_404_for_metrics_and_the_metrics_port_serves_it(app_for):
    client = app_for().test_client()
    hidden = await client.get("/metrics", **ON_API_PORT)
    assert hidden.status_code == 404
    assert await hidden.get_json() == {"error": {"code": "not_found", "message": "no such route"}}
    served = await client.get("/metrics", **ON_METRICS_PORT)
    assert served.status_code == 200 and b"# TYPE ctrip_http_requests_total counter" in await served.get_data()


async def test_the_metrics_port_serves_nothing_but_metrics_and_health(app_for):
    client = app_for().test_client()
    assert (await client.get("/health", **ON_METRICS_PORT)).status_code == 200
    for path in ("/v1/payments", "/ready", "/openapi.json", "/docs", "/pay/pay_x", "/nope"):
        assert (await client.get(path, **ON_METRICS_PORT)).status_code == 404, path
    assert (await client.post("/v1/payments", json={}, **ON_METRICS_PORT)).status_code == 404
    assert (await client.get("/openapi.json", **ON_API_PORT)).status_code == 200  # the API port still serves it


async def test_by_default_metrics_is_served_nowhere(app_for):
    assert MetricsSettings().port is None and MetricsSettings().token is None
    client = app_for(metrics={}).test_client()
    for options in (ON_API_PORT, ON_METRICS_PORT):
        assert (await client.get("/metrics", **options)).status_code == 404
        assert (await client.get("/health", **options)).status_code == 200


async def test_a_token_serves_metrics_on_the_api_port_to_its_bearer_only(app_for):
    client = app_for(metrics={"port": METRICS_PORT, "token": TOKEN}).test_client()
    for options in (ON_API_PORT, ON_METRICS_PORT):
        scope = options["scope_base"]
        bare = await client.get("/metrics", scope_base=scope)
        assert bare.status_code == 401 and bare.headers["WWW-Authenticate"] == "Bearer"
        assert TOKEN not in (await bare.get_data()).decode()
        for wrong in ("Bearer nope", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", TOKEN):
            response = await client.get("/metrics", scope_base=scope, headers={"Authorization": wrong})
            assert response.status_code == 401, wrong
        right = await client.get("/metrics", scope_base=scope, headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200 and b"ctrip_http_requests_total" in await right.get_data()


async def test_a_token_alone_needs_no_metrics_port(app_for):
    client = app_for(metrics={"token": TOKEN}).test_client()
    assert (await client.get("/metrics", **ON_API_PORT)).status_code == 401
    response = await client.get("/metrics", **ON_API_PORT, headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200
    assert (await client.get("/v1/payments", **ON_METRICS_PORT)).status_code == 401  # no metrics port: the API


@pytest.mark.parametrize("short", ["", "s3cr3t", "x" * 15])
def test_a_short_token_is_a_config_error_that_does_not_echo_it(settings_with, short):
    with pytest.raises(ConfigError) as err:
        settings_with(metrics={"token": short})
    assert str(err.value).startswith("metrics.token: ") and "at least 16 characters" in str(err.value)
    assert not short or short not in str(err.value)


def test_the_token_is_never_in_the_settings_repr(settings_with):
    settings = settings_with(metrics={"token": TOKEN})
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


def test_the_metrics_bind_is_the_configured_host_and_port():
    assert metrics_bind(MetricsSettings(), "0.0.0.0:8000") is None
    assert metrics_bind(MetricsSettings(port=9100), "0.0.0.0:8000") == "127.0.0.1:9100"
    assert metrics_bind(MetricsSettings(host="0.0.0.0", port=9100), "0.0.0.0:8000") == "0.0.0.0:9100"
    assert metrics_bind(MetricsSettings(host="::", port=9100), "[::]:8000") == "[::]:9100"


def test_a_metrics_port_equal_to_the_api_port_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        metrics_bind(MetricsSettings(port=8000), "0.0.0.0:8000")
    assert str(err.value).startswith("metrics.port: 8000 is also the API's port")


async def test_the_openapi_document_declares_what_metrics_answers(app_for):
    spec = await (await app_for().test_client().get("/openapi.json", **ON_API_PORT)).get_json()
    responses = spec["paths"]["/metrics"]["get"]["responses"]
    assert set(responses) == {"200", "401", "404"}, responses
    assert "text/plain" in responses["200"]["content"]

"""Reading /metrics as Prometheus does: on the metrics port of the test settings (`metrics.port`).

A test client's request names the port it arrived on in its ASGI scope (`server`), which is all the
app looks at (api/metrics_access.py), so in-process apps are scraped without a second listener.
"""

from __future__ import annotations

#: `metrics.port` of every test app made by `testbed.make_settings`.
METRICS_PORT = 9464
#: Test-client options for a request that arrived on the metrics port, and on the API's port.
ON_METRICS_PORT = {"scope_base": {"server": ("127.0.0.1", METRICS_PORT)}}
ON_API_PORT = {"scope_base": {"server": ("127.0.0.1", 8000)}}


async def scrape(client) -> str:
    """GET /metrics on the metrics port; the Prometheus text."""
    response = await client.get("/metrics", **ON_METRICS_PORT)
    assert response.status_code == 200, await response.get_data()
    return (await response.get_data()).decode()

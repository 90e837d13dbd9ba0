"""Prometheus metrics of one app: requests and latencies by route and status, payments by status, scan lag.

Each app has its own registry (no process-global state), so tests and several apps never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ApiMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("ctrip_http_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("ctrip_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.gas_tank = Gauge("ctrip_gas_tank_balance_wei", "Gas tank balance by chain", ["chain"],
                              registry=self.registry)
        self.payments = Gauge("ctrip_payments", "Payments by chain and status", ["chain", "status"],
                              registry=self.registry)
        self.scan_lag = Gauge("ctrip_scan_lag_seconds", "Wall clock minus the timestamp of the last block the "
                              "chain's scanner processed", ["chain"], registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def set_payment_counts(self, counts: list[tuple[str, str, int]]) -> None:
        self.payments.clear()
        for chain, status, count in counts:
            self.payments.labels(chain, status).set(count)

    def set_scan_lags(self, lags: dict[str, float | None]) -> None:
        """Seconds each chain's scanner trails the wall clock; a chain not scanned yet has no sample."""
        self.scan_lag.clear()
        for chain, lag in lags.items():
            if lag is not None:
                self.scan_lag.labels(chain).set(lag)

    def render(self) -> bytes:
        return generate_latest(self.registry)

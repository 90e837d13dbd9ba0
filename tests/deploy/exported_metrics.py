"""The Prometheus series cTrip exports, read from its own metric registries (API, worker, sweeper),
and the metric names a PromQL expression uses: what the alert rules and dashboard may name."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from ctrip_core.api.metrics import ApiMetrics
from ctrip_core.jobs.metrics import JobMetrics
from ctrip_core.jobs.sweep_conditions import SweepConditions

#: Series Prometheus itself makes for every scrape target.
PROMETHEUS_SERIES = {"up"}
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",),
             "summary": ("_sum", "_count", "")}
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_NAME = re.compile(r"\b(ctrip_[a-zA-Z0-9_]+|up)\b")


def exported_series() -> set[str]:
    sweeps = CollectorRegistry()
    SweepConditions(sweeps)
    names = set()
    for registry in (ApiMetrics().registry, JobMetrics().registry, sweeps):
        for family in registry.collect():
            names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def metric_names(expr: str) -> set[str]:
    """The ctrip_ series (and `up`) an expression selects; label values in quotes are not names."""
    return set(_NAME.findall(_QUOTED.sub('""', expr)))

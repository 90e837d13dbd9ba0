"""deploy/grafana/ctrip-dashboard.json: valid JSON Grafana can import, and every panel queries
metrics cTrip exports (so a renamed metric fails here, not on an operator's empty graph)."""

from __future__ import annotations

import json

from compose_stack import ROOT
from exported_metrics import PROMETHEUS_SERIES, exported_series, metric_names

DASHBOARD = ROOT / "deploy" / "grafana" / "ctrip-dashboard.json"


def panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_the_dashboard_is_importable_json():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["uid"]
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "two panels share an id"
    for panel in panels():
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        assert panel["targets"], panel["title"]


def test_every_panel_queries_exported_metrics():
    exported = exported_series() | PROMETHEUS_SERIES
    for panel in panels():
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, f"panel {panel['title']!r} names no metric"
            assert names <= exported, f"panel {panel['title']!r} names {sorted(names - exported)}, not exported"


def test_every_exported_metric_has_a_panel():
    shown = {name for panel in panels() for target in panel["targets"] for name in metric_names(target["expr"])}
    families = {name.removesuffix("_total").removesuffix("_bucket") for name in shown}
    missing = {name for name in exported_series()
               if name.removesuffix("_total").removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
               not in families}
    assert not missing, f"no panel shows {sorted(missing)}"

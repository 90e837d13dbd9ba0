"""deploy/prometheus/alerts.yml: valid for the real `promtool` (check and unit tests in
alerts.test.yml), and every metric it names is one cTrip exports, so a renamed metric fails here.

promtool comes from Debian's `prometheus` package (`make test` runs scripts/ensure-deploy-tools.sh)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from compose_stack import ROOT
from exported_metrics import PROMETHEUS_SERIES, exported_series, metric_names

RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
#: What issue 15 asks the rules to watch, each by at least one alert of these names.
REQUIRED_ALERTS = {"CtripScannerLagging", "CtripRpcFaults", "CtripWebhookBacklog", "CtripWebhookFailures",
                   "CtripSweepStuck", "CtripGasTankLow", "CtripAuditorDiscrepancy"}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: run `bash scripts/ensure-deploy-tools.sh` (Debian's prometheus package)"
    return path


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules(promtool):
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_unit_tests_of_the_alerts_pass(promtool):
    result = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    tested = {case["alertname"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for case in test["alert_rule_test"]}
    assert len(tested) >= 2 and tested <= {rule["alert"] for rule in rules()}


def test_every_metric_the_rules_name_is_exported():
    exported = exported_series() | PROMETHEUS_SERIES
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, f"{rule['alert']} names no metric"
        assert names <= exported, f"{rule['alert']} names {sorted(names - exported)}, which cTrip does not export"


def test_the_rules_cover_what_an_operator_must_hear_of():
    alerts = [rule["alert"] for rule in rules()]
    assert len(alerts) == len(set(alerts)), "two alerts share a name"
    assert REQUIRED_ALERTS <= set(alerts), sorted(REQUIRED_ALERTS - set(alerts))
    for rule in rules():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_a_renamed_metric_would_be_caught():
    """The control: the name check is not vacuous."""
    assert "ctrip_scan_lag_seconds" in exported_series()
    assert metric_names('max by (chain) (ctrip_scan_lags_seconds{job="ctrip_x"}) > 1') == {"ctrip_scan_lags_seconds"}
    assert "ctrip_scan_lags_seconds" not in exported_series()

"""An empty gas tank is said once when it starts and once when it ends, not once per sweep pass."""

import logging

from prometheus_client import CollectorRegistry

from ctrip_core.jobs.sweep_conditions import SweepConditions

TANK = "gas_tank_low:0xTank"
POOR = "fee_not_covered:0xDeposit"


def gauge(registry, chain, condition):
    return registry.get_sample_value("ctrip_sweeps_waiting", {"chain": chain, "condition": condition})


def test_a_condition_is_logged_when_it_starts_and_when_it_clears_and_counted_between(caplog):
    registry = CollectorRegistry()
    conditions = SweepConditions(registry)
    caplog.set_level(logging.INFO, logger="ctrip_core.jobs.sweep")
    for _ in range(30):  # thirty passes, a second apart, with an empty tank and a poor deposit
        conditions.update("anvil", {TANK: "gas tank 0xTank has 0 wei; refill it", POOR: "0xDeposit: too poor"})
    assert sorted((r.levelname, r.getMessage()) for r in caplog.records) == [
        ("ERROR", "sweep anvil: gas tank 0xTank has 0 wei; refill it"), ("WARNING", "sweep anvil: 0xDeposit: too poor")]
    assert gauge(registry, "anvil", "gas_tank_low") == 1 and gauge(registry, "anvil", "fee_not_covered") == 1
    caplog.clear()
    conditions.update("anvil", {POOR: "0xDeposit: too poor"})  # refilled
    conditions.update("anvil", {POOR: "0xDeposit: too poor"})
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "sweep anvil: cleared: gas_tank_low 0xTank")]
    assert gauge(registry, "anvil", "gas_tank_low") == 0 and gauge(registry, "anvil", "fee_not_covered") == 1


def test_chains_are_kept_apart():
    registry = CollectorRegistry()
    conditions = SweepConditions(registry)
    conditions.update("a", {TANK: "x"})
    conditions.update("b", {})
    assert gauge(registry, "a", "gas_tank_low") == 1 and gauge(registry, "b", "gas_tank_low") is None

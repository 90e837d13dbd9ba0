"""What holds sweeps back, said once per change of state instead of once per pass.

A sweep pass runs about once a block; an empty gas tank or a deposit too poor to pay its own fee
would otherwise log the same line every second for every waiting sweep. `SweepConditions` keeps the
conditions each chain's last pass reported (`SweepReport.waiting`, key → one line), logs a condition
when it starts (an error for an empty gas tank, a warning otherwise) and when it clears, and keeps
the count in `ctrip_sweeps_waiting{chain,condition}` meanwhile. Process-local: each sweep worker
says it once.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger("ctrip_core.jobs.sweep")

#: Conditions an operator must act on (logged as errors); the others resolve on their own.
OPERATOR_ACTION = ("gas_tank_low",)


def _condition(key: str) -> str:
    """`gas_tank_low:0xTank` → `gas_tank_low`."""
    return key.split(":", 1)[0]


class SweepConditions:
    def __init__(self, registry: CollectorRegistry):
        self.waiting = Gauge("ctrip_sweeps_waiting", "Conditions holding sweeps back after the last pass "
                             "(gas_tank_low: tanks too poor to fund token sweeps; fee_not_covered: deposits "
                             "whose native balance does not pay their sweep's fee)",
                             ["chain", "condition"], registry=registry)
        self._last: dict[str, dict[str, str]] = {}

    def update(self, chain: str, waiting: dict[str, str]) -> None:
        """Take one pass's conditions: log the new ones and the cleared ones, count them all."""
        last = self._last.get(chain, {})
        for key in waiting.keys() - last.keys():
            level = logging.ERROR if _condition(key) in OPERATOR_ACTION else logging.WARNING
            log.log(level, "sweep %s: %s", chain, waiting[key])
        for key in sorted(last.keys() - waiting.keys()):
            log.info("sweep %s: cleared: %s", chain, key.replace(":", " ", 1))
        counts = Tally(_condition(key) for key in waiting)
        for condition in {_condition(key) for key in last} | counts.keys():
            self.waiting.labels(chain, condition).set(counts.get(condition, 0))
        self._last[chain] = dict(waiting)

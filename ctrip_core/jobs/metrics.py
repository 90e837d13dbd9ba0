"""Worker metrics (Prometheus), one registry per worker process, served by `ctrip worker --metrics-port`."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter

from ctrip_core.chains.rpc import WRONG_CHAIN_ID

log = logging.getLogger("ctrip.rpc")


class JobMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.rpc_faults = Counter("ctrip_rpc_faults_total", "RPC faults by chain, node and kind",
                                  ["chain", "url", "kind"], registry=self.registry)
        self.blocks_scanned = Counter("ctrip_blocks_scanned_total", "Blocks scanned", ["chain"],
                                      registry=self.registry)
        self.transfers_recorded = Counter("ctrip_transfers_recorded_total", "Transfers recorded", ["chain"],
                                          registry=self.registry)
        self.reorgs = Counter("ctrip_reorgs_total", "Reorgs detected", ["chain"], registry=self.registry)
        self.sweeps_refused = Counter("ctrip_sweeps_refused_total",
                                      "Sweep transactions the sweeper refused to sign (the stored row disagrees "
                                      "with configuration or the chain), by chain and reason",
                                      ["chain", "reason"], registry=self.registry)

    def sweep_pass(self, chain: str, report) -> None:
        """Count what a sweep pass (a `SweepReport`) refused to sign."""
        for reason in report.refused:
            self.sweeps_refused.labels(chain, reason).inc()

    def rpc_fault(self, chain: str, url: str, kind: str) -> None:
        """Every fault is logged and counted; the client retries it on the next URL.

        A URL of another chain (`wrong_chain_id`) is counted only: the client has logged it, with both ids.
        """
        if kind != WRONG_CHAIN_ID:
            log.warning("rpc fault", extra={"fields": {"chain": chain, "url": url, "kind": kind}})
        self.rpc_faults.labels(chain, url, kind).inc()

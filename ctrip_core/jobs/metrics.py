"""Worker metrics (Prometheus), one registry per worker process, served by `ctrip worker --metrics-port`."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge

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

        self.reconcile_unexplained = Gauge("ctrip_reconcile_unexplained",
                                           "Deposit (address, asset) pairs whose balance the last audit pass could "
                                           "not explain, by chain and kind (shortfall: the chain holds more than "
                                           "recorded; excess: less)", ["chain", "kind"], registry=self.registry)
        self.reconcile_credited = Counter("ctrip_reconcile_credited_total",
                                          "Transfers the balance auditor found on chain and credited "
                                          "(source reconcile), by chain", ["chain"], registry=self.registry)

    def reconcile_pass(self, chain: str, report) -> None:
        """Publish what an audit pass (a `ReconcileReport`) found; a busy or unstarted pass changes nothing."""
        if report.busy or report.block is None:
            return
        for kind in ("shortfall", "excess"):
            self.reconcile_unexplained.labels(chain, kind).set(report.count(kind))
        self.reconcile_credited.labels(chain).inc(len(report.credited))

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

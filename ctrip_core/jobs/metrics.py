"""Worker metrics (Prometheus), one registry per worker process, served by `ctrip worker --metrics-port`."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter

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

    def rpc_fault(self, chain: str, url: str, kind: str) -> None:
        """Every fault is logged and counted; the client retries it on the next URL."""
        log.warning("rpc fault", extra={"fields": {"chain": chain, "url": url, "kind": kind}})
        self.rpc_faults.labels(chain, url, kind).inc()

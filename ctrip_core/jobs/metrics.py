"""Worker metrics (Prometheus), one registry per worker process, served by `ctrip worker --metrics-port`."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge

from ctrip_core.chains.rpc import WRONG_CHAIN_ID

log = logging.getLogger("ctrip.rpc")


#: Seconds between two counts of the webhook backlog (one query; the webhook job runs far more often).
BACKLOG_EVERY_S = 10.0


class JobMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self._backlog_at: float | None = None
        self.rpc_faults = Counter("ctrip_rpc_faults_total", "RPC faults by chain, node and kind",
                                  ["chain", "url", "kind"], registry=self.registry)
        self.blocks_scanned = Counter("ctrip_blocks_scanned_total", "Blocks scanned", ["chain"],
                                      registry=self.registry)
        self.transfers_recorded = Counter("ctrip_transfers_recorded_total", "Transfers recorded", ["chain"],
                                          registry=self.registry)
        self.reorgs = Counter("ctrip_reorgs_total", "Reorgs detected", ["chain"], registry=self.registry)
        self.quorum_disagreements = Counter("ctrip_rpc_quorum_disagreements_total",
                                            "Transfer receipts a node answered otherwise than the chain's "
                                            "rpc_quorum (the transfer stays unconfirmed), by chain and node",
                                            ["chain", "url"], registry=self.registry)
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
        self.sweep_transactions = Counter("ctrip_sweep_transactions_total",
                                          "Sweep transactions by what a sweep pass did with them (broadcast, "
                                          "rebroadcast, replaced, done, failed), by chain",
                                          ["chain", "outcome"], registry=self.registry)
        self.webhook_attempts = Counter("ctrip_webhook_attempts_total",
                                        "Webhook delivery attempts this process recorded, by result (ok: a 2xx "
                                        "answer; failed: anything else, a timeout or a refused target)",
                                        ["result"], registry=self.registry)
        self.webhook_due = Gauge("ctrip_webhook_deliveries_due",
                                 "Webhook deliveries due to enabled endpoints and not yet being sent",
                                 registry=self.registry)
        self.webhook_oldest_due = Gauge("ctrip_webhook_oldest_due_seconds",
                                        "How long the oldest due webhook delivery has waited", registry=self.registry)

    def backlog_due(self, now: float) -> bool:
        """Whether the webhook backlog is to be counted again at monotonic time `now` (then it is due)."""
        if self._backlog_at is not None and now - self._backlog_at < BACKLOG_EVERY_S:
            return False
        self._backlog_at = now
        return True

    def webhook_backlog(self, count: int, oldest_s: float) -> None:
        self.webhook_due.set(count)
        self.webhook_oldest_due.set(oldest_s)

    def webhook_outcomes(self, outcomes) -> None:
        """Count recorded attempts (`deliveries.Outcome`s) by result."""
        for outcome in outcomes:
            self.webhook_attempts.labels("ok" if outcome.ok else "failed").inc()

    def reconcile_pass(self, chain: str, report) -> None:
        """Publish what an audit pass (a `ReconcileReport`) found; a busy or unstarted pass changes nothing."""
        if report.busy or report.block is None:
            return
        for kind in ("shortfall", "excess"):
            self.reconcile_unexplained.labels(chain, kind).set(report.count(kind))
        self.reconcile_credited.labels(chain).inc(len(report.credited))

    def sweep_pass(self, chain: str, report) -> None:
        """Count what a sweep pass (a `SweepReport`) refused to sign, and what it did with transactions."""
        for reason in report.refused:
            self.sweeps_refused.labels(chain, reason).inc()
        for outcome in ("broadcast", "rebroadcast", "replaced", "done", "failed"):
            if getattr(report, outcome):
                self.sweep_transactions.labels(chain, outcome).inc(getattr(report, outcome))

    def rpc_fault(self, chain: str, url: str, kind: str) -> None:
        """Every fault is logged and counted; the client retries it on the next URL.

        A URL of another chain (`wrong_chain_id`) is counted only: the client has logged it, with both ids.
        """
        if kind != WRONG_CHAIN_ID:
            log.warning("rpc fault", extra={"fields": {"chain": chain, "url": url, "kind": kind}})
        self.rpc_faults.labels(chain, url, kind).inc()

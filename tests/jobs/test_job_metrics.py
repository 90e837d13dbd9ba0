"""What a sweep pass did is counted per chain and outcome (`ctrip_sweep_transactions_total`), next to
what it refused to sign."""

from prometheus_client import generate_latest

from ctrip_core.jobs.metrics import JobMetrics
from ctrip_core.services.sweeps.tracking import SweepReport


def test_sweep_pass_counts_outcomes_and_refusals():
    metrics = JobMetrics()
    metrics.sweep_pass("ethereum", SweepReport(broadcast=2, done=1, rebroadcast=3, refused=["wrong_treasury"]))
    metrics.sweep_pass("ethereum", SweepReport(done=1))
    text = generate_latest(metrics.registry).decode()
    assert 'ctrip_sweep_transactions_total{chain="ethereum",outcome="broadcast"} 2.0' in text
    assert 'ctrip_sweep_transactions_total{chain="ethereum",outcome="done"} 2.0' in text
    assert 'ctrip_sweep_transactions_total{chain="ethereum",outcome="rebroadcast"} 3.0' in text
    assert 'outcome="failed"' not in text  # nothing failed: no sample
    assert 'ctrip_sweeps_refused_total{chain="ethereum",reason="wrong_treasury"} 1.0' in text

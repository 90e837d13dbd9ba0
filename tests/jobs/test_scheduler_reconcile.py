"""The scheduler's reconcile slot: each chain's audit is sent at start, then every `reconcile.interval_s`,
not at each block tick (no Redis here: the in-process mode `ctrip dev` uses)."""

from __future__ import annotations

from ctrip_core.config import load_settings
from ctrip_core.jobs.actors import Actors
from ctrip_core.jobs.scheduler import Scheduler


class Recorder:
    def __init__(self, kind: str, log: list):
        self.kind, self.log = kind, log

    def send(self, chain: str) -> None:
        self.log.append((self.kind, chain))


async def test_reconcile_is_sent_per_chain_at_its_own_interval():
    log: list = []
    actors = Actors(scan=Recorder("scan", log), confirm=Recorder("confirm", log), reconcile=Recorder("reconcile", log))
    now = [1000.0]
    scheduler = Scheduler({"anvil": 1.0, "bsc": 3.0}, actors, clock=lambda: now[0], reconcile_interval_s=600)
    sent = await scheduler.tick()
    assert [s for s in sent if s[0] == "reconcile"] == [("reconcile", "anvil"), ("reconcile", "bsc")]
    for _ in range(10):
        now[0] += 3.0
        assert all(kind != "reconcile" for kind, _ in await scheduler.tick())
    now[0] = 1000.0 + 600
    assert [s for s in await scheduler.tick() if s[0] == "reconcile"] == [("reconcile", "anvil"), ("reconcile", "bsc")]


def test_the_interval_is_a_setting_with_a_default():
    assert load_settings().reconcile.interval_s == 3600
    assert load_settings(reconcile={"interval_s": 60}).reconcile.interval_s == 60

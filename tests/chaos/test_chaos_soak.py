"""The chaos soak (soak.py): seeded schedules of payments and faults against real `ctrip` processes,
then invariants checked against the chain (invariants.py).

`make test` runs the short fixed seeds below; `make chaos SEEDS=N DURATION=S` runs N more seeds of S
seconds each (`test_chaos_soak_long`, parametrized from the environment by `pytest_generate_tests`),
and `make chaos SEED=s DURATION=S` replays one. A failing run prints its seed, its schedule and what
happened, then every violation.
"""

from __future__ import annotations

import os

import pytest

from soak import run_soak

#: A transfer that a reorg took out and the new fork brought back, of a payment already final, is
#: recorded as a late payment (payment.late): found by the soak, not in issue 14's list.
REVIVED_LATE = "a confirmed payment's transfer reorged out and back is marked late"
#: (seed, seconds of chaos). An xfail names the defects of issue 14 the seed's violations came from on
#: the code of the day it was marked (the interleaving varies from run to run, so not every run shows
#: every one); remove it once those fixes are on main and the seed passes.
SEEDS = [
    pytest.param(1, 30, id="seed1-30s", marks=pytest.mark.xfail(strict=False, reason=(
        "issue 14 defect 3 (a full payment plus dust after expiry in one scan step: expired), defect 4 "
        "(wall-clock expiry runs ahead of the scanner: after a 4-deep reorg, on-time payments expire before "
        f"the rescan records their transfers again), and {REVIVED_LATE}"))),
    pytest.param(1000, 45, id="seed1000-45s", marks=pytest.mark.xfail(strict=False, reason=(
        "issue 14 defect 2 (a null receipt during the confirmer's re-check orphans a canonical token transfer of a "
        "payment paid twice: recorded orphaned, its amount never counted), and defect 4 at times"))),
]
#: Seconds the short seeds may take to settle once the faults stop (about 10 on a loaded machine).
SETTLE_S = 60


async def _soak(seed: int, duration_s: int, tmp_path, settle_s: float = 150.0) -> None:
    result = await run_soak(seed, duration_s, tmp_path, settle_s=settle_s)
    print("\n" + result.report())
    assert not result.violations, result.report() + "\n\ngateway logs (tails):\n" + result.gateway_logs


@pytest.mark.timeout(480)
@pytest.mark.parametrize(("seed", "duration_s"), SEEDS)
async def test_chaos_soak(seed, duration_s, tmp_path):
    await _soak(seed, duration_s, tmp_path, SETTLE_S)


@pytest.mark.timeout(0)
async def test_chaos_soak_long(chaos_seed, chaos_duration_s, tmp_path):
    await _soak(chaos_seed, chaos_duration_s, tmp_path)


def pytest_generate_tests(metafunc):
    """`test_chaos_soak_long`'s seeds: CTRIP_CHAOS_SEED=s replays one; else CTRIP_CHAOS_SEEDS=N runs
    seeds 1000.. (CTRIP_CHAOS_FIRST_SEED moves the start), CTRIP_CHAOS_DURATION=S seconds each
    (default 120). None set: no seed, the test is skipped (`make test` runs only `SEEDS`)."""
    if "chaos_seed" not in metafunc.fixturenames:
        return
    duration = int(os.environ.get("CTRIP_CHAOS_DURATION") or 120)
    if os.environ.get("CTRIP_CHAOS_SEED"):
        seeds = [int(os.environ["CTRIP_CHAOS_SEED"])]
    else:
        first = int(os.environ.get("CTRIP_CHAOS_FIRST_SEED") or 1000)
        seeds = list(range(first, first + int(os.environ.get("CTRIP_CHAOS_SEEDS") or 0)))
    metafunc.parametrize(("chaos_seed", "chaos_duration_s"), [(s, duration) for s in seeds],
                         ids=[f"seed{s}-{duration}s" for s in seeds])

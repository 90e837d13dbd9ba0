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

#: (seed, seconds of chaos): the short seeds `make test` runs. A seed that shows a defect not fixed yet
#: gets an xfail naming it (the interleaving varies from run to run), removed once the fix is on main.
#: Both once showed defects of issue 14 (seed 1: 3, 4 and a revived transfer marked late; seed 1000:
#: 2 and 4); with those fixed they must pass.
SEEDS = [
    pytest.param(1, 30, id="seed1-30s"),
    pytest.param(1000, 45, id="seed1000-45s"),
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

"""The database is not trusted for where money goes: a sweep row changed by raw SQL (destination, token,
derivation index) is refused before anything is signed (a replacement's amount is not read from the row at
all: it is what the chain holds), counted in
`ctrip_sweeps_refused_total{chain,reason}`, and the funds stay on the deposit address until a sweep
planned from configuration moves them. On a real Anvil: balances and nonces prove nothing left.
"""

from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import text

from ctrip_core.db.models import Sweep
from ctrip_core.db.types import utcnow
from ctrip_core.jobs.metrics import JobMetrics
from ctrip_core.devnet.accounts import TREASURY
from sweep_support import ETH, close_gateway, open_gateway

pytestmark = pytest.mark.timeout(90)
ATTACKER = "0x000000000000000000000000000000000000dEaD"


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("tamper"), node.rpc_url, tusd)
    yield g
    await close_gateway(g)


async def tamper(gw, sweep_id: str, **values) -> None:
    """What anyone with database access could do: UPDATE the row, no application code involved."""
    sets = ", ".join(f"{column} = :{column}" for column in values)
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(text(f"UPDATE sweeps SET {sets} WHERE id = :id"), {**values, "id": sweep_id})


async def counted_pass(gw) -> tuple[object, JobMetrics]:
    """One sweep pass, its report counted the way the worker's sweep actor counts it."""
    metrics = JobMetrics()
    report = await gw.sweep_pass()
    metrics.sweep_pass(gw.chain, report)
    return report, metrics


def refused(metrics: JobMetrics, chain: str, reason: str) -> float:
    return metrics.registry.get_sample_value("ctrip_sweeps_refused_total", {"chain": chain, "reason": reason}) or 0


@pytest.mark.parametrize("changes, reason", [
    ({"to_address": ATTACKER}, "destination"),
    ({"token_address": ATTACKER}, "token"),
    ({"derivation_index": 7}, "from_address"),
    # index and sender moved together to an index of the wallet that holds nothing: the route agrees
    # with itself, the amount does not (once "waiting" for gas forever, its deposit never swept: chaos seed 1002)
    ({"derivation_index": 10_000, "from_address": "index 10000"}, "amount"),
])
async def test_waiting_token_sweep_changed_in_the_database_is_refused(gw, changes, reason):
    p = await gw.paid("TUSD", 4_000_000)
    treasury = gw.rpc.token_balance(gw.token, TREASURY)
    assert (await gw.sweep_pass()).broadcast == 1  # the gas top-up, mined at once (automine)
    topup, waiting = await gw.sweeps_of(p.address)
    assert waiting.kind == "token" and waiting.raw_tx is None
    if changes.get("from_address") == "index 10000":  # never issued
        changes = changes | {"from_address": gw.rt.deriver.derive(10_000)}
    await tamper(gw, waiting.id, **changes)

    report, metrics = await counted_pass(gw)
    assert report.refused == [reason] and refused(metrics, gw.chain, reason) == 1
    async with gw.rt.sessions() as s:
        refused_sweep = await s.get(Sweep, waiting.id)
    assert refused_sweep.state == "failed" and refused_sweep.raw_tx is None and "refused" in refused_sweep.error
    assert gw.rpc.token_balance(gw.token, ATTACKER) == 0

    reports = await gw.sweep_until_quiet()  # the same pass already planned a new sweep from configuration
    assert not any(r.refused for r in reports)
    replanned = [s for s in await gw.sweeps_of(p.address) if s.id not in (topup.id, waiting.id)]
    assert [(s.to_address, s.state) for s in replanned if s.kind == "token"] == [(TREASURY, "done")]
    assert gw.rpc.token_balance(gw.token, TREASURY) - treasury == 4_000_000
    assert gw.rpc.token_balance(gw.token, p.address) == 0
    assert gw.rpc.nonce(p.address) == 1  # one transaction ever left the deposit address: to the treasury
    assert gw.rpc.token_balance(gw.token, ATTACKER) == 0


@pytest.mark.parametrize("column, value, reason", [
    ("to_address", ATTACKER, "destination"),
    ("derivation_index", 7, "from_address"),
])
async def test_replacement_of_a_native_sweep_changed_in_the_database_is_refused(gw, column, value, reason):
    p = await gw.paid("ETH", ETH)
    treasury, attacker = gw.rpc.balance(TREASURY), gw.rpc.balance(ATTACKER)
    gw.rpc("evm_setAutomine", False)
    try:
        assert (await gw.sweep_pass()).broadcast == 1
        (stuck,) = await gw.sweeps_of(p.address)
        await tamper(gw, stuck.id, broadcast_at=utcnow() - timedelta(hours=1), **{column: value})

        report, metrics = await counted_pass(gw)  # old enough to be replaced: the replacement is refused
        assert report.replaced == 0 and report.refused == [reason] and refused(metrics, gw.chain, reason) == 1
        (sweep,) = await gw.sweeps_of(p.address)
        assert sweep.tx_hash == stuck.tx_hash and sweep.raw_tx == stuck.raw_tx and not sweep.replaced_tx_hashes
        pool = gw.rpc("txpool_content")["pending"]
        (queued,) = pool[next(a for a in pool if a.lower() == p.address.lower())].values()
        assert queued["hash"] == stuck.tx_hash  # only the version signed from configuration waits
        gw.rpc("evm_mine")
    finally:
        gw.rpc("evm_setAutomine", True)
    assert gw.rpc.balance(ATTACKER) == attacker
    assert gw.rpc.balance(TREASURY) - treasury == stuck.amount_base_units  # what was signed from configuration
    assert gw.rpc.nonce(p.address) == 1


async def test_replacement_of_a_gas_top_up_redirected_in_the_database_is_refused(gw):
    p = await gw.paid("TUSD", 2_000_000)
    attacker, tank_nonce = gw.rpc.balance(ATTACKER), gw.rpc.nonce(gw.tank)
    gw.rpc("evm_setAutomine", False)
    try:
        assert (await gw.sweep_pass()).broadcast == 1
        topup, _ = await gw.sweeps_of(p.address)
        await tamper(gw, topup.id, to_address=ATTACKER, broadcast_at=utcnow() - timedelta(hours=1))

        report, metrics = await counted_pass(gw)
        assert report.replaced == 0 and report.refused == ["destination"]
        assert refused(metrics, gw.chain, "destination") == 1
        gw.rpc("evm_mine")
    finally:
        gw.rpc("evm_setAutomine", True)
    assert gw.rpc.balance(ATTACKER) == attacker
    assert gw.rpc.nonce(gw.tank) == tank_nonce + 1
    assert gw.rpc.balance(p.address) == topup.amount_base_units  # the top-up signed from configuration


async def test_native_sweep_of_an_index_changed_in_the_database_is_refused(gw):
    """A payment's derivation index rewritten: the sweep it would plan does not send from the deposit address."""
    p = await gw.paid("ETH", ETH)
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(text("INSERT INTO deposit_addresses (derivation_index, address, created_at) "
                             "VALUES (999999999, :address, now())"), {"address": ATTACKER})
        await s.execute(text("UPDATE payments SET derivation_index = 999999999 WHERE id = :id"), {"id": p.id})
    report, metrics = await counted_pass(gw)
    assert report.refused == ["from_address"] and refused(metrics, gw.chain, "from_address") == 1
    assert await gw.sweeps_of(p.address) == [] and not report.created
    assert gw.rpc.balance(p.address) == ETH and gw.rpc.nonce(p.address) == 0


async def test_transfer_of_an_unconfigured_token_written_in_the_database_is_refused(gw):
    p = await gw.paid("TUSD", 1_500_000)
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(text("UPDATE transfers SET token_address = :token WHERE payment_id = :id"),
                        {"token": ATTACKER, "id": p.id})
    report, metrics = await counted_pass(gw)
    assert report.refused.count("token") == 1 and refused(metrics, gw.chain, "token") == 1 and not report.errors
    assert await gw.sweeps_of(p.address) == [] and not report.created
    assert gw.rpc.token_balance(gw.token, p.address) == 1_500_000 and gw.rpc.nonce(p.address) == 0


@pytest.mark.parametrize("change", ["halved", "raised"])
async def test_replacement_of_a_native_sweep_whose_amount_was_changed_sweeps_the_whole_balance(gw, change):
    """The amount changed in the row of a stuck sweep. Halved, its replacement moved half and left the
    rest on the deposit address for good (its transfers are linked to the sweep, so nothing re-plans
    them); raised above the balance, the replacement was refused. A replacement is signed for what the
    chain holds at the ripe block less the higher fee, as the first version was; the row's amount is
    not asked."""
    p = await gw.paid("ETH", ETH)
    treasury, attacker = gw.rpc.balance(TREASURY), gw.rpc.balance(ATTACKER)
    gw.rpc("evm_setAutomine", False)
    try:
        assert (await gw.sweep_pass()).broadcast == 1
        (stuck,) = await gw.sweeps_of(p.address)
        await tamper(gw, stuck.id, broadcast_at=utcnow() - timedelta(hours=1),
                     amount_base_units=stuck.amount_base_units // 2 if change == "halved" else 5 * ETH)
        report = await gw.sweep_pass()  # old enough to be replaced
        assert report.replaced == 1 and "amount" not in report.refused
        gw.rpc("evm_mine")
    finally:
        gw.rpc("evm_setAutomine", True)
    await gw.sweep_until_quiet()
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "done" and sweep.tx_hash != stuck.tx_hash
    swept = gw.rpc.balance(TREASURY) - treasury
    left = gw.rpc.balance(p.address)
    assert left < sweep.gas_limit * sweep.max_fee_per_gas, f"{left} wei left on the deposit address (swept {swept})"
    assert swept + left + gw.rpc.fee(sweep.tx_hash) == ETH and sweep.amount_base_units == swept
    assert gw.rpc.balance(ATTACKER) == attacker and gw.rpc.nonce(p.address) == 1


@pytest.mark.parametrize("column", ["max_fee_per_gas", "max_priority_fee_per_gas"])
async def test_replacement_of_a_sweep_whose_fee_was_raised_in_the_database_is_refused(gw, column):
    """Bumped from the row's fee, the replacement would pay the deposit's balance to the block producer."""
    p = await gw.paid("ETH", ETH)
    treasury = gw.rpc.balance(TREASURY)
    gw.rpc("evm_setAutomine", False)
    try:
        assert (await gw.sweep_pass()).broadcast == 1
        (stuck,) = await gw.sweeps_of(p.address)
        await tamper(gw, stuck.id, broadcast_at=utcnow() - timedelta(hours=1), max_fee_per_gas=10**16,
                     **({column: 10**16} if column != "max_fee_per_gas" else {}))
        report, metrics = await counted_pass(gw)
        assert report.replaced == 0 and report.refused.count("fee") == 1 and refused(metrics, gw.chain, "fee") == 1
        (sweep,) = await gw.sweeps_of(p.address)
        assert sweep.tx_hash == stuck.tx_hash and not sweep.replaced_tx_hashes
        gw.rpc("evm_mine")
    finally:
        gw.rpc("evm_setAutomine", True)
    assert gw.rpc.balance(TREASURY) - treasury == stuck.amount_base_units  # the version signed from configuration
    assert gw.rpc.nonce(p.address) == 1

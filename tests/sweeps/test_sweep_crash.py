"""`kill -9` of the sweeper at its broadcast, on a real Anvil: after signing (stored) but before the node
got the transaction, and after the node got it but before the database knew. Either way the next
pass finishes the job with the very transaction that was signed: one transaction per deposit on chain.
The same holds for a fee-bumped replacement: it is recorded before it is broadcast.

The sweeper runs as a subprocess (sweep_once.py) that SIGKILLs itself at its Nth broadcast.
"""

import signal
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import update

from ctrip_core.db.models import Sweep
from ctrip_core.db.types import utcnow
from ctrip_core.devnet.accounts import TREASURY
from sweep_support import ETH, close_gateway, finish, open_gateway

pytestmark = pytest.mark.timeout(90)


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("crash"), node.rpc_url, tusd)
    yield g
    await close_gateway(g)


def killed(proc_result) -> None:
    code, _, err = proc_result
    assert code == -signal.SIGKILL, f"the sweeper was meant to die by SIGKILL, exited {code}:\n{err[-3000:]}"


def as_stored(sweep) -> tuple:
    return sweep.kind, sweep.state, sweep.nonce, sweep.tx_hash, sweep.raw_tx


@pytest.mark.parametrize("when", ["before", "after"])
async def test_native_sweep_killed_at_its_broadcast(gw, when):
    p = await gw.paid("ETH", 3 * ETH)
    treasury = gw.rpc.balance(TREASURY)

    killed(finish(gw.start_sweeper(crash=f"{when}:1")))
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "pending" and sweep.raw_tx and sweep.nonce == 0  # signed and stored before broadcast
    signed = sweep.tx_hash
    assert (gw.rpc.receipt(signed) is not None) == (when == "after")
    assert gw.rpc.nonce(p.address) == (1 if when == "after" else 0)

    reports = await gw.sweep_until_quiet()
    assert not any(r.created for r in reports)  # nothing signed a second time
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "done" and sweep.tx_hash == signed and not sweep.replaced_tx_hashes
    assert gw.rpc.nonce(p.address) == 1  # exactly one transaction ever left the deposit address
    fee, left = gw.rpc.fee(signed), gw.rpc.balance(p.address)
    assert gw.rpc.balance(TREASURY) - treasury == sweep.amount_base_units == 3 * ETH - fee - left
    assert "payment.swept" in await gw.events_of(p.id)


@pytest.mark.parametrize("when", ["before", "after"])
async def test_gas_top_up_killed_at_its_broadcast(gw, when):
    p = await gw.paid("TUSD", 7_000_000)
    tank_nonce, tank = gw.rpc.nonce(gw.tank), gw.rpc.balance(gw.tank)
    treasury = gw.rpc.token_balance(gw.token, TREASURY)

    killed(finish(gw.start_sweeper(crash=f"{when}:1")))
    topup, token_sweep = await gw.sweeps_of(p.address)
    assert [(s.kind, s.state) for s in (topup, token_sweep)] == [("gas_topup", "pending"), ("token", "pending")]
    assert topup.raw_tx and token_sweep.raw_tx is None  # the token sweep is signed only after the top-up is done
    signed = topup.tx_hash
    assert gw.rpc.nonce(gw.tank) == tank_nonce + (1 if when == "after" else 0)

    await gw.sweep_until_quiet()
    topup, token_sweep = await gw.sweeps_of(p.address)
    assert topup.state == token_sweep.state == "done" and topup.tx_hash == signed
    assert gw.rpc.nonce(gw.tank) == tank_nonce + 1  # one top-up on chain
    assert gw.rpc.nonce(p.address) == 1  # one token transfer on chain
    assert gw.rpc.token_balance(gw.token, TREASURY) - treasury == 7_000_000
    assert gw.rpc.token_balance(gw.token, p.address) == 0
    assert tank - gw.rpc.balance(gw.tank) == topup.amount_base_units + gw.rpc.fee(signed)
    assert gw.rpc.balance(p.address) == topup.amount_base_units - gw.rpc.fee(token_sweep.tx_hash)


@pytest.mark.parametrize("when", ["before", "after"])
async def test_token_transfer_killed_at_its_broadcast(gw, when):
    p = await gw.paid("TUSD", 9_000_000)
    treasury = gw.rpc.token_balance(gw.token, TREASURY)
    code, reports, err = finish(gw.start_sweeper())  # a clean pass: the top-up is signed and broadcast
    assert code == 0 and reports[0]["broadcast"] == 1, err

    killed(finish(gw.start_sweeper(crash=f"{when}:1")))  # top-up done, token transfer signed, then killed
    topup, token_sweep = await gw.sweeps_of(p.address)
    assert topup.state == "done" and token_sweep.state == "pending" and token_sweep.raw_tx
    signed = token_sweep.tx_hash
    assert gw.rpc.nonce(p.address) == (1 if when == "after" else 0)

    await gw.sweep_until_quiet()
    topup, token_sweep = await gw.sweeps_of(p.address)
    assert token_sweep.state == "done" and token_sweep.tx_hash == signed
    assert gw.rpc.nonce(p.address) == 1
    assert gw.rpc.token_balance(gw.token, TREASURY) - treasury == 9_000_000
    assert gw.rpc.token_balance(gw.token, p.address) == 0


@pytest.mark.parametrize("when", ["before", "after"])
async def test_replacement_killed_at_its_broadcast(gw, when):
    """A stuck sweep's fee-bumped replacement is committed before it is sent: killed right after the node
    took it, the sweep still knows the version that is mined."""
    p = await gw.paid("ETH", 2 * ETH)
    treasury = gw.rpc.balance(TREASURY)
    gw.rpc("evm_setAutomine", False)
    try:
        code, reports, err = finish(gw.start_sweeper())
        assert code == 0 and reports[0]["broadcast"] == 1, err
        (stuck,) = await gw.sweeps_of(p.address)
        async with gw.rt.sessions() as s, s.begin():
            await s.execute(update(Sweep).where(Sweep.id == stuck.id)
                            .values(broadcast_at=utcnow() - timedelta(hours=1)))  # older than replace_after_s

        killed(finish(gw.start_sweeper(crash=f"{when}:1")))  # its first broadcast is the replacement
        (sweep,) = await gw.sweeps_of(p.address)
        assert sweep.replaced_tx_hashes == [stuck.tx_hash] and sweep.tx_hash != stuck.tx_hash  # recorded first
        pool = gw.rpc("txpool_content")["pending"]
        (queued,) = pool[next(a for a in pool if a.lower() == p.address.lower())].values()
        assert queued["hash"] == (sweep.tx_hash if when == "after" else stuck.tx_hash)
        gw.rpc("evm_mine")
    finally:
        gw.rpc("evm_setAutomine", True)

    await gw.sweep_until_quiet()
    (done,) = await gw.sweeps_of(p.address)
    mined = [h for h in [stuck.tx_hash, sweep.tx_hash] if gw.rpc.receipt(h) is not None]
    assert done.state == "done" and mined == [done.tx_hash]  # the version mined is the one recorded
    assert gw.rpc.nonce(p.address) == 1
    assert gw.rpc.balance(TREASURY) - treasury == done.amount_base_units == \
        2 * ETH - gw.rpc.fee(done.tx_hash) - gw.rpc.balance(p.address)

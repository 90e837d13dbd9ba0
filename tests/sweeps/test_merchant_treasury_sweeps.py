"""`ctrip merchant set-treasury` end to end on Anvil: the operator's command (with the mnemonic) is
the only way a merchant's deposits go elsewhere than the chain's treasury. Two merchants on one
gateway: each merchant's deposits reach its own treasury, the other's the chain's, proven by
balances on chain; a row changed in the database afterwards is refused and nothing moves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select, text

from ctrip_core.db.models import MerchantTreasury, Sweep
from ctrip_core.devnet.accounts import TREASURY
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from sweep_support import ETH, close_gateway, open_gateway
from testbed import new_merchant

pytestmark = pytest.mark.timeout(120)
CTRIP = Path(sys.executable).parent / "ctrip"
OWN_LOWER = "0x" + "ab" * 19 + "cd"  # typed in lowercase: stored as its EIP-55 form
ATTACKER = "0x000000000000000000000000000000000000dEaD"


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("treasuries"), node.rpc_url, tusd)
    yield g
    await close_gateway(g)


def ctrip(gw, *args, **env):
    return subprocess.run([str(CTRIP), *args], capture_output=True, text=True, env=gw.env(**env), timeout=60)


async def paid_by(gw, merchant_id: str, units: int) -> str:
    async with gw.rt.sessions() as s, s.begin():
        p = await create_payment(gw.rt, merchant_id, PaymentRequest(gw.chain, "ETH", str(units / ETH)), within=s)
    gw.funder.wait([gw.send(p.address, "ETH", units)])
    await gw.sync()
    return p.address


async def swept_from(gw, address: str) -> Sweep:
    (sweep,) = [s for s in await gw.sweeps_of(address) if s.from_address == address]
    return sweep


async def test_each_merchant_is_swept_to_its_own_treasury_and_a_changed_row_moves_nothing(gw):
    beta = (await new_merchant(gw.rt, "beta"))[0]
    done = ctrip(gw, "merchant", "set-treasury", gw.merchant_id, gw.chain, OWN_LOWER)
    assert done.returncode == 0, done.stderr
    async with gw.rt.sessions() as s:
        row = await s.get(MerchantTreasury, (gw.merchant_id, gw.chain))
    own = row.address
    assert own.lower() == OWN_LOWER and own != OWN_LOWER and own in done.stdout

    treasury_before, own_before = gw.rpc.balance(TREASURY), gw.rpc.balance(own)
    alpha_address = await paid_by(gw, gw.merchant_id, ETH // 2)
    beta_address = await paid_by(gw, beta, ETH // 4)
    await gw.sweep_until_quiet()
    alpha, beta_sweep = await swept_from(gw, alpha_address), await swept_from(gw, beta_address)
    assert (alpha.state, alpha.to_address, alpha.merchant_id) == ("done", own, gw.merchant_id)
    assert (beta_sweep.state, beta_sweep.to_address) == ("done", TREASURY)
    assert gw.rpc.balance(own) - own_before == alpha.amount_base_units > 0  # the chain agrees
    assert gw.rpc.balance(TREASURY) - treasury_before == beta_sweep.amount_base_units > 0
    # What stays behind is the fee reserved at the max fee price and not spent: nothing else.
    left = gw.rpc.balance(alpha_address)
    assert left + alpha.amount_base_units + gw.rpc.fee(alpha.tx_hash) == ETH // 2

    # Whoever reaches the database points the row elsewhere: the next deposit of alpha stays put.
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(text("UPDATE merchant_treasuries SET address = :a WHERE merchant_id = :m"),
                        {"a": ATTACKER, "m": gw.merchant_id})
    attacker_before = gw.rpc.balance(ATTACKER)
    held = await paid_by(gw, gw.merchant_id, ETH // 8)
    report = await gw.sweep_pass()
    assert report.broadcast == 0
    assert gw.rpc.balance(held) == ETH // 8 and gw.rpc.balance(ATTACKER) == attacker_before
    async with gw.rt.sessions() as s:
        moving = list(await s.scalars(select(Sweep).where(Sweep.from_address == held,
                                                          Sweep.state.in_(("submitted", "done")))))
    assert moving == []

    # The operator sets it again (to the same address): authorized, the held deposit is swept there.
    assert ctrip(gw, "merchant", "set-treasury", gw.merchant_id, gw.chain, own).returncode == 0
    own_before = gw.rpc.balance(own)
    await gw.sweep_until_quiet()
    (again,) = [s for s in await gw.sweeps_of(held) if s.state == "done"]
    assert again.to_address == own and gw.rpc.balance(own) - own_before == again.amount_base_units
    assert gw.rpc.balance(held) + again.amount_base_units + gw.rpc.fee(again.tx_hash) == ETH // 8
    assert gw.rpc.balance(ATTACKER) == attacker_before


@pytest.mark.parametrize("args, env, code, says", [
    (["MER", "anvil", "0xABab" + "ab" * 18], {}, 2, "fails its EIP-55 checksum (expected 0x"),
    (["MER", "anvil", "0x1234"], {}, 2, "is not an address"),
    (["MER", "nochain", OWN_LOWER], {}, 2, "no chain named 'nochain'"),
    (["mer_nobody", "anvil", OWN_LOWER], {}, 1, "no merchant mer_nobody"),
    (["MER", "anvil", OWN_LOWER], {"CTRIP_WALLET__MNEMONIC": ""}, 2, "wallet.mnemonic"),
])
def test_set_treasury_refuses_bad_input_in_one_line(gw, args, env, code, says):
    args = [gw.merchant_id if a == "MER" else a for a in args]
    done = ctrip(gw, "merchant", "set-treasury", *args, **env)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert says in done.stderr and "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) <= 3 and says in lines[-1]  # click's usage line, its hint, the one-line error

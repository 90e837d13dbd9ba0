"""`ctrip wallet payout-address`: each merchant's payout wallet is on branch 2 at an index taken from
its id, never a deposit address, the gas tank or the authorization key, never another merchant's;
its balances are read from the chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio

from ctrip_core.services.accounts import merchants as merchants_module
from ctrip_core.services.accounts.merchants import create_merchant
from ctrip_core.wallet import AUTHORIZATION_BRANCH, DEPOSIT_BRANCH, XpubDeriver, payout_index, payout_path
from sweep_support import ETH, TOKEN_DECIMALS, close_gateway, open_gateway
from testbed import GATEWAY_XPUB, new_merchant

pytestmark = pytest.mark.timeout(120)
CTRIP = Path(sys.executable).parent / "ctrip"


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("payout"), node.rpc_url, tusd)
    yield g
    await close_gateway(g)


def ctrip(gw, *args):
    return subprocess.run([str(CTRIP), "wallet", "payout-address", *args], capture_output=True, text=True,
                          env=gw.env(), timeout=60)


async def test_payout_wallet_is_the_merchants_own_address_with_its_balances_on_chain(gw):
    beta = (await new_merchant(gw.rt, "beta"))[0]
    deriver = XpubDeriver(GATEWAY_XPUB)
    alpha_wallet, beta_wallet = (deriver.derive_path(payout_path(m)) for m in (gw.merchant_id, beta))
    assert alpha_wallet != beta_wallet
    own_keys = {gw.tank, deriver.derive_at(AUTHORIZATION_BRANCH, 0)}
    own_keys |= {deriver.derive_at(DEPOSIT_BRANCH, i) for i in range(50)}
    assert not own_keys & {alpha_wallet, beta_wallet}

    gw.funder.wait([gw.send(alpha_wallet, "ETH", ETH // 3), gw.send(alpha_wallet, "TUSD", 7 * 10**TOKEN_DECIMALS)])
    done = ctrip(gw, gw.merchant_id)
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert [r[:3] for r in rows] == [["anvil", alpha_wallet, "ETH"], ["anvil", alpha_wallet, "TUSD"]]
    assert f"({gw.rpc.balance(alpha_wallet)} base units)" in rows[0][3]
    assert rows[1][3] == f"7 ({7 * 10**TOKEN_DECIMALS} base units)"
    other = ctrip(gw, beta, "anvil")
    assert other.returncode == 0 and other.stdout.split("\t")[:2] == ["anvil", beta_wallet]
    assert other.stdout.split("\t")[3].startswith("0 (0 base units)")


@pytest.mark.parametrize("args, code, says", [
    (["mer_nobody"], 1, "no merchant mer_nobody"),
    (["MER", "nochain"], 2, "no chain named 'nochain'"),
])
def test_payout_address_refuses_bad_input_in_one_line(gw, args, code, says):
    done = ctrip(gw, *[gw.merchant_id if a == "MER" else a for a in args])
    assert done.returncode == code and says in done.stderr and "Traceback" not in done.stderr


async def test_a_new_merchant_never_takes_another_merchants_payout_index(gw, monkeypatch):
    taken = gw.merchant_id
    drawn = iter([taken, taken, "mer_fresh"])  # the id generator repeats an existing id's index twice
    real_new_id = merchants_module.new_id
    monkeypatch.setattr(merchants_module, "new_id", lambda prefix: next(drawn) if prefix == "mer" else real_new_id(prefix))
    async with gw.rt.sessions() as s, s.begin():
        made = await create_merchant(s, "gamma")
    assert made.merchant_id == "mer_fresh" and payout_index("mer_fresh") != payout_index(taken)
    assert 0 <= payout_index(taken) < 2**31

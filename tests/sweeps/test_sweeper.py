"""The sweeper on a real Anvil: natives and tokens reach the treasury exactly, once."""

import pytest
import pytest_asyncio
from sqlalchemy import select

from conftest import create_database, drop_database, make_settings, new_merchant, write_chains_file
from ctrip_core.db.models import Event, Sweep
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY, GATEWAY_MNEMONIC, GATEWAY_XPUB
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.token import balance_of, deploy_test_token, mint, send_native, transfer
from ctrip_core.runtime import build_runtime
from ctrip_core.services.confirming import confirm_step
from ctrip_core.services.payments import PaymentRequest, create_payment
from ctrip_core.services.scanning import scan_chain
from ctrip_core.services.sweep_keys import SweepKeys
from ctrip_core.services.sweeping import sweep_pass

ETH = 10**18
TREASURY = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"


@pytest.fixture(scope="module")
def node():
    n = AnvilNode.start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def tusd(node):
    address = deploy_test_token(node.rpc_url, FUNDER_KEY, decimals=6)
    mint(node.rpc_url, FUNDER_KEY, address, FUNDER, 10**15)
    return address


@pytest_asyncio.fixture(scope="module")
async def rt(node, tusd, tmp_path_factory):
    url = create_database()
    chains = write_chains_file(tmp_path_factory.mktemp("sweep") / "chains.yaml", node.rpc_url, tusd)
    settings = make_settings(url, chains, wallet={"xpub": GATEWAY_XPUB, "mnemonic": GATEWAY_MNEMONIC})
    runtime = build_runtime(settings, "sweeper")
    await scan_chain(runtime, "anvil")
    yield runtime
    await runtime.close()
    drop_database(url)


@pytest.fixture(scope="module")
def keys(rt, node):
    k = SweepKeys.from_settings(rt.settings, {n: c.config for n, c in rt.chains.items()})
    node.rpc("anvil_setBalance", k.tank_address("anvil"), hex(10 * ETH))
    return k


@pytest_asyncio.fixture(scope="module")
async def merchant_id(rt):
    return (await new_merchant(rt))[0]


async def paid(rt, node, tusd, merchant_id, asset, amount_units):
    async with rt.sessions() as s, s.begin():
        decimals = 18 if asset == "ETH" else 6
        p = await create_payment(s, rt, merchant_id, PaymentRequest("anvil", asset, _dec(amount_units, decimals)))
    if asset == "ETH":
        send_native(node.rpc_url, FUNDER_KEY, p.address, amount_units)
    else:
        transfer(node.rpc_url, FUNDER_KEY, tusd, p.address, amount_units)
    await scan_chain(rt, "anvil")
    await confirm_step(rt, "anvil")
    return p


def _dec(units, decimals):
    from ctrip_core.money import format_amount
    return format_amount(units, decimals)


async def sweep_until_quiet(rt, keys, passes=6):
    reports = []
    for _ in range(passes):
        reports.append(await sweep_pass(rt, keys, "anvil"))
    return reports


def eth_balance(node, address):
    return int(node.rpc("eth_getBalance", address, "latest"), 16)


def fee_paid(node, tx_hash):
    r = node.rpc("eth_getTransactionReceipt", tx_hash)
    return int(r["gasUsed"], 16) * int(r["effectiveGasPrice"], 16)


async def sweeps_of(rt, address):
    async with rt.sessions() as s:
        return list(await s.scalars(select(Sweep).where((Sweep.from_address == address) | (Sweep.to_address == address))
                                    .order_by(Sweep.created_at)))


async def test_native_deposit_swept_exactly(rt, node, tusd, keys, merchant_id):
    before = eth_balance(node, TREASURY)
    p = await paid(rt, node, tusd, merchant_id, "ETH", 2 * ETH)
    await sweep_until_quiet(rt, keys)
    (sweep,) = await sweeps_of(rt, p.address)
    assert sweep.state == "done" and sweep.kind == "native"
    fee = fee_paid(node, sweep.tx_hash)
    assert eth_balance(node, TREASURY) - before == 2 * ETH - eth_balance(node, p.address) - fee
    left = eth_balance(node, p.address)
    assert left < 21_000 * sweep.max_fee_per_gas  # nothing left that a sweep could move at a profit
    async with rt.sessions() as s:
        types = list(await s.scalars(select(Event.type).where(Event.payment_id == p.id).order_by(Event.seq)))
    assert types[-1] == "payment.swept"


async def test_token_deposit_swept_with_gas_top_up(rt, node, tusd, keys, merchant_id):
    before = balance_of(node.rpc_url, tusd, TREASURY)
    p = await paid(rt, node, tusd, merchant_id, "TUSD", 12_500_000)
    await sweep_until_quiet(rt, keys)
    sweeps = await sweeps_of(rt, p.address)
    assert [s.kind for s in sweeps] == ["gas_topup", "token"]
    assert all(s.state == "done" for s in sweeps)
    assert balance_of(node.rpc_url, tusd, TREASURY) - before == 12_500_000
    assert balance_of(node.rpc_url, tusd, p.address) == 0


async def test_sweeping_again_moves_nothing(rt, keys):
    reports = await sweep_until_quiet(rt, keys, passes=2)
    assert all(not r.created for r in reports)


async def test_gas_top_up_is_not_a_payment(rt, node, tusd, keys, merchant_id):
    """The gas tank's top-up lands on a deposit address, but it is the gateway's own money."""
    from ctrip_core.db.models import Transfer

    p = await paid(rt, node, tusd, merchant_id, "TUSD", 1_000_000)
    await sweep_until_quiet(rt, keys)
    await scan_chain(rt, "anvil")
    await confirm_step(rt, "anvil")
    async with rt.sessions() as s:
        transfers = list(await s.scalars(select(Transfer).where(Transfer.payment_id == p.id)))
        types = list(await s.scalars(select(Event.type).where(Event.payment_id == p.id).order_by(Event.seq)))
    assert [t.asset for t in transfers] == ["TUSD"]
    assert types == ["payment.detected", "payment.confirmed", "payment.swept"]

"""The sweeper on a real Anvil: natives and tokens reach the treasury exactly, once."""

from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import func, select, update

from testbed import create_database, drop_database, make_settings, new_merchant
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.db.models import Event, Payment, Sweep, Transfer
from ctrip_core.db.types import utcnow
from ctrip_core.devnet.accounts import FUNDER_KEY, GATEWAY_MNEMONIC, GATEWAY_XPUB
from ctrip_core.devnet.token import balance_of, send_native, transfer
from ctrip_core.runtime import build_runtime
from ctrip_core.services.watching.confirming import confirm_step
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.services.watching.scanning import scan_chain
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.sweep_pass import sweep_pass
from ctrip_core.devnet.payer import Payer
from sweep_support import Rpc

ETH = 10**18
TREASURY = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"


@pytest_asyncio.fixture(scope="module")
async def rt(node, tusd, tmp_path_factory):
    url = create_database()
    chains = write_anvil_chains_file(tmp_path_factory.mktemp("sweep") / "chains.yaml", node.rpc_url, tusd)
    settings = make_settings(url, chains, wallet={"xpub": GATEWAY_XPUB, "mnemonic": GATEWAY_MNEMONIC})
    runtime = build_runtime(settings, "sweeper")
    await scan_chain(runtime, "anvil")
    yield runtime
    await runtime.close()
    drop_database(url)


@pytest.fixture(scope="module")
def keys(rt, node):
    k = SweepKeys.from_settings(rt.settings, rt.chain_configs())
    node.rpc("anvil_setBalance", k.tank_address("anvil"), hex(10 * ETH))
    return k


@pytest_asyncio.fixture(scope="module")
async def merchant_id(rt):
    return (await new_merchant(rt))[0]


async def paid(rt, node, tusd, merchant_id, asset, amount_units):
    async with rt.sessions() as s, s.begin():
        decimals = 18 if asset == "ETH" else 6
        p = await create_payment(rt, merchant_id, PaymentRequest("anvil", asset, _dec(amount_units, decimals)),
                                 within=s)
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


async def sweep_to_quiet(rt, keys, max_passes=12):
    """Passes until one starts nothing and no sweep is pending or submitted (bounded)."""
    reports = []
    for _ in range(max_passes):
        reports.append(await sweep_pass(rt, keys, "anvil"))
        async with rt.sessions() as s:
            open_sweeps = await s.scalar(select(func.count()).select_from(Sweep).where(
                Sweep.state.in_(("pending", "submitted"))))
        if not reports[-1].created and not open_sweeps:
            return reports
    raise AssertionError(f"sweeps still open after {max_passes} passes: {reports}")


def token_balance(node, tusd, address):
    return balance_of(node.rpc_url, tusd, address)


async def test_many_mixed_deposits_swept_in_one_run_exactly(rt, node, tusd, keys, merchant_id):
    """10 native and 10 token payments (one native paid in two parts), all swept by the same passes:
    every wei and token unit accounted for from balances and the receipts' fees."""
    tank = keys.tank_address("anvil")
    natives = [ETH // 10 * (i + 1) + i for i in range(10)]
    tokens = [1_000_000 * (i + 1) + i for i in range(10)]
    treasury_eth, treasury_tusd = eth_balance(node, TREASURY), token_balance(node, tusd, TREASURY)
    tank_eth, tank_nonce = eth_balance(node, tank), int(node.rpc("eth_getTransactionCount", tank, "latest"), 16)
    async with rt.sessions() as s, s.begin():
        native_payments = [await create_payment(rt, merchant_id, PaymentRequest("anvil", "ETH", _dec(a, 18)), within=s)
                           for a in natives]
        token_payments = [await create_payment(rt, merchant_id, PaymentRequest("anvil", "TUSD", _dec(a, 6)), within=s)
                          for a in tokens]
    rpc = Rpc(node.rpc_url)
    funder = Payer(FUNDER_KEY, rpc)  # one connection, signed here: 21 payments in well under a second
    sent = [funder.native(p.address, amount) for p, amount in zip(native_payments[:-1], natives)]
    split = native_payments[-1]
    third = natives[-1] // 3
    sent += [funder.native(split.address, third), funder.native(split.address, natives[-1] - third)]
    sent += [funder.token(tusd, p.address, amount) for p, amount in zip(token_payments, tokens)]
    funder.wait(sent)
    rpc.close()
    await scan_chain(rt, "anvil")
    await confirm_step(rt, "anvil")
    async with rt.sessions() as s:
        ids = [p.id for p in native_payments + token_payments]
        assert set(await s.scalars(select(Payment.status).where(Payment.id.in_(ids)))) == {"confirmed"}

    reports = await sweep_to_quiet(rt, keys)
    assert len(reports[0].created) == 10 + 2 * 10  # every deposit started in the first pass
    assert not any(r.errors for r in reports)

    native_fees = native_left = 0
    for p, amount in zip(native_payments, natives):
        (sweep,) = await sweeps_of(rt, p.address)
        assert (sweep.kind, sweep.state) == ("native", "done")
        receipt = node.rpc("eth_getTransactionReceipt", sweep.tx_hash)
        fee, left = fee_paid(node, sweep.tx_hash), eth_balance(node, p.address)
        # what stays is exactly the fee reserve the sweep did not burn: less than any sweep would cost
        assert left == 21_000 * (sweep.max_fee_per_gas - int(receipt["effectiveGasPrice"], 16))
        assert sweep.amount_base_units == amount - fee - left
        assert int(node.rpc("eth_getTransactionCount", p.address, "latest"), 16) == 1
        native_fees, native_left = native_fees + fee, native_left + left
    assert eth_balance(node, TREASURY) - treasury_eth == sum(natives) - native_fees - native_left

    topup_wei = topup_fees = 0
    for p, amount in zip(token_payments, tokens):
        topup, sweep = await sweeps_of(rt, p.address)
        assert (topup.kind, topup.state, sweep.kind, sweep.state) == ("gas_topup", "done", "token", "done")
        assert sweep.amount_base_units == amount and token_balance(node, tusd, p.address) == 0
        assert eth_balance(node, p.address) == topup.amount_base_units - fee_paid(node, sweep.tx_hash)
        topup_wei, topup_fees = topup_wei + topup.amount_base_units, topup_fees + fee_paid(node, topup.tx_hash)
    assert token_balance(node, tusd, TREASURY) - treasury_tusd == sum(tokens)
    assert tank_eth - eth_balance(node, tank) == topup_wei + topup_fees  # the tank paid the gas, nothing else
    assert int(node.rpc("eth_getTransactionCount", tank, "latest"), 16) == tank_nonce + 10

    async with rt.sessions() as s:
        swept = list(await s.scalars(select(Event.payment_id).where(Event.payment_id.in_(ids),
                                                                     Event.type == "payment.swept")))
    assert sorted(swept) == sorted(ids)  # one payment.swept each


@pytest.mark.parametrize("asset, units", [("ETH", ETH // 2), ("TUSD", 3_000_000)])
async def test_late_payment_is_confirmed_and_swept(rt, node, tusd, keys, merchant_id, asset, units):
    async with rt.sessions() as s, s.begin():
        request = PaymentRequest("anvil", asset, _dec(units, 18 if asset == "ETH" else 6))
        p = await create_payment(rt, merchant_id, request, within=s)
        await s.execute(update(Payment).where(Payment.id == p.id).values(expires_at=utcnow() - timedelta(seconds=5)))
    node.rpc("evm_mine")  # expiry waits for a scanned block at or past expires_at
    await scan_chain(rt, "anvil")
    await confirm_step(rt, "anvil")
    async with rt.sessions() as s:
        assert (await s.get(Payment, p.id)).status == "expired"
    treasury = eth_balance(node, TREASURY) if asset == "ETH" else token_balance(node, tusd, TREASURY)

    if asset == "ETH":
        send_native(node.rpc_url, FUNDER_KEY, p.address, units)
    else:
        transfer(node.rpc_url, FUNDER_KEY, tusd, p.address, units)
    await scan_chain(rt, "anvil")
    await confirm_step(rt, "anvil")
    async with rt.sessions() as s:
        payment = await s.get(Payment, p.id)
        (t,) = await s.scalars(select(Transfer).where(Transfer.payment_id == p.id))
    assert payment.status == "expired" and payment.late and t.late and t.state == "confirmed"

    await sweep_to_quiet(rt, keys)
    sweeps = await sweeps_of(rt, p.address)
    assert [s.kind for s in sweeps] == (["native"] if asset == "ETH" else ["gas_topup", "token"])
    assert all(s.state == "done" for s in sweeps)
    if asset == "ETH":
        left = eth_balance(node, p.address)
        assert eth_balance(node, TREASURY) - treasury == units - fee_paid(node, sweeps[0].tx_hash) - left
    else:
        assert token_balance(node, tusd, TREASURY) - treasury == units
        assert token_balance(node, tusd, p.address) == 0
    async with rt.sessions() as s:
        types = list(await s.scalars(select(Event.type).where(Event.payment_id == p.id).order_by(Event.seq)))
    assert types == ["payment.expired", "payment.late", "payment.swept"]

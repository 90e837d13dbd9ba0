"""Misdirected funds, end to end on two Anvil chains with the same deposit address.

A payment on `anvil` (31337); its payer sends ETH and TUSD to the same address on `sepolia` (a second
Anvil serving 11155111 through the `ethereum` adapter). Invariants, checked against both chains:

- the transfers are recorded against the payment, on the chain where they landed, and announced
  (`payment.misdirected`, once per transfer), listed apart in the payment object (`misdirected`);
- they never count toward the amount and never move the payment's status: not detected, not
  confirmed, and not expired by the other chain's clock (expiry waits for the payment's own scanner);
- they are confirmed and swept on the chain where they landed, to that chain's treasury;
- paid on its own chain, the payment confirms on exactly what arrived there.
"""

from __future__ import annotations

import pytest
import pytest_asyncio
from sqlalchemy import select

from ctrip_core.db.models import Event, Payment, Transfer
from ctrip_core.devnet.accounts import FUNDER_KEY, TREASURY
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.chains_yaml import anvil_chain, write_chains_file
from ctrip_core.devnet.payer import Payer
from ctrip_core.runtime import build_runtime
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.services.payments.payment_view import render_one
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.sweep_pass import sweep_pass
from ctrip_core.services.watching.confirming import confirm_step
from ctrip_core.services.watching.scanning import scan_chain
from ctrip_core.devnet.accounts import GATEWAY_MNEMONIC, GATEWAY_XPUB
from testbed import create_database, deploy_funded_token, drop_database, make_settings, new_merchant

pytestmark = pytest.mark.timeout(120)
ETH = 10**18
SEPOLIA = 11155111


def _two_chains():
    home, other = AnvilNode.start(), AnvilNode.start(chain_id=SEPOLIA)
    yield home, other
    home.stop()
    other.stop()


nodes = pytest.fixture(scope="module", name="nodes")(_two_chains)


@pytest_asyncio.fixture
async def gw(nodes, tmp_path):
    home, other = nodes
    tokens = deploy_funded_token(home.rpc_url), deploy_funded_token(other.rpc_url)
    chains_file = write_chains_file(tmp_path / "chains.yaml", {
        "anvil": anvil_chain(home.rpc_url, tokens[0]),
        "sepolia": anvil_chain(other.rpc_url, tokens[1], chain_id=SEPOLIA, adapter="ethereum")})
    url = create_database()
    rt = build_runtime(make_settings(url, chains_file, wallet={"xpub": GATEWAY_XPUB, "mnemonic": GATEWAY_MNEMONIC}),
                       "sweeper")
    for chain in ("anvil", "sepolia"):
        await scan_chain(rt, chain)
    keys = SweepKeys.from_settings(rt.settings, rt.chain_configs())
    other.rpc("anvil_setBalance", keys.tank_address("sepolia"), hex(10 * ETH))
    merchant_id = (await new_merchant(rt))[0]
    yield {"rt": rt, "keys": keys, "merchant": merchant_id, "tokens": tokens,
           "home": Payer(FUNDER_KEY, home.rpc_url), "other": Payer(FUNDER_KEY, other.rpc_url), "nodes": nodes}
    await rt.close()
    drop_database(url)


async def sync(rt, chain: str) -> None:
    await scan_chain(rt, chain)
    await confirm_step(rt, chain)


async def state(rt, payment_id: str):
    async with rt.sessions() as s:
        payment = await s.get(Payment, payment_id)
        transfers = list(await s.scalars(select(Transfer).where(Transfer.payment_id == payment_id)
                                         .order_by(Transfer.id)))
        events = list(await s.scalars(select(Event.type).where(Event.payment_id == payment_id).order_by(Event.seq)))
        body = await render_one(s, payment)
    return payment, transfers, events, body


async def test_a_token_on_another_chain_is_recorded_announced_swept_and_never_counted(gw):
    rt, home, other = gw["rt"], gw["home"], gw["other"]
    p = await create_payment(rt, gw["merchant"], PaymentRequest("anvil", "ETH", "1"))
    other.wait([other.token(gw["tokens"][1], p.address, 3_000_000)])  # "USDC on Base for an Ethereum payment"
    for _ in range(2):
        await sync(rt, "sepolia")
        await sync(rt, "anvil")

    payment, transfers, events, body = await state(rt, p.id)
    assert payment.status == "pending" and payment.amount_received_base_units == 0
    assert [(t.chain, t.asset, t.amount_base_units, t.state) for t in transfers] == [
        ("sepolia", "TUSD", 3_000_000, "confirmed")]
    assert events == ["payment.misdirected"]
    assert body["transfers"] == [] and body["amount_received_base_units"] == "0"
    assert [(m["chain"], m["asset"], m["amount_base_units"], m["token_address"]) for m in body["misdirected"]] == [
        ("sepolia", "TUSD", "3000000", gw["tokens"][1])]

    for _ in range(4):  # the tank's gas top-up, then the token sweep
        await sweep_pass(rt, gw["keys"], "sepolia")
        await sync(rt, "sepolia")
    _, (transfer,), events, body = await state(rt, p.id)
    assert transfer.sweep_id is not None and body["misdirected"][0]["sweep_state"] == "done"
    assert body["sweep"]["state"] == "none"  # the payment's own funds: none yet
    assert token_balance(gw["nodes"][1], gw["tokens"][1], p.address) == 0
    assert token_balance(gw["nodes"][1], gw["tokens"][1], TREASURY) >= 3_000_000  # the chain where it landed
    assert "payment.swept" not in events and "payment.detected" not in events  # swept says: its own funds

    home.wait([home.native(p.address, ETH)])  # paid on its own chain: confirmed on exactly that
    await sync(rt, "anvil")
    payment, _, events, body = await state(rt, p.id)
    assert payment.status == "confirmed" and payment.amount_received_base_units == ETH and not payment.overpaid
    assert events[-2:] == ["payment.detected", "payment.confirmed"] and len(body["transfers"]) == 1


def token_balance(node, token: str, owner: str) -> int:
    return int(node.rpc("eth_call", {"to": token, "data": "0x70a08231" + "0" * 24 + owner[2:].lower()}, "latest"), 16)


async def test_native_coin_on_another_chain_is_swept_there_and_its_clock_never_expires_the_payment(gw):
    rt, other, (_, other_node) = gw["rt"], gw["other"], gw["nodes"]
    p = await create_payment(rt, gw["merchant"], PaymentRequest("anvil", "ETH", "1", expires_in=60))
    other_node.rpc("evm_increaseTime", 7200)  # the other chain's blocks are two hours ahead
    other.wait([other.native(p.address, ETH)])
    await sync(rt, "sepolia")
    await sync(rt, "sepolia")
    payment, (transfer,), events, _ = await state(rt, p.id)
    assert payment.status == "pending" and events == ["payment.misdirected"] and transfer.state == "confirmed"
    treasury = int(other_node.rpc("eth_getBalance", TREASURY, "latest"), 16)
    for _ in range(2):
        await sweep_pass(rt, gw["keys"], "sepolia")
        await sync(rt, "sepolia")
    _, (transfer,), _, _ = await state(rt, p.id)
    assert transfer.sweep_id is not None
    assert int(other_node.rpc("eth_getBalance", TREASURY, "latest"), 16) - treasury > ETH * 99 // 100
    assert (await state(rt, p.id))[0].status == "pending"


# --- payments.equivalent_assets: an equivalent asset on another chain pays ------------------------

#: Two chains of their own: the tests above move the other chain's clock two hours ahead.
clean_nodes = pytest.fixture(scope="module", name="clean_nodes")(_two_chains)


@pytest_asyncio.fixture(scope="module")
async def equivalent(clean_nodes, tmp_path_factory):
    """`anvil` with TUSD (6 decimals), `sepolia` with DUSD (18 decimals); [["TUSD", "DUSD"]]: equivalent.
    One database for the module, as the chains are: no deposit address is reused by another test."""
    from ctrip_core.devnet.accounts import FUNDER
    from ctrip_core.devnet.token import deploy_test_token, mint

    nodes = home, other = clean_nodes
    tusd = deploy_funded_token(home.rpc_url)
    dusd = deploy_test_token(other.rpc_url, FUNDER_KEY, decimals=18)
    mint(other.rpc_url, FUNDER_KEY, dusd, FUNDER, 10**30)
    chains_file = write_chains_file(tmp_path_factory.mktemp("equivalent") / "chains.yaml", {
        "anvil": anvil_chain(home.rpc_url, tusd),
        "sepolia": anvil_chain(other.rpc_url, chain_id=SEPOLIA, adapter="ethereum",
                               tokens=[{"symbol": "DUSD", "address": dusd, "decimals": 18}])})
    url = create_database()
    rt = build_runtime(make_settings(url, chains_file, wallet={"xpub": GATEWAY_XPUB, "mnemonic": GATEWAY_MNEMONIC},
                                     payments={"equivalent_assets": [["TUSD", "DUSD"]]}), "sweeper")
    for chain in ("anvil", "sepolia"):
        await scan_chain(rt, chain)
    keys = SweepKeys.from_settings(rt.settings, rt.chain_configs())
    other.rpc("anvil_setBalance", keys.tank_address("sepolia"), hex(10 * ETH))
    yield {"rt": rt, "keys": keys, "merchant": (await new_merchant(rt))[0], "tusd": tusd, "dusd": dusd,
           "home": Payer(FUNDER_KEY, home.rpc_url), "other": Payer(FUNDER_KEY, other.rpc_url), "nodes": nodes}
    await rt.close()
    drop_database(url)


async def test_an_equivalent_asset_on_another_chain_counts_at_its_decimals_and_is_swept_where_it_landed(equivalent):
    rt, home, other = equivalent["rt"], equivalent["home"], equivalent["other"]
    p = await create_payment(rt, equivalent["merchant"], PaymentRequest("anvil", "TUSD", "10"))
    four_and_a_crumb = 4 * 10**18 + 10**12 - 1  # 4.000000999999 DUSD: 4.000000 TUSD, never rounded up
    other.wait([other.token(equivalent["dusd"], p.address, four_and_a_crumb)])
    await scan_chain(rt, "sepolia")  # seen on the other chain: it counts, the payment is detected
    payment, (transfer,), events, _ = await state(rt, p.id)
    assert transfer.credited_base_units == 4_000_000 and transfer.amount_base_units == four_and_a_crumb
    assert payment.status == "detected" and payment.amount_received_base_units == 4_000_000
    assert events == ["payment.detected"]  # not misdirected

    await confirm_step(rt, "sepolia")  # confirmed there; the payment is still short
    home.wait([home.token(equivalent["tusd"], p.address, 6_000_000)])
    await sync(rt, "anvil")
    payment, transfers, events, body = await state(rt, p.id)
    assert payment.status == "confirmed" and payment.amount_received_base_units == 10_000_000 and not payment.overpaid
    assert events == ["payment.detected", "payment.confirmed"]
    assert sorted((t["chain"], t["asset"], t["amount_base_units"], t["credited_base_units"])
                  for t in body["transfers"]) == [("anvil", "TUSD", "6000000", "6000000"),
                                                  ("sepolia", "DUSD", str(four_and_a_crumb), "4000000")]
    assert body["misdirected"] == [] and all(t["confirmations"] >= 1 for t in body["transfers"])

    for _ in range(4):  # DUSD is swept on sepolia, to sepolia's treasury
        await sweep_pass(rt, equivalent["keys"], "sepolia")
        await sync(rt, "sepolia")
    assert token_balance(equivalent["nodes"][1], equivalent["dusd"], p.address) == 0
    assert token_balance(equivalent["nodes"][1], equivalent["dusd"], TREASURY) >= four_and_a_crumb


async def test_the_other_chains_confirmation_confirms_the_payment(equivalent):
    rt, other = equivalent["rt"], equivalent["other"]
    p = await create_payment(rt, equivalent["merchant"], PaymentRequest("anvil", "TUSD", "2"))
    other.wait([other.token(equivalent["dusd"], p.address, 2 * 10**18)])
    await sync(rt, "sepolia")  # the confirmer of sepolia settles anvil's payment
    payment, _, events, _ = await state(rt, p.id)
    assert payment.status == "confirmed" and events == ["payment.detected", "payment.confirmed"]


async def test_dust_crediting_under_one_unit_neither_detects_nor_moves_the_payment(equivalent):
    rt, other = equivalent["rt"], equivalent["other"]
    p = await create_payment(rt, equivalent["merchant"], PaymentRequest("anvil", "TUSD", "2"))
    other.wait([other.token(equivalent["dusd"], p.address, 10**12 - 1)])  # under 0.000001 TUSD
    await sync(rt, "sepolia")
    payment, (transfer,), events, _ = await state(rt, p.id)
    assert transfer.credited_base_units == 0 and payment.status == "pending" and events == []


async def test_funds_credited_from_another_chain_are_announced_swept(equivalent):
    rt, other = equivalent["rt"], equivalent["other"]
    p = await create_payment(rt, equivalent["merchant"], PaymentRequest("anvil", "TUSD", "1"))
    other.wait([other.token(equivalent["dusd"], p.address, 10**18)])
    await sync(rt, "sepolia")
    for _ in range(4):
        await sweep_pass(rt, equivalent["keys"], "sepolia")
        await sync(rt, "sepolia")
    _, _, events, body = await state(rt, p.id)
    assert events[-1] == "payment.swept" and body["sweep"]["state"] == "done"


async def test_a_transfer_recorded_without_a_credit_by_an_older_process_counts_by_the_old_rule(equivalent):
    from sqlalchemy import update

    rt, home = equivalent["rt"], equivalent["home"]
    p = await create_payment(rt, equivalent["merchant"], PaymentRequest("anvil", "TUSD", "2"))
    home.wait([home.token(equivalent["tusd"], p.address, 2_000_000)])
    await scan_chain(rt, "anvil")
    async with rt.sessions() as s, s.begin():  # what a process of before migration 0009 writes
        await s.execute(update(Transfer).where(Transfer.payment_id == p.id).values(credited_base_units=None))
    await confirm_step(rt, "anvil")
    payment, _, events, _ = await state(rt, p.id)
    assert payment.status == "confirmed" and payment.amount_received_base_units == 2_000_000
    assert events == ["payment.detected", "payment.confirmed"]


async def test_the_auditor_of_the_other_chain_finds_what_its_scanner_missed_there(equivalent):
    from sqlalchemy import update

    from ctrip_core.db.models import ChainCursor
    from ctrip_core.services.reconcile.audit import reconcile_chain

    rt, other, (_, other_node) = equivalent["rt"], equivalent["other"], equivalent["nodes"]
    p = await create_payment(rt, equivalent["merchant"], PaymentRequest("anvil", "TUSD", "3"))
    tx = other.token(equivalent["dusd"], p.address, 3 * 10**18)
    other.wait([tx])
    head = int(other_node.rpc("eth_blockNumber"), 16)
    async with rt.sessions() as s, s.begin():  # sepolia's scanner passes the block without reading it
        await s.execute(update(ChainCursor).where(ChainCursor.chain == "sepolia").values(last_block=head))
    await sync(rt, "sepolia")
    assert (await state(rt, p.id))[1] == []
    report = await reconcile_chain(rt, "sepolia")  # an anvil payment's address, audited on sepolia
    assert [d for d in report.unexplained if d.address == p.address] == []  # (other tests' dust: their own)
    assert [c.split(":")[0] for c in report.credited] == [tx]
    payment, (transfer,), events, _ = await state(rt, p.id)
    assert (transfer.chain, transfer.source, transfer.credited_base_units) == ("sepolia", "reconcile", 3_000_000)
    assert payment.status == "detected" and events == ["payment.detected"]


async def test_a_lagging_paying_chain_holds_expiry_back_so_its_on_time_transfer_still_counts(equivalent):
    """Moves anvil's clock an hour ahead: the last but one test of the module."""
    rt, other, (home_node, _) = equivalent["rt"], equivalent["other"], equivalent["nodes"]
    p = await create_payment(rt, equivalent["merchant"], PaymentRequest("anvil", "TUSD", "2", expires_in=60))
    other.wait([other.token(equivalent["dusd"], p.address, 2 * 10**18)])  # on time, not scanned yet
    home_node.rpc("evm_increaseTime", 3600)
    home_node.rpc("evm_mine")
    await sync(rt, "anvil")  # anvil is past the expiry, sepolia's scanner is not: not judged yet
    assert (await state(rt, p.id))[0].status == "pending"
    await sync(rt, "sepolia")
    payment, _, events, _ = await state(rt, p.id)
    assert payment.status == "confirmed" and not payment.late and events == ["payment.detected", "payment.confirmed"]


async def test_an_equivalent_asset_arriving_after_expiry_by_its_blocks_time_is_misdirected(equivalent):
    rt, other, (_, other_node) = equivalent["rt"], equivalent["other"], equivalent["nodes"]
    p = await create_payment(rt, equivalent["merchant"], PaymentRequest("anvil", "TUSD", "2", expires_in=60))
    other_node.rpc("evm_increaseTime", 7200)  # its block is two hours past the payment's expiry (the last test)
    other.wait([other.token(equivalent["dusd"], p.address, 2 * 10**18)])
    await sync(rt, "sepolia")
    payment, (transfer,), events, body = await state(rt, p.id)
    assert transfer.credited_base_units is None and payment.status == "pending"  # anvil's clock says when it expires
    assert events == ["payment.misdirected"] and len(body["misdirected"]) == 1 and body["transfers"] == []

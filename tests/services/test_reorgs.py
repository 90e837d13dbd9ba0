"""Reorgs on a real Anvil: a dropped payment, a moved payment, and one deeper than the confirmation depth."""

import pytest_asyncio
from eth_account import Account

from testbed import create_database, drop_database, make_settings, new_merchant
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY
from ctrip_core.devnet.token import deploy_test_token, send_native
from ctrip_core.runtime import build_runtime
from ctrip_core.services.watching.confirming import confirm_step
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.services.watching.scanning import scan_chain
from test_scanning import reload

ETH = 10**18


async def make_runtime(node, tmp_path, confirmations):
    token = deploy_test_token(node.rpc_url, FUNDER_KEY) if node.rpc("eth_getCode",
                                                                    "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                                                                    "latest") == "0x" \
        else "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    url = create_database()
    chains = write_anvil_chains_file(tmp_path / "chains.yaml", node.rpc_url, token, confirmations=confirmations)
    rt = build_runtime(make_settings(url, chains), "api")
    await scan_chain(rt, "anvil")
    merchant_id = (await new_merchant(rt))[0]
    return rt, url, merchant_id


@pytest_asyncio.fixture
async def deep(node, tmp_path):
    rt, url, merchant_id = await make_runtime(node, tmp_path, confirmations=3)
    yield rt, merchant_id
    await rt.close()
    drop_database(url)


@pytest_asyncio.fixture
async def shallow(node, tmp_path):
    rt, url, merchant_id = await make_runtime(node, tmp_path, confirmations=1)
    yield rt, merchant_id
    await rt.close()
    drop_database(url)


async def new_payment(rt, merchant_id, amount="1"):
    async with rt.sessions() as s, s.begin():
        return await create_payment(rt, merchant_id, PaymentRequest("anvil", "ETH", amount), within=s)


async def sync(rt):
    await scan_chain(rt, "anvil")
    await confirm_step(rt, "anvil")


def signed_payment(node, to, value) -> str:
    tx = {"type": 2, "chainId": 31337, "nonce": int(node.rpc("eth_getTransactionCount", FUNDER, "pending"), 16),
          "gas": 21_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "to": to, "value": value, "data": "0x"}
    return "0x" + Account.sign_transaction(tx, FUNDER_KEY).raw_transaction.hex().removeprefix("0x")


async def test_reorg_that_drops_the_paying_transaction(node, deep):
    rt, merchant_id = deep
    p = await new_payment(rt, merchant_id)
    send_native(node.rpc_url, FUNDER_KEY, p.address, ETH)
    await sync(rt)
    assert (await reload(rt, p.id))[0].status == "detected"
    node.rpc("anvil_reorg", 1, [])  # the block holding the payment is replaced, its tx dropped
    await sync(rt)
    node.rpc("anvil_mine", "0x5")
    await sync(rt)
    payment, transfers, events = await reload(rt, p.id)
    assert payment.status == "pending" and payment.amount_received_base_units == 0
    assert [t.state for t in transfers] == ["orphaned"]
    assert events == ["payment.detected", "payment.reorged"]


async def test_reorg_that_moves_the_paying_transaction_to_another_block(node, deep):
    rt, merchant_id = deep
    p = await new_payment(rt, merchant_id)
    snapshot = node.rpc("evm_snapshot")
    raw = signed_payment(node, p.address, ETH)
    tx_hash = node.rpc("eth_sendRawTransaction", raw)
    node.rpc("anvil_mine", "0x1")
    first_block = int(node.rpc("eth_getTransactionReceipt", tx_hash)["blockNumber"], 16)
    await sync(rt)
    assert (await reload(rt, p.id))[0].status == "detected"
    node.rpc("evm_revert", snapshot)
    node.rpc("anvil_mine", "0x2")  # a competing fork, longer than the one we saw
    assert node.rpc("eth_sendRawTransaction", raw) == tx_hash
    node.rpc("anvil_mine", "0x1")
    moved_block = int(node.rpc("eth_getTransactionReceipt", tx_hash)["blockNumber"], 16)
    assert moved_block != first_block
    await sync(rt)
    node.rpc("anvil_mine", "0x3")
    await sync(rt)
    payment, transfers, events = await reload(rt, p.id)
    assert payment.status == "confirmed" and payment.amount_received_base_units == ETH
    assert len(transfers) == 1 and transfers[0].block_number == moved_block and transfers[0].state == "confirmed"
    assert events == ["payment.detected", "payment.reorged", "payment.detected", "payment.confirmed"]


async def test_reorg_deeper_than_one_confirmation(node, shallow):
    """Confirmed is final (CONTRACT §4): the payment stays confirmed, but the lost transfer is orphaned,
    amount_received drops, and payment.reorged tells the merchant (docs/payments.md)."""
    rt, merchant_id = shallow
    p = await new_payment(rt, merchant_id)
    send_native(node.rpc_url, FUNDER_KEY, p.address, ETH)
    await sync(rt)
    assert (await reload(rt, p.id))[0].status == "confirmed"
    node.rpc("anvil_reorg", 2, [])
    await sync(rt)
    payment, transfers, events = await reload(rt, p.id)
    assert payment.status == "confirmed" and payment.amount_received_base_units == 0
    assert [t.state for t in transfers] == ["orphaned"]
    assert events == ["payment.detected", "payment.confirmed", "payment.reorged"]

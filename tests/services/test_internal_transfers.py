"""Internal transfers (native coin paid by a contract) scanned from call traces, on a real Anvil.

The Forwarder (contracts/Forwarder.sol) pays deposit addresses from inside a transaction, as Safe
wallets, smart accounts and exchanges' batched withdrawals do. Each test runs its own gateway
(database and runtime) on the module's Anvil, in the `traces:` mode it names.
"""

from contextlib import asynccontextmanager

import pytest
from eth_account import Account
from sqlalchemy import select

from testbed import create_database, drop_database, make_settings, new_merchant
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.db.models import Sweep
from ctrip_core.devnet import forwarder as fw
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY, GATEWAY_MNEMONIC, GATEWAY_XPUB, TREASURY
from ctrip_core.devnet.token import _calldata, send_native
from ctrip_core.runtime import build_runtime
from ctrip_core.services.watching.confirming import confirm_step
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.services.watching.scanning import scan_chain
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.sweep_pass import sweep_pass
from test_scanning import reload

ETH = 10**18
TRACED = pytest.mark.parametrize("traces", ["debug", "trace"])


@pytest.fixture(scope="module")
def forwarder(node) -> str:
    return fw.deploy_forwarder(node.rpc_url, FUNDER_KEY)


@asynccontextmanager
async def gateway(node, tusd, tmp_path, traces, *, confirmations=1, sweeper=False):
    """→ (runtime, merchant id) on a fresh database, scanning from the node's head."""
    url = create_database()
    chains = write_anvil_chains_file(tmp_path / f"chains-{traces}.yaml", node.rpc_url, tusd, confirmations=confirmations,
                               traces=traces)
    wallet = {"xpub": GATEWAY_XPUB} | ({"mnemonic": GATEWAY_MNEMONIC} if sweeper else {})
    rt = build_runtime(make_settings(url, chains, wallet=wallet), "sweeper" if sweeper else "api")
    try:
        await scan_chain(rt, "anvil")
        yield rt, (await new_merchant(rt))[0]
    finally:
        await rt.close()
        drop_database(url)


async def new_payment(rt, merchant_id, amount="1"):
    async with rt.sessions() as s, s.begin():
        return await create_payment(rt, merchant_id, PaymentRequest("anvil", "ETH", amount), within=s)


async def sync(rt):
    await scan_chain(rt, "anvil")
    await confirm_step(rt, "anvil")


def shape(transfers):
    return [(t.source, t.log_index, t.amount_base_units, t.state) for t in transfers]


@TRACED
async def test_single_forward_confirms(node, tusd, tmp_path, forwarder, traces):
    async with gateway(node, tusd, tmp_path, traces) as (rt, merchant_id):
        p = await new_payment(rt, merchant_id)
        tx = fw.forward(node.rpc_url, FUNDER_KEY, forwarder, p.address, ETH)
        await sync(rt)
        payment, transfers, events = await reload(rt, p.id)
        assert payment.status == "confirmed" and payment.amount_received_base_units == ETH
        assert shape(transfers) == [("trace", -2, ETH, "confirmed")]
        assert transfers[0].tx_hash == tx and transfers[0].from_address == forwarder
        assert events == ["payment.detected", "payment.confirmed"]
        await sync(rt)  # scanned again: still once
        assert len((await reload(rt, p.id))[1]) == 1


@TRACED
async def test_batch_to_two_deposit_addresses_in_one_transaction(node, tusd, tmp_path, forwarder, traces):
    async with gateway(node, tusd, tmp_path, traces) as (rt, merchant_id):
        p, q = await new_payment(rt, merchant_id, "1"), await new_payment(rt, merchant_id, "2")
        tx = fw.forward_batch(node.rpc_url, FUNDER_KEY, forwarder, [p.address, q.address], [ETH, 2 * ETH])
        await sync(rt)
        (first, [t1], _), (second, [t2], _) = await reload(rt, p.id), await reload(rt, q.id)
        assert first.status == second.status == "confirmed"
        assert (t1.tx_hash, t1.log_index, t2.tx_hash, t2.log_index) == (tx, -2, tx, -3)


@TRACED
async def test_reverted_sub_call_delegatecall_and_reverted_transaction_pay_nothing(node, tusd, tmp_path, forwarder,
                                                                                  traces):
    async with gateway(node, tusd, tmp_path, traces) as (rt, merchant_id):
        p = await new_payment(rt, merchant_id)
        fw.forward_then_revert(node.rpc_url, FUNDER_KEY, forwarder, p.address, ETH)
        fw.touch(node.rpc_url, FUNDER_KEY, forwarder, p.address, ETH)
        fw.send_and_revert(node.rpc_url, FUNDER_KEY, forwarder, p.address, ETH)
        await sync(rt)
        payment, transfers, events = await reload(rt, p.id)
        assert payment.status == "pending" and transfers == [] and events == []


async def test_nested_forwarding_counts_the_last_hop(node, tusd, tmp_path, forwarder):
    second = fw.deploy_forwarder(node.rpc_url, FUNDER_KEY)
    async with gateway(node, tusd, tmp_path, "auto") as (rt, merchant_id):
        p = await new_payment(rt, merchant_id)
        fw.forward_via(node.rpc_url, FUNDER_KEY, forwarder, second, p.address, ETH)
        await sync(rt)
        payment, transfers, _ = await reload(rt, p.id)
        assert payment.status == "confirmed" and shape(transfers) == [("trace", -3, ETH, "confirmed")]
        assert transfers[0].from_address == second


async def test_off_sees_nothing(node, tusd, tmp_path, forwarder):
    async with gateway(node, tusd, tmp_path, "off") as (rt, merchant_id):
        p = await new_payment(rt, merchant_id)
        fw.forward(node.rpc_url, FUNDER_KEY, forwarder, p.address, ETH)
        await sync(rt)
        payment, transfers, _ = await reload(rt, p.id)
        assert payment.status == "pending" and transfers == []


@TRACED
async def test_half_top_level_half_internal_confirms(node, tusd, tmp_path, forwarder, traces):
    async with gateway(node, tusd, tmp_path, traces) as (rt, merchant_id):
        p = await new_payment(rt, merchant_id, "2")
        send_native(node.rpc_url, FUNDER_KEY, p.address, ETH)
        await sync(rt)
        assert (await reload(rt, p.id))[0].status == "detected"
        fw.forward(node.rpc_url, FUNDER_KEY, forwarder, p.address, ETH)
        await sync(rt)
        payment, transfers, events = await reload(rt, p.id)
        assert payment.status == "confirmed" and payment.amount_received_base_units == 2 * ETH
        assert shape(transfers) == [("transaction", -1, ETH, "confirmed"), ("trace", -2, ETH, "confirmed")]
        assert events == ["payment.detected", "payment.confirmed"]


def signed_forward(node, forwarder, to, value) -> str:
    data = _calldata("forward(address)", ["address"], [to])
    tx = {"type": 2, "chainId": 31337, "nonce": int(node.rpc("eth_getTransactionCount", FUNDER, "pending"), 16),
          "gas": 100_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "to": forwarder, "value": value,
          "data": data}
    return "0x" + Account.sign_transaction(tx, FUNDER_KEY).raw_transaction.hex().removeprefix("0x")


@TRACED
async def test_reorg_moving_the_forwarding_transaction_keeps_it_counted_once(node, tusd, tmp_path, forwarder, traces):
    async with gateway(node, tusd, tmp_path, traces, confirmations=3) as (rt, merchant_id):
        p = await new_payment(rt, merchant_id)
        snapshot = node.rpc("evm_snapshot")
        raw = signed_forward(node, forwarder, p.address, ETH)
        tx_hash = node.rpc("eth_sendRawTransaction", raw)
        node.rpc("anvil_mine", "0x1")
        first_block = int(node.rpc("eth_getTransactionReceipt", tx_hash)["blockNumber"], 16)
        await sync(rt)
        assert (await reload(rt, p.id))[0].status == "detected"
        node.rpc("evm_revert", snapshot)
        node.rpc("anvil_mine", "0x2")  # a competing fork, longer than the one scanned
        assert node.rpc("eth_sendRawTransaction", raw) == tx_hash
        node.rpc("anvil_mine", "0x1")
        moved_block = int(node.rpc("eth_getTransactionReceipt", tx_hash)["blockNumber"], 16)
        assert moved_block != first_block
        await sync(rt)
        _, transfers, _ = await reload(rt, p.id)
        assert shape(transfers) == [("trace", -2, ETH, "seen")] and transfers[0].block_number == moved_block
        node.rpc("anvil_mine", "0x3")
        await sync(rt)
        payment, transfers, events = await reload(rt, p.id)
        assert payment.status == "confirmed" and payment.amount_received_base_units == ETH
        assert shape(transfers) == [("trace", -2, ETH, "confirmed")] and transfers[0].block_number == moved_block
        assert events == ["payment.detected", "payment.reorged", "payment.detected", "payment.confirmed"]


async def test_reorg_dropping_the_forwarding_transaction_orphans_it(node, tusd, tmp_path, forwarder):
    async with gateway(node, tusd, tmp_path, "debug", confirmations=3) as (rt, merchant_id):
        p = await new_payment(rt, merchant_id)
        fw.forward(node.rpc_url, FUNDER_KEY, forwarder, p.address, ETH)
        await sync(rt)
        node.rpc("anvil_reorg", 1, [])
        await sync(rt)
        node.rpc("anvil_mine", "0x5")
        await sync(rt)
        payment, transfers, events = await reload(rt, p.id)
        assert payment.status == "pending" and shape(transfers) == [("trace", -2, ETH, "orphaned")]
        assert events == ["payment.detected", "payment.reorged"]


async def test_sweeper_sweeps_an_internal_transfer(node, tusd, tmp_path, forwarder):
    async with gateway(node, tusd, tmp_path, "auto", sweeper=True) as (rt, merchant_id):
        keys = SweepKeys.from_settings(rt.settings, rt.chain_configs())
        before = int(node.rpc("eth_getBalance", TREASURY, "latest"), 16)
        p = await new_payment(rt, merchant_id, "2")
        # each test's database derives the same addresses: this one may hold earlier tests' coin too
        held = int(node.rpc("eth_getBalance", p.address, "latest"), 16)
        fw.forward(node.rpc_url, FUNDER_KEY, forwarder, p.address, 2 * ETH)
        await sync(rt)
        assert (await reload(rt, p.id))[0].status == "confirmed"
        for _ in range(4):
            await sweep_pass(rt, keys, "anvil")
        async with rt.sessions() as s:
            (sweep,) = list(await s.scalars(select(Sweep).where(Sweep.from_address == p.address)))
        assert sweep.state == "done" and sweep.kind == "native"
        receipt = node.rpc("eth_getTransactionReceipt", sweep.tx_hash)
        fee = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
        left = int(node.rpc("eth_getBalance", p.address, "latest"), 16)
        assert int(node.rpc("eth_getBalance", TREASURY, "latest"), 16) - before == held + 2 * ETH - fee - left
        assert left < 21_000 * sweep.max_fee_per_gas
        assert (await reload(rt, p.id))[2][-1] == "payment.swept"

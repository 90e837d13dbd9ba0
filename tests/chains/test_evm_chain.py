"""`EVMChain` (through `AnvilChain` and `BscChain`) against a real Anvil: reading, fees, identity, bad answers.

The session node is shared: nothing here relies on absolute block numbers, and the one destructive
test (a reorg) runs on a node of its own.
"""

from __future__ import annotations

import asyncio

import pytest
from ctrip_anvil import AnvilChain
from ctrip_bsc import BscChain
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from fault_proxy import FaultProxy

from ctrip_core.chains import (ChainIdMismatch, FeeQuote, MalformedAnswer, Receipt, RetryPolicy, RpcClient,
                               RpcError, RpcUnavailable, Tx)
from ctrip_core.config import ChainConfig
from ctrip_core.devnet import token as tt
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY
from ctrip_core.devnet.anvil import AnvilNode

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
FAST = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.002)


def chain_config(rpc_url: str | list[str], *, chain_id: int = 31337, adapter: str = "anvil",
                 name: str = "anvil") -> ChainConfig:
    return ChainConfig(name=name, adapter=adapter, chain_id=chain_id, rpc_url=rpc_url, confirmations=1,
                       block_time_s=1, native={"symbol": "ETH", "decimals": 18}, tokens=[])


def topic_address(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


async def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
async def adapters():
    """Build adapters with `make(cls, urls, ...)`; each is closed after the test."""
    made = []

    def make(cls=AnvilChain, urls=None, *, chain_id: int = 31337, retry: RetryPolicy = FAST):
        cfg = chain_config(urls, chain_id=chain_id, adapter=cls.name, name=cls.name)
        chain = cls(cfg, RpcClient(cfg.rpc_urls, timeout_s=2, retry=retry, sleep=no_sleep))
        made.append(chain)
        return chain

    yield make
    for chain in made:
        await chain.close()


@pytest.fixture
def chain(anvil, adapters) -> AnvilChain:
    return adapters(AnvilChain, anvil.rpc_url)


@pytest.fixture
def proxy(anvil):
    with FaultProxy(anvil.rpc_url) as p:
        yield p


async def mined(chain, tx_hash: str, timeout_s: float = 10.0) -> Receipt:
    """Wait for the receipt: under automine Anvil answers eth_sendRawTransaction before the block exists."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (receipt := (await chain.get_receipts([tx_hash]))[0]) is None:
        assert asyncio.get_running_loop().time() < deadline, f"{tx_hash} not mined after {timeout_s}s"
        await asyncio.sleep(0.01)
    return receipt


async def send_value(chain, key: str, to: str, value: int) -> str:
    """Sign a plain EIP-1559 value transfer, send it through the adapter and wait until it is mined."""
    sender = Account.from_key(key).address
    fees = await chain.fee_quote()
    tx = {"type": 2, "chainId": await chain.chain_id(), "nonce": await chain.get_transaction_count(sender),
          "to": to, "value": value, "gas": 21_000, "maxFeePerGas": fees.max_fee_per_gas,
          "maxPriorityFeePerGas": fees.max_priority_fee_per_gas}
    raw = Account.sign_transaction(tx, key).raw_transaction
    tx_hash = await chain.send_raw_transaction("0x" + raw.hex().removeprefix("0x"))
    await mined(chain, tx_hash)
    return tx_hash


# -- identity ------------------------------------------------------------------------------

async def test_chain_id(chain):
    assert await chain.chain_id() == 31337
    await chain.verify_chain_id()


async def test_verify_chain_id_names_both_ids(anvil, adapters):
    wrong = adapters(AnvilChain, anvil.rpc_url, chain_id=1)
    with pytest.raises(ChainIdMismatch) as info:
        await wrong.verify_chain_id()
    message = str(info.value)
    assert "chain_id 1 " in message and "answers 31337" in message and anvil.rpc_url in message


async def test_confirmations_come_from_config_else_adapter_default(anvil):
    cfg = chain_config(anvil.rpc_url).model_copy(update={"confirmations": None})
    assert AnvilChain(cfg).confirmations == AnvilChain.default_confirmations == 1
    assert BscChain(cfg).confirmations == 15
    assert AnvilChain(chain_config(anvil.rpc_url).model_copy(update={"confirmations": 7})).confirmations == 7


# -- reading -------------------------------------------------------------------------------

async def test_head_follows_the_node(anvil, chain):
    head = await chain.head()
    assert head == int(anvil.rpc("eth_blockNumber"), 16)
    await chain.mine(2)
    assert await chain.head() == head + 2


async def test_get_blocks_in_one_batch_with_full_transactions(anvil, adapters, proxy):
    chain = adapters(AnvilChain, proxy.url)
    recipient = Account.create().address
    tx_hash = await send_value(chain, FUNDER_KEY, recipient, 12_345)
    (receipt,) = await chain.get_receipts([tx_hash])
    n = receipt.block_number
    await chain.mine(1)

    proxy.reset_counters()
    blocks = await chain.get_blocks([n - 1, n, n + 1])
    assert proxy.requests == 1 and proxy.seen[0].methods == ("eth_getBlockByNumber",) * 3
    assert [b.number for b in blocks] == [n - 1, n, n + 1]
    assert blocks[1].hash == receipt.block_hash
    assert blocks[1].parent_hash == blocks[0].hash and blocks[2].parent_hash == blocks[1].hash
    assert blocks[0].timestamp <= blocks[1].timestamp <= blocks[2].timestamp
    assert blocks[1].transactions == (Tx(hash=tx_hash.lower(), from_address=FUNDER, to_address=recipient,
                                         value=12_345),)
    assert blocks[2].transactions == ()  # mined empty

    (header,) = await chain.get_blocks([n], full=False)
    assert header.hash == blocks[1].hash and header.transactions == ()


async def test_block_by_tag(chain):
    latest = await chain.block_by_tag("latest")
    assert latest is not None and latest.number == await chain.head()
    assert (await chain.block_by_tag(0)).number == 0
    assert await chain.block_by_tag(latest.number + 1000) is None


async def test_get_blocks_beyond_head_is_an_error_not_a_gap(chain):
    head = await chain.head()
    with pytest.raises(RpcError):
        await chain.get_blocks([head, head + 1000])


@pytest.fixture(scope="module")
def token(anvil) -> str:
    return tt.deploy_test_token(anvil.rpc_url, FUNDER_KEY)


async def test_get_logs_of_token_transfers(anvil, chain, token):
    alice, bob = Account.create().address, Account.create().address
    mint_hash = tt.mint(anvil.rpc_url, FUNDER_KEY, token, FUNDER, 1_000_000)
    batch_hash = tt.batch_transfer(anvil.rpc_url, FUNDER_KEY, token, [alice, bob], [250, 750])
    mint_receipt, batch_receipt = await chain.get_receipts([mint_hash, batch_hash])

    logs = await chain.get_logs(batch_receipt.block_number, batch_receipt.block_number, [token], [TRANSFER_TOPIC])
    assert len(logs) == 2
    for log, to, amount in zip(logs, [alice, bob], [250, 750]):
        assert log.address == token
        assert log.topics == (TRANSFER_TOPIC, topic_address(FUNDER), topic_address(to))
        assert int(log.data, 16) == amount
        assert log.tx_hash == batch_hash.lower() and log.block_hash == batch_receipt.block_hash
        assert log.block_number == batch_receipt.block_number and log.removed is False
    assert logs[0].log_index < logs[1].log_index

    everything = await chain.get_logs(mint_receipt.block_number, batch_receipt.block_number, [token],
                                      [TRANSFER_TOPIC])
    assert [log.tx_hash for log in everything] == [mint_hash.lower(), batch_hash.lower(), batch_hash.lower()]
    assert everything[0].topics[1] == topic_address("0x" + "0" * 40)  # a mint comes from the zero address

    to_bob = await chain.get_logs(mint_receipt.block_number, batch_receipt.block_number, [token],
                                  [TRANSFER_TOPIC, None, topic_address(bob)])
    assert [int(log.data, 16) for log in to_bob] == [750]
    assert await chain.get_logs(mint_receipt.block_number, batch_receipt.block_number,
                                [to_checksum_address(alice)], [TRANSFER_TOPIC]) == []


async def test_get_receipts(chain):
    tx_hash = await send_value(chain, FUNDER_KEY, Account.create().address, 1)
    unknown = "0x" + "ab" * 32
    receipt, missing = await chain.get_receipts([tx_hash, unknown])
    assert isinstance(receipt, Receipt) and missing is None
    assert receipt.status == 1 and receipt.tx_hash == tx_hash.lower() and receipt.gas_used == 21_000
    (block,) = await chain.get_blocks([receipt.block_number])
    assert block.hash == receipt.block_hash
    assert await chain.get_receipts([]) == []


async def test_get_balance_now_and_then(chain):
    fresh = Account.create().address
    assert await chain.get_balance(fresh) == 0
    tx_hash = await send_value(chain, FUNDER_KEY, fresh, 10**18 + 1)
    (receipt,) = await chain.get_receipts([tx_hash])
    assert await chain.get_balance(fresh) == 10**18 + 1
    assert await chain.get_balance(fresh, receipt.block_number - 1) == 0
    assert await chain.get_balance(fresh, receipt.block_number) == 10**18 + 1
    await chain.set_balance(fresh, 7)
    assert await chain.get_balance(fresh) == 7


async def test_get_transaction_count(chain):
    account = Account.create()
    assert await chain.get_transaction_count(account.address) == 0
    await chain.set_balance(account.address, 10**18)
    await send_value(chain, account.key.hex(), FUNDER, 1)
    await send_value(chain, account.key.hex(), FUNDER, 1)
    assert await chain.get_transaction_count(account.address) == 2
    assert await chain.get_transaction_count(account.address, "latest") == 2


# -- fees ----------------------------------------------------------------------------------

async def test_fee_quote_eip1559(anvil, chain):
    quote = await chain.fee_quote()
    base_fee = int(anvil.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    assert quote.model == "eip1559" and quote.gas_price is None
    assert quote.max_priority_fee_per_gas > 0
    assert quote.max_fee_per_gas >= 2 * base_fee
    assert quote.max_fee_per_gas == 2 * base_fee + quote.max_priority_fee_per_gas
    assert quote.worst_case_per_gas == quote.max_fee_per_gas


async def test_fee_quote_legacy_on_bsc_adapter(anvil, adapters):
    bsc = adapters(BscChain, anvil.rpc_url, chain_id=56)  # the adapter does not check the node on construction
    quote = await bsc.fee_quote()
    assert quote.model == "legacy" and quote.gas_price > 0
    assert quote.max_fee_per_gas is None and quote.max_priority_fee_per_gas is None
    assert quote.worst_case_per_gas == quote.gas_price == int(anvil.rpc("eth_gasPrice"), 16)
    with pytest.raises(ChainIdMismatch):
        await bsc.verify_chain_id()


async def test_fee_quote_falls_back_to_default_tip(adapters, proxy):
    """A node without eth_maxPriorityFeePerGas (here: an error from it) gets the adapter's fallback tip."""
    chain = adapters(AnvilChain, proxy.url)
    proxy.fail_next(1, "rpc_error", method="eth_maxPriorityFeePerGas")
    quote = await chain.fee_quote()
    assert quote == FeeQuote("eip1559", max_fee_per_gas=quote.max_fee_per_gas,
                             max_priority_fee_per_gas=AnvilChain.fallback_priority_fee)


# -- bad answers: retried, and never partial data -------------------------------------------

@pytest.mark.parametrize("mode", ["garbage", "wrong_shape", "missing_ids", "http500"])
async def test_get_blocks_survives_a_passing_fault(adapters, proxy, mode):
    chain = adapters(AnvilChain, proxy.url)
    proxy.fail_next(FAST.attempts - 1, mode)
    blocks = await chain.get_blocks([0, 1])
    assert [b.number for b in blocks] == [0, 1]
    assert proxy.requests == FAST.attempts


@pytest.mark.parametrize("mode", ["garbage", "null_result"])
async def test_get_blocks_never_returns_partial_data(adapters, proxy, mode):
    chain = adapters(AnvilChain, proxy.url)
    proxy.fail_next(100, mode)
    with pytest.raises(RpcUnavailable) as info:
        await chain.get_blocks([0, 1, 2])
    assert proxy.requests == FAST.attempts  # retried like any other bad answer, then given up
    assert isinstance(info.value.last, (MalformedAnswer if mode == "null_result" else RpcError))


async def test_null_blocks_are_retried_until_the_node_answers(adapters, proxy):
    """A null block (a node that lost or does not have it yet) is a fault to retry, not a gap."""
    chain = adapters(AnvilChain, proxy.url)
    proxy.fail_next(1, "null_result")
    blocks = await chain.get_blocks([0, 1])
    assert [b.number for b in blocks] == [0, 1]
    assert proxy.requests == 2


async def test_lagging_node_fails_over_to_a_synced_one(anvil, adapters, proxy):
    """The first node is 3 blocks behind: blocks it lacks are read from the second, never skipped."""
    chain = adapters(AnvilChain, [proxy.url, anvil.rpc_url])
    proxy.behind(3)
    head = int(anvil.rpc("eth_blockNumber"), 16)
    assert await chain.head() == head - 3  # it answers, just late
    blocks = await chain.get_blocks([head - 1, head])
    assert [b.number for b in blocks] == [head - 1, head]
    assert proxy.requests == 2


async def test_get_logs_survives_a_passing_fault(anvil, adapters, proxy, token):
    chain = adapters(AnvilChain, proxy.url)
    head = int(anvil.rpc("eth_blockNumber"), 16)
    expected = await chain.get_logs(0, head, [token], [TRANSFER_TOPIC])
    proxy.reset_counters()
    proxy.fail_next(1, "drop", method="eth_getLogs")
    assert await chain.get_logs(0, head, [token], [TRANSFER_TOPIC]) == expected
    assert proxy.requests == 2


async def test_get_logs_null_answer_is_retried(anvil, adapters, proxy, token):
    chain = adapters(AnvilChain, proxy.url)
    head = int(anvil.rpc("eth_blockNumber"), 16)
    proxy.fail_next(1, "null_result", method="eth_getLogs")
    logs = await chain.get_logs(0, head, [token], [TRANSFER_TOPIC])
    assert logs and all(log.address == token for log in logs)
    assert proxy.requests == 2


# -- reorgs (own node: destructive) ---------------------------------------------------------

@pytest.fixture(scope="module")
def own_node():
    node = AnvilNode.start()
    yield node
    node.stop()


async def test_reorged_transaction_loses_its_receipt(own_node, adapters):
    chain = adapters(AnvilChain, own_node.rpc_url)
    await chain.mine(3)
    tx_hash = await send_value(chain, FUNDER_KEY, Account.create().address, 5)
    (receipt,) = await chain.get_receipts([tx_hash])
    head = await chain.head()
    assert receipt.block_number == head
    (before,) = await chain.get_blocks([head])

    await chain.reorg(2)
    assert await chain.head() == head
    (after,) = await chain.get_blocks([head])
    assert after.hash != before.hash and after.transactions == ()
    assert await chain.get_receipts([tx_hash]) == [None]

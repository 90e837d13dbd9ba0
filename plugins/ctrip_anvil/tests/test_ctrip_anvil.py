"""The ctrip-anvil plugin: the chain-adapter contract (ctrip_core/testing.py), then its dev helpers.

The helpers run against an Anvil node of this module's own (plugin tests do not see tests/conftest.py,
and reorgs and reverts must not touch a node other tests share).
"""

from __future__ import annotations

import asyncio

import ctrip_anvil
import pytest
from ctrip_anvil import AnvilChain
from eth_account import Account

from ctrip_core.chains import RetryPolicy
from ctrip_core.config import ChainConfig
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.testing import ChainAdapterContract

NAME = "anvil"


class TestAnvil(ChainAdapterContract):
    module = ctrip_anvil
    adapter = AnvilChain
    package = "ctrip-anvil"
    chain_ids = (31337,)
    fee_model = "eip1559"
    default_confirmations = 1
    default_block_time_s = 1
    block_time_s = 1


# -- dev helpers against a node of our own ---------------------------------------------------

@pytest.fixture(scope="module")
def node():
    anvil = AnvilNode.start()
    yield anvil
    anvil.stop()


@pytest.fixture
async def chain(node):
    cfg = ChainConfig(name="anvil", adapter=NAME, chain_id=31337, rpc_url=node.rpc_url, confirmations=1,
                      block_time_s=1, native={"symbol": "ETH", "decimals": 18})
    adapter = AnvilChain(cfg, timeout_s=5, retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.01))
    await adapter.verify_chain_id()
    yield adapter
    await adapter.close()


async def send_value(chain: AnvilChain, to: str, value: int) -> str:
    fees = await chain.fee_quote()
    tx = {"type": 2, "chainId": 31337, "nonce": await chain.get_transaction_count(FUNDER), "to": to,
          "value": value, "gas": 21_000, "maxFeePerGas": fees.max_fee_per_gas,
          "maxPriorityFeePerGas": fees.max_priority_fee_per_gas}
    raw = Account.sign_transaction(tx, FUNDER_KEY).raw_transaction
    tx_hash = await chain.send_raw_transaction("0x" + raw.hex().removeprefix("0x"))
    # Under automine Anvil answers before the block exists: wait for the receipt.
    deadline = asyncio.get_running_loop().time() + 10
    while (await chain.get_receipts([tx_hash]))[0] is None:
        assert asyncio.get_running_loop().time() < deadline, f"{tx_hash} not mined"
        await asyncio.sleep(0.01)
    return tx_hash


async def test_mine(chain):
    head = await chain.head()
    await chain.mine()
    assert await chain.head() == head + 1
    await chain.mine(5)
    assert await chain.head() == head + 6


async def test_set_balance(chain):
    someone = Account.create().address
    await chain.set_balance(someone, 10**30 + 1)  # beyond float precision
    assert await chain.get_balance(someone) == 10**30 + 1
    await chain.set_balance(someone, 0)
    assert await chain.get_balance(someone) == 0


async def test_snapshot_and_revert(chain):
    someone = Account.create().address
    head = await chain.head()
    snapshot = await chain.snapshot()
    await send_value(chain, someone, 1_000)
    await chain.mine(3)
    assert await chain.get_balance(someone) == 1_000 and await chain.head() == head + 4

    assert await chain.revert(snapshot) is True
    assert await chain.head() == head
    assert await chain.get_balance(someone) == 0
    assert await chain.revert(snapshot) is False  # a snapshot is used up by reverting to it


async def test_reorg_replaces_blocks_and_drops_their_transactions(chain):
    someone = Account.create().address
    await chain.mine(3)
    tx_hash = await send_value(chain, someone, 777)
    await chain.mine(1)
    head = await chain.head()
    old = await chain.get_blocks([head - 2, head - 1, head])
    (receipt,) = await chain.get_receipts([tx_hash])
    assert receipt.block_number == head - 1 and await chain.get_balance(someone) == 777

    await chain.reorg(2)

    assert await chain.head() == head  # same height, other blocks
    new = await chain.get_blocks([head - 2, head - 1, head])
    assert new[0].hash == old[0].hash  # below the reorg depth: untouched
    assert new[1].hash != old[1].hash and new[2].hash != old[2].hash
    assert new[1].parent_hash == new[0].hash and new[2].parent_hash == new[1].hash
    assert all(tx.hash != tx_hash.lower() for block in new for tx in block.transactions)
    assert await chain.get_receipts([tx_hash]) == [None]
    assert await chain.get_balance(someone) == 0

"""The legacy-fee path: a chain served by the `bsc` adapter (gasPrice, no EIP-1559) on an Anvil started
with BSC testnet's chain id 97. Sweeps and gas top-ups are type-0 transactions signed with EIP-155,
and a native sweep leaves exactly nothing behind (a legacy fee is known in advance).
"""

from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import update

from ctrip_core.db.models import Sweep
from ctrip_core.db.types import utcnow

from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.accounts import TREASURY
from sweep_support import ETH, close_gateway, open_gateway

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def node():
    n = AnvilNode.start(chain_id=97)
    yield n
    n.stop()


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("legacy"), node.rpc_url, tusd, chain="bsc", adapter="bsc",
                           chain_id=97, native="BNB")
    yield g
    await close_gateway(g)


def assert_legacy(gw, sweep) -> dict:
    tx = gw.rpc("eth_getTransactionByHash", sweep.tx_hash)
    assert tx["type"] == "0x0" and int(tx["chainId"], 16) == 97  # EIP-155 replay protection
    assert int(tx["gasPrice"], 16) == sweep.gas_price and "maxFeePerGas" not in tx
    assert sweep.max_fee_per_gas is None and sweep.max_priority_fee_per_gas is None
    return tx


async def test_adapter_is_legacy(gw):
    assert type(gw.rt.chains["bsc"]).__name__ == "BscChain" and gw.rt.chains["bsc"].fee_model == "legacy"


async def test_native_sweep_is_a_legacy_transaction_and_leaves_nothing(gw):
    p = await gw.paid("BNB", 3 * ETH)
    treasury = gw.rpc.balance(TREASURY)
    await gw.sweep_until_quiet()
    (sweep,) = await gw.sweeps_of(p.address)
    assert (sweep.kind, sweep.state) == ("native", "done")
    assert_legacy(gw, sweep)
    fee = gw.rpc.fee(sweep.tx_hash)
    assert fee == 21_000 * sweep.gas_price
    assert gw.rpc.balance(TREASURY) - treasury == sweep.amount_base_units == 3 * ETH - fee
    assert gw.rpc.balance(p.address) == 0
    assert "payment.swept" in await gw.events_of(p.id)


async def test_token_sweep_and_its_top_up_are_legacy_transactions(gw):
    p = await gw.paid("TUSD", 4_200_000)
    treasury = gw.rpc.token_balance(gw.token, TREASURY)
    tank = gw.rpc.balance(gw.tank)
    await gw.sweep_until_quiet()
    topup, sweep = await gw.sweeps_of(p.address)
    assert [(s.kind, s.state) for s in (topup, sweep)] == [("gas_topup", "done"), ("token", "done")]
    assert_legacy(gw, topup)
    assert_legacy(gw, sweep)
    assert gw.rpc.token_balance(gw.token, TREASURY) - treasury == 4_200_000
    assert gw.rpc.token_balance(gw.token, p.address) == 0
    assert tank - gw.rpc.balance(gw.tank) == topup.amount_base_units + 21_000 * topup.gas_price
    assert gw.rpc.balance(p.address) == topup.amount_base_units - gw.rpc.fee(sweep.tx_hash)


async def test_stuck_legacy_sweep_is_replaced_with_a_higher_gas_price(gw):
    p = await gw.paid("BNB", ETH)
    treasury = gw.rpc.balance(TREASURY)
    gw.rpc("evm_setAutomine", False)
    try:
        assert (await gw.sweep_pass()).broadcast == 1
        (stuck,) = await gw.sweeps_of(p.address)
        async with gw.rt.sessions() as s, s.begin():
            await s.execute(update(Sweep).where(Sweep.id == stuck.id)
                            .values(broadcast_at=utcnow() - timedelta(hours=1)))  # older than replace_after_s
        assert (await gw.sweep_pass()).replaced == 1
        (sweep,) = await gw.sweeps_of(p.address)
        assert sweep.replaced_tx_hashes == [stuck.tx_hash] and sweep.nonce == stuck.nonce
        assert sweep.gas_price >= stuck.gas_price * 125 // 100
        gw.rpc("evm_mine")
    finally:
        gw.rpc("evm_setAutomine", True)
    await gw.sweep_until_quiet()
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "done" and gw.rpc.receipt(stuck.tx_hash) is None
    assert_legacy(gw, sweep)
    assert gw.rpc.balance(TREASURY) - treasury == sweep.amount_base_units == ETH - 21_000 * sweep.gas_price
    assert gw.rpc.balance(p.address) == 0 and gw.rpc.nonce(p.address) == 1

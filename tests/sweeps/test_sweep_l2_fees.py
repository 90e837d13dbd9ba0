"""The quirks of the L2 chains and of USDT, on Anvil, through the real sweeper.

- OP stack (Base, Optimism): every transaction pays an L1 data fee on top of its gas. An Anvil with
  Base Sepolia's id (84532) and the GasPriceOracle stand-in at the predeploy address: a native sweep
  keeps back what the oracle prices (twice over), a token sweep's gas top-up carries it.
- Arbitrum: a native transfer's gas is the node's estimate, not 21,000. An Anvil with Arbitrum
  Sepolia's id (421614) whose treasury runs code when paid (as a Safe does, and as every transfer's
  L1 component does there): a sweep of 21,000 gas would run out; the estimate's does not.
- USDT on Ethereum returns nothing from `transfer`: a payment in such a token is detected, confirmed
  and swept like any other (nothing decodes a transfer's return value).
"""

from __future__ import annotations

import pytest
import pytest_asyncio
from eth_utils import to_checksum_address

from ctrip_core.chains.l1_fee import L1_FEE_MARGIN, probe
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY, TREASURY
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.predeploys import install_gas_price_oracle, place_code
from ctrip_core.devnet.token import _calldata, load_artifact, send_transaction, wait_receipt
from ctrip_core.services.sweeps.starting import NATIVE_GAS
from sweep_support import ETH, close_gateway, open_gateway
from testbed import deploy_funded_token

pytestmark = pytest.mark.timeout(120)

L1_FEE_PER_BYTE = 10**12  # wei per byte: an L1 fee above what the L2 gas costs, as on Base at busy times


# --- OP stack: the L1 data fee --------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_node():
    node = AnvilNode.start(chain_id=84532)
    install_gas_price_oracle(node.rpc_url, L1_FEE_PER_BYTE)
    yield node
    node.stop()


@pytest_asyncio.fixture(scope="module")
async def base(base_node, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("base"), base_node.rpc_url, deploy_funded_token(base_node.rpc_url),
                           chain="base", adapter="base", chain_id=84532)
    yield g
    await close_gateway(g)


def reserved_l1_fee() -> int:
    return L1_FEE_MARGIN * len(probe(84532)) * L1_FEE_PER_BYTE


async def test_the_fee_quote_carries_the_oracles_l1_fee(base):
    quote = await base.rt.chains["base"].fee_quote()
    assert quote.l1_fee == reserved_l1_fee() > 21_000 * quote.worst_case_per_gas  # the larger part, here


async def test_a_native_sweep_keeps_back_the_l1_data_fee(base):
    p = await base.paid("ETH", ETH)
    treasury = base.rpc.balance(TREASURY)
    await base.sweep_until_quiet()
    (sweep,) = await base.sweeps_of(p.address)
    assert (sweep.kind, sweep.state, sweep.gas_limit) == ("native", "done", NATIVE_GAS)
    assert sweep.amount_base_units == ETH - NATIVE_GAS * sweep.max_fee_per_gas - reserved_l1_fee()
    assert base.rpc.balance(TREASURY) - treasury == sweep.amount_base_units
    # Anvil charges no L1 fee: what the real chain would have taken is still at the deposit address
    assert base.rpc.balance(p.address) == ETH - sweep.amount_base_units - base.rpc.fee(sweep.tx_hash)


async def test_a_gas_top_up_pays_the_token_sweeps_l1_data_fee_too(base):
    p = await base.paid("TUSD", 5_000_000)
    tank = base.rpc.balance(base.tank)
    await base.sweep_until_quiet()
    topup, sweep = await base.sweeps_of(p.address)
    assert [(s.kind, s.state) for s in (topup, sweep)] == [("gas_topup", "done"), ("token", "done")]
    assert topup.amount_base_units == sweep.gas_limit * topup.max_fee_per_gas + reserved_l1_fee()
    assert base.rpc.token_balance(base.token, p.address) == 0
    assert tank - base.rpc.balance(base.tank) == topup.amount_base_units + base.rpc.fee(topup.tx_hash)


async def test_a_node_without_the_oracle_sweeps_nothing(tmp_path):
    """No price for the L1 fee is "not known yet": no sweep is signed blind."""
    node = AnvilNode.start(chain_id=84532)
    try:
        g = await open_gateway(tmp_path, node.rpc_url, deploy_funded_token(node.rpc_url), chain="base",
                               adapter="base", chain_id=84532)
        try:
            p = await g.paid("ETH", ETH)
            await g.sweep_pass()
            assert await g.sweeps_of(p.address) == [] and g.rpc.balance(p.address) == ETH
        finally:
            await close_gateway(g)
    finally:
        node.stop()


# --- Arbitrum: native gas from the estimate -------------------------------------------------------

@pytest.fixture(scope="module")
def arbitrum_node():
    node = AnvilNode.start(chain_id=421614)
    place_code(node.rpc_url, TREASURY, "code_treasury.json")  # the treasury runs code when paid
    yield node
    node.stop()


@pytest_asyncio.fixture(scope="module")
async def arbitrum(arbitrum_node, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("arbitrum"), arbitrum_node.rpc_url,
                           deploy_funded_token(arbitrum_node.rpc_url), chain="arbitrum", adapter="arbitrum",
                           chain_id=421614)
    yield g
    await close_gateway(g)


async def test_a_native_sweep_uses_the_gas_estimate_not_21000(arbitrum):
    p = await arbitrum.paid("ETH", ETH)
    treasury = arbitrum.rpc.balance(TREASURY)
    await arbitrum.sweep_until_quiet()
    (sweep,) = await arbitrum.sweeps_of(p.address)
    assert (sweep.kind, sweep.state) == ("native", "done")
    used = int(arbitrum.rpc.receipt(sweep.tx_hash)["gasUsed"], 16)
    assert used > NATIVE_GAS and sweep.gas_limit >= used  # 21,000 would have run out of gas
    assert arbitrum.rpc.balance(TREASURY) - treasury == sweep.amount_base_units
    assert sweep.amount_base_units == ETH - sweep.gas_limit * sweep.max_fee_per_gas


# --- USDT's transfer returns nothing ----------------------------------------------------------------

@pytest.fixture(scope="module")
def usdt_node():
    node = AnvilNode.start()
    yield node
    node.stop()


@pytest_asyncio.fixture(scope="module")
async def usdt(usdt_node, tmp_path_factory):
    rpc_url = usdt_node.rpc_url
    receipt = wait_receipt(rpc_url, send_transaction(rpc_url, FUNDER_KEY, None,
                                                     load_artifact("no_return_token.json")["bytecode"]))
    token = to_checksum_address(receipt["contractAddress"])
    wait_receipt(rpc_url, send_transaction(rpc_url, FUNDER_KEY, token, _calldata(
        "mint(address,uint256)", ["address", "uint256"], [FUNDER, 10**15])))
    g = await open_gateway(tmp_path_factory.mktemp("usdt"), rpc_url, token)
    yield g
    await close_gateway(g)


async def test_a_token_whose_transfer_returns_nothing_is_paid_confirmed_and_swept(usdt):
    abi = {item.get("name"): item for item in load_artifact("no_return_token.json")["abi"]}
    assert abi["transfer"]["outputs"] == []  # the shape of USDT on Ethereum
    p = await usdt.paid("TUSD", 7_500_000)
    assert (await usdt.reload(p.id)).status == "confirmed"
    treasury = usdt.rpc.token_balance(usdt.token, TREASURY)
    await usdt.sweep_until_quiet()
    topup, sweep = await usdt.sweeps_of(p.address)
    assert [(s.kind, s.state) for s in (topup, sweep)] == [("gas_topup", "done"), ("token", "done")]
    assert usdt.rpc.token_balance(usdt.token, TREASURY) - treasury == 7_500_000
    assert usdt.rpc.token_balance(usdt.token, p.address) == 0


async def test_an_oracle_price_above_the_ceiling_is_not_believed_and_nothing_is_signed(base, base_node):
    """A node inflating the L1 fee would have a sweep leave most of the balance behind: refused."""
    from ctrip_core.chains.l1_fee import MAX_L1_FEE_WEI
    from ctrip_core.chains.rpc import RpcUnavailable
    from ctrip_core.devnet.predeploys import set_l1_fee_per_byte

    set_l1_fee_per_byte(base_node.rpc_url, MAX_L1_FEE_WEI)  # × ~200 bytes: far above the ceiling
    try:
        with pytest.raises(RpcUnavailable, match="not believed"):
            await base.rt.chains["base"].fee_quote()
        p = await base.paid("ETH", ETH)
        await base.sweep_pass()
        assert await base.sweeps_of(p.address) == [] and base.rpc.balance(p.address) == ETH
    finally:
        set_l1_fee_per_byte(base_node.rpc_url, L1_FEE_PER_BYTE)

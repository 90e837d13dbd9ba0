"""services/payments/equivalence.py: which assets pay for one another and what they credit."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from ctrip_core.config import ChainConfig, ConfigError
from ctrip_core.services.payments.equivalence import Equivalence

USDC_ETH, USDC_BSC, USDT_ETH = (to_checksum_address("0x" + c * 40) for c in "abc")


def _chain(name: str, chain_id: int, *tokens: tuple[str, str, int]) -> ChainConfig:
    return ChainConfig(name=name, adapter="ethereum", chain_id=chain_id, rpc_urls=["http://127.0.0.1:1"],
                       native={"symbol": "ETH", "decimals": 18},
                       tokens=[{"symbol": s, "address": a, "decimals": d} for s, a, d in tokens])


CHAINS = [_chain("ethereum", 1, ("USDC", USDC_ETH, 6), ("USDT", USDT_ETH, 6)),
          _chain("bsc", 56, ("USDC", USDC_BSC, 18))]


def test_the_payments_own_asset_credits_its_amount_whatever_the_groups():
    assert Equivalence(CHAINS, []).credit("ethereum", USDC_ETH, "ethereum", USDC_ETH.lower(), 123) == 123
    assert Equivalence(CHAINS, []).credit("ethereum", None, "ethereum", None, 10**18) == 10**18


def test_without_a_group_nothing_else_counts():
    e = Equivalence(CHAINS, [])
    assert e.credit("ethereum", USDC_ETH, "bsc", USDC_BSC, 10**18) is None  # USDC on the wrong chain
    assert e.credit("ethereum", USDC_ETH, "ethereum", USDT_ETH, 1) is None  # another token
    assert e.credit("ethereum", None, "bsc", None, 1) is None  # ETH-symbol coins are not grouped either


def test_a_group_converts_between_decimals_rounding_down():
    e = Equivalence(CHAINS, [["USDC"]])
    assert e.credit("ethereum", USDC_ETH, "bsc", USDC_BSC, 10**18) == 10**6
    assert e.credit("ethereum", USDC_ETH, "bsc", USDC_BSC, 10**12 - 1) == 0  # under one unit: credits nothing
    assert e.credit("ethereum", USDC_ETH, "bsc", USDC_BSC, 3 * 10**12 + 5) == 3
    assert e.credit("bsc", USDC_BSC, "ethereum", USDC_ETH, 7) == 7 * 10**12  # the other way: exact
    assert e.credit("ethereum", USDC_ETH, "ethereum", USDT_ETH, 5) is None  # USDT is not in the group


def test_a_group_of_two_symbols_counts_one_for_the_other():
    e = Equivalence(CHAINS, [["USDC", "USDT"]])
    assert e.credit("ethereum", USDC_ETH, "ethereum", USDT_ETH, 5) == 5
    assert e.credit("bsc", USDC_BSC, "ethereum", USDT_ETH, 5) == 5 * 10**12
    assert e.credit("ethereum", USDT_ETH, "unknown-chain", None, 5) is None  # not a configured asset


@pytest.mark.parametrize(("groups", "message"), [
    ([["USCD"]], "payments.equivalent_assets: 'USCD' is not the symbol of a configured asset on any chain"),
    ([["USDC"], ["USDC", "USDT"]], "payments.equivalent_assets: 'USDC' is in two groups"),
])
def test_a_group_naming_what_is_not_configured_is_a_configuration_error(groups, message):
    with pytest.raises(ConfigError) as error:
        Equivalence(CHAINS, groups)
    assert str(error.value) == message


def test_paying_chains_are_the_other_chains_with_an_equivalent_asset():
    assert Equivalence(CHAINS, []).paying_chains("ethereum") == frozenset()
    assert Equivalence(CHAINS, [["USDC"]]).paying_chains("ethereum") == {"bsc"}
    assert Equivalence(CHAINS, [["USDC"]]).paying_chains("bsc") == {"ethereum"}
    assert Equivalence(CHAINS, [["USDT"]]).paying_chains("ethereum") == frozenset()  # USDT only on ethereum

"""The `chainlink` rate provider against a real AggregatorV3 on Anvil (contracts/TestAggregator.sol),
read through the chain's own node: decimals, staleness by the round's updatedAt, non-positive answers."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import pytest_asyncio

from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.aggregator import deploy_aggregator, set_answer
from ctrip_core.devnet.chains_yaml import anvil_chain, write_chains_file
from ctrip_core.pricing.rates import RateUnavailable
from ctrip_core.runtime import build_runtime
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from testbed import make_settings, new_merchant


@pytest.fixture(scope="module")
def feed(node):
    return deploy_aggregator(node.rpc_url, FUNDER_KEY, 8)


@pytest_asyncio.fixture(scope="module")
async def rt(node, feed, module_database, tmp_path_factory):
    entry = anvil_chain(node.rpc_url)
    entry["native"]["price_feeds"] = {"USD": {"chainlink": feed}}
    chains = write_chains_file(tmp_path_factory.mktemp("feeds") / "chains.yaml", {"anvil": entry})
    runtime = build_runtime(make_settings(module_database, chains, rates={"providers": ["chainlink"], "cache_s": 0}),
                            "api")
    yield runtime
    await runtime.close()


async def test_a_fresh_answer_is_the_rate_at_the_feeds_decimals(rt, node, feed):
    at = int(time.time()) - 5
    set_answer(node.rpc_url, FUNDER_KEY, feed, 3012_34567890, at)
    rate = await rt.rates.rate("ETH", "USD")
    assert rate.value == Decimal("3012.34567890") and rate.source == "chainlink" and int(rate.at.timestamp()) == at


async def test_a_priced_payment_is_quoted_from_the_feed(rt, node, feed):
    set_answer(node.rpc_url, FUNDER_KEY, feed, 2500_00000000, int(time.time()))
    merchant, _ = await new_merchant(rt)
    p = await create_payment(rt, merchant, PaymentRequest("anvil", "ETH", None, price={"amount": "10.00",
                                                                                     "currency": "USD"}))
    assert p.amount_base_units == 4 * 10**15 and p.rate_value == "2500.00000000" and p.rate_source == "chainlink"


@pytest.mark.parametrize(("answer", "age_s"), [(3000_00000000, 301), (0, 0), (-5_00000000, 0)])
async def test_a_stale_or_non_positive_answer_is_refused(rt, node, feed, answer, age_s):
    set_answer(node.rpc_url, FUNDER_KEY, feed, answer, int(time.time()) - age_s)
    with pytest.raises(RateUnavailable, match="ETH/USD"):
        await rt.rates.rate("ETH", "USD")


async def test_a_pair_without_a_feed_is_no_answer(rt):
    with pytest.raises(RateUnavailable, match="ETH/EUR"):
        await rt.rates.rate("ETH", "EUR")


def test_a_feed_address_must_be_checksummed(node, tmp_path):
    from ctrip_core.config.chains_file import ChainConfig

    entry = anvil_chain(node.rpc_url) | {"name": "anvil"}
    entry["native"]["price_feeds"] = {"USD": {"chainlink": "0x" + "ab" * 20}}
    with pytest.raises(ValueError, match="EIP-55"):
        ChainConfig(**entry)
    entry["native"]["price_feeds"] = {"usd": {"chainlink": "0x" + "00" * 20}}
    with pytest.raises(ValueError, match="currency code"):
        ChainConfig(**entry)

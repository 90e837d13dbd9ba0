"""ctrip_core/pricing: the quote math at its edges, how answers combine, and the core's providers
(the exchanges against a local server answering in each one's documented format; no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
import pytest
from exchange_server import ExchangeServer

from ctrip_core.config import ChainConfig, ConfigError
from ctrip_core.plugins import collect_rate_providers, get_plugin_manager
from ctrip_core.pricing.providers.exchanges import CoinbaseRates, KrakenRates
from ctrip_core.pricing.providers.fixed import FixedRates, pegs_of
from ctrip_core.pricing.quotes import quote_base_units, value_of
from ctrip_core.pricing.rate_book import RateBook
from ctrip_core.pricing.rates import Rate, RateProvider, RateUnavailable, combine, usable

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


# --- quotes: price ÷ rate, rounded up to the asset's decimals ---------------------------------------

@pytest.mark.parametrize(("price", "rate", "decimals", "units"), [
    ("25.00", "1", 6, 25_000_000),  # a peg: exact
    ("25.00", "0.9998", 6, 25_005_002),  # 25.0050010002...: up
    ("10", "3", 0, 4),  # a 0-decimal asset: 3.33 → 4
    ("10", "3", 18, 3_333_333_333_333_333_334),  # 18 decimals: the last unit up
    ("0.01", "98765.4321", 8, 11),  # a cent of BTC: 10.1250... satoshi → 11
    ("1000000000", "0.000000001234", 18, -(-10**39 // 1234)),  # a tiny rate, a huge amount: ceil(10^39 / 1234)
    ("0.01", "1" + "0" * 30, 18, 1),  # a huge rate: less than a base unit still costs one
    ("3", "1.5", 2, 200),  # divides evenly: not rounded up past it
    # more significant digits than Decimal's default context holds (28): no context rounds it short
    ("1234567890123456789012345678901234.56", "0.99987", 18,
     -(-123456789012345678901234567890123456 * 10**16 * 100000 // 99987)),
])
def test_a_quote_is_the_price_at_the_rate_rounded_up(price, rate, decimals, units):
    assert quote_base_units(Decimal(price), Decimal(rate), decimals) == units
    # never short of the price, and one base unit less would be
    assert value_of(units, decimals, Decimal(rate)) >= Decimal(price)
    assert units == 1 or value_of(units - 1, decimals, Decimal(rate)) < Decimal(price)


def test_a_credit_is_rounded_down_exactly_beyond_28_digits():
    from ctrip_core.pricing.quotes import value_in_minor_units

    # 1,000,406.38 of an 18-decimal token at 0.99987: 1,000,276.3271... → 100027632 cents, not 33
    assert value_in_minor_units(1_000_406_380_000_000_000_000_000, 18, Decimal("0.99987"), 2) == 100027632
    assert value_in_minor_units(10**18 - 1, 18, Decimal("1"), 2) == 99  # 0.999... never rounds to a dollar


@pytest.mark.parametrize(("price", "rate"), [("0", "1"), ("-1", "1"), ("1", "0"), ("1", "-2")])
def test_a_non_positive_price_or_rate_is_refused(price, rate):
    with pytest.raises(ValueError):
        quote_base_units(Decimal(price), Decimal(rate), 6)


# --- answers: fresh, for the pair, positive; several → their median, within the spread ------------

def _rate(value: str, source: str = "a", at: datetime = NOW, base: str = "ETH", quote: str = "USD") -> Rate:
    return Rate(base, quote, Decimal(value), source, at)


@pytest.mark.parametrize(("answer", "why"), [
    (_rate("3000", at=NOW - timedelta(seconds=301)), "older than max_age_s"),
    (_rate("3000", at=NOW + timedelta(minutes=5)), "from the future"),
    (_rate("0"), "zero"), (_rate("-1"), "negative"), (_rate("NaN"), "not a number"), (_rate("Infinity"), "infinite"),
    (_rate("3000", base="BTC"), "another pair"), (None, "no answer"), ("3000", "not a Rate"),
])
def test_an_answer_that_is_not_fresh_and_for_the_pair_is_not_used(answer, why):
    assert usable(answer, "ETH", "USD", NOW, max_age_s=300) is None, why


def test_a_fresh_answer_is_used():
    assert usable(_rate("3000", at=NOW - timedelta(seconds=299)), "ETH", "USD", NOW, max_age_s=300) is not None


def test_several_answers_give_their_median_and_one_gives_itself():
    one = _rate("3000", "coinbase")
    assert combine("ETH", "USD", [one], Decimal("0.02")) is one
    three = combine("ETH", "USD", [_rate("3000", "a"), _rate("3030", "b"), _rate("3010", "c")], Decimal("0.02"))
    assert three.value == Decimal("3010") and three.source == "median(a,b,c)"
    two = combine("ETH", "USD", [_rate("3000", "a", NOW - timedelta(seconds=9)), _rate("3001", "b")], Decimal("0.02"))
    assert two.value == Decimal("3000.5") and two.at == NOW - timedelta(seconds=9)  # the older timestamp


def test_answers_that_disagree_beyond_the_spread_are_refused_naming_them():
    with pytest.raises(RateUnavailable) as refused:
        combine("ETH", "USD", [_rate("3000", "coinbase"), _rate("3100", "kraken")], Decimal("0.02"))
    assert "coinbase 3000" in str(refused.value) and "kraken 3100" in str(refused.value)
    assert (refused.value.base, refused.value.quote) == ("ETH", "USD")
    with pytest.raises(RateUnavailable, match="no provider answered"):
        combine("ETH", "USD", [], Decimal("0.02"))


# --- the core's providers --------------------------------------------------------------------------

def _chain(**native) -> ChainConfig:
    return ChainConfig(name="c", adapter="ethereum", chain_id=1, rpc_urls=["http://127.0.0.1:1"],
                       native={"symbol": "ETH", "decimals": 18} | native,
                       tokens=[{"symbol": "USDC", "address": "0x" + "11" * 20, "decimals": 6, "peg": "USD"}])


async def test_fixed_answers_the_pegs_stated_in_chains_yaml_only():
    fixed = FixedRates(pegs_of([_chain()]))
    rate = await fixed.rate("USDC", "USD")
    assert rate.value == Decimal(1) and rate.source == "fixed"
    assert await fixed.rate("USDC", "EUR") is None and await fixed.rate("ETH", "USD") is None


def test_a_peg_is_a_currency_code():
    with pytest.raises(ValueError):
        _chain(peg="usd dollars")


@pytest.fixture(scope="module")
def exchange():
    server = ExchangeServer()
    yield server
    server.stop()


COINBASE = "/v2/prices/ETH-USD/spot"
KRAKEN = "/0/public/Ticker?pair=XBTUSD"


async def test_coinbase_in_its_documented_format(exchange):
    exchange.answers[COINBASE] = (200, json.dumps({"data": {"amount": "3012.55", "base": "ETH", "currency": "USD"}}))
    provider = CoinbaseRates(exchange.url, 2)
    rate = await provider.rate("ETH", "USD")
    assert (rate.value, rate.source, rate.base, rate.quote) == (Decimal("3012.55"), "coinbase", "ETH", "USD")
    await provider.close()


async def test_kraken_in_its_documented_format_names_bitcoin_xbt(exchange):
    exchange.answers[KRAKEN] = (200, json.dumps({"error": [], "result": {"XXBTZUSD": {
        "a": ["98000.1", "1", "1.000"], "b": ["97999.9", "2", "2.000"], "c": ["98000.0", "0.0100"]}}}))
    provider = KrakenRates(exchange.url, 2)
    rate = await provider.rate("BTC", "USD")
    assert (rate.value, rate.source) == (Decimal("98000.0"), "kraken")
    await provider.close()


@pytest.mark.parametrize(("path", "status", "body"), [
    (COINBASE, 200, json.dumps({"data": {"amount": 3012.55, "base": "ETH", "currency": "USD"}})),  # a JSON number
    (COINBASE, 200, json.dumps({"data": {"amount": "0", "base": "ETH", "currency": "USD"}})),
    (COINBASE, 200, json.dumps({"data": {"amount": "3012", "base": "BTC", "currency": "USD"}})),  # another pair
    (COINBASE, 200, json.dumps({"data": {"amount": "lots", "base": "ETH", "currency": "USD"}})),
    (COINBASE, 500, "{}"), (COINBASE, 200, "not json"), (COINBASE, 200, "[]"),
    (KRAKEN, 200, json.dumps({"error": ["EQuery:Unknown asset pair"]})),
    (KRAKEN, 200, json.dumps({"error": [], "result": {"A": {"c": ["1", "1"]}, "B": {"c": ["2", "1"]}}})),
    (KRAKEN, 200, json.dumps({"error": [], "result": {"XXBTZUSD": {"c": []}}})),
    (KRAKEN, 429, "{}"),
])
async def test_an_exchange_answer_out_of_shape_is_no_answer(exchange, path, status, body):
    exchange.answers[path] = (status, body)
    provider = CoinbaseRates(exchange.url, 2) if path == COINBASE else KrakenRates(exchange.url, 2)
    assert await provider.rate(*(("ETH", "USD") if path == COINBASE else ("BTC", "USD"))) is None
    await provider.close()


async def test_an_unreachable_exchange_is_no_answer():
    provider = CoinbaseRates("http://127.0.0.1:9", 0.5)
    assert await provider.rate("ETH", "USD") is None
    await provider.close()


def test_rates_providers_chooses_and_orders_the_registered_providers():
    from ctrip_core.config import load_settings

    settings = load_settings("testing", rates={"providers": ["kraken", "fixed"]})
    chains = [SimpleNamespace(config=_chain())]  # the runtime's EVMChain objects: only .config is read
    assert [p.name for p in collect_rate_providers(get_plugin_manager(settings), settings, chains)] == [
        "kraken", "fixed"]
    misspelled = load_settings("testing", rates={"providers": ["coinbsae"]})
    with pytest.raises(ConfigError) as error:
        collect_rate_providers(get_plugin_manager(misspelled), misspelled, [])
    assert str(error.value) == ("rates.providers: no rate provider named 'coinbsae' "
                                "(registered: chainlink, coinbase, fixed, kraken)")


# --- the rate book: cache, failures never cached, a provider's defect is no answer ----------------

class _Counting(RateProvider):
    def __init__(self, name: str, value: str | None):
        self.name, self.value, self.asked = name, value, 0

    async def rate(self, base, quote):
        self.asked += 1
        if self.value == "raise":
            raise RuntimeError("a provider's bug")
        return None if self.value is None else Rate(base, quote, Decimal(self.value), self.name, datetime.now(UTC))


def _book(*providers, cache_s=30):
    from ctrip_core.config import load_settings

    settings = load_settings("testing", rates={"cache_s": cache_s}).rates
    clock = [0.0]
    return RateBook(list(providers), settings, clock=lambda: clock[0]), clock


async def test_a_rate_is_reused_for_cache_s_then_asked_again():
    provider = _Counting("coinbase", "3000")
    book, clock = _book(provider)
    assert (await book.rate("ETH", "USD")).value == Decimal(3000)
    await book.rate("ETH", "USD")
    assert provider.asked == 1
    clock[0] = 31
    await book.rate("ETH", "USD")
    assert provider.asked == 2


async def test_a_failure_is_not_cached_and_a_raising_provider_is_no_answer():
    down, raising = _Counting("coinbase", None), _Counting("kraken", "raise")
    book, _ = _book(down, raising)
    with pytest.raises(RateUnavailable, match="ETH/USD"):
        await book.rate("ETH", "USD")
    down.value = "3000"
    assert (await book.rate("ETH", "USD")).source == "coinbase"  # asked again at once


def test_a_currency_without_known_minor_units_is_a_configuration_error():
    from ctrip_core.config import load_settings

    with pytest.raises(ConfigError, match="rates.currencies: 'XAU'"):
        RateBook([], load_settings("testing", rates={"currencies": ["USD", "XAU"]}).rates)


async def test_a_provider_slower_than_rates_timeout_s_is_no_answer():
    import asyncio

    from ctrip_core.config import load_settings

    class Hanging(RateProvider):
        name = "kraken"

        async def rate(self, base, quote):
            await asyncio.sleep(30)

    fast = _Counting("coinbase", "3000")
    book = RateBook([Hanging(), fast], load_settings("testing", rates={"timeout_s": 0.2}).rates)
    assert (await book.rate("ETH", "USD")).source == "coinbase"  # within the timeout, not 30 s

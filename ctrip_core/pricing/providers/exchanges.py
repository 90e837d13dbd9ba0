"""`coinbase` and `kraken`: the exchanges' public spot-price endpoints (no API key).

Each answer is parsed once, inside one bounded request: anything but the documented shape, a
non-positive or non-numeric price, an HTTP error or a timeout is "no answer" (logged), never an
exception to the caller and never a guessed rate. Neither endpoint dates its price, so the rate's
`at` is when the answer arrived.

- Coinbase: `GET {coinbase_url}/v2/prices/{BASE}-{QUOTE}/spot` →
  `{"data": {"amount": "1.00", "base": "USDC", "currency": "USD"}}`.
- Kraken: `GET {kraken_url}/0/public/Ticker?pair={BASE}{QUOTE}` →
  `{"error": [], "result": {"<pair>": {"c": ["<last price>", "<lot volume>"], ...}}}` (Kraken names
  bitcoin XBT).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import httpx

from ctrip_core.hookspecs import hookimpl
from ctrip_core.pricing.rates import Rate, RateProvider

log = logging.getLogger(__name__)
KRAKEN_NAMES = {"BTC": "XBT"}


def _price(text: object) -> Decimal | None:
    if not isinstance(text, str):  # a JSON number would have passed through float
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


class _HttpRates(RateProvider):
    def __init__(self, base_url: str, timeout_s: float):
        self._base_url, self._timeout_s = base_url.rstrip("/"), timeout_s
        self._http: httpx.AsyncClient | None = None  # made on first use: registered is not yet asked

    async def _get(self, path: str, params: dict | None = None) -> object:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout_s)
        try:
            response = await self._http.get(self._base_url + path, params=params)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("rate provider %s: no answer (%s)", self.name, type(exc).__name__)
            return None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


class CoinbaseRates(_HttpRates):
    name = "coinbase"

    async def rate(self, base: str, quote: str) -> Rate | None:
        body = await self._get(f"/v2/prices/{base}-{quote}/spot")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or (data.get("base"), data.get("currency")) != (base, quote):
            return None
        value = _price(data.get("amount"))
        return Rate(base, quote, value, self.name, datetime.now(UTC)) if value is not None else None


class KrakenRates(_HttpRates):
    name = "kraken"

    async def rate(self, base: str, quote: str) -> Rate | None:
        pair = KRAKEN_NAMES.get(base, base) + KRAKEN_NAMES.get(quote, quote)
        body = await self._get("/0/public/Ticker", {"pair": pair})
        if not isinstance(body, dict) or body.get("error") or not isinstance(body.get("result"), dict):
            return None
        tickers = list(body["result"].values())
        if len(tickers) != 1 or not isinstance(tickers[0], dict) or not isinstance(tickers[0].get("c"), list) \
                or not tickers[0]["c"]:
            return None
        value = _price(tickers[0]["c"][0])
        return Rate(base, quote, value, self.name, datetime.now(UTC)) if value is not None else None


@hookimpl
def ctrip_register_rate_providers(register, settings):
    register(CoinbaseRates(settings.rates.coinbase_url, settings.rates.timeout_s))
    register(KrakenRates(settings.rates.kraken_url, settings.rates.timeout_s))

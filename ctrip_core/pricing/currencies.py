"""Quote currencies a price may be given in, with their minor units (ISO 4217: USD has cents, JPY none).

`rates.currencies` chooses which are accepted; one not listed here is a start-up error, so a price is
never parsed with a guessed number of decimals.
"""

from __future__ import annotations

MINOR_UNITS = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "NZD": 2, "SGD": 2, "HKD": 2,
               "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "BRL": 2, "MXN": 2, "INR": 2, "CNY": 2,
               "ZAR": 2, "TRY": 2, "AED": 2, "JPY": 0, "KRW": 0}

"""Deposit-address derivation speed from the account xpub (target: >= 2,000 addresses/s on one core).

Run: .venv/bin/python bench/derive.py [COUNT]
Prints addresses/s for cTrip's deriver (branch node cached) and, side by side in the same run, for
the naive path that derives from the account key every time, so the ratio is machine-independent.
"""

from __future__ import annotations

import sys
import time

from bip_utils import Bip32Secp256k1, EthAddrEncoder

from ctrip_core.devnet.accounts import ANVIL_XPUB
from ctrip_core.wallet import XpubDeriver


def _rate(fn, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def main(count: int = 20_000) -> None:
    deriver = XpubDeriver(ANVIL_XPUB)
    account = Bip32Secp256k1.FromExtendedKey(ANVIL_XPUB)

    def naive(i: int) -> str:
        return EthAddrEncoder.EncodeKey(account.DerivePath(f"0/{i}").PublicKey().KeyObject())

    ctrip = _rate(deriver.derive, count)
    baseline = _rate(naive, count // 4)
    print(f"addresses: {count}")
    print(f"ctrip XpubDeriver:        {ctrip:,.0f} addresses/s (target >= 2,000)")
    print(f"naive DerivePath per call: {baseline:,.0f} addresses/s")
    print(f"ratio ctrip/naive:         {ctrip / baseline:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)

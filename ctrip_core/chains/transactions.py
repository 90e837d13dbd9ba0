"""Building and signing transactions by a chain's fee model (EIP-1559 type 2, or legacy with EIP-155)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account

from ctrip_core.chains.types import FeeQuote


@dataclass(frozen=True)
class SignedTx:
    raw: str
    tx_hash: str


def unsigned_tx(*, chain_id: int, nonce: int, to: str, value: int, data: str, gas: int, fee: FeeQuote) -> dict:
    tx = {"chainId": chain_id, "nonce": nonce, "to": to, "value": value, "data": data, "gas": gas}
    if fee.model == "legacy":
        return tx | {"gasPrice": fee.gas_price}
    return tx | {"type": 2, "maxFeePerGas": fee.max_fee_per_gas, "maxPriorityFeePerGas": fee.max_priority_fee_per_gas}


def sign(tx: dict, private_key: bytes) -> SignedTx:
    signed = Account.sign_transaction(tx, private_key)
    raw = signed.raw_transaction.hex()
    tx_hash = signed.hash.hex()
    return SignedTx(raw=raw if raw.startswith("0x") else "0x" + raw,
                    tx_hash=tx_hash if tx_hash.startswith("0x") else "0x" + tx_hash)


def bumped(fee: FeeQuote, percent: int, floor: FeeQuote | None = None) -> FeeQuote:
    """The fee of a replacement: `percent` of the old one, and at least today's quote."""
    def up(old: int | None, now: int | None) -> int | None:
        if old is None:
            return None
        return max(old * percent // 100 + 1, now or 0)

    l1_fee = max(fee.l1_fee, floor.l1_fee if floor else 0)  # not bid: the L1 data fee is priced, not offered
    if fee.model == "legacy":
        return FeeQuote("legacy", gas_price=up(fee.gas_price, floor.gas_price if floor else None), l1_fee=l1_fee)
    return FeeQuote("eip1559", max_fee_per_gas=up(fee.max_fee_per_gas, floor.max_fee_per_gas if floor else None),
                    max_priority_fee_per_gas=up(fee.max_priority_fee_per_gas,
                                                floor.max_priority_fee_per_gas if floor else None), l1_fee=l1_fee)

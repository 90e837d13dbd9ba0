"""The L1 data fee of OP-stack chains (Base, Optimism), priced by their `GasPriceOracle` predeploy.

Every transaction there pays, on top of gas × gas price, a fee for posting its bytes to Ethereum;
a native sweep of "balance − 21,000 × fee" leaves too little for it and is refused by the node.
The oracle's `getL1Fee(bytes)` prices a given serialized transaction. A sweep pass asks it once, for
`PROBE` — a signed EIP-1559 transaction of the widest shape a sweep signs (an ERC-20
`transfer(address,uint256)`: 68 bytes of calldata; every integer field at its widest; bytes that do not
compress, as Fjord's FastLZ estimate would otherwise price a repetitive probe too low) — and reserves
`L1_FEE_MARGIN` times the answer, as the EIP-1559 quote reserves twice the base fee: the L1 price
may rise before the transaction is included. What is not spent stays at the deposit address.
"""

from __future__ import annotations

from eth_account import Account
from eth_utils import keccak, to_checksum_address

from ctrip_core.chains.types import MalformedAnswer, hash32

#: The OP-stack GasPriceOracle predeploy, at the same address on every OP-stack chain.
GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"
#: keccak("getL1Fee(bytes)")[:4]
GET_L1_FEE_SELECTOR = "0x49948e0e"
#: How many times the oracle's price is reserved.
L1_FEE_MARGIN = 2
#: An oracle price above this (wei, for one sweep transaction) is not believed: asked of the next
#: node. A node inflating it would otherwise have a sweep leave most of a balance behind and a gas
#: tank over-fund deposit addresses. Busy days on Base and OP Mainnet price a transfer's L1 data at
#: well under 10^15 wei; an adapter of a chain whose native coin is cheaper raises `max_l1_fee_wei`.
MAX_L1_FEE_WEI = 10**16

_CALLDATA_BYTES = 4 + 32 + 32  # transfer(address,uint256)
_PROBE_KEY = keccak(b"ctrip l1 fee probe key")  # signs the probe only; never holds funds


def _incompressible(n: int) -> bytes:
    out = b""
    while len(out) < n:
        out += keccak(b"ctrip l1 fee probe" + len(out).to_bytes(4, "big"))
    return out[:n]


def probe(chain_id: int) -> bytes:
    """The signed probe transaction of `chain_id` (its bytes are what the oracle prices)."""
    tx = {"type": 2, "chainId": chain_id, "nonce": 2**32 - 1, "gas": 2**24 - 1, "maxFeePerGas": 2**64 - 1,
          "maxPriorityFeePerGas": 2**64 - 1, "value": 2**96 - 1, "to": to_checksum_address(_incompressible(20)),
          "data": "0x" + _incompressible(_CALLDATA_BYTES).hex()}
    return bytes(Account.sign_transaction(tx, _PROBE_KEY).raw_transaction)


def get_l1_fee_calldata(tx: bytes) -> str:
    """ABI-encoded `getL1Fee(bytes tx)`: the offset, the length, the bytes padded to 32."""
    padded = tx + b"\0" * (-len(tx) % 32)
    return GET_L1_FEE_SELECTOR + format(32, "064x") + format(len(tx), "064x") + padded.hex()


def parse_l1_fee(result: str, ceiling: int = MAX_L1_FEE_WEI) -> int:
    """The oracle's answer: one 32-byte word, in wei, at most `ceiling` (else `MalformedAnswer`)."""
    fee = int(hash32(result, "getL1Fee"), 16)
    if fee > ceiling:
        raise MalformedAnswer(f"getL1Fee: {fee} wei for one transaction is not believed (ceiling {ceiling})")
    return fee

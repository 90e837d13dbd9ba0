"""Parsed, validated chain data: what adapters return and matchers read.

RPC answers are checked here once (hex quantities, 32-byte hashes, 20-byte addresses), so
a malformed answer from a node becomes a clear `MalformedAnswer`, never a silently wrong amount.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_hash.auto import keccak

from ctrip_core.chains.rpc import RpcTransportError

#: Patterns for `fullmatch` (a `$` anchor would also accept a final newline). Quantities are EVM
#: words, so at most 64 hex digits; int() alone would also take "0x1_0" and trailing whitespace.
_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")
HASH32_RE = re.compile(r"0x[0-9a-fA-F]{64}")
ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_BYTES = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


class MalformedAnswer(RpcTransportError):
    """A node's answer had the wrong shape; treated like a transport fault (retry elsewhere)."""


def quantity(value: Any, what: str) -> int:
    """Decode a JSON-RPC hex quantity ("0x1a") into an int."""
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise MalformedAnswer(f"{what}: expected a hex quantity, got {value!r:.100}")
    return int(value, 16)


def hash32(value: Any, what: str) -> str:
    if not isinstance(value, str) or not HASH32_RE.fullmatch(value):
        raise MalformedAnswer(f"{what}: expected 32 bytes (0x and 64 hex digits), got {value!r:.100}")
    return value.lower()


def address(value: Any, what: str) -> str:
    if not isinstance(value, str) or not ADDRESS_RE.fullmatch(value):
        raise MalformedAnswer(f"{what}: expected an address, got {value!r:.100}")
    return checksum(value[2:].lower())


#: Byte maps of a lowercase hex string: 0x20 where a letter is (may be uppercased) / where a hash nibble is >= 8.
_LETTERS = bytes.maketrans(b"0123456789abcdef", b"\0" * 10 + b"\x20" * 6)
_HIGH_NIBBLES = bytes.maketrans(b"0123456789abcdef", b"\0" * 8 + b"\x20" * 8)


def eip55(hex40: str) -> str:
    """EIP-55 form of a lowercase 40-hex-digit address (no 0x), as eth_utils' `to_checksum_address`.

    Every scanned and every derived address goes through here, so it skips eth_utils' generic
    input checks and flips the case of all 40 characters at once (as one integer: a letter whose
    hash nibble is >= 8 loses 0x20): about 3x faster.
    """
    raw = hex40.encode()
    digest = keccak(raw).hex()[:40].encode()
    flip = int.from_bytes(raw.translate(_LETTERS), "big") & int.from_bytes(digest.translate(_HIGH_NIBBLES), "big")
    return "0x" + (int.from_bytes(raw, "big") - flip).to_bytes(40, "big").decode()


def address_given(value: Any) -> str:
    """An address a person typed (CLI, API): its EIP-55 form. All-lowercase or all-uppercase hex is
    accepted as it carries no checksum; mixed case must be the EIP-55 form (a typo is caught).

    Raises ValueError with a one-line reason naming the expected form."""
    if not isinstance(value, str) or not ADDRESS_RE.fullmatch(value):
        raise ValueError(f"{value!r:.60} is not an address (0x and 40 hex digits)")
    expected = eip55(value[2:].lower())
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and value != expected:
        raise ValueError(f"{value} fails its EIP-55 checksum (expected {expected})")
    return expected


#: `eip55` remembering repeat senders, tokens and routers (scanned addresses repeat; derived ones never).
checksum = lru_cache(maxsize=65_536)(eip55)


@dataclass(frozen=True, slots=True)
class InternalCall:
    """Native coin moved by a successful internal call (`value` in base units)."""

    tx_hash: str
    #: Pre-order index of the frame in its transaction's call tree; the top-level frame is 0.
    position: int
    from_address: str
    to_address: str
    value: int


@dataclass(frozen=True, slots=True)
class Tx:
    """A transaction as seen in a full block (value in base units of the native coin)."""

    hash: str
    from_address: str
    to_address: str | None
    value: int

    @classmethod
    def parse(cls, raw: Any) -> "Tx":
        if not isinstance(raw, dict):
            raise MalformedAnswer(f"transaction: expected an object, got {type(raw).__name__}")
        to = raw.get("to")
        return cls(hash=hash32(raw.get("hash"), "tx.hash"), from_address=address(raw.get("from"), "tx.from"),
                   to_address=None if to is None else address(to, "tx.to"),
                   value=quantity(raw.get("value"), "tx.value"))


@dataclass(frozen=True, slots=True)
class Block:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    transactions: tuple[Tx, ...]
    #: Native coin moved by its internal calls (`EVMChain.with_traces`); None when not traced.
    internal_calls: tuple[InternalCall, ...] | None = None

    @classmethod
    def parse(cls, raw: Any, *, full: bool = True) -> "Block":
        if not isinstance(raw, dict):
            raise MalformedAnswer(f"block: expected an object, got {raw!r:.60}")
        txs = raw.get("transactions", [])
        if not isinstance(txs, list):
            raise MalformedAnswer("block.transactions: expected a list")
        return cls(number=quantity(raw.get("number"), "block.number"), hash=hash32(raw.get("hash"), "block.hash"),
                   parent_hash=hash32(raw.get("parentHash"), "block.parentHash"),
                   timestamp=quantity(raw.get("timestamp"), "block.timestamp"),
                   transactions=tuple(Tx.parse(t) for t in txs) if full else ())


@dataclass(frozen=True, slots=True)
class Log:
    address: str
    topics: tuple[str, ...]
    data: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    removed: bool

    @classmethod
    def parse(cls, raw: Any) -> "Log":
        if not isinstance(raw, dict):
            raise MalformedAnswer("log: expected an object")
        topics = raw.get("topics")
        data = raw.get("data")
        if not isinstance(topics, list) or not isinstance(data, str) or not _BYTES.fullmatch(data):
            raise MalformedAnswer(f"log: topics must be a list and data hex bytes, got {data!r:.100}")
        return cls(address=address(raw.get("address"), "log.address"),
                   topics=tuple(hash32(t, "log.topic") for t in topics), data=data.lower(),
                   block_number=quantity(raw.get("blockNumber"), "log.blockNumber"),
                   block_hash=hash32(raw.get("blockHash"), "log.blockHash"),
                   tx_hash=hash32(raw.get("transactionHash"), "log.transactionHash"),
                   log_index=quantity(raw.get("logIndex"), "log.logIndex"), removed=bool(raw.get("removed", False)))


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: str
    status: int
    block_number: int
    block_hash: str
    gas_used: int
    #: What one unit of gas cost (wei); None from a node that predates EIP-1559 and does not say.
    effective_gas_price: int | None = None

    def fee(self, signed_gas_price: int | None) -> int | None:
        """What the transaction paid for gas (wei): gas used × the effective gas price, or, from a node
        that does not say, × `signed_gas_price` (a legacy transaction pays exactly its gas price);
        None when neither is known (the L1 data fee of an OP-stack chain is not included)."""
        price = self.effective_gas_price if self.effective_gas_price is not None else signed_gas_price
        return None if price is None else self.gas_used * price

    @classmethod
    def parse(cls, raw: Any) -> "Receipt":
        if not isinstance(raw, dict):
            raise MalformedAnswer("receipt: expected an object")
        return cls(tx_hash=hash32(raw.get("transactionHash"), "receipt.transactionHash"),
                   status=quantity(raw.get("status"), "receipt.status"),
                   block_number=quantity(raw.get("blockNumber"), "receipt.blockNumber"),
                   block_hash=hash32(raw.get("blockHash"), "receipt.blockHash"),
                   gas_used=quantity(raw.get("gasUsed"), "receipt.gasUsed"),
                   effective_gas_price=None if raw.get("effectiveGasPrice") is None else
                   quantity(raw.get("effectiveGasPrice"), "receipt.effectiveGasPrice"))


@dataclass(frozen=True, slots=True)
class FeeQuote:
    """What a transaction would pay now: EIP-1559 (max fee, tip) or legacy (gas price), in wei."""

    model: str
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_price: int | None = None
    #: A charge per transaction on top of its gas: the L1 data fee of OP-stack chains (Base,
    #: Optimism), bounded for the largest transaction a sweep signs (`chains/l1_fee.py`); 0 elsewhere.
    l1_fee: int = 0

    @property
    def worst_case_per_gas(self) -> int:
        """The most one unit of gas can cost under this quote: bounds the fee a sweep reserves."""
        return self.max_fee_per_gas if self.model == "eip1559" else self.gas_price

    def worst_case_cost(self, gas: int) -> int:
        """The most a transaction of `gas` gas can cost under this quote, L1 data fee included."""
        return gas * self.worst_case_per_gas + self.l1_fee

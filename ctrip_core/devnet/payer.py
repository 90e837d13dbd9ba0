"""A customer's wallet on a local chain, for the tests and the chaos soak: one key that signs its
own type-2 transactions and sends them raw, without waiting for them to be mined.

Nothing is estimated (a payment that will revert is still sent) and the nonce is asked of the node
for each transaction ("pending": what it has mined and pooled), so a reorg or a dropped transaction
rewinds it by itself. `ctrip_core.devnet.token` does the same for one-off calls, and waits.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address

from ctrip_core.devnet.token import _calldata, _rpc

GWEI = 10**9
NATIVE_GAS = 21_000
TOKEN_TRANSFER_GAS = 100_000


class Payer:
    """Pays from `key` over `rpc`: a node's URL, or a callable `rpc(method, *params)` → result that
    raises on a node's error (the soak's, which keeps every raw transaction it sends).

    `max_fee` None: four times the latest block's base fee plus the tip, read for each transaction
    (the base fee only falls on a test chain's mostly empty blocks, and a test that raises it is paid
    through); a fixed `max_fee` pays above any spike the caller makes, in one RPC call fewer.
    """

    def __init__(self, key: str | bytes, rpc: str | Callable[..., Any], *, max_fee: int | None = None, tip: int = GWEI):
        self.key = key
        self.address = Account.from_key(key).address
        self.rpc = functools.partial(_rpc, rpc) if isinstance(rpc, str) else rpc
        self.max_fee, self.tip = max_fee, tip

    @functools.cached_property
    def chain_id(self) -> int:
        return int(self.rpc("eth_chainId"), 16)

    def send(self, to: str, *, value: int = 0, data: str = "0x", gas: int = NATIVE_GAS) -> str:
        """Sign and send; → the transaction hash (automine mines it at once, else the caller mines)."""
        max_fee = self.max_fee
        if max_fee is None:
            max_fee = 4 * int(self.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16) + self.tip
        tx = {"type": 2, "chainId": self.chain_id, "nonce": self.nonce(), "gas": gas, "maxFeePerGas": max_fee,
              "maxPriorityFeePerGas": self.tip, "value": value, "data": data, "to": to_checksum_address(to)}
        raw = Account.sign_transaction(tx, self.key).raw_transaction
        return self.rpc("eth_sendRawTransaction", "0x" + raw.hex().removeprefix("0x"))

    def nonce(self) -> int:
        return int(self.rpc("eth_getTransactionCount", self.address, "pending"), 16)

    def native(self, to: str, value: int) -> str:
        """Pay `value` wei of the chain's coin to `to`."""
        return self.send(to, value=value)

    def token(self, token: str, to: str, amount: int) -> str:
        """Pay `amount` base units of the ERC-20 at `token` to `to`."""
        data = _calldata("transfer(address,uint256)", ["address", "uint256"], [to, amount])
        return self.send(token, data=data, gas=TOKEN_TRANSFER_GAS)

    def call(self, contract: str, signature: str, types: list[str], args: list, *, value: int = 0,
             gas: int) -> str:
        """Call `signature(args)` on `contract` with `value` wei (a Forwarder: an internal transfer), with
        a fixed gas limit since a call that reverts cannot be estimated."""
        return self.send(contract, value=value, data=_calldata(signature, types, args), gas=gas)

    def wait(self, tx_hashes: list[str], timeout_s: float = 30.0) -> list[dict]:
        """The receipts, polling until each is mined; every one must have succeeded."""
        deadline, receipts = time.monotonic() + timeout_s, []
        for tx_hash in tx_hashes:
            while (receipt := self.rpc("eth_getTransactionReceipt", tx_hash)) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no receipt for {tx_hash} after {timeout_s}s")
                time.sleep(0.02)
            assert int(receipt["status"], 16) == 1, f"transaction {tx_hash} reverted"
            receipts.append(receipt)
        return receipts

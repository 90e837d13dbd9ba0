"""Deploy and drive the test ERC-20 (`contracts/TestToken.sol`) over plain JSON-RPC.

Used by tests and `ctrip dev` to create token payments on a local chain. Deliberately synchronous
and free of web3's contract machinery: a handful of calls, signed locally with eth-account.
Amounts are always integers in the token's base units.
"""

from __future__ import annotations

import functools
import json
import time
from importlib import resources

import httpx
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

ARTIFACT = "test_token.json"
RECEIPT_TIMEOUT_S = 60.0


@functools.cache
def load_artifact(name: str = ARTIFACT) -> dict:
    """A compiled test contract (abi, bytecode), TestToken by default, shipped as package data so no
    compiler is needed at runtime (contracts/build.js writes them)."""
    text = resources.files("ctrip_core.devnet").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=16)
def _client(rpc_url: str) -> httpx.Client:
    """One kept-alive connection per node: a fresh client per call cost ~30 ms each."""
    return httpx.Client(base_url=rpc_url, timeout=30)


def _rpc(rpc_url: str, method: str, *params):
    """One JSON-RPC call; node errors (reverts included) surface as RuntimeError."""
    resp = _client(rpc_url).post("", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    body = resp.json()
    if "error" in body:
        raise RuntimeError(f"{method}: {body['error']}")
    return body["result"]


def _calldata(signature: str, types: list[str], args: list) -> str:
    """ABI-encode a call from its canonical signature, e.g. "transfer(address,uint256)"."""
    return "0x" + (function_signature_to_4byte_selector(signature) + encode(types, args)).hex()


def _fees(rpc_url: str) -> tuple[int, int]:
    """EIP-1559 (maxFeePerGas, maxPriorityFeePerGas) from the node; 2x base fee survives a few full blocks."""
    tip = int(_rpc(rpc_url, "eth_maxPriorityFeePerGas"), 16)
    base = int(_rpc(rpc_url, "eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    return 2 * base + tip, tip


def send_transaction(rpc_url: str, key: str, to: str | None, data: str = "0x", value: int = 0,
                     gas: int | None = None) -> str:
    """Sign and send a type-2 tx (a contract creation when `to` is None); returns its hash without waiting.

    With `gas` given nothing is estimated, so a transaction that will revert can still be sent.
    """
    sender = Account.from_key(key).address
    call = {"from": sender, "data": data, "value": hex(value)} | ({"to": to} if to else {})
    if gas is None:
        estimate = int(_rpc(rpc_url, "eth_estimateGas", call), 16)
        gas = estimate + estimate // 5  # headroom: state may change between estimate and inclusion
    max_fee, tip = _fees(rpc_url)
    tx = {
        "type": 2,
        "chainId": int(_rpc(rpc_url, "eth_chainId"), 16),
        "nonce": int(_rpc(rpc_url, "eth_getTransactionCount", sender, "pending"), 16),
        "gas": gas,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
        "value": value,
        "data": data,
    } | ({"to": to_checksum_address(to)} if to else {})
    raw = Account.sign_transaction(tx, key).raw_transaction
    return _rpc(rpc_url, "eth_sendRawTransaction", "0x" + raw.hex().removeprefix("0x"))


def wait_receipt(rpc_url: str, tx_hash: str, timeout_s: float = RECEIPT_TIMEOUT_S) -> dict:
    """Poll for the receipt: instant under automine, one block time under `--block-time`. Raises on revert."""
    deadline = time.monotonic() + timeout_s
    while (receipt := _rpc(rpc_url, "eth_getTransactionReceipt", tx_hash)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no receipt for {tx_hash} after {timeout_s}s")
        time.sleep(0.1)
    if int(receipt["status"], 16) != 1:
        raise RuntimeError(f"transaction {tx_hash} reverted")
    return receipt


def _transact(rpc_url: str, key: str, to: str | None, data: str, value: int = 0) -> dict:
    """Send and wait, so callers can read the new state straight after."""
    return wait_receipt(rpc_url, send_transaction(rpc_url, key, to, data, value))


def deploy_test_token(rpc_url: str, deployer_key: str, name: str = "Test USD", symbol: str = "TUSD",
                      decimals: int = 6) -> str:
    """Deploy a fresh TestToken and return its checksummed address (6 decimals by default, like USDC)."""
    args = encode(["string", "string", "uint8"], [name, symbol, decimals]).hex()
    receipt = _transact(rpc_url, deployer_key, None, load_artifact()["bytecode"] + args)
    return to_checksum_address(receipt["contractAddress"])


def mint(rpc_url: str, key: str, token: str, to: str, amount: int) -> str:
    """Mint `amount` base units to `to` (anyone may mint the test token); returns the mined tx hash."""
    data = _calldata("mint(address,uint256)", ["address", "uint256"], [to, amount])
    return _transact(rpc_url, key, token, data)["transactionHash"]


def transfer(rpc_url: str, key: str, token: str, to: str, amount: int) -> str:
    """Plain ERC-20 transfer from the key's address; returns the mined tx hash."""
    data = _calldata("transfer(address,uint256)", ["address", "uint256"], [to, amount])
    return _transact(rpc_url, key, token, data)["transactionHash"]


def batch_transfer(rpc_url: str, key: str, token: str, recipients: list[str], amounts: list[int]) -> str:
    """Pay several recipients in one tx (one Transfer log each), to exercise multi-log receipts."""
    if len(recipients) != len(amounts):
        raise ValueError("recipients and amounts differ in length")
    data = _calldata("batchTransfer(address[],uint256[])", ["address[]", "uint256[]"], [recipients, amounts])
    return _transact(rpc_url, key, token, data)["transactionHash"]


def balance_of(rpc_url: str, token: str, owner: str) -> int:
    """Token balance of `owner` in base units, read at the latest block."""
    data = _calldata("balanceOf(address)", ["address"], [owner])
    result = _rpc(rpc_url, "eth_call", {"to": token, "data": data}, "latest")
    return decode(["uint256"], bytes.fromhex(result.removeprefix("0x")))[0]


def send_native(rpc_url: str, key: str, to: str, value: int) -> str:
    """Pay `value` wei of the chain's coin to `to` and wait for the receipt; returns the tx hash."""
    return _transact(rpc_url, key, to, "0x", value)["transactionHash"]

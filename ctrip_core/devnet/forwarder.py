"""Deploy and drive the test forwarder (`contracts/Forwarder.sol`): native coin paid by a contract.

What Safe wallets, smart accounts and exchanges' batched withdrawals do, on a local chain: the
deposit address receives value from an internal call, seen only in call traces. Synchronous and
signed locally like `ctrip_core.devnet.token`; amounts are integers in wei.
"""

from __future__ import annotations

from eth_utils import to_checksum_address

from ctrip_core.devnet.token import _calldata, load_artifact, send_transaction, wait_receipt

ARTIFACT = "forwarder.json"
#: Gas for calls sent without an estimate (a transaction that will revert cannot be estimated).
REVERTING_CALL_GAS = 200_000


def deploy_forwarder(rpc_url: str, deployer_key: str) -> str:
    """Deploy a Forwarder and return its checksummed address."""
    receipt = wait_receipt(rpc_url, send_transaction(rpc_url, deployer_key, None, load_artifact(ARTIFACT)["bytecode"]))
    return to_checksum_address(receipt["contractAddress"])


def _paid(rpc_url: str, key: str, forwarder: str, data: str, value: int) -> str:
    return wait_receipt(rpc_url, send_transaction(rpc_url, key, forwarder, data, value))["transactionHash"]


def forward(rpc_url: str, key: str, forwarder: str, to: str, value: int) -> str:
    """Pay `value` to `to` through the forwarder (one internal call); returns the mined tx hash."""
    return _paid(rpc_url, key, forwarder, _calldata("forward(address)", ["address"], [to]), value)


def forward_batch(rpc_url: str, key: str, forwarder: str, recipients: list[str], amounts: list[int]) -> str:
    """Pay several addresses in one transaction (one internal call each), as a batched withdrawal."""
    if len(recipients) != len(amounts):
        raise ValueError("recipients and amounts differ in length")
    data = _calldata("forwardBatch(address[],uint256[])", ["address[]", "uint256[]"], [recipients, amounts])
    return _paid(rpc_url, key, forwarder, data, sum(amounts))


def forward_via(rpc_url: str, key: str, forwarder: str, via: str, to: str, value: int) -> str:
    """Nested forwarding: forwarder → `via` (another Forwarder) → `to`."""
    data = _calldata("forwardVia(address,address)", ["address", "address"], [via, to])
    return _paid(rpc_url, key, forwarder, data, value)


def forward_then_revert(rpc_url: str, key: str, forwarder: str, to: str, value: int) -> str:
    """A successful transaction whose sub-call sent `value` to `to` and reverted: `to` gets nothing."""
    return _paid(rpc_url, key, forwarder, _calldata("forwardThenRevert(address)", ["address"], [to]), value)


def touch(rpc_url: str, key: str, forwarder: str, to: str, value: int) -> str:
    """A delegatecall and a staticcall to `to` while the forwarder holds `value`: `to` gets nothing."""
    return _paid(rpc_url, key, forwarder, _calldata("touch(address)", ["address"], [to]), value)


def send_and_revert(rpc_url: str, key: str, forwarder: str, to: str, value: int) -> str:
    """A transaction that sends `value` to `to` and then reverts as a whole; returns its hash (status 0)."""
    data = _calldata("sendAndRevert(address)", ["address"], [to])
    tx_hash = send_transaction(rpc_url, key, forwarder, data, value, gas=REVERTING_CALL_GAS)
    try:
        wait_receipt(rpc_url, tx_hash)
    except RuntimeError:
        return tx_hash
    raise RuntimeError(f"transaction {tx_hash} was expected to revert but succeeded")

"""Deploy and set the test Chainlink feed (`contracts/TestAggregator.sol`): an AggregatorV3 whose
answer and `updatedAt` a test chooses. Synchronous and signed locally like `ctrip_core.devnet.token`."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import to_checksum_address

from ctrip_core.devnet.token import _calldata, load_artifact, send_transaction, wait_receipt

ARTIFACT = "test_aggregator.json"


def deploy_aggregator(rpc_url: str, deployer_key: str, decimals: int) -> str:
    """Deploy a feed answering with `decimals` decimals; returns its checksummed address."""
    code = load_artifact(ARTIFACT)["bytecode"] + encode(["uint8"], [decimals]).hex()
    return to_checksum_address(wait_receipt(rpc_url, send_transaction(rpc_url, deployer_key, None, code))
                               ["contractAddress"])


def set_answer(rpc_url: str, key: str, aggregator: str, answer: int, updated_at: int) -> None:
    """The feed's next latestRoundData(): `answer` (signed, in its decimals) as of `updated_at` (unix s)."""
    data = _calldata("set(int256,uint256)", ["int256", "uint256"], [answer, updated_at])
    wait_receipt(rpc_url, send_transaction(rpc_url, key, aggregator, data))

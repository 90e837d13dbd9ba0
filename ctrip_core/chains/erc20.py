"""The two ERC-20 calls the sweeper needs, encoded by hand (no ABI machinery for two selectors)."""

from __future__ import annotations

from ctrip_core.chains.evm import EVMChain
from ctrip_core.chains.types import hash32

TRANSFER_SELECTOR = "0xa9059cbb"
BALANCE_OF_SELECTOR = "0x70a08231"


def _word(value: int) -> str:
    return format(value, "064x")


def transfer_calldata(to: str, amount: int) -> str:
    return TRANSFER_SELECTOR + _word(int(to, 16)) + _word(amount)


def balance_of_calldata(owner: str) -> str:
    return BALANCE_OF_SELECTOR + _word(int(owner, 16))


def parse_balance_of(result: str) -> int:
    """balanceOf's answer: one 32-byte word (hash32 checks exactly that shape: 0x and 64 hex digits)."""
    return int(hash32(result, "balanceOf"), 16)


async def balance_of(chain: EVMChain, token: str, owner: str) -> int:
    return parse_balance_of(await chain.eth_call(token, balance_of_calldata(owner)))

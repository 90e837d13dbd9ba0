"""The two ERC-20 calls the sweeper needs, encoded by hand (no ABI machinery for two selectors)."""

from __future__ import annotations

from ctrip_core.chains.evm import EVMChain
from ctrip_core.chains.types import MalformedAnswer

TRANSFER_SELECTOR = "0xa9059cbb"
BALANCE_OF_SELECTOR = "0x70a08231"


def _word(value: int) -> str:
    return format(value, "064x")


def transfer_calldata(to: str, amount: int) -> str:
    return TRANSFER_SELECTOR + _word(int(to, 16)) + _word(amount)


def balance_of_calldata(owner: str) -> str:
    return BALANCE_OF_SELECTOR + _word(int(owner, 16))


def parse_balance_of(result: str) -> int:
    if not isinstance(result, str) or len(result) != 66:
        raise MalformedAnswer(f"balanceOf answered {str(result)[:20]}...")
    return int(result, 16)


async def balance_of(chain: EVMChain, token: str, owner: str) -> int:
    return parse_balance_of(await chain.eth_call(token, balance_of_calldata(owner)))

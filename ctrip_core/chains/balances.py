"""Many balances at one block in one call: `contracts/BalanceReader.sol` run by a deployless eth_call.

The reader's creation code, with the owners and tokens appended as constructor arguments, is sent
as an eth_call with no `to`: the node runs the constructor, which returns every owner's native
balance and each token's `balanceOf` of it. One call reads `chunk` owners (the node's eth_call gas
cap bounds it: see docs/reconcile.md), and each JSON-RPC batch of such calls also asks for the block
itself, so a node that does not have it yet (a lagging one, whose balances there would be zero or
short) is caught inside the retry loop and the batch asked of the next node, as `services/sweeps/reads.py` does.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from ctrip_core.chains.evm import EVMChain
from ctrip_core.chains.types import MalformedAnswer

ARTIFACT = "balance_reader.json"
#: eth_calls per JSON-RPC batch: each carries `chunk` addresses, so requests stay a few hundred KiB.
CALLS_PER_BATCH = 4


@functools.cache
def _creation_code() -> str:
    text = resources.files("ctrip_core.chains").joinpath(ARTIFACT).read_text(encoding="utf-8")
    return json.loads(text)["bytecode"]


def _word(value: int) -> str:
    return format(value, "064x")


def reader_calldata(owners: Sequence[str], tokens: Sequence[str]) -> str:
    """The creation code followed by abi.encode(address[] owners, address[] tokens)."""
    head = _word(64) + _word(64 + 32 * (1 + len(owners)))
    body = _word(len(owners)) + "".join(_word(int(o, 16)) for o in owners)
    body += _word(len(tokens)) + "".join(_word(int(t, 16)) for t in tokens)
    return _creation_code() + head + body


def _owners_in(calldata: str) -> int:
    """How many owners `reader_calldata` put in: the length word after the two offsets."""
    start = len(_creation_code()) + 128
    return int(calldata[start:start + 64], 16)


def parse_reader_answer(raw: Any, owners: int, width: int) -> tuple[int, dict[int, int]]:
    """→ (owners read, position → nonzero balance), checked: a wrong shape is retried on another node."""
    if not isinstance(raw, str) or not raw.startswith("0x") or (len(raw) - 2) % 64 or len(raw) < 66:
        raise MalformedAnswer("balance reader: expected whole 32-byte words")
    try:
        words = [int(raw[i:i + 64], 16) for i in range(2, len(raw), 64)]
    except ValueError:
        raise MalformedAnswer("balance reader: answer is not hex") from None
    done, pairs = words[0], words[1:]
    if not 0 < done <= owners or len(pairs) % 2:
        raise MalformedAnswer(f"balance reader: read {done} of {owners} owners, {len(pairs)} words after")
    found = dict(zip(pairs[::2], pairs[1::2]))
    if len(found) * 2 != len(pairs) or any(p >= done * width for p in found):
        raise MalformedAnswer("balance reader: positions repeated or out of range")
    return done, found


async def balances_at(chain: EVMChain, owners: Sequence[str], tokens: Sequence[str], block: int, *,
                      chunk: int) -> dict[tuple[str, str | None], int]:
    """(owner, None) → native balance and (owner, token) → token balance at `block`, for every owner.

    Each call reads up to `chunk` owners; one whose answer stopped early (more nonzero balances
    than fit: see the contract) is asked again from where it stopped, in the next batch."""
    at = hex(block)
    width = 1 + len(tokens)

    def parse(method: str, params: Sequence[Any], raw: Any) -> Any:
        if method == "eth_getBlockByNumber":
            if not isinstance(raw, dict):
                raise MalformedAnswer(f"node has no block {block} yet: its balances there are not known")
            return None
        return parse_reader_answer(raw, _owners_in(params[0]["data"]), width)

    found = {(owner, asset): 0 for owner in owners for asset in (None, *tokens)}
    todo = [list(owners[i:i + chunk]) for i in range(0, len(owners), chunk)]
    while todo:
        group, todo = todo[:CALLS_PER_BATCH], todo[CALLS_PER_BATCH:]
        calls = [("eth_getBlockByNumber", [at, False])] + [
            ("eth_call", [{"data": reader_calldata(c, tokens)}, at]) for c in group]
        answers = await chain.rpc.batch(calls, parse=parse)
        for asked, (done, values) in zip(group, answers[1:]):
            for position, value in values.items():
                owner, column = divmod(position, width)
                found[(asked[owner], None if column == 0 else tokens[column - 1])] = value
            if done < len(asked):
                todo.append(asked[done:])
    return found

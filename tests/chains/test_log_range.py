"""eth_getLogs asked in parts as narrow as the node requires (chains/log_range.py, defect 12c).

Ground truth is the same node asked without a cap; the invariant, checked under random caps and
refusals, is that the parts cover the asked range exactly, in order, with nothing lost or doubled.
"""

from __future__ import annotations

import asyncio

import pytest
from ctrip_anvil import AnvilChain
from eth_utils import keccak
from fault_proxy import FaultProxy
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrip_core.chains import RetryPolicy, RpcClient, RpcError
from ctrip_core.chains.log_range import GROW_AFTER, LogRange
from ctrip_core.chains.rpc import RANGE_REFUSED, RangeRefused
from ctrip_core.config import ChainConfig
from ctrip_core.devnet import token as tt
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
FAST = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.002)


async def no_sleep(_seconds: float) -> None:
    return None


def make_chain(url: str) -> AnvilChain:
    cfg = ChainConfig(name="anvil", adapter="anvil", chain_id=31337, rpc_url=url, confirmations=1, block_time_s=1,
                      native={"symbol": "ETH", "decimals": 18}, tokens=[], traces="off")
    return AnvilChain(cfg, RpcClient(cfg.rpc_urls, timeout_s=2, retry=FAST, sleep=no_sleep))


@pytest.fixture(scope="module")
def spread(anvil):
    """A token with 12 transfers, one per block, and the block range they lie in."""
    token = tt.deploy_test_token(anvil.rpc_url, FUNDER_KEY)
    first = int(anvil.rpc("eth_blockNumber"), 16) + 1
    for i in range(12):
        tt.mint(anvil.rpc_url, FUNDER_KEY, token, FUNDER, i + 1)
    return token, first, int(anvil.rpc("eth_blockNumber"), 16)


@pytest.mark.parametrize("message", [
    "query returned more than 10000 results",
    "exceed maximum block range: 5000",
    "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range",
    "eth_getLogs is limited to a 10,000 range",
    "block range is too wide",
    "query exceeds max block range 100000",
])
def test_providers_refusals_are_read_as_range_refused(message):
    assert RANGE_REFUSED.search(message)


@pytest.mark.parametrize("message", ["request rate limited", "daily request count exceeded", "execution reverted"])
def test_other_errors_are_not_range_refusals(message):
    assert not RANGE_REFUSED.search(message)


@pytest.mark.parametrize("cap", [dict(max_blocks=1), dict(max_blocks=5), dict(max_results=2),
                                 dict(max_blocks=4, http413=True)],
                         ids=["one-block", "five-blocks", "two-results", "http-413"])
async def test_capped_node_gives_the_uncapped_answer(anvil, spread, cap):
    token, first, last = spread
    with FaultProxy(anvil.rpc_url) as proxy:
        chain = make_chain(proxy.url)
        truth = await chain.get_logs(first, last, [token], [TRANSFER_TOPIC])
        assert len(truth) == 12 and chain.log_range.cap is None
        proxy.cap_logs(**cap)
        assert await chain.get_logs(first, last, [token], [TRANSFER_TOPIC]) == truth
        logs, anchors = await chain.get_logs_anchored(first, last, [token], [TRANSFER_TOPIC])
        assert logs == truth
        assert max(anchors) == last and chain.log_range.cap <= cap.get("max_blocks", 6)
        for number, anchor in anchors.items():
            assert anchor == anvil.rpc("eth_getBlockByNumber", hex(number), False)["hash"]
        await chain.close()


async def test_refused_single_block_is_a_fault_not_an_empty_answer(anvil, spread):
    token, first, last = spread
    with FaultProxy(anvil.rpc_url) as proxy:
        chain = make_chain(proxy.url)
        proxy.cap_logs(max_blocks=0)
        with pytest.raises(RpcError):
            await chain.get_logs(first, last, [token], [TRANSFER_TOPIC])
        await chain.close()


def test_cap_grows_back_after_parts_accepted_at_it():
    log_range = LogRange("anvil")
    log_range.refused(100, RangeRefused("eth_getLogs", -32000, "exceed maximum block range: 50"))
    assert log_range.cap == 50 and log_range.span(100) == 50 and log_range.span(7) == 7
    for _ in range(GROW_AFTER - 1):
        log_range.accepted(50)
    log_range.accepted(7)  # a narrower part says nothing about the cap
    assert log_range.cap == 50
    log_range.accepted(50)
    assert log_range.cap == 100


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 1000), length=st.integers(1, 300), cap=st.integers(1, 64),
       flaky=st.lists(st.booleans(), min_size=1, max_size=50), rounds=st.integers(1, 4))
def test_parts_cover_the_range_exactly_under_random_refusals(start, length, cap, flaky, rounds):
    """Whatever the node refuses (wider than its cap, or at random above one block), the parts asked
    cover start..end exactly once and in order, and the cap stays at least one block."""
    chain = make_chain("http://127.0.0.1:9")  # never asked: `part` below answers
    coin = iter(flaky * 1000)

    async def part(lo: int, hi: int):
        if hi - lo + 1 > cap or (hi > lo and next(coin)):
            raise RangeRefused("eth_getLogs", -32005, "query returned more than 10000 results")
        return list(range(lo, hi + 1))

    async def run():
        for _ in range(rounds):
            answers = await chain._in_parts(start, start + length - 1, part)
            covered = [n for _hi, numbers in answers for n in numbers]
            assert covered == list(range(start, start + length))
            assert [hi for hi, _ in answers] == [numbers[-1] for _, numbers in answers]
            assert chain.log_range.cap is None or chain.log_range.cap >= 1
        await chain.close()

    asyncio.run(run())


async def test_a_url_refusing_every_range_hands_over_to_the_next(anvil, spread):
    """The preferred URL refuses eth_getLogs even for one block (a tier limit): the next URL answers,
    nothing stalls (review finding 6)."""
    token, first, last = spread
    with FaultProxy(anvil.rpc_url) as refusing:
        refusing.cap_logs(max_blocks=0)
        cfg = ChainConfig(name="anvil", adapter="anvil", chain_id=31337, rpc_url=[refusing.url, anvil.rpc_url],
                          confirmations=1, block_time_s=1, native={"symbol": "ETH", "decimals": 18}, tokens=[],
                          traces="off")
        chain = AnvilChain(cfg, RpcClient(cfg.rpc_urls, timeout_s=2, retry=FAST, sleep=no_sleep))
        truth = await make_chain(anvil.rpc_url).get_logs(first, last, [token], [TRANSFER_TOPIC])
        logs, anchors = await chain.get_logs_anchored(first, last, [token], [TRANSFER_TOPIC])
        assert logs == truth and max(anchors) == last
        await chain.close()

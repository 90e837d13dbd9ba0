"""Every RPC URL of a chain must answer the configured chain id before it is used (issue 14, defect 12b).

Two real Anvils behind one chain config: the session's (chain id 31337, the configured one) and a
module's own started with `--chain-id 4242`, mined ahead so that its answers differ. A URL that
answers another id is never used (logged once, counted once); the chain's other URLs keep working;
a URL that does not answer is "not known yet" and checked on first use.
"""

from __future__ import annotations

import logging

import pytest
from ctrip_anvil import AnvilChain
from fault_proxy import FaultProxy

from ctrip_core.chains import ChainIdMismatch, RetryPolicy
from ctrip_core.chains.rpc import WRONG_CHAIN_ID, RpcUnavailable
from ctrip_core.config import ChainConfig
from ctrip_core.config.node_url import shown
from ctrip_core.devnet.anvil import AnvilNode

FAST = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.002)


@pytest.fixture(scope="module")
def other_chain():
    node = AnvilNode.start(chain_id=4242)
    yield node
    node.stop()


def config(urls: list[str]) -> ChainConfig:
    return ChainConfig(name="dev", adapter="anvil", chain_id=31337, rpc_urls=urls, confirmations=1,
                       block_time_s=1, native={"symbol": "ETH", "decimals": 18}, rpc_timeout_s=0.5)


@pytest.fixture
async def make_chain():
    made = []

    def make(urls: list[str]):
        faults: list[tuple[str, str]] = []
        chain = AnvilChain(config(urls), retry=FAST, on_fault=lambda url, kind: faults.append((url, kind)))
        made.append(chain)
        return chain, faults

    yield make
    for chain in made:
        await chain.close()


def head_of(node) -> int:
    return int(node.rpc("eth_blockNumber"), 16)


async def test_a_url_serving_another_chain_is_never_used_and_the_others_keep_working(anvil, other_chain,
                                                                                    make_chain, caplog):
    other_chain.rpc("anvil_mine", hex(head_of(anvil) + 7 - head_of(other_chain)))  # its heads differ
    with FaultProxy(other_chain.rpc_url) as wrong:
        chain, faults = make_chain([wrong.url, anvil.rpc_url])  # the wrong node comes first
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                assert await chain.head() == head_of(anvil)
            assert await chain.chain_id() == 31337
        assert [s.methods for s in wrong.seen] == [("eth_chainId",)]  # asked once, then never used
        assert faults == [(shown(wrong.url), WRONG_CHAIN_ID)]
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(lines) == 1 and "4242" in lines[0] and "31337" in lines[0] and shown(wrong.url) in lines[0], lines


async def test_verify_fails_only_when_every_url_answers_another_chain(anvil, other_chain, make_chain):
    with FaultProxy(other_chain.rpc_url) as second:
        chain, _ = make_chain([other_chain.rpc_url, second.url])
        with pytest.raises(ChainIdMismatch) as info:
            await chain.verify_chain_id()
        message = str(info.value)
        assert "chain dev" in message and "chain_id 31337" in message and "answers 4242" in message
        assert other_chain.rpc_url in message and second.url in message
        with pytest.raises(ChainIdMismatch):  # and no call is sent anywhere
            await chain.head()
        assert [s.methods for s in second.seen] == [("eth_chainId",)]

    mixed, _ = make_chain([other_chain.rpc_url, anvil.rpc_url])
    await mixed.verify_chain_id()  # one right URL is enough
    assert await mixed.head() == head_of(anvil)


async def test_a_url_unreachable_at_start_is_not_known_yet_and_is_checked_on_first_use(anvil, other_chain,
                                                                                      make_chain):
    with FaultProxy(anvil.rpc_url) as right, FaultProxy(other_chain.rpc_url) as wrong:
        chain, _ = make_chain([wrong.url, right.url])
        right.fail_next(1, "http500")
        wrong.fail_next(1, "http500")
        with pytest.raises(RpcUnavailable):  # no answer: not known yet, not wrong
            await chain.verify_chain_id()
        assert await chain.head() == head_of(anvil)  # first use: both asked again, the wrong one dropped
        assert [s.methods for s in wrong.seen] == [("eth_chainId",), ("eth_chainId",)]
        assert [s.methods for s in right.seen][-2:] == [("eth_chainId",), ("eth_blockNumber",)]


async def test_an_error_answer_to_eth_chain_id_is_not_known_yet_and_the_next_url_serves(anvil, make_chain):
    """A first URL answering eth_chainId with a JSON-RPC error (maintenance, a gateway) must not stop
    the chain while the second serves it; it is asked again later (review finding 3)."""
    with FaultProxy(anvil.rpc_url) as first:
        first.fail_next(10, "rpc_error", method="eth_chainId")
        chain, faults = make_chain([first.url, anvil.rpc_url])
        assert await chain.head() == head_of(anvil)
        assert (shown(first.url), "RpcTransportError") in faults
        assert first.url not in chain.rpc.answered  # not judged: asked again at its next turn

"""Call traces on a real Anvil (both tracers), the answers a bad or lagging node gives, and `traces: auto`.

Anvil answers `debug_traceBlockByNumber` (callTracer) and `trace_block`; the fault proxy plays a node
without them (`without`), one that lags (`behind`) and one that answers garbage.
"""

from __future__ import annotations

import logging

import pytest
from ctrip_anvil import AnvilChain
from eth_account import Account
from fault_proxy import FaultProxy

from ctrip_core.chains import MalformedAnswer, RetryPolicy, RpcClient
from ctrip_core.chains.traces import InternalCall, internal_log_index, parse_call_tracer, parse_trace_block
from ctrip_core.chains.types import Block, Tx
from ctrip_core.config import ChainConfig
from ctrip_core.devnet import forwarder as fw
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY

FAST = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.002)


async def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
async def adapters():
    made = []

    def make(urls, traces: str = "auto"):
        cfg = ChainConfig(name="anvil", adapter="anvil", chain_id=31337, rpc_url=urls, confirmations=1,
                          block_time_s=1, native={"symbol": "ETH", "decimals": 18}, traces=traces)
        chain = AnvilChain(cfg, RpcClient(cfg.rpc_urls, timeout_s=2, retry=FAST, sleep=no_sleep))
        made.append(chain)
        return chain

    yield make
    for chain in made:
        await chain.close()


@pytest.fixture(scope="module")
def forwarders(anvil) -> tuple[str, str]:
    return fw.deploy_forwarder(anvil.rpc_url, FUNDER_KEY), fw.deploy_forwarder(anvil.rpc_url, FUNDER_KEY)


def fresh() -> str:
    return Account.create().address


async def traced(chain, tx_hash: str) -> Block:
    number = int(chain_rpc(chain, tx_hash)["blockNumber"], 16)
    (block,) = await chain.with_traces(await chain.get_blocks([number]))
    return block


def chain_rpc(chain, tx_hash):
    import httpx

    body = httpx.post(chain.config.rpc_urls[0], json={"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionReceipt",
                                                      "params": [tx_hash]}).json()
    return body["result"]


async def both_modes(anvil, adapters, tx_hash) -> tuple[InternalCall, ...]:
    """The tx's internal calls, read in debug and in trace mode: they must be the same."""
    debug = await traced(adapters(anvil.rpc_url, "debug"), tx_hash)
    trace = await traced(adapters(anvil.rpc_url, "trace"), tx_hash)
    assert debug.internal_calls == trace.internal_calls
    return tuple(c for c in debug.internal_calls if c.tx_hash == tx_hash)


async def test_single_forward_is_one_internal_call(anvil, adapters, forwarders):
    to = fresh()
    tx = fw.forward(anvil.rpc_url, FUNDER_KEY, forwarders[0], to, 5)
    assert await both_modes(anvil, adapters, tx) == (InternalCall(tx, 0, forwarders[0], to, 5),)
    assert internal_log_index(0) == -2


async def test_batch_is_one_call_per_recipient(anvil, adapters, forwarders):
    a, b = fresh(), fresh()
    tx = fw.forward_batch(anvil.rpc_url, FUNDER_KEY, forwarders[0], [a, b], [1, 2])
    assert await both_modes(anvil, adapters, tx) == (InternalCall(tx, 0, forwarders[0], a, 1),
                                                    InternalCall(tx, 1, forwarders[0], b, 2))


async def test_nested_forwarding(anvil, adapters, forwarders):
    first, second = forwarders
    to = fresh()
    tx = fw.forward_via(anvil.rpc_url, FUNDER_KEY, first, second, to, 7)
    assert await both_modes(anvil, adapters, tx) == (InternalCall(tx, 0, first, second, 7),
                                                    InternalCall(tx, 1, second, to, 7))


async def test_reverted_sub_call_and_its_children_are_left_out(anvil, adapters, forwarders):
    to = fresh()
    tx = fw.forward_then_revert(anvil.rpc_url, FUNDER_KEY, forwarders[0], to, 9)
    # frame 1 (this.sendAndRevert) reverted with its child 2 (the send to `to`); 3 refunds the sender,
    # the one value-moving call that counts: position 0
    assert await both_modes(anvil, adapters, tx) == (InternalCall(tx, 0, forwarders[0], FUNDER, 9),)


async def test_reverted_transaction_moves_nothing(anvil, adapters, forwarders):
    tx = fw.send_and_revert(anvil.rpc_url, FUNDER_KEY, forwarders[0], fresh(), 13)
    assert await both_modes(anvil, adapters, tx) == ()


async def test_delegatecall_and_staticcall_move_nothing(anvil, adapters, forwarders):
    """callTracer shows the delegatecall to `to` with the caller's value: still nothing reached `to`."""
    tx = fw.touch(anvil.rpc_url, FUNDER_KEY, forwarders[0], fresh(), 11)
    assert await both_modes(anvil, adapters, tx) == ()


async def test_off_traces_nothing(anvil, adapters, forwarders):
    fw.forward(anvil.rpc_url, FUNDER_KEY, forwarders[0], fresh(), 5)
    with FaultProxy(anvil.rpc_url) as proxy:
        chain = adapters(proxy.url, "off")
        blocks = await chain.get_blocks([int(anvil.rpc("eth_blockNumber"), 16)])
        proxy.reset_counters()
        assert (await chain.with_traces(blocks))[0].internal_calls is None
        assert proxy.requests == 0


# -- answers of a bad node ----------------------------------------------------------------------------

H = "0x" + "ab" * 32
BH = "0x" + "cd" * 32
A1, A2 = "0x" + "11" * 20, "0x" + "22" * 20
BLOCK = Block(number=7, hash=BH, parent_hash="0x" + "00" * 32, timestamp=1,
              transactions=(Tx(hash=H, from_address=A1, to_address=A2, value=0),))


def call_frame(**extra):
    return {"type": "CALL", "from": A1, "to": A2, "value": "0x0"} | extra


@pytest.mark.parametrize("raw", [
    None, {}, [], [{"txHash": H}],
    [{"txHash": "0x" + "ef" * 32, "result": call_frame()}],
    [{"txHash": H, "result": call_frame(calls={"not": "a list"})}],
    [{"txHash": H, "result": call_frame(calls=[call_frame(value="12")])}],
    [{"txHash": H, "result": call_frame(calls=[call_frame(to="0x12", value="0x1")])}],
    [{"txHash": H, "result": call_frame(calls=["frame"])}],
], ids=["null", "object", "fewer-txs", "no-result", "other-tx", "calls-not-list", "bad-value", "bad-to", "not-frame"])
def test_malformed_call_tracer_answer(raw):
    with pytest.raises(MalformedAnswer):
        parse_call_tracer(raw, BLOCK)


def flat(path, **extra):
    return {"type": "call", "action": {"callType": "call", "from": A1, "to": A2, "value": "0x1"},
            "blockHash": BH, "blockNumber": 7, "transactionHash": H, "traceAddress": path} | extra


@pytest.mark.parametrize("raw", [
    None, [], [flat([0])], [flat([], blockHash="0x" + "ee" * 32)], [flat([]), flat(["0"])],
    [flat([], transactionHash="0x" + "ef" * 32)], [flat([]), flat([0], action="x")],
], ids=["null", "empty-for-a-block-with-txs", "no-top-level", "other-fork", "bad-path", "other-tx", "bad-action"])
def test_malformed_trace_block_answer(raw):
    with pytest.raises(MalformedAnswer):
        parse_trace_block(raw, BLOCK)


def test_both_formats_agree_on_selfdestruct_reverts_and_positions():
    """Frames: 0 top; 1 call (reverted) → 2 call (under it); 3 delegatecall; 4 selfdestruct to A2,
    the one value-moving frame that counts (position 0)."""
    tree = call_frame(value="0x9", calls=[
        call_frame(value="0x1", error="execution reverted", calls=[call_frame(value="0x2")]),
        call_frame(type="DELEGATECALL", value="0x9"),
        {"type": "SELFDESTRUCT", "from": A1, "to": A2, "value": "0x5"},
    ])
    traces = [flat([], action={"callType": "call", "from": A1, "to": A2, "value": "0x9"}),
              flat([0], error="Reverted"), flat([0, 0]),
              flat([1], action={"callType": "delegatecall", "from": A1, "to": A2, "value": "0x9"}),
              {"type": "suicide", "action": {"address": A1, "refundAddress": A2, "balance": "0x5"},
               "blockHash": BH, "blockNumber": 7, "transactionHash": H, "traceAddress": [2]},
              {"type": "reward", "action": {"author": A1, "value": "0x1"}, "blockHash": BH, "blockNumber": 7,
               "transactionHash": None, "traceAddress": []}]
    expected = (InternalCall(H, 0, A1, A2, 5),)
    assert parse_call_tracer([{"txHash": H, "result": tree}], BLOCK) == expected
    assert parse_trace_block(traces[::-1], BLOCK) == expected  # order of the list does not matter


def test_positions_count_only_frames_every_client_reports():
    """One Safe-like payment as geth's callTracer shows it (an ecrecover STATICCALL to a precompile, a
    failed call, a value call to a precompile) and as Nethermind's trace_block does (precompile actions
    left out, traceAddress renumbered): the same key, so the auditor can never credit it twice."""
    ecrecover, sha256 = "0x" + "0" * 39 + "1", "0x" + "0" * 39 + "2"
    tree = call_frame(calls=[
        call_frame(type="STATICCALL", to=ecrecover),
        call_frame(value="0x3", to=sha256),
        call_frame(value="0x1", error="insufficient balance"),
        call_frame(value="0x7"),
    ])
    traces = [flat([], action={"callType": "call", "from": A1, "to": A2, "value": "0x0"}),
              flat([0], error="insufficient balance"),
              flat([1], action={"callType": "call", "from": A1, "to": A2, "value": "0x7"})]
    expected = (InternalCall(H, 0, A1, A2, 7),)
    assert parse_call_tracer([{"txHash": H, "result": tree}], BLOCK) == expected
    assert parse_trace_block(traces, BLOCK) == expected


def test_two_traces_at_one_trace_address_are_refused():
    with pytest.raises(MalformedAnswer):
        parse_trace_block([flat([]), flat([0]), flat([0])], BLOCK)


def test_a_call_tree_deeper_than_the_recursion_limit():
    frame = call_frame(value="0x1")
    top = frame
    for _ in range(1100):  # the EVM allows 1024; the reader must not recurse
        child = call_frame(value="0x1")
        frame["calls"] = [child]
        frame = child
    calls = parse_call_tracer([{"result": top}], BLOCK)
    assert len(calls) == 1100 and calls[-1].position == 1099


# -- traces: auto, and nodes that lag or lack the methods ---------------------------------------------

async def test_auto_uses_debug_where_every_url_has_it(anvil, adapters):
    chain = adapters([anvil.rpc_url, anvil.rpc_url])
    assert await chain.traces.mode() == "debug"


async def test_auto_falls_back_to_trace_then_off_with_one_warning(anvil, adapters, caplog):
    with FaultProxy(anvil.rpc_url) as lacks_debug, FaultProxy(anvil.rpc_url) as lacks_both:
        lacks_debug.without("debug_traceBlockByHash")
        lacks_both.without("debug_traceBlockByHash", "trace_block")
        assert await adapters(lacks_debug.url).traces.mode() == "trace"
        assert await adapters([anvil.rpc_url, lacks_debug.url]).traces.mode() == "trace"
        chain = adapters([anvil.rpc_url, lacks_both.url])
        with caplog.at_level(logging.WARNING, logger="ctrip_core.chains.traces"):
            blocks = await chain.get_blocks([int(anvil.rpc("eth_blockNumber"), 16)])
            lacks_both.reset_counters()
            for _ in range(3):
                assert (await chain.with_traces(blocks))[0].internal_calls is None
        assert lacks_both.requests == 3  # probed once (the head block, debug, trace), not on every call
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "no call-trace method" in warnings[0].getMessage()


async def test_auto_does_not_judge_a_node_that_fails_the_probe(anvil, adapters):
    """A flaky answer (5xx, an error that is not "no such method", null) says nothing: probed again later."""
    with FaultProxy(anvil.rpc_url) as proxy:
        chain = adapters(proxy.url)
        proxy.fail_next(1, "rpc_error")
        with pytest.raises(Exception, match="could not probe"):
            await chain.traces.mode()
        proxy.fail_next(1, "null_result")
        with pytest.raises(Exception, match="could not probe"):
            await chain.traces.mode()
        assert await chain.traces.mode() == "debug"


@pytest.mark.parametrize("mode", ["debug", "trace"])
async def test_lagging_or_garbled_trace_answers_are_retried_on_the_next_url(anvil, adapters, forwarders, mode):
    to = fresh()
    tx = fw.forward(anvil.rpc_url, FUNDER_KEY, forwarders[0], to, 5)
    with FaultProxy(anvil.rpc_url) as lagging:
        chain = adapters([lagging.url, anvil.rpc_url], mode)
        blocks = await chain.get_blocks([int(chain_rpc(chain, tx)["blockNumber"], 16)])
        lagging.behind(3)
        (block,) = await chain.with_traces(blocks)
        assert [c.to_address for c in block.internal_calls] == [to]
        lagging.behind(0)
        chain.rpc._preferred = 0
        for fault in ("null_result", "garbage", "rpc_error"):
            lagging.fail_next(1, fault)
            (block,) = await chain.with_traces(blocks)
            assert [c.to_address for c in block.internal_calls] == [to]
            chain.rpc._preferred = 0

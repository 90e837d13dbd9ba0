"""The scanner behind faulty and lagging nodes (a real Anvil behind the fault-injecting proxy).

For every fault a node can throw at it (timeouts, 5xx, 429, rate-limit codes, garbage, null results,
missing ids, dropped connections) on every call a scan step makes (eth_blockNumber,
eth_getBlockByNumber, eth_getLogs, eth_getTransactionReceipt), a step either retries and succeeds,
or raises with nothing committed: the cursor never passes a block whose transfers were not recorded,
no partial range is ever stored, and once the fault clears every payment made meanwhile is detected
exactly once. A lagging node never makes the scanner skip blocks or move its cursor backwards.

This module runs its own Anvil and PostgreSQL database; all tests share the chain's cursor, which
each test first brings to the head with a fault-free scan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import pytest_asyncio
from fault_proxy import FaultProxy
from sqlalchemy import func, select

from testbed import create_database, drop_database, make_settings, new_merchant
from ctrip_core.chains.log_range import GROW_AFTER
from ctrip_core.chains.rpc import RetryPolicy, RpcError, RpcResponseError, RpcUnavailable
from ctrip_core.db.models import ChainCursor, Payment, RecentBlock, Transfer
from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.devnet.token import send_native, transfer
from ctrip_core.runtime import build_runtime
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.services.watching.scanning import scan_chain, scan_step

CHAIN = "anvil"
ETH = 10**18
FAST = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.02)
RPC_TIMEOUT_S = 0.6  # well under the proxy's 2 s hold (a "timeout" fault costs 0.6 s), with room for a loaded machine

#: Every JSON-RPC method a scan step calls (receipts: for the native transfers it matched).
METHODS = ["eth_blockNumber", "eth_getBlockByNumber", "eth_getLogs", "eth_getTransactionReceipt"]
#: Faults of the node, not of the request: the client must retry them (and count them).
TRANSPORT_FAULTS = ["timeout", "http500", "http429", "rate_limit_code", "garbage", "wrong_shape", "null_result",
                    "missing_ids", "drop"]


# -- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def database():
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def proxy(node):
    with FaultProxy(node.rpc_url) as p:
        yield p


@pytest.fixture(scope="module")
def proxy2(node):
    """A second, healthy-by-default proxy in front of the same node (a second "provider")."""
    with FaultProxy(node.rpc_url) as p:
        yield p


@pytest.fixture(autouse=True)
def clean_proxies(proxy, proxy2):
    for p in (proxy, proxy2):
        p.clear()
        p.reset_counters()
    yield
    for p in (proxy, proxy2):
        p.clear()


@dataclass
class Scanner:
    """A runtime whose chain talks to `urls`, with every RPC fault it hears recorded."""

    rt: object
    faults: list[tuple[str, str, str]]
    merchant_id: str

    @property
    def chain(self):
        return self.rt.chains[CHAIN]


@pytest_asyncio.fixture
async def make_scanner(node, tusd, database, tmp_path):
    made = []

    async def make(urls: list[str]) -> Scanner:
        path = write_anvil_chains_file(tmp_path / f"chains-{len(made)}.yaml", urls, tusd, name=CHAIN,
                                       rpc_timeout_s=RPC_TIMEOUT_S, treasury=None)
        faults: list[tuple[str, str, str]] = []
        rt = build_runtime(make_settings(database, path), "scanner",
                           on_fault=lambda chain, url, kind: faults.append((chain, url, kind)))
        made.append(rt)
        rt.chains[CHAIN].rpc.retry = FAST
        await catch_up(rt)  # fault-free (the proxies are clear): the cursor starts at the head
        await rt.chains[CHAIN].traces.mode()  # traces: auto probes each node once, fault-free too
        faults.clear()
        return Scanner(rt, faults, (await new_merchant(rt))[0])

    yield make
    for rt in made:
        await rt.close()


# -- helpers -------------------------------------------------------------------------------------

@dataclass
class Paid:
    payment_id: str
    amount: int
    tx_hash: str
    block: int


async def catch_up(rt) -> None:
    for _ in range(20):
        results = await scan_chain(rt, CHAIN, max_steps=50)
        if not any(r.advanced or r.reorg_to is not None for r in results):
            return
    raise AssertionError("scanner did not catch up")


async def pay(s: Scanner, node, tusd, *, eth: int = 1, tokens: int = 1) -> list[Paid]:
    """`eth` native and `tokens` TUSD payments, each paid in full in its own block (straight to the node)."""
    paid = []
    for asset, count in (("ETH", eth), ("TUSD", tokens)):
        for i in range(count):
            async with s.rt.sessions() as session, session.begin():
                p = await create_payment(s.rt, s.merchant_id, PaymentRequest(CHAIN, asset, str(i + 1)), within=session)
            if asset == "ETH":
                tx_hash = send_native(node.rpc_url, FUNDER_KEY, p.address, (i + 1) * ETH)
            else:
                tx_hash = transfer(node.rpc_url, FUNDER_KEY, tusd, p.address, (i + 1) * 10**6)
            block = int(node.rpc("eth_getTransactionReceipt", tx_hash)["blockNumber"], 16)
            paid.append(Paid(p.id, p.amount_base_units, tx_hash.lower(), block))
    return paid


@dataclass
class Snapshot:
    cursor: int
    top_recent_block: int | None
    transfers: int


async def snapshot(rt) -> Snapshot:
    async with rt.sessions() as session:
        cursor = await session.get(ChainCursor, CHAIN)
        top = await session.scalar(select(func.max(RecentBlock.number)).where(RecentBlock.chain == CHAIN))
        count = await session.scalar(select(func.count()).select_from(Transfer).where(Transfer.chain == CHAIN))
    return Snapshot(cursor.last_block, top, count)


async def assert_consistent(rt, paid: list[Paid]) -> int:
    """Exactly the payments in blocks up to the cursor are recorded, once each; returns the cursor."""
    async with rt.sessions() as session:
        cursor = (await session.get(ChainCursor, CHAIN)).last_block
        top = await session.scalar(select(func.max(RecentBlock.number)).where(RecentBlock.chain == CHAIN))
        beyond = await session.scalar(select(func.count()).select_from(Transfer).where(
            Transfer.chain == CHAIN, Transfer.block_number > cursor))
        assert top == cursor and beyond == 0, "blocks or transfers stored past the cursor"
        for p in paid:
            payment = await session.get(Payment, p.payment_id)
            transfers = list(await session.scalars(select(Transfer).where(Transfer.payment_id == p.payment_id)))
            if p.block <= cursor:
                assert [t.tx_hash for t in transfers] == [p.tx_hash], f"payment in block {p.block} not recorded once"
                assert payment.status == "detected" and payment.amount_received_base_units == p.amount
            else:
                assert transfers == [] and payment.status == "pending"
    return cursor


async def assert_all_detected_once(s: Scanner, node, paid: list[Paid]) -> None:
    await catch_up(s.rt)
    cursor = await assert_consistent(s.rt, paid)
    assert cursor == int(node.rpc("eth_blockNumber"), 16)


# -- a passing fault: retried inside the step ----------------------------------------------------

@pytest.mark.parametrize("mode", TRANSPORT_FAULTS)
@pytest.mark.parametrize("method", METHODS)
async def test_passing_fault_is_retried_and_the_step_succeeds(make_scanner, node, tusd, proxy, method, mode):
    s = await make_scanner([proxy.url])
    paid = await pay(s, node, tusd)
    head = int(node.rpc("eth_blockNumber"), 16)
    proxy.fail_next(FAST.attempts - 1, mode, method=method)

    result = await scan_step(s.rt, CHAIN)

    assert result.to_block == head and result.transfers == len(paid)
    assert proxy.pending_faults == 0
    assert s.faults and len(s.faults) == FAST.attempts - 1
    assert all(f[:2] == (CHAIN, proxy.url) for f in s.faults)
    await assert_all_detected_once(s, node, paid)


async def test_shuffled_answers_are_not_a_fault(make_scanner, node, tusd, proxy):
    s = await make_scanner([proxy.url])
    paid = await pay(s, node, tusd, eth=2, tokens=2)
    proxy.fail_next(10, "shuffled")
    await scan_step(s.rt, CHAIN)
    assert s.faults == []
    await assert_all_detected_once(s, node, paid)


# -- a lasting fault: the step raises, nothing moves ----------------------------------------------

@pytest.mark.parametrize("mode", TRANSPORT_FAULTS)
@pytest.mark.parametrize("method", METHODS)
async def test_lasting_fault_raises_and_moves_nothing(make_scanner, node, tusd, proxy, method, mode):
    s = await make_scanner([proxy.url])
    before = await snapshot(s.rt)
    paid = await pay(s, node, tusd)
    proxy.fail_next(1000, mode, method=method)

    with pytest.raises(RpcUnavailable):
        await scan_step(s.rt, CHAIN)

    assert await snapshot(s.rt) == before
    # every attempt of the failing request was a fault (eth_getBlockByNumber is also in the logs batch)
    assert len(s.faults) >= FAST.attempts and all(f[:2] == (CHAIN, proxy.url) for f in s.faults)
    proxy.clear()
    await assert_all_detected_once(s, node, paid)


@pytest.mark.parametrize("method", METHODS)
async def test_error_answer_is_not_retried_and_moves_nothing(make_scanner, node, tusd, proxy, method):
    """A JSON-RPC error object from a healthy node is an answer, not a fault: raised at once, not counted."""
    s = await make_scanner([proxy.url])
    before = await snapshot(s.rt)
    paid = await pay(s, node, tusd)
    proxy.fail_next(1, "rpc_error", method=method)

    with pytest.raises(RpcResponseError):
        await scan_step(s.rt, CHAIN)

    assert await snapshot(s.rt) == before and s.faults == []
    await assert_all_detected_once(s, node, paid)


async def test_fault_in_a_later_step_keeps_the_earlier_steps_only(make_scanner, node, tusd, proxy):
    s = await make_scanner([proxy.url])
    start = (await snapshot(s.rt)).cursor
    paid = await pay(s, node, tusd, eth=4, tokens=4)  # 8 blocks: steps of 3 blocks
    first = await scan_step(s.rt, CHAIN, max_blocks=3)
    assert (first.from_block, first.to_block) == (start + 1, start + 3)
    proxy.fail_next(1000, "http500", method="eth_getLogs")

    with pytest.raises(RpcError):
        await scan_chain(s.rt, CHAIN, max_blocks=3)

    assert await assert_consistent(s.rt, paid) == start + 3
    proxy.clear()
    await assert_all_detected_once(s, node, paid)


async def test_faults_on_every_method_at_once_then_recovery(make_scanner, node, tusd, proxy):
    """Mixed faults across several steps: whatever raises, the end state is every payment once."""
    s = await make_scanner([proxy.url])
    paid = await pay(s, node, tusd, eth=3, tokens=3)
    for method, mode in zip(METHODS, ["drop", "null_result", "garbage", "missing_ids"]):
        proxy.fail_next(FAST.attempts + 1, mode, method=method)
    for _ in range(12):
        try:
            await scan_chain(s.rt, CHAIN, max_blocks=2)
        except RpcError:
            pass
        await assert_consistent(s.rt, paid)
    assert proxy.pending_faults == 0 and len(s.faults) >= 4 * FAST.attempts
    await assert_all_detected_once(s, node, paid)


# -- several nodes: failover and lagging nodes ---------------------------------------------------

async def test_failover_to_the_second_node(make_scanner, node, tusd, proxy):
    s = await make_scanner([proxy.url, node.rpc_url])
    paid = await pay(s, node, tusd)
    proxy.fail_next(1000, "http500")

    await scan_step(s.rt, CHAIN)

    assert s.faults == [(CHAIN, proxy.url, "RpcTransportError")]  # once; the second node is kept after
    await assert_all_detected_once(s, node, paid)


async def test_lagging_first_node_skips_nothing(make_scanner, node, tusd, proxy):
    s = await make_scanner([proxy.url, node.rpc_url])
    proxy.behind(4)
    paid = await pay(s, node, tusd, eth=3, tokens=3)
    head = int(node.rpc("eth_blockNumber"), 16)

    await catch_up(s.rt)

    assert await assert_consistent(s.rt, paid) == head - 4  # as far as the node it asks knows
    proxy.behind(0)
    await assert_all_detected_once(s, node, paid)


async def test_cursor_never_moves_backwards_while_the_node_lags_more_or_less(make_scanner, node, tusd, proxy):
    s = await make_scanner([proxy.url, node.rpc_url])
    paid: list[Paid] = []
    cursors = [(await snapshot(s.rt)).cursor]
    for lag in [0, 6, 2, 9, 0, 3]:
        proxy.behind(lag)
        paid += await pay(s, node, tusd, eth=1, tokens=1)
        await catch_up(s.rt)
        cursors.append(await assert_consistent(s.rt, paid))
    assert cursors == sorted(cursors)
    proxy.behind(0)
    await assert_all_detected_once(s, node, paid)


async def test_synced_node_faulting_falls_back_to_the_lagging_one_safely(make_scanner, node, tusd, proxy, proxy2):
    """Head read from the synced node, its blocks then asked of the lagging one: retried, never skipped."""
    lagging, synced = proxy, proxy2
    s = await make_scanner([lagging.url, synced.url])
    lagging.behind(5)
    paid = await pay(s, node, tusd, eth=3, tokens=3)
    head = int(node.rpc("eth_blockNumber"), 16)
    lagging.fail_next(1, "http500", method="eth_blockNumber")  # moves the client to the synced node
    # ...whose blocks batch or anchored logs batch (both ask eth_getBlockByNumber; whichever comes first)
    # then fails once: retried on the lagging node, which lacks the blocks, then on the synced one again
    synced.fail_next(1, "drop", method="eth_getBlockByNumber")

    assert (await scan_step(s.rt, CHAIN)).to_block == head
    assert await assert_consistent(s.rt, paid) == head

    synced.fail_next(1000, "drop")  # only the lagging node is left: it lacks the scanned blocks
    more = await pay(s, node, tusd)
    for _ in range(3):
        try:
            await scan_chain(s.rt, CHAIN)
        except RpcError:
            pass
        assert await assert_consistent(s.rt, paid + more) >= head
    synced.clear()
    lagging.behind(0)
    await assert_all_detected_once(s, node, paid + more)


class LaggingLogsProxy(FaultProxy):
    """`behind(n)` as a real lagging node answers it: eth_getLogs only knows blocks up to its head too.

    (The plain proxy forwards eth_getLogs unchanged; a node n blocks behind answers a range reaching
    past its head with the logs it has, i.e. without those of its missing blocks.)
    """

    def _forward(self, body, payload, lag):
        status, content = super()._forward(body, payload, lag)
        if not lag:
            return status, content
        shown = max(0, self._upstream_head() - lag)
        calls = payload if isinstance(payload, list) else [payload]
        logs_ids = {c.get("id") for c in calls if isinstance(c, dict) and c.get("method") == "eth_getLogs"}
        answer = json.loads(content)
        for item in answer if isinstance(answer, list) else [answer]:
            if isinstance(item, dict) and item.get("id") in logs_ids and isinstance(item.get("result"), list):
                item["result"] = [e for e in item["result"] if int(e["blockNumber"], 16) <= shown]
        return status, json.dumps(answer).encode()


async def test_logs_from_a_lagging_node_are_not_trusted_for_blocks_it_lacks(make_scanner, node, tusd, proxy):
    """Blocks from the synced node, logs (after a fault) from a lagging one: its partial logs must not count."""
    with LaggingLogsProxy(node.rpc_url) as lagging:
        s = await make_scanner([proxy.url, lagging.url])
        lagging.behind(3)
        paid = await pay(s, node, tusd, eth=0, tokens=3)
        proxy.fail_next(1, "http500", method="eth_getLogs")

        await scan_step(s.rt, CHAIN)

        await assert_consistent(s.rt, paid)
        lagging.behind(0)
        await assert_all_detected_once(s, node, paid)


# -- the confirmer's re-check: a null receipt is "not known yet", never an orphan ----------------

async def test_null_receipt_in_the_recheck_never_orphans_a_canonical_transfer(make_scanner, node, tusd, proxy):
    from ctrip_core.services.watching.confirming import confirm_step

    s = await make_scanner([proxy.url])
    paid = await pay(s, node, tusd, eth=1, tokens=0)
    await catch_up(s.rt)
    proxy.fail_next(1, "null_calls", method="eth_getTransactionReceipt")
    await confirm_step(s.rt, CHAIN)
    async with s.rt.sessions() as session:
        transfer = await session.scalar(select(Transfer).where(Transfer.payment_id == paid[0].payment_id))
        payment = await session.get(Payment, paid[0].payment_id)
    assert transfer.state == "confirmed" and payment.status == "confirmed"


# -- settling in block order: a later transfer in the same range does not expire an on-time payment

async def test_full_payment_before_expiry_then_dust_after_it_in_one_range_stays_paid(make_scanner, node, tusd, proxy):
    from datetime import UTC, datetime

    s = await make_scanner([proxy.url])
    async with s.rt.sessions() as session, session.begin():
        p = await create_payment(s.rt, s.merchant_id, PaymentRequest(CHAIN, "ETH", "1"), within=session)
    paid = send_native(node.rpc_url, FUNDER_KEY, p.address, ETH)
    block = node.rpc("eth_getBlockByNumber", node.rpc("eth_getTransactionReceipt", paid)["blockNumber"], False)
    paid_at = int(block["timestamp"], 16)
    node.rpc("evm_setNextBlockTimestamp", hex(paid_at + 2))
    send_native(node.rpc_url, FUNDER_KEY, p.address, 1)  # 1 wei of dust, in a block past expires_at
    async with s.rt.sessions() as session, session.begin():
        (await session.get(Payment, p.id)).expires_at = datetime.fromtimestamp(paid_at + 1, UTC)

    await catch_up(s.rt)  # both blocks in one scan range

    async with s.rt.sessions() as session:
        payment = await session.get(Payment, p.id)
    assert payment.status == "detected" and payment.amount_received_base_units == ETH + 1


# -- wall-clock expiry waits for the scanner -----------------------------------------------------

async def test_expiry_waits_until_the_scanner_passes_a_block_at_or_after_expires_at(make_scanner, node, tusd, proxy):
    from datetime import UTC, datetime

    from ctrip_core.services.watching.confirming import confirm_step

    s = await make_scanner([proxy.url])
    head = node.rpc("eth_getBlockByNumber", "latest", False)
    scanned_at = int(head["timestamp"], 16)
    async with s.rt.sessions() as session, session.begin():
        p = await create_payment(s.rt, s.merchant_id, PaymentRequest(CHAIN, "ETH", "1"), within=session)
        (await session.get(Payment, p.id)).expires_at = datetime.fromtimestamp(scanned_at + 1, UTC)
    # the wall clock is past expires_at, the scanner is not: nothing expires
    await confirm_step(s.rt, CHAIN)
    async with s.rt.sessions() as session:
        assert (await session.get(Payment, p.id)).status == "pending"

    node.rpc("evm_setNextBlockTimestamp", hex(scanned_at + 1))
    node.rpc("evm_mine")
    await catch_up(s.rt)
    await confirm_step(s.rt, CHAIN)
    async with s.rt.sessions() as session:
        assert (await session.get(Payment, p.id)).status == "expired"


# -- a provider that caps eth_getLogs (defect 12c) -------------------------------------------------

@pytest.mark.parametrize("cap", [dict(max_blocks=2), dict(max_results=1), dict(max_blocks=3, http413=True)],
                         ids=["block-range", "result-count", "http-413"])
async def test_capped_get_logs_is_asked_in_parts_and_misses_nothing(make_scanner, node, tusd, proxy, cap):
    """A provider refusing wide or full eth_getLogs ranges: the step asks narrower parts, every token
    payment of the range is recorded once, and the cap grows back once the provider stops refusing."""
    s = await make_scanner([proxy.url])
    paid = await pay(s, node, tusd, eth=1, tokens=4)  # one transfer per block
    proxy.cap_logs(**cap)
    result = await scan_step(s.rt, CHAIN)
    assert result.to_block == int(node.rpc("eth_blockNumber"), 16)
    await assert_consistent(s.rt, paid)
    narrowed = s.chain.log_range.cap
    assert narrowed is not None and narrowed <= cap.get("max_blocks", 3)

    proxy.cap_logs()
    node.rpc("anvil_mine", hex(GROW_AFTER * narrowed))  # one step asks GROW_AFTER parts at the cap
    await scan_step(s.rt, CHAIN)
    assert s.chain.log_range.cap == 2 * narrowed


async def test_get_logs_refused_for_one_block_moves_nothing(make_scanner, node, tusd, proxy):
    s = await make_scanner([proxy.url])
    paid = await pay(s, node, tusd, eth=0, tokens=1)
    before = await snapshot(s.rt)
    proxy.cap_logs(max_blocks=0)
    with pytest.raises(RpcError):
        await scan_step(s.rt, CHAIN)
    assert await snapshot(s.rt) == before
    proxy.cap_logs()
    await assert_all_detected_once(s, node, paid)

"""RPC quorum on two real Anvil nodes of the same chain id (31337), one of which lies by omission or
by fork: node A holds a deposit; node B either lacks it or holds the same transaction in another block.

With `rpc_quorum: 2` the payment is never confirmed (it stays `detected`, however many confirm steps
run); with `rpc_quorum: 1` the same evidence confirms it. A node answering another block hash is a
disagreement: logged, counted per node in `node_disagreements` and listed by `ctrip chains`.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import pytest_asyncio
from eth_account import Account
from sqlalchemy import select

from ctrip_core.chains.types import MalformedAnswer
from ctrip_core.config import ConfigError, load_chains
from ctrip_core.db.models import NodeDisagreement
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.runtime import build_runtime
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.services.watching.confirming import confirm_step
from ctrip_core.services.watching.scanning import scan_chain
from subprocesses import CTRIP, ctrip_env
from test_scanning import reload
from testbed import REDIS_URL, create_database, drop_database, make_settings, new_merchant

pytestmark = pytest.mark.timeout(90)
ETH = 10**18


@pytest.fixture
def nodes():
    a, b = AnvilNode.start(), AnvilNode.start()
    yield a, b
    a.stop()
    b.stop()


def write_chains(path, urls: list[str], quorum: int):
    return write_anvil_chains_file(path, urls, rpc_quorum=quorum, treasury=None)


@pytest_asyncio.fixture
async def gateway(nodes, tmp_path):
    opened = []

    async def open_(quorum: int):
        url = create_database()
        chains_file = write_chains(tmp_path / f"chains-{quorum}.yaml", [n.rpc_url for n in nodes], quorum)
        rt = build_runtime(make_settings(url, chains_file), "api")
        await scan_chain(rt, "anvil")
        opened.append((rt, url))
        return rt, (await new_merchant(rt))[0], url, chains_file

    yield open_
    for rt, url in opened:
        await rt.close()
        drop_database(url)


def signed_payment(to: str, value: int, nonce: int = 0) -> str:
    tx = {"type": 2, "chainId": 31337, "nonce": nonce, "gas": 21_000, "maxFeePerGas": 10**10,
          "maxPriorityFeePerGas": 10**9, "to": to, "value": value, "data": "0x"}
    return "0x" + Account.sign_transaction(tx, FUNDER_KEY).raw_transaction.hex().removeprefix("0x")


async def pay_and_confirm(rt, merchant_id, nodes, *, fork: bool, steps: int = 4):
    a, b = nodes
    async with rt.sessions() as s, s.begin():
        p = await create_payment(rt, merchant_id, PaymentRequest("anvil", "ETH", "1"), within=s)
    raw = signed_payment(p.address, ETH, nonce=int(a.rpc("eth_getTransactionCount", FUNDER, "pending"), 16))
    a.rpc("eth_sendRawTransaction", raw)
    if fork:  # B mines the very same transaction, one block later: same receipt, another block hash
        b.rpc("anvil_mine", "0x1")
        b.rpc("eth_sendRawTransaction", raw)
    a.rpc("anvil_mine", "0x2")
    results = []
    for _ in range(steps):
        await scan_chain(rt, "anvil")
        results.append(await confirm_step(rt, "anvil"))
    return p, results


@pytest.mark.parametrize("fork", [False, True], ids=["missing-on-b", "forked-on-b"])
async def test_quorum_of_two_never_confirms_what_one_node_alone_holds(gateway, nodes, fork):
    rt, merchant_id, _, _ = await gateway(2)
    p, results = await pay_and_confirm(rt, merchant_id, nodes, fork=fork)
    payment, transfers, events = await reload(rt, p.id)
    assert payment.status == "detected" and [t.state for t in transfers] == ["seen"]
    assert "payment.confirmed" not in events
    assert all(r.confirmed == 0 and r.held == 1 for r in results)
    assert bool(results[0].disagreeing) is fork  # a missing receipt is "not known yet", not a disagreement


@pytest.mark.parametrize("fork", [False, True], ids=["missing-on-b", "forked-on-b"])
async def test_quorum_of_one_confirms_on_the_same_evidence(gateway, nodes, fork):
    rt, merchant_id, _, _ = await gateway(1)
    p, results = await pay_and_confirm(rt, merchant_id, nodes, fork=fork)
    payment, transfers, events = await reload(rt, p.id)
    assert payment.status == "confirmed" and [t.state for t in transfers] == ["confirmed"]
    assert sum(r.confirmed for r in results) == 1 and not any(r.held or r.disagreeing for r in results)


async def test_two_urls_that_agree_confirm_with_a_quorum_of_two(nodes, tmp_path):
    """Both URLs reach node A (127.0.0.1 and localhost: distinct URLs, one chain): they agree."""
    a, _ = nodes
    url = create_database()
    chains_file = write_chains(tmp_path / "chains.yaml", [a.rpc_url, a.rpc_url.replace("127.0.0.1", "localhost")], 2)
    rt = build_runtime(make_settings(url, chains_file), "api")
    try:
        await scan_chain(rt, "anvil")
        merchant_id = (await new_merchant(rt))[0]
        p, results = await pay_and_confirm(rt, merchant_id, nodes, fork=False, steps=2)
        payment, transfers, _ = await reload(rt, p.id)
        assert payment.status == "confirmed" and results[0].confirmed == 1 and results[0].held == 0
    finally:
        await rt.close()
        drop_database(url)


async def test_a_disagreeing_node_is_counted_and_reported_by_ctrip_chains(gateway, nodes):
    rt, merchant_id, db_url, chains_file = await gateway(2)
    await pay_and_confirm(rt, merchant_id, nodes, fork=True, steps=3)
    async with rt.sessions() as s:
        (row,) = (await s.scalars(select(NodeDisagreement))).all()
    assert row.chain == "anvil" and row.count == 3 and f":{nodes[1].port}" in row.node
    assert "node says block" in row.last_detail
    out = subprocess.run([CTRIP, "chains", "--json"], env=ctrip_env(db_url, chains_file, REDIS_URL),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    (chain,) = json.loads(out.stdout)
    assert chain["disagreements"] == {row.node: {"count": 3, "last": row.last_detail}}


def test_a_quorum_larger_than_the_urls_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_chains(write_chains(tmp_path / "chains.yaml", ["http://127.0.0.1:1"], 2))
    assert "rpc_quorum" in str(info.value)


def test_a_token_transfers_witness_includes_what_its_log_says(tmp_path):
    """Same block and status but another amount (or no such log) in the Transfer log: not the same witness."""
    from ctrip_core.chains.registry import build_chains
    from ctrip_core.db.models import Transfer
    from ctrip_core.matching.erc20 import TRANSFER_TOPIC
    from ctrip_core.plugins import collect_matchers, get_plugin_manager
    from ctrip_core.services.watching.quorum import recorded, witness

    from eth_utils import to_checksum_address

    token, payer, deposit = map(to_checksum_address, ("0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20))
    chains_file = write_anvil_chains_file(tmp_path / "chains.yaml", "http://127.0.0.1:1", token)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", chains_file)
    pm = get_plugin_manager(settings)
    chain = build_chains(settings, pm)["anvil"]
    block, tx = "0x" + "ab" * 32, "0x" + "cd" * 32
    t = Transfer(chain="anvil", tx_hash=tx, log_index=3, block_number=7, block_hash=block, from_address=payer,
                 to_address=deposit, asset="TUSD", token_address=token, amount_base_units=5_000_000)

    def receipt(amount: int, log_index: int = 3) -> dict:
        log = {"address": token.lower(), "topics": [TRANSFER_TOPIC, "0x" + "0" * 24 + payer[2:].lower(),
                                                     "0x" + "0" * 24 + deposit[2:].lower()],
               "data": "0x" + format(amount, "064x"), "blockNumber": "0x7", "blockHash": block,
               "transactionHash": tx, "logIndex": hex(log_index), "removed": False}
        return {"transactionHash": tx, "status": "0x1", "blockNumber": "0x7", "blockHash": block,
                "gasUsed": "0x5208", "logs": [log]}

    matchers = collect_matchers(pm)
    assert witness(matchers, chain, t, receipt(5_000_000), None) == recorded(t)
    assert witness(matchers, chain, t, receipt(5_000_001), None) != recorded(t)
    assert witness(matchers, chain, t, receipt(5_000_000, log_index=4), None).moved is None
    assert witness(matchers, chain, t, None, None) is None
    with pytest.raises(MalformedAnswer):  # a node answering with logs of the wrong shape is not counted
        witness(matchers, chain, t, receipt(5_000_000) | {"logs": 7}, None)
    with pytest.raises(MalformedAnswer):  # nor one answering about another transaction
        witness(matchers, chain, t, receipt(5_000_000) | {"transactionHash": "0x" + "ef" * 32}, None)

    # Native coin: the value and the recipient come from the node's own transaction, not the scanner's.
    native = Transfer(chain="anvil", tx_hash=tx, log_index=-1, block_number=7, block_hash=block, from_address=payer,
                      to_address=deposit, asset="ETH", token_address=None, amount_base_units=5 * 10**18,
                      source="transaction")

    def tx_of(value: int, to: str = deposit) -> dict:
        return {"hash": tx, "from": payer.lower(), "to": to.lower(), "value": hex(value)}

    assert witness(matchers, chain, native, receipt(0), tx_of(5 * 10**18)) == recorded(native)
    assert witness(matchers, chain, native, receipt(0), tx_of(10**18)) != recorded(native)  # a scanner that inflated it
    assert witness(matchers, chain, native, receipt(0), tx_of(5 * 10**18, to=payer)) != recorded(native)
    assert witness(matchers, chain, native, receipt(0), None) is None

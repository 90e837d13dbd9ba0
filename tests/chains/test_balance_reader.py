"""The deployless balance reader on a real Anvil: many balances in one eth_call, exactly, at a fixed block,
past EIP-170's answer limit, never from a node that lacks the block; its artifact rebuilds byte for byte."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from ctrip_core.chains.balances import balances_at, reader_calldata
from ctrip_core.chains.rpc import RetryPolicy, RpcClient
from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.token import batch_transfer

ROOT = Path(__file__).resolve().parents[2]


class Chain:
    """What `balances_at` uses of an EVMChain: its RPC client."""

    def __init__(self, *urls: str):
        self.rpc = RpcClient(list(urls), retry=RetryPolicy(attempts=4, base_delay_s=0.01))


def _batch(url: str, calls: list[tuple[str, list]]) -> None:
    body = httpx.post(url, json=[{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                                 for i, (m, p) in enumerate(calls)], timeout=60).json()
    assert not any("error" in item for item in body), body


async def test_many_balances_exactly_at_a_fixed_block_past_the_answer_limit(node, tusd):
    owners = [Account.create().address for _ in range(1200)]
    # 700 native and 300 token balances: more nonzero pairs than one answer holds (383), so calls continue
    _batch(node.rpc_url, [("anvil_setBalance", [o, hex(10**18 + i)]) for i, o in enumerate(owners[:700])])
    batch_transfer(node.rpc_url, FUNDER_KEY, tusd, owners[900:1200], [7 + i for i in range(300)])
    node.rpc("evm_mine")
    at = int(node.rpc("eth_blockNumber"), 16)
    node.rpc("evm_mine")
    node.rpc("anvil_setBalance", owners[0], "0x0")  # after the audit block: not seen there
    node.rpc("evm_mine")
    chain = Chain(node.rpc_url)
    try:
        got = await balances_at(chain, owners, [tusd], at, chunk=500)
    finally:
        await chain.rpc.close()
    assert len(got) == 2 * len(owners)
    assert [got[(o, None)] for o in owners] == [10**18 + i for i in range(700)] + [0] * 500
    assert [got[(o, tusd)] for o in owners] == [0] * 900 + [7 + i for i in range(300)]


async def test_a_node_without_the_block_is_not_believed():
    main, lagging = AnvilNode.start(), AnvilNode.start()
    try:
        owner = Account.create().address
        main.rpc("anvil_setBalance", owner, hex(5))
        for _ in range(3):
            main.rpc("evm_mine")
        at = int(main.rpc("eth_blockNumber"), 16)  # the lagging node is still at block 0: it would answer 0
        chain = Chain(lagging.rpc_url, main.rpc_url)
        try:
            assert await balances_at(chain, [owner], [], at, chunk=10) == {(owner, None): 5}
        finally:
            await chain.rpc.close()
    finally:
        main.stop()
        lagging.stop()


def test_a_call_fits_the_initcode_limit_at_the_largest_chunk():
    owners = [Account.create().address for _ in range(1400)]
    assert len(reader_calldata(owners, ["0x" + "11" * 20])) // 2 - 1 <= 49_152  # EIP-3860


def test_build_reproduces_the_committed_artifact(tmp_path):
    node = shutil.which("node")
    if node is None or not (ROOT / ".tools/node_modules/solc").is_dir():
        pytest.skip("node or the npm solc is missing; cannot rebuild contracts/BalanceReader.sol")
    out = tmp_path / "balance_reader.json"
    subprocess.run([node, str(ROOT / "contracts/build.js"), "--only", "BalanceReader", "--out", str(out)],
                   check=True, timeout=120)
    assert out.read_bytes() == (ROOT / "ctrip_core/chains/balance_reader.json").read_bytes()

"""Balance-audit throughput over many issued addresses on a local Anvil (prints figures, never asserts).

Run: .venv/bin/python bench/reconcile.py [--addresses 100000] [--funded 2000] [--chunk 1000]
Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and anvil, like `make test` (`make bench-reconcile`).

It issues ADDRESSES deposit addresses on a chain of its own, funds FUNDED of them (half native, half
TUSD), records those deposits in the ledger, then times `reconcile_chain` (one audit pass over every
address) twice and prints addresses/s (target ≥ 2,000), the JSON-RPC calls and HTTP requests and
SQL statements per pass, and what the pass found (nothing, when the ledger and chain agree; then one
address is given an unrecorded balance and the third pass must report exactly it).

How 100,000 addresses are issued quickly: the auditor reads balances of whatever addresses the
`payments` rows name and never derives one, so the set-up inserts `deposit_addresses` and
`payments` rows directly (random addresses, consecutive derivation indexes, 5,000 rows per
INSERT) instead of calling `create_payment` 100,000 times (bench/api.py measures that path).
Native deposits are made with `anvil_setBalance` (one batched request) and recorded with a
synthetic transaction hash; token deposits are one real `batchTransfer` transaction (one Transfer
log each) recorded with its hash and log indexes. The scanner's cursor is set to the head.
Everything it starts (the node, the database) is stopped and dropped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from contextlib import AsyncExitStack
from datetime import timedelta

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from sqlalchemy import insert

from ctrip_core.config import load_settings
from ctrip_core.db.models import ChainCursor, DepositAddress, Payment, Transfer
from ctrip_core.db.types import utcnow
from ctrip_core.devnet.accounts import FUNDER, GATEWAY_XPUB
from ctrip_core.devnet.token import wait_receipt
from ctrip_core.ids import new_id
from ctrip_core.runtime import build_runtime
from ctrip_core.services.accounts.merchants import create_merchant
from ctrip_core.services.reconcile.audit import reconcile_chain
from sweep import CHAIN, Counters, Rpc, bench_chain, bench_database, chains_file

INSERT_ROWS = 5000


async def issue(rt, merchant_id: str, count: int) -> list[tuple[str, str]]:
    """`count` payments with fresh random deposit addresses, inserted directly: → [(payment id, address)]."""
    now = utcnow()
    issued = [(new_id("pay"), to_checksum_address(os.urandom(20))) for _ in range(count)]
    for start in range(0, count, INSERT_ROWS):
        rows = list(enumerate(issued[start:start + INSERT_ROWS], start=start + 1))
        async with rt.sessions() as s, s.begin():
            await s.execute(insert(DepositAddress), [dict(derivation_index=i, address=a, created_at=now)
                                                     for i, (_, a) in rows])
            await s.execute(insert(Payment), [dict(
                id=pid, merchant_id=merchant_id, status="pending", chain=CHAIN, chain_id=31337, asset="ETH",
                token_address=None, decimals=18, amount_base_units=10**18, amount_received_base_units=0,
                derivation_index=i, address=a, confirmations_required=1, overpaid=False, late=False,
                created_at=now, updated_at=now, expires_at=now + timedelta(hours=1)) for i, (pid, a) in rows])
    return issued


async def fund(rt, rpc: Rpc, token: str, funded: list[tuple[str, str]]) -> None:
    """Half of `funded` get native coin, half tokens; each deposit recorded as the scanner would."""
    natives, tokens = funded[: len(funded) // 2], funded[len(funded) // 2:]
    await rpc.batch([("anvil_setBalance", [a, hex(10**15 + i)]) for i, (_, a) in enumerate(natives)])
    selector = function_signature_to_4byte_selector("batchTransfer(address[],uint256[])")
    data = "0x" + (selector + encode(["address[]", "uint256[]"], [[a for _, a in tokens],
                                                                  [10**6 + i for i in range(len(tokens))]])).hex()
    tx_hash = await rpc.call("eth_sendTransaction", {"from": FUNDER, "to": token, "data": data, "gas": hex(90_000_000)})
    receipt = wait_receipt(rpc.url, tx_hash)
    block, block_hash = int(receipt["blockNumber"], 16), receipt["blockHash"]
    logs = {to_checksum_address("0x" + log["topics"][2][-40:]): int(log["logIndex"], 16) for log in receipt["logs"]}
    now = utcnow()
    rows = [dict(tx_hash="0x" + keccak(text=f"bench-native-{pid}").hex().removeprefix("0x"), log_index=-1,
                 token_address=None, asset="ETH", payment_id=pid, amount_base_units=10**15 + i, to_address=a,
                 source="transaction") for i, (pid, a) in enumerate(natives)]
    rows += [dict(tx_hash=tx_hash, log_index=logs[a], token_address=token, asset="TUSD", payment_id=pid,
                  amount_base_units=10**6 + i, to_address=a, source="log") for i, (pid, a) in enumerate(tokens)]
    head = int(await rpc.call("eth_blockNumber"), 16)
    async with rt.sessions() as s, s.begin():
        await s.execute(insert(Transfer), [r | dict(chain=CHAIN, block_number=block, block_hash=block_hash,
                                                    from_address=FUNDER, state="confirmed", late=False,
                                                    created_at=now, updated_at=now) for r in rows])
        s.add(ChainCursor(chain=CHAIN, last_block=head))


async def timed_pass(rt, counters: Counters, label: str, addresses: int) -> None:
    before = counters.snapshot()
    t0 = time.perf_counter()
    report = await reconcile_chain(rt, CHAIN)
    took = time.perf_counter() - t0
    calls, http, sql = (a - b for a, b in zip(counters.snapshot(), before))
    print(f"{label}: {report.addresses} addresses at block {report.block} in {took:.2f}s = "
          f"{report.addresses / took:,.0f} addresses/s; {calls} JSON-RPC calls in {http} HTTP requests, {sql} SQL "
          f"statements; credited {len(report.credited)}, unexplained {len(report.unexplained)}")
    for found in report.unexplained[:5]:
        print(f"    {found.line()}")


async def main(args) -> None:
    async with AsyncExitStack() as stack:
        tmp, node, rpc, token, treasury = await bench_chain(stack, "ctrip-bench-reconcile-")
        url = await bench_database(stack)
        settings = load_settings("testing", database_url=url,
                                 chains_file=str(chains_file(tmp, node.rpc_url, token, treasury)),
                                 wallet={"xpub": GATEWAY_XPUB}, reconcile={"chunk": args.chunk})
        rt = build_runtime(settings, "cli")
        stack.push_async_callback(rt.close)
        async with rt.sessions() as s, s.begin():
            merchant_id = (await create_merchant(s, "bench")).merchant_id

        t0 = time.perf_counter()
        issued = await issue(rt, merchant_id, args.addresses)
        await fund(rt, rpc, token, issued[:: max(1, args.addresses // args.funded)][: args.funded])
        print(f"set-up: {len(issued)} issued addresses ({args.funded} funded and recorded) in "
              f"{time.perf_counter() - t0:.1f}s; reconcile.chunk {args.chunk} addresses per eth_call")

        counters = Counters(rt)
        await timed_pass(rt, counters, "pass 1", len(issued))
        await timed_pass(rt, counters, "pass 2", len(issued))
        await rpc.call("anvil_setBalance", issued[1][1], hex(12345))  # funds no transaction explains
        await rpc.call("evm_mine")
        async with rt.sessions() as s, s.begin():
            cursor = await s.get(ChainCursor, CHAIN)
            cursor.last_block = int(await rpc.call("eth_blockNumber"), 16)
        await timed_pass(rt, counters, "pass 3 (one unrecorded balance)", len(issued))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addresses", type=int, default=100_000)
    parser.add_argument("--funded", type=int, default=2_000)
    parser.add_argument("--chunk", type=int, default=1000, help="reconcile.chunk")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)

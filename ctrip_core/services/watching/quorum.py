"""RPC quorum: a transfer's fate at confirmation is decided only by `rpc_quorum` distinct node URLs.

Detection may come from one node; confirming is where a payment becomes final, so that is where a
lying, forked or stale provider is outvoted. Each configured URL is asked on its own (one batch,
one attempt) for each ripe transfer's receipt and, for a top-level native transfer, the
transaction. What a node says of a transfer is its **witness**: the receipt's block (number and
hash) and status, and what moved — for a token, what the matchers read from the log at its index
(token, from, to, amount); for native coin sent by the transaction itself, (from, to, value).

- N URLs answer the witness the scanner recorded → `confirmed`.
- N URLs answer one other witness → that is the chain's evidence: a failed status or another
  amount orphans the transfer, another block moves it there (it waits again).
- Anything less → it stays `seen` (its payment `detected`): held. A URL that answers nothing (down,
  a fault, a malformed answer, no receipt yet) is not counted either way.
- A URL that answers another witness than recorded **disagrees**: logged with both block hashes,
  counted in `ctrip_rpc_quorum_disagreements_total{chain,url}` and in `node_disagreements` (which
  `ctrip chains` reports).
- Native coin found only in call traces or by the balance auditor cannot be checked from a receipt
  (no node's own trace is compared yet): under a quorum it is held, never confirmed on one node's word.

Invariant: with `rpc_quorum: N`, no transfer is confirmed, orphaned or moved unless N distinct URLs
answered the same witness. URLs are distinct as strings: two URLs of one provider count twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.chains import EVMChain
from ctrip_core.chains.rpc import RpcError
from ctrip_core.chains.types import Log, MalformedAnswer, Receipt, Tx
from ctrip_core.config.node_url import shown
from ctrip_core.db.models import NodeDisagreement, Transfer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Witness:
    """What a node says of a transfer (see the module docstring)."""

    block_number: int
    block_hash: str
    status: int
    moved: tuple | None = None


@dataclass(frozen=True)
class Disagreement:
    node: str  # shown(url): no credentials
    transfer: Transfer
    said: Witness


@dataclass
class Verdict:
    """The quorum's answer for a batch of ripe transfers, by transfer id."""

    confirmed: set[int] = field(default_factory=set)
    orphaned: set[int] = field(default_factory=set)
    moved: dict[int, Witness] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)
    disagreements: list[Disagreement] = field(default_factory=list)


def verifiable(t: Transfer) -> bool:
    """Whether a node's receipt and transaction say all of what moved (not so for traces, audits)."""
    return t.token_address is not None or t.source == "transaction"


def recorded(t: Transfer) -> Witness:
    """The witness the scanner recorded for `t`."""
    if t.token_address is not None:
        moved = (t.token_address.lower(), t.from_address.lower(), t.to_address.lower(), t.amount_base_units)
    else:
        moved = ("native", t.from_address.lower(), t.to_address.lower(), t.amount_base_units)
    return Witness(t.block_number, t.block_hash.lower(), 1, moved)


def witness(matchers, chain: EVMChain, t: Transfer, receipt_raw: Any, tx_raw: Any) -> Witness | None:
    """What one node's raw answers say of `t`; None when it says nothing (no receipt, no transaction).
    A wrong shape, or an answer about another transaction, raises `MalformedAnswer` (not counted)."""
    if receipt_raw is None:
        return None
    receipt = Receipt.parse(receipt_raw)
    if receipt.tx_hash.lower() != t.tx_hash.lower():
        raise MalformedAnswer(f"receipt of {receipt.tx_hash} asked for {t.tx_hash}")
    if t.token_address is not None:
        raw_logs = receipt_raw.get("logs")
        if not isinstance(raw_logs, list):
            raise MalformedAnswer("receipt.logs: expected a list")
        logs = [x for x in (Log.parse(item) for item in raw_logs) if x.log_index == t.log_index]
        found = [o for m in matchers for o in m.match(chain.config, [], logs)]
        moved = None
        if len(found) == 1:
            o = found[0]
            moved = (o.token_address.lower(), o.from_address.lower(), o.to_address.lower(), o.amount_base_units)
    else:
        if tx_raw is None:
            return None
        tx = Tx.parse(tx_raw)
        if tx.hash.lower() != t.tx_hash.lower():
            raise MalformedAnswer(f"transaction {tx.hash} asked for {t.tx_hash}")
        moved = ("native", tx.from_address.lower(), (tx.to_address or "").lower(), tx.value)
    return Witness(receipt.block_number, receipt.block_hash.lower(), receipt.status, moved)


async def _answers(chain: EVMChain, url: str, transfers: list[Transfer]) -> dict[str, tuple[Any, Any]]:
    """tx hash → (raw receipt, raw transaction or None) from the node at `url` alone."""
    hashes = sorted({t.tx_hash for t in transfers})
    native = sorted({t.tx_hash for t in transfers if t.token_address is None})
    calls = [("eth_getTransactionReceipt", [h]) for h in hashes] + [("eth_getTransactionByHash", [h]) for h in native]
    raws: list[Any] = []
    for start in range(0, len(calls), chain.rpc.max_batch):
        raws += await chain.rpc.batch_at(url, calls[start:start + chain.rpc.max_batch])
    receipts, txs = dict(zip(hashes, raws)), dict(zip(native, raws[len(hashes):]))
    return {h: (receipts[h], txs.get(h)) for h in hashes}


async def judge(matchers, chain: EVMChain, transfers: list[Transfer]) -> Verdict:
    """Ask every distinct URL about the ripe `transfers`; what `rpc_quorum` of them agree on decides."""
    need = chain.config.rpc_quorum
    checked = [t for t in transfers if verifiable(t)]
    verdict = Verdict(held={t.id for t in transfers if not verifiable(t)})
    votes: dict[int, Counter[Witness]] = {t.id: Counter() for t in checked}
    for url in dict.fromkeys(chain.rpc.urls):  # distinct URLs, in their configured order
        try:
            answers = await _answers(chain, url, checked) if checked else {}
        except RpcError:
            continue  # this node's answer is not known: counted neither way
        for t in checked:
            try:
                said = witness(matchers, chain, t, *answers.get(t.tx_hash, (None, None)))
            except MalformedAnswer:
                continue
            if said is None:
                continue
            votes[t.id][said] += 1
            if said != recorded(t):
                verdict.disagreements.append(Disagreement(shown(url), t, said))
    for t in checked:
        expected = recorded(t)
        decided = [w for w, n in votes[t.id].items() if n >= need]
        if expected in decided:
            verdict.confirmed.add(t.id)
        elif len(decided) == 1 and decided[0].status != 1:
            verdict.orphaned.add(t.id)
        elif len(decided) == 1 and decided[0].block_hash != expected.block_hash:
            verdict.moved[t.id] = decided[0]
        elif len(decided) == 1:  # the same block says something else moved: the record was false
            verdict.orphaned.add(t.id)
        else:
            verdict.held.add(t.id)
    return verdict


async def note_disagreements(session: AsyncSession, chain: str, disagreements: list[Disagreement]) -> None:
    """Log each disagreement with both answers' block hashes and count it per node (for `ctrip chains`)."""
    for d in disagreements:
        t = d.transfer
        detail = (f"tx {t.tx_hash}: recorded block {t.block_hash}, node says block {d.said.block_hash} "
                  f"status {d.said.status}" + ("" if d.said.moved == recorded(t).moved else ", and another amount"))
        log.warning("chain %s: node %s disagrees on a transfer's receipt (%s)", chain, d.node, detail)
        row = await session.get(NodeDisagreement, (chain, d.node))
        if row is None:
            row = NodeDisagreement(chain=chain, node=d.node, count=0)
            session.add(row)
        row.count += 1
        row.last_tx_hash, row.last_detail = t.tx_hash, detail[:500]

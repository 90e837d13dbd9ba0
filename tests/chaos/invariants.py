"""The soak's invariants, checked against the chain itself (read straight from Anvil).

Not a test module. Nothing here calls the code under test: the chain is read over plain JSON-RPC,
deposit and gas-tank addresses are derived again with eth-account from the gateway's mnemonic, and
the lifecycle rules are written down again from the public contract (CONTRACT §4). The gateway's
record (payments, transfers, events, sweeps) is read from its database with plain SQL, as
evidence to compare, and the webhooks from what the receiver got.

Each check returns `Violation`s tagged with the invariant they break (1-4, or "settle"), so a run
reports all of them at once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import rlp
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes
from eth_utils import to_checksum_address

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TRANSFER_SELECTOR = "0xa9059cbb"  # transfer(address,uint256)
NATIVE = -1  # the log index of a native transfer, as the contract's transfers show it: null → -1 here
#: An internal transfer (native coin sent by a contract) is recorded at log index -2 - its call's
#: position: its ordinal, in a pre-order walk of the transaction's call tree, among the successful
#: value-moving CALLs below the top frame to non-precompile addresses (what every client reports),
#: to any address, watched or not. CONTRACT's transfers, source "trace".
FIRST_INTERNAL = -2

FINAL = ("confirmed", "underpaid", "expired", "canceled")
STATUSES = ("pending", "detected", *FINAL)
#: (status before, status after) each event type may report: CONTRACT §4. `payment.reorged` also
#: reports a changed amount with the status kept; `payment.late` and `payment.swept` keep the status.
TRANSITIONS = {
    "payment.detected": {("pending", "detected")},
    "payment.confirmed": {("detected", "confirmed")},
    "payment.underpaid": {("detected", "underpaid")},
    "payment.expired": {("pending", "expired")},
    "payment.canceled": {("pending", "canceled")},
    "payment.reorged": {("detected", "pending")} | {(s, s) for s in ("detected", "confirmed", "underpaid", "expired")},
    "payment.late": {(s, s) for s in FINAL},
    "payment.swept": {(s, s) for s in STATUSES},
}


@dataclass(frozen=True)
class Violation:
    invariant: str
    message: str

    def __str__(self) -> str:
        return f"invariant {self.invariant}: {self.message}"


@dataclass(frozen=True)
class ChainTransfer:
    """A successful transfer on the canonical chain (native: log_index NATIVE, token None)."""

    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    block_ts: int
    sender: str
    to: str
    token: str | None
    amount: int


@dataclass
class ChainView:
    """What the canonical chain holds from `first` to `last`, read once after the soak."""

    first: int
    last: int
    transfers: list[ChainTransfer] = field(default_factory=list)  # into watched addresses, not the gateway's
    gateway_txs: list[dict] = field(default_factory=list)  # every transaction a gateway key signed (+ receipt)
    max_base_fee: int = 0


def derive_gateway(mnemonic: str, indexes: range, tank_path: str) -> tuple[dict[int, str], str]:
    """Deposit addresses m/44'/60'/0'/0/i for `indexes` and the gas tank's, by eth-account (not cTrip)."""
    Account.enable_unaudited_hdwallet_features()
    deposits = {i: Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}").address for i in indexes}
    return deposits, Account.from_mnemonic(mnemonic, account_path=tank_path).address


def read_chain(net, first: int, last: int, watched: set[str], token: str, gateway: set[str]) -> ChainView:
    """Blocks `first`..`last` with their transactions, receipts of the ones that matter, and token logs."""
    view = ChainView(first, last)
    blocks = {n: net.block(n, full=True) for n in range(first, last + 1)}
    for n, block in blocks.items():
        view.transfers += internal_transfers(net, block, watched, gateway)
        view.max_base_fee = max(view.max_base_fee, int(block.get("baseFeePerGas") or "0x0", 16))
        ts = int(block["timestamp"], 16)
        for tx in block["transactions"]:
            sender = to_checksum_address(tx["from"])
            to = to_checksum_address(tx["to"]) if tx.get("to") else None
            value = int(tx["value"], 16)
            if sender in gateway:
                receipt = net.rpc("eth_getTransactionReceipt", tx["hash"])
                view.gateway_txs.append({"tx": tx, "receipt": receipt, "block_ts": ts})
            elif to in watched and value > 0:
                receipt = net.rpc("eth_getTransactionReceipt", tx["hash"])
                if int(receipt["status"], 16) == 1:
                    view.transfers.append(ChainTransfer(tx["hash"], NATIVE, n, block["hash"], ts, sender, to, None,
                                                        value))
    logs = net.rpc("eth_getLogs", {"fromBlock": hex(first), "toBlock": hex(last), "address": token,
                                   "topics": [TRANSFER_TOPIC]})
    for entry in logs:
        sender = to_checksum_address("0x" + entry["topics"][1][-40:])
        to = to_checksum_address("0x" + entry["topics"][2][-40:])
        n = int(entry["blockNumber"], 16)
        if to in watched and sender not in gateway and blocks[n]["hash"] == entry["blockHash"]:
            view.transfers.append(ChainTransfer(entry["transactionHash"], int(entry["logIndex"], 16), n,
                                                entry["blockHash"], int(blocks[n]["timestamp"], 16), sender, to,
                                                to_checksum_address(token), int(entry["data"], 16)))
    view.transfers.sort(key=lambda t: (t.block_number, t.log_index if t.log_index >= 0 else -1, t.tx_hash))
    return view


def internal_transfers(net, block: dict, watched: set[str], gateway: set[str]) -> list[ChainTransfer]:
    """Native coin sent by contracts to `watched` in `block`, from Anvil's own call traces
    (`debug_traceBlockByNumber` with callTracer, read here, not by cTrip's trace reader): every CALL
    below the top-level frame with value > 0 to a watched address, neither it nor any frame above it
    reverted (a frame with an `error`); numbered among all such value-moving calls of its transaction."""
    n, ts = int(block["number"], 16), int(block["timestamp"], 16)
    traces = net.rpc("debug_traceBlockByNumber", block["number"], {"tracer": "callTracer"})
    assert len(traces) == len(block["transactions"]), f"block {n}: {len(traces)} traces for its transactions"
    found = []
    for tx, entry in zip(block["transactions"], traces):
        if to_checksum_address(tx["from"]) in gateway:
            continue
        position = 0

        def walk(frame: dict, depth: int, undone: bool) -> None:
            nonlocal position
            undone = undone or bool(frame.get("error"))
            to = to_checksum_address(frame["to"]) if frame.get("to") else None
            value = int(frame.get("value") or "0x0", 16)
            if depth > 0 and not undone and frame["type"] in ("CALL", "SELFDESTRUCT") and value > 0 \
                    and to is not None and int(to, 16) >= 2**16:
                here = position
                position += 1
                if to in watched:
                    found.append(ChainTransfer(tx["hash"], FIRST_INTERNAL - here, n, block["hash"], ts,
                                               to_checksum_address(frame["from"]), to, None, value))
            for child in frame.get("calls") or ():
                walk(child, depth + 1, undone)

        walk(entry["result"], 0, False)
    return found


# --- invariant 1: the ledger of transfers is the chain's ------------------------------------------

def check_transfers(view: ChainView, recorded: list[dict], gateway: set[str]) -> list[Violation]:
    out = []
    canonical = {(t.tx_hash, t.log_index): t for t in view.transfers}
    seen: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for row in recorded:
        seen[(row["tx_hash"], row["log_index"])].append(row)
    for key, t in canonical.items():
        rows = seen.get(key, [])
        if len(rows) != 1:
            out.append(Violation("1", f"canonical transfer {key[0]}:{key[1]} to {t.to} ({t.amount}) recorded "
                                      f"{len(rows)} times"))
            continue
        row = rows[0]
        if row["state"] == "orphaned":
            out.append(Violation("1", f"canonical transfer {key[0]}:{key[1]} to {t.to} is recorded orphaned"))
        elif row["state"] != "confirmed":
            out.append(Violation("1", f"canonical transfer {key[0]}:{key[1]} still {row['state']} after settling"))
        want_source = "trace" if t.log_index <= FIRST_INTERNAL else "transaction" if t.log_index == NATIVE else "log"
        if row.get("source", want_source) != want_source:
            out.append(Violation("1", f"transfer {key[0]}:{key[1]} to {t.to} is recorded with source "
                                      f"{row['source']}, the chain says {want_source}"))
        if row["state"] != "orphaned" and (row["block_hash"] != t.block_hash or row["amount"] != t.amount
                                           or row["to_address"] != t.to):
            out.append(Violation("1", f"transfer {key[0]}:{key[1]} recorded as block {row['block_hash']}, "
                                      f"{row['amount']} to {row['to_address']}; the chain says {t.block_hash}, "
                                      f"{t.amount} to {t.to}"))
    for key, rows in seen.items():
        live = [r for r in rows if r["state"] != "orphaned"]
        if key not in canonical and live:
            who = "the gateway's own transaction" if live[0]["from_address"] in gateway else "not on the canonical chain"
            out.append(Violation("1", f"recorded live transfer {key[0]}:{key[1]} ({live[0]['state']}, "
                                      f"{live[0]['amount']} to {live[0]['to_address']}) is {who}"))
    return out


# --- invariant 2: each payment's status is what the contract's rules give ------------------------

@dataclass(frozen=True)
class Expected:
    status: str
    received: int
    late_required: bool  # short by expires_at, and a transfer in a block at or after it
    late_allowed: bool  # any transfer after expires_at or after the payment was paid in full


def expected_outcome(amount: int, expires_at: datetime, transfers: list[ChainTransfer]) -> Expected:
    """CONTRACT §4, judged by block time and in block order, once every block is past the confirmation
    depth and past `expires_at`: the on-time transfers (block timestamp before expires_at) decide
    confirmed (≥ amount) / underpaid (0 < sum < amount) / expired (nothing); what comes after is late."""
    deadline = expires_at.timestamp()
    on_time = [t for t in transfers if t.block_ts < deadline]
    total, paid_in_block = 0, None
    for t in on_time:
        total += t.amount
        if total >= amount and paid_in_block is None:
            paid_in_block = t.block_number
    status = "confirmed" if total >= amount else "underpaid" if total > 0 else "expired"
    after_expiry = len(on_time) < len(transfers)
    after_paid = paid_in_block is not None and any(t.block_number > paid_in_block for t in transfers)
    # After expires_at a payment short of its amount is decided (expired or underpaid): what comes
    # then is late. One paid in full on time is decided too, but it is final only once confirmed: a
    # transfer that comes after it was paid may or may not find it final yet (scan timing decides).
    return Expected(status, sum(t.amount for t in transfers), after_expiry and status != "confirmed",
                    after_expiry or after_paid)


def check_payments(view: ChainView, payments: list[dict]) -> list[Violation]:
    out = []
    by_address = defaultdict(list)
    for t in view.transfers:
        by_address[t.to].append(t)
    for p in payments:
        mine = [t for t in by_address.get(p["address"], []) if t.token == p["token_address"]]
        want = expected_outcome(p["amount"], p["expires_at"], mine)
        where = f"payment {p['id']} ({p['plan']}, {p['asset']} {p['amount']}, expires {p['expires_at']:%H:%M:%S.%f})"
        if p["status"] != want.status:
            paid = ", ".join(f"{t.amount}@{t.block_number}(ts {datetime.fromtimestamp(t.block_ts):%H:%M:%S})"
                             for t in mine) or "nothing"
            out.append(Violation("2", f"{where} is {p['status']}, the chain says {want.status} (paid {paid})"))
        if p["received"] != want.received:
            out.append(Violation("2", f"{where} shows {p['received']} received, the chain holds {want.received}"))
        if want.late_required and not p["late"]:
            out.append(Violation("2", f"{where}: short at expires_at and paid after it, yet late is false"))
        # A transfer a reorg took away may have found the payment final first: the flag it set is history.
        if p["late"] and not want.late_allowed and not p["reorged_out"]:
            out.append(Violation("2", f"{where}: late is true, but every transfer was on time and before it was paid"))
    return out


# --- invariant 3: events are lifecycle paths, delivered in order, none lost -----------------------

def sweeps_seen(view: ChainView, dropped: list[tuple[str, str]], treasury: str, token: str) -> dict[str, int]:
    """deposit address → how many times a sweep from it was mined: its sweep transactions on the
    canonical chain, plus those a reorg dropped after they were mined (each may be announced again)."""
    count: dict[str, int] = defaultdict(int)
    for item in view.gateway_txs:
        to = to_checksum_address(item["tx"]["to"]) if item["tx"].get("to") else None
        if to in (treasury, to_checksum_address(token)) and int(item["receipt"]["status"], 16) == 1:
            count[to_checksum_address(item["tx"]["from"])] += 1
    for sender, _ in dropped:
        count[sender] += 1
    return count


def check_events(payments: list[dict], db_events: dict[str, list[dict]], delivered: list[tuple[dict, bytes]],
                 verify, sweeps_mined: dict[str, int]) -> list[Violation]:
    """`db_events`: payment id → its outbox events in seq order; `delivered`: the receiver's requests in
    arrival order; `verify(body, headers)` checks a Standard Webhooks signature (raises when wrong);
    `sweeps_mined` (see `sweeps_seen`) bounds the payment.swept events of each deposit address."""
    out = []
    arrived: dict[str, list[dict]] = defaultdict(list)
    firsts: set[str] = set()
    for headers, body in delivered:
        try:
            verify(body, headers)
        except Exception as exc:  # noqa: BLE001 - any verification failure is the violation
            out.append(Violation("3", f"webhook {headers.get('webhook-id')} fails its signature: {exc}"))
            continue
        event = json.loads(body)
        if event["id"] in firsts:
            continue  # at least once: a repeat is allowed, its first arrival is what orders
        firsts.add(event["id"])
        arrived[event["data"]["id"]].append(event)
    for p in payments:
        sent = [e["id"] for e in db_events.get(p["id"], [])]
        got = arrived.get(p["id"], [])
        where = f"payment {p['id']} ({p['plan']})"
        if [e["id"] for e in got] != sent:
            missing = [e["type"] for e in db_events.get(p["id"], []) if e["id"] not in {g["id"] for g in got}]
            out.append(Violation("3", f"{where}: delivered {[e['type'] for e in got]} (first arrivals), "
                                      f"the outbox holds {[e['type'] for e in db_events.get(p['id'], [])]}"
                                      + (f"; never delivered: {missing}" if missing else "; out of order")))
        status = "pending"
        for e in got:
            after = e["data"]["status"]
            if (status, after) not in TRANSITIONS.get(e["type"], set()):
                out.append(Violation("3", f"{where}: {e['type']} took it from {status} to {after}: not a lifecycle "
                                          f"step (path {[g['type'] for g in got]})"))
            status = after
        if got and status != p["status"]:
            out.append(Violation("3", f"{where}: its last event says {status}, the payment is {p['status']}"))
        swept = sum(e["type"] == "payment.swept" for e in db_events.get(p["id"], []))
        if swept > sweeps_mined.get(p["address"], 0):
            out.append(Violation("3", f"{where}: {swept} payment.swept events, but sweeps from its address were "
                                      f"mined {sweeps_mined.get(p['address'], 0)} times (reorged-out ones counted)"))
    return out


# --- invariant 4: swept to the treasury, all of it, and nowhere else ------------------------------

def decode_signed(raw: str) -> dict:
    """A signed transaction's sender (recovered from its signature), recipient, value and data."""
    body = bytes.fromhex(raw.removeprefix("0x"))
    sender = to_checksum_address(Account.recover_transaction(body))
    if body[0] <= 0x7F:  # typed (EIP-2718): 0x02 EIP-1559, 0x01 access list
        fields = TypedTransaction.from_bytes(HexBytes(body)).as_dict()
        to, value, data = fields.get("to"), fields["value"], fields.get("data") or b""
    else:  # legacy: [nonce, gasPrice, gas, to, value, data, v, r, s]
        _, _, _, to, value, data, *_ = rlp.decode(body)
        value = int.from_bytes(value, "big")
    to = to_checksum_address(to) if to else None
    data = data if isinstance(data, str) else "0x" + bytes(data).hex()
    return {"sender": sender, "to": to, "value": value, "data": data}


def check_signed(raws: list[str], *, treasury: str, token: str, deposits: set[str], tank: str,
                 gateway: set[str]) -> list[Violation]:
    """Every version the sweeper signed (its stored signed bytes; the signer recovered from the
    signature, so a row the soak's attacker wrote cannot pass as the gateway's), mined or not: a
    signed transaction anyone may broadcast later must go nowhere but where invariant 4 allows."""
    out = []
    token = to_checksum_address(token)
    for raw in raws:
        tx = decode_signed(raw)
        if tx["sender"] not in gateway:
            continue  # not signed by a gateway key: it moves none of the gateway's funds
        where = f"a signed version from {tx['sender']} to {tx['to']} (value {tx['value']}, data {tx['data'][:10]})"
        if tx["to"] == token and tx["data"].startswith(TRANSFER_SELECTOR) and not tx["value"]:
            recipient = to_checksum_address("0x" + tx["data"][10:74][-40:])
            if recipient != treasury or tx["sender"] not in deposits:
                out.append(Violation("4", f"{where}: sends tokens to {recipient}"))
        elif tx["data"] in ("0x", "") and ((tx["sender"] == tank and tx["to"] in deposits)
                                          or (tx["sender"] in deposits and tx["to"] == treasury)):
            pass
        else:
            out.append(Violation("4", f"{where}: neither the treasury nor a deposit address"))
    return out


def check_money(view: ChainView, *, treasury: str, token: str, deposits: set[str], tank: str,
                balances: dict[str, tuple[int, int]], treasury_balances: tuple[int, int],
                done_sweeps: list[dict], attacker: tuple[str, tuple[int, int]] | None = None,
                tampered: frozenset[str] = frozenset()) -> list[Violation]:
    """`balances`: deposit address → (native, token) at the head; `treasury_balances` likewise;
    `done_sweeps`: the gateway's done sweeps (id, kind, tx_hash, amount) as it recorded them;
    `attacker`: the address tampered sweep rows named, and its (native, token) balance (must be 0);
    `tampered`: ids of sweep rows the soak's attacker changed. Their recorded amount is the attacker's,
    not the gateway's (anyone who can UPDATE a row can falsify its record): what they moved is read
    from the chain, and only their money is checked (to the treasury, all of it), not their record."""
    out = []
    if attacker is not None and attacker[1] != (0, 0):
        out.append(Violation("4", f"the attacker {attacker[0]} (named by tampered sweep rows) holds {attacker[1]} "
                                  f"(native, token)"))
    token = to_checksum_address(token)
    to_treasury = [0, 0]
    moved: dict[str, int] = {}  # tx hash → what the mined transaction took to the treasury
    for item in view.gateway_txs:
        tx, receipt = item["tx"], item["receipt"]
        sender = to_checksum_address(tx["from"])
        to = to_checksum_address(tx["to"]) if tx.get("to") else None
        value, data = int(tx["value"], 16), tx.get("input") or "0x"
        ok = int(receipt["status"], 16) == 1
        if to == token and data.startswith(TRANSFER_SELECTOR):
            recipient = to_checksum_address("0x" + data[10:74][-40:])
            if recipient != treasury or value:
                out.append(Violation("4", f"{tx['hash']}: the gateway sent tokens from {sender} to {recipient}"))
            elif ok:
                to_treasury[1] += int(data[74:138], 16)
                moved[tx["hash"]] = int(data[74:138], 16)
        elif sender == tank and to in deposits and data in ("0x", ""):
            pass  # a gas top-up
        elif sender in deposits and to == treasury and data in ("0x", ""):
            if ok:
                to_treasury[0] += value
                moved[tx["hash"]] = value
        else:
            out.append(Violation("4", f"{tx['hash']}: the gateway signed a transaction from {sender} to {to} "
                                      f"(value {value}, data {data[:10]}): neither the treasury nor a deposit"))
    # What a sweep could cost at the soak's highest fee: below that, funds are dust (not worth a sweep).
    dust = 100_000 * (2 * view.max_base_fee + 2 * 10**9)
    for address, (native, tokens) in sorted(balances.items()):
        if native > dust or tokens > 0:
            out.append(Violation("4", f"deposit {address} still holds {native} wei and {tokens} token units "
                                      f"(dust is ≤ {dust} wei, 0 tokens)"))
    if tuple(to_treasury) != tuple(treasury_balances):
        out.append(Violation("4", f"the treasury holds {treasury_balances} (native, token), the gateway's mined "
                                  f"transactions to it add up to {tuple(to_treasury)}"))
    done_sweeps = [s | {"amount": moved.get(s["tx_hash"], 0)} if s["id"] in tampered else s for s in done_sweeps]
    swept_done = (sum(s["amount"] for s in done_sweeps if s["kind"] == "native"),
                  sum(s["amount"] for s in done_sweeps if s["kind"] == "token"))
    if swept_done != tuple(treasury_balances):
        out.append(Violation("4", f"the done sweeps say {swept_done} (native, token) was swept, the treasury "
                                  f"received {treasury_balances}"))
        for s in done_sweeps:
            if moved.get(s["tx_hash"]) != s["amount"]:
                out.append(Violation("4", f"done sweep {s['id']} ({s['kind']}) records {s['amount']} moved by "
                                          f"{s['tx_hash']}; on chain that transaction moved "
                                          f"{moved.get(s['tx_hash'], 'nothing (not mined)')}"))
        recorded = {s["tx_hash"] for s in done_sweeps}
        for tx_hash, value in moved.items():
            if tx_hash not in recorded:
                out.append(Violation("4", f"{tx_hash} took {value} to the treasury; no done sweep records it"))
    return out

"""The soak's chain: one Anvil that mines only when the soak says so, with reorgs it makes itself.

Not a test module (tests/chaos imports it as `from devnet import ...`).

- `mine()` mines one block stamped with the wall clock (never earlier than its parent + 1), after
  taking an `evm_snapshot` of the state it extends, so that any of the last blocks can be replaced.
- `reorg(depth, rng)` is a real fork switch: back to the snapshot `depth` blocks below the head
  (`evm_revert`), then as many blocks (or one more) mined again with the original timestamps, the
  first holding a transaction of the soak's own "noise" account so that every hash changes. Which
  transactions of the dropped blocks come back, in the same block as before, is drawn per sender
  (always a prefix in nonce order, so what comes back is valid): a reorg shallower than the
  confirmation depth may drop a payer's transaction for good; a deeper one keeps every payer's
  (their transfers may already be confirmed, and confirmed is final), and may still drop the
  gateway's own, which the gateway must then broadcast again. Anvil's own `anvil_reorg` stamps every
  new block with the common ancestor's time, which would move transfers across `expires_at`.
- Payers (`ctrip_core.devnet.payer.Payer`) are fresh keys drawn from the soak's seed, funded with
  `anvil_setBalance` and a token `batchTransfer` at set-up; what they send goes through `rpc`, which
  keeps every raw transaction for the reorgs to send again.
"""

from __future__ import annotations

import random
import time

import httpx
from eth_account import Account
from eth_utils import to_checksum_address

from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.forwarder import deploy_forwarder
from ctrip_core.devnet.payer import Payer
from ctrip_core.devnet.token import batch_transfer, deploy_test_token, mint

GWEI = 10**9
#: Payers pay far above any fee spike the soak makes, so their transactions are never stuck.
PAYER_MAX_FEE = 500 * GWEI
PAYER_TIP = GWEI
#: Gas for a payer's call to a Forwarder (a batch to two addresses, or a reverted sub-call, fits).
FORWARDER_CALL_GAS = 250_000


class Devnet:
    """Anvil under the soak's control (JSON-RPC straight to the node, never through a proxy)."""

    def __init__(self, node: AnvilNode):
        self.node = node
        self.http = httpx.Client(timeout=60)
        self.snapshots: dict[int, str] = {}  # head number → snapshot of the state at that head
        self.raw: dict[str, str] = {}  # tx hash → signed bytes, of every transaction the soak sent
        self.chain_id = int(self.rpc("eth_chainId"), 16)
        self.last_ts = int(self.block("latest")["timestamp"], 16)
        self.noise = Payer(Account.create().key, self.rpc, max_fee=PAYER_MAX_FEE, tip=PAYER_TIP)
        self.gateway_addresses: set[str] = set()  # filled by the soak: the gateway's own senders
        self.dropped: list[tuple[str, str]] = []  # (sender, tx hash) of mined transactions a reorg dropped

    @classmethod
    def start(cls) -> "Devnet":
        return cls(AnvilNode.start())

    def stop(self) -> None:
        self.http.close()
        self.node.stop()

    def rpc(self, method: str, *params):
        body = self.http.post(self.node.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                       "params": list(params)}).json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        if method == "eth_sendRawTransaction":
            self.raw[body["result"]] = params[0]
        return body["result"]

    def new_payer(self, rng: random.Random) -> Payer:
        """A wallet of a fresh key drawn from `rng` (a seed replays the same ones), paying far above any
        fee spike, its transactions sent through `rpc`."""
        return Payer("0x" + rng.randbytes(32).hex(), self.rpc, max_fee=PAYER_MAX_FEE, tip=PAYER_TIP)

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def block(self, ref: int | str, full: bool = False) -> dict:
        return self.rpc("eth_getBlockByNumber", hex(ref) if isinstance(ref, int) else ref, full)

    # -- set-up (automine on) ----------------------------------------------------------------------
    def deploy_token(self, payers: list[Payer], units_each: int) -> str:
        """The test token, and `units_each` of it for every payer, while Anvil still automines."""
        token = deploy_test_token(self.node.rpc_url, FUNDER_KEY, decimals=6)
        mint(self.node.rpc_url, FUNDER_KEY, token, Account.from_key(FUNDER_KEY).address, units_each * len(payers))
        batch_transfer(self.node.rpc_url, FUNDER_KEY, token, [p.address for p in payers], [units_each] * len(payers))
        return token

    def deploy_forwarders(self) -> tuple[str, str]:
        """Two test Forwarders (contracts/Forwarder.sol: native coin paid by a contract, seen only in call
        traces), while Anvil still automines; two, so that one can pay through the other (nested calls)."""
        return deploy_forwarder(self.node.rpc_url, FUNDER_KEY), deploy_forwarder(self.node.rpc_url, FUNDER_KEY)

    def set_balance(self, address: str, wei: int) -> None:
        self.rpc("anvil_setBalance", address, hex(wei))

    def mine_on_demand(self) -> None:
        """From now on a block is mined only by `mine()`."""
        self.rpc("evm_setAutomine", False)
        self.set_balance(self.noise.address, 10**20)
        self.rpc("evm_mine")
        self.last_ts = int(self.block("latest")["timestamp"], 16)

    # -- blocks --------------------------------------------------------------------------------------
    def mine(self, ts: int | None = None) -> int:
        """One block (with whatever the pool holds), stamped `ts` or the wall clock; → its number."""
        head = self.head()
        self.snapshots[head] = self.rpc("evm_snapshot")
        ts = ts if ts is not None else max(self.last_ts + 1, int(time.time()))
        self.rpc("evm_mine", ts)
        self.last_ts = ts
        return head + 1

    def send_raw(self, raw: str) -> str:
        return self.rpc("eth_sendRawTransaction", raw)

    def fee_spike(self, gwei: int) -> None:
        """The next block's base fee jumps to `gwei` (then decays by 1/8 per empty block, as EIP-1559 does)."""
        self.rpc("anvil_setNextBlockBaseFeePerGas", hex(gwei * GWEI))

    def reorg(self, depth: int, rng: random.Random, confirmations: int) -> str:
        """Replace the last `depth` blocks (see the module docstring); → a line saying what happened."""
        head = self.head()
        ancestor = head - depth
        if ancestor not in self.snapshots:
            return f"reorg {depth}: skipped (no snapshot of block {ancestor})"
        dropped = [self.block(n, full=True) for n in range(ancestor + 1, head + 1)]
        by_sender: dict[str, list[dict]] = {}
        for block in dropped:
            for tx in block["transactions"]:
                by_sender.setdefault(to_checksum_address(tx["from"]), []).append(tx)
        kept: set[str] = set()
        for sender, txs in sorted(by_sender.items()):
            txs.sort(key=lambda tx: int(tx["nonce"], 16))
            keep_all = depth >= confirmations and sender not in self.gateway_addresses
            cut = len(txs) if keep_all else rng.randint(0, len(txs))
            kept |= {tx["hash"] for tx in txs[:cut]}
        raws = {h: self.raw.get(h) or self.rpc("eth_getRawTransactionByHash", h) for h in kept}
        self.dropped += [(sender, tx["hash"]) for sender, txs in by_sender.items() for tx in txs
                         if tx["hash"] not in kept]
        self.rpc("evm_revert", self.snapshots[ancestor])
        for number in [n for n in self.snapshots if n >= ancestor]:
            del self.snapshots[number]
        refused = 0
        for k, block in enumerate(dropped):
            if k == 0:
                self._noise()
            for tx in block["transactions"]:
                if tx["hash"] in kept:
                    try:
                        self.rpc("eth_sendRawTransaction", raws[tx["hash"]])
                    except RuntimeError:
                        refused += 1  # e.g. a sweep whose incoming funds were dropped: invalid now
            self.mine(int(block["timestamp"], 16))
        longer = rng.random() < 0.5
        if longer:
            self.mine()
        total = sum(len(b["transactions"]) for b in dropped)
        return (f"reorg {depth}: blocks {ancestor + 1}..{head} replaced{' (+1)' if longer else ''}, "
                f"{len(kept)} of {total} transactions back, {refused} refused")

    def _noise(self) -> None:
        self.noise.native("0x000000000000000000000000000000000000dEaD", 1)

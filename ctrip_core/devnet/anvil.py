"""Start and stop a real Anvil node on a free local port.

Used by `ctrip dev` and by the test suite; both need a real chain, never a mock.
The binary comes from PATH or from the npm package installed under `.tools/` by `make install`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ANVIL_NPM_BIN = Path(".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
CAST_NPM_BIN = Path(".tools/node_modules/@foundry-rs/cast-linux-amd64/bin/cast")

from ctrip_core.devnet.accounts import ANVIL_MNEMONIC  # noqa: F401  (re-exported)


class AnvilNotFound(RuntimeError):
    """Raised when no anvil binary is on PATH or under .tools/."""


def _project_root_candidates() -> list[Path]:
    here = Path(__file__).resolve()
    return [Path.cwd(), *here.parents]


def find_binary(name: str = "anvil") -> Path:
    """Locate `anvil` or `cast`: $CTRIP_<NAME>_BIN, then PATH, then `.tools/` of the checkout."""
    override = os.environ.get(f"CTRIP_{name.upper()}_BIN")
    if override:
        return Path(override)
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    rel = ANVIL_NPM_BIN if name == "anvil" else CAST_NPM_BIN
    for root in _project_root_candidates():
        candidate = root / rel
        if candidate.exists():
            return candidate
    raise AnvilNotFound(f"{name} not found on PATH or under .tools/; run `make install`")


def free_port(preferred: int | None = None) -> int:
    """Return `preferred` when it is free, else the next free port after it, else any free port."""
    if preferred:
        for port in range(preferred, preferred + 50):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AnvilNode:
    """A running Anvil process. Use `start()`; `stop()` kills it."""

    port: int
    chain_id: int = 31337
    block_time_s: float | None = None
    slots_in_an_epoch: int | None = None
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, port: int | None = None, *, chain_id: int = 31337, block_time_s: float | None = None,
              slots_in_an_epoch: int | None = None, extra_args: list[str] | None = None,
              startup_timeout_s: float = 20.0) -> "AnvilNode":
        node = cls(port=port or free_port(), chain_id=chain_id, block_time_s=block_time_s,
                   slots_in_an_epoch=slots_in_an_epoch, extra_args=list(extra_args or []))
        node._spawn(startup_timeout_s)
        return node

    def _command(self) -> list[str]:
        cmd = [str(find_binary("anvil")), "--host", "127.0.0.1", "--port", str(self.port),
               "--chain-id", str(self.chain_id), "--silent"]
        if self.block_time_s:
            cmd += ["--block-time", str(self.block_time_s)]
        if self.slots_in_an_epoch:
            cmd += ["--slots-in-an-epoch", str(self.slots_in_an_epoch)]
        return cmd + self.extra_args

    def _spawn(self, startup_timeout_s: float) -> None:
        self.process = subprocess.Popen(self._command(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"anvil exited with {self.process.returncode}: {err.strip()}")
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"anvil did not answer on port {self.port} within {startup_timeout_s}s")

    def _answers(self) -> bool:
        try:
            resp = httpx.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId",
                                                  "params": []}, timeout=0.5)
            return resp.status_code == 200
        except httpx.HTTPError:
            return False

    def rpc(self, method: str, *params):
        """Synchronous JSON-RPC call, for test set-up and dev helpers."""
        resp = httpx.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                              "params": list(params)}, timeout=30)
        body = resp.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

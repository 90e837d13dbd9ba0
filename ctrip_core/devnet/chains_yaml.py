"""The chains.yaml of a local Anvil: written by `ctrip dev`, by the tests and by the benches.

One writer, so that every one of them runs against the same shape of file (the one
`ctrip_core.config.chains_file` parses). An entry is a plain mapping: a caller changes any key,
adds one (`ws_url`, `traces`, `rpc_timeout_s`...) or writes a second chain beside the first.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ctrip_core.devnet.accounts import TREASURY

ANVIL_CHAIN_ID = 31337
#: The test token's symbol and decimals (`ctrip_core.devnet.token` deploys it with 6, like USDC).
TOKEN_SYMBOL, TOKEN_DECIMALS = "TUSD", 6


def anvil_chain(rpc_url: str | list[str], token: str | None = None, *, chain_id: int = ANVIL_CHAIN_ID,
                confirmations: int = 1, block_time_s: float = 1, treasury: str | None = TREASURY,
                **more) -> dict:
    """One chain entry: the `anvil` adapter, ETH, the test token at `token` (none when None), the
    treasury (no `treasury:` key when None); `more` adds or replaces keys, and drops those given None."""
    entry = {"adapter": "anvil", "chain_id": chain_id, "rpc_url": rpc_url, "confirmations": confirmations,
             "block_time_s": block_time_s, "native": {"symbol": "ETH", "decimals": 18},
             "tokens": [{"symbol": TOKEN_SYMBOL, "address": token, "decimals": TOKEN_DECIMALS}] if token else []}
    if treasury is not None:
        entry["treasury"] = treasury
    return {key: value for key, value in (entry | more).items() if value is not None}


def write_chains_file(path: Path, chains: dict[str, dict], *, comment: str | None = None) -> Path:
    """Write `chains` (name → entry, e.g. `{"anvil": anvil_chain(url, token)}`) to `path`; → `path`."""
    header = f"# {comment}\n" if comment else ""
    path.write_text(header + yaml.safe_dump(chains, sort_keys=False))
    return path


def write_anvil_chains_file(path: Path, rpc_url: str | list[str], token: str | None = None, *, name: str = "anvil",
                            comment: str | None = None, **entry) -> Path:
    """A chains.yaml of one chain, `name`, made by `anvil_chain(rpc_url, token, **entry)`; → `path`."""
    return write_chains_file(path, {name: anvil_chain(rpc_url, token, **entry)}, comment=comment)

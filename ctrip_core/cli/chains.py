"""`ctrip chains`: configured chains, their RPC health, chain id and head block, and the nodes that
disagreed with a chain's `rpc_quorum`."""

from __future__ import annotations

import asyncio
import json

import click
from sqlalchemy import select

from ctrip_core.chains.evm import EVMChain
from ctrip_core.chains.registry import build_chains
from ctrip_core.chains.rpc import ChainIdMismatch, RetryPolicy, RpcError
from ctrip_core.cli.context import settings_for
from ctrip_core.config import ConfigError
from ctrip_core.db.engine import create_engine, session_factory
from ctrip_core.db.models import NodeDisagreement
from ctrip_core.plugins import get_plugin_manager

#: How long `ctrip chains` waits for the database to list quorum disagreements.
DATABASE_WITHIN_S = 5.0


async def _probe(chain: EVMChain) -> dict:
    cfg = chain.config
    row = {"chain": cfg.name, "adapter": cfg.adapter, "chain_id": cfg.chain_id,
           "confirmations": chain.confirmations, "rpc": "ok", "node_chain_id": None, "head": None}
    chain.rpc.retry = RetryPolicy(attempts=2, base_delay_s=0.1)
    try:
        answers = await chain.rpc.check_chain_ids()  # every URL, once: a wrong one is never used
        known = [actual for actual in answers.values() if actual is not None]
        row["node_chain_id"] = cfg.chain_id if cfg.chain_id in known else next(iter(known), None)
        row["head"] = await chain.head()
    except ChainIdMismatch:  # every URL answered another id: the row says which
        pass
    except RpcError as exc:
        row["rpc"] = f"down: {exc}"
    finally:
        await chain.close()
    if row["node_chain_id"] is not None and row["node_chain_id"] != cfg.chain_id:
        row["rpc"] = f"wrong chain: node answers chain id {row['node_chain_id']}, chains.yaml says {cfg.chain_id}"
    return row


async def _disagreements(database_url: str) -> dict[str, dict[str, dict]] | None:
    """chain → node → {count, last}: nodes that answered receipts otherwise than the quorum
    (services/watching/quorum.py); None when the database cannot tell within a few seconds."""
    engine = create_engine(database_url)
    try:
        async with asyncio.timeout(DATABASE_WITHIN_S), session_factory(engine)() as session:
            rows = (await session.scalars(select(NodeDisagreement).order_by(NodeDisagreement.chain,
                                                                           NodeDisagreement.node))).all()
    except Exception:  # noqa: BLE001 - unreachable, not migrated: the node health above still stands
        return None
    finally:
        await engine.dispose()
    found: dict[str, dict[str, dict]] = {}
    for row in rows:
        found.setdefault(row.chain, {})[row.node] = {"count": row.count, "last": row.last_detail}
    return found


@click.command("chains")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def chains_command(as_json: bool) -> None:
    """List configured chains with RPC health and head block (exit 1 if one is down, 2 if one is mis-configured)."""
    settings = settings_for()
    chains = build_chains(settings, get_plugin_manager(settings))

    async def probe_all():
        return await asyncio.gather(*(_probe(c) for c in chains.values()))

    rows = asyncio.run(probe_all())
    disagreements = asyncio.run(_disagreements(settings.database_url))
    for r in rows:
        r["disagreements"] = disagreements.get(r["chain"], {}) if disagreements is not None else None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(f"{'CHAIN':<14} {'ADAPTER':<10} {'ID':<10} {'CONF':<9} {'HEAD':<10} RPC")
        for r in rows:
            click.echo(f"{r['chain']:<14} {r['adapter']:<10} {r['chain_id']:<10} {str(r['confirmations']):<9} "
                       f"{str(r['head'] if r['head'] is not None else '-'):<10} {r['rpc']}")
            for node, seen in (r["disagreements"] or {}).items():
                click.echo(f"  node {node} disagreed with the quorum {seen['count']} times; last: {seen['last']}")
    wrong = [r for r in rows if r["rpc"].startswith("wrong chain")]
    if wrong:
        r = wrong[0]
        raise ConfigError(f"{settings.chains_file}: {r['chain']}.chain_id",
                          f"node answers chain id {r['node_chain_id']}, chains.yaml says {r['chain_id']}")
    down = [r for r in rows if r["rpc"] != "ok"]
    if down:
        click.echo(f"ctrip: error: RPC of chain {down[0]['chain']} is {down[0]['rpc']}"
                   + (f" (and {len(down) - 1} more)" if len(down) > 1 else ""), err=True)
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(chains_command)

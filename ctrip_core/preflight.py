"""What a long-running process checks before it serves (`ctrip api`, `ctrip worker`, `ctrip scheduler`).

Everything it will need, at start rather than at first use, within a bounded time, so that a
mistake is one line and a non-zero exit (ctrip_core/cli) before any worker process is spawned:

- configuration (exit 2): settings and chains file (build_runtime: plugins, adapters, chain ids
  the adapters serve, the deriver), `secret_key` where webhooks are created or delivered, the
  notifiers where events are dispatched (a notifier plugin's own settings), each chain's treasury
  where sweeps are signed, each chain's gas tank derivable;
- each chain's RPC URLs asked their chain id (a chain none of whose URLs serves its id is exit 2;
  a node that does not answer is logged and checked again on first use, see /ready);
- services (exit 1): the database reachable and migrated to head, Redis answering PING.

Configuration comes first: when both are wrong the operator learns of the mistake in the files,
not of a service that may only be starting.

Each service check has its own timeout, so the whole is bounded by about
migrate.CONNECT_TIMEOUT_S + REDIS_TIMEOUT_S + CHAIN_CHECK_TIMEOUT_S.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ctrip_core.config import ChainConfig, ConfigError, ServiceUnavailable, Settings
from ctrip_core.config.node_url import shown
from ctrip_core.db import migrate
from ctrip_core.plugins import collect_notifiers
from ctrip_core.runtime import Role, build_runtime, verify_reachable_chains
from ctrip_core.services.sweeps.gas_tanks import gas_tank_address
from ctrip_core.wallet import WalletError

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 2.0
#: How long all chains together may take to answer eth_chainId at start before the process goes on
#: (the URLs not heard from are checked again before their first use).
CHAIN_CHECK_TIMEOUT_S = 15.0


async def check_redis(url: str) -> None:
    """Redis answers PING within REDIS_TIMEOUT_S, else ServiceUnavailable naming `redis_url`."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
    try:
        await asyncio.wait_for(client.ping(), REDIS_TIMEOUT_S + 1)
    except (RedisError, OSError, asyncio.TimeoutError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].replace(url, shown(url))
        raise ServiceUnavailable("redis_url", f"cannot reach Redis at {shown(url)} ({reason or 'timed out'}); "
                                              "check that Redis is running and the URL is right") from None
    finally:
        await client.aclose()


async def check_database(url: str) -> None:
    """The database accepts a connection and is at the newest migration (ServiceUnavailable otherwise)."""
    await asyncio.to_thread(migrate.require_head, url)


def check_secret_key(settings: Settings) -> None:
    """`secret_key` is set (its strength is a rule of the settings themselves)."""
    from ctrip_core.services.webhooks.secret_box import SecretBox

    SecretBox.from_settings(settings)


def check_gas_tanks(settings: Settings, deriver, chains: dict[str, ChainConfig]) -> None:
    """Each chain's gas tank address derives from wallet.xpub (it pays token sweeps' gas)."""
    for name, chain in chains.items():
        try:
            tank = gas_tank_address(deriver, chain)
        except WalletError as exc:
            raise ConfigError(f"{settings.chains_file}: {name}.gas_tank", str(exc)) from None
        if tank is None:  # a plugin's deriver that has no paths: nothing to check here
            return


async def _chain_ids(chains) -> list[str]:
    try:
        return await asyncio.wait_for(verify_reachable_chains(chains), CHAIN_CHECK_TIMEOUT_S)
    except asyncio.TimeoutError:
        return [f"chains: not every node answered eth_chainId within {CHAIN_CHECK_TIMEOUT_S:.0f} s; "
                "checked on first use"]


@dataclass(frozen=True)
class Checked:
    """What passed: the chains' configuration, and notices (nodes not heard from) to log once the
    process has configured its logging, so that a start-up that fails stays one line."""

    chains: dict[str, ChainConfig]
    notices: list[str]

    def log_notices(self) -> None:
        for notice in self.notices:
            log.warning(notice)


async def preflight(settings: Settings, role: Role, *, secret_key: bool, sweeps: bool = False,
                    notifiers: bool = False) -> Checked:
    """Check what a process of `role` needs. Raises ConfigError, ChainIdMismatch (configuration,
    exit 2) or ServiceUnavailable (exit 1) on the first thing missing."""
    runtime = build_runtime(settings, role)
    try:
        chains = runtime.chain_configs()
        if secret_key:
            check_secret_key(settings)
        if notifiers:  # a plugin's bad settings stop the start, not every dispatch after it
            collect_notifiers(runtime.pm, settings)
        if sweeps:
            from ctrip_core.services.sweeps.keys import SweepKeys

            keys = SweepKeys.from_settings(settings, chains)
            for name in chains:
                try:
                    keys.tank_address(name)
                except WalletError as exc:
                    raise ConfigError(f"{settings.chains_file}: {name}.gas_tank", str(exc)) from None
        else:
            check_gas_tanks(settings, runtime.deriver, chains)
        notices = await _chain_ids(runtime.chains)  # another chain's node is configuration: exit 2 first
        await check_database(settings.database_url)
        await check_redis(settings.redis_url)
        return Checked(chains, notices)
    finally:
        await runtime.close()

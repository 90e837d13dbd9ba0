"""What a cTrip process holds while it runs: settings, plugins, chains, deriver, database.

Built once at startup by `build_runtime(settings, role)` (never at import time) and handed to the
API app, the workers and `ctrip dev`. The role decides what may be loaded: only `sweeper` and
`dev` may hold the mnemonic.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Literal

import pluggy
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from ctrip_core.chains import EVMChain
from ctrip_core.chains.evm import ChainIdMismatch
from ctrip_core.chains.registry import build_chains
from ctrip_core.chains.rpc import RpcError
from ctrip_core.config import ConfigError, Settings
from ctrip_core.db.allocation import IndexBlocks
from ctrip_core.db.engine import PG_POOL_SIZE, create_engine, session_factory
from ctrip_core.db.hot_pool import HotPool
from ctrip_core.plugins import address_deriver, collect_matchers, get_plugin_manager


Role = Literal["api", "scanner", "worker", "sweeper", "dev", "cli"]
ROLES_WITHOUT_MNEMONIC = ("api", "scanner")


@dataclass
class Runtime:
    settings: Settings
    pm: pluggy.PluginManager
    chains: dict[str, EVMChain]
    deriver: object
    engine: AsyncEngine
    sessions: async_sessionmaker
    matchers: list = field(default_factory=list)
    #: Derivation indexes for new deposit addresses (db/allocation.py).
    indexes: IndexBlocks = field(default_factory=IndexBlocks)
    _autocommit: AsyncEngine | None = None
    _read_sessions: async_sessionmaker | None = None
    _hot_pool: HotPool | None = None

    def connect(self):
        """A connection for the hot path's short work (API key lookups, payment inserts): `async with`.

        On PostgreSQL it is the process's `HotPool` (db/hot_pool.py) of raw autocommit
        connections, so each statement is its own transaction: one round trip instead of BEGIN,
        statement, COMMIT, no ORM session and no SQLAlchemy pool checkout. It runs `HotStatement`s
        only, each on a connection of its own, and only where every write is a single statement
        (or where a partial write is harmless); anything else takes a session. On SQLite it is an
        ordinary connection whose first statement begins a transaction (its transactions are what
        serialize writers); either way the caller calls `commit()`.
        """
        if self.engine.dialect.name != "postgresql":
            return self.engine.connect()
        if self._hot_pool is None:
            self._hot_pool = HotPool(self.engine, PG_POOL_SIZE)
        return nullcontext(self._hot_pool)

    def read_sessions(self):
        """Sessions for read-only handlers (GET routes, the checkout): `async with`.

        On PostgreSQL they run in autocommit, sparing the BEGIN and ROLLBACK round trips a read
        would otherwise pay. What they see is the same: under READ COMMITTED each statement takes
        its own snapshot inside a transaction too. Never write through one. SQLite keeps ordinary
        sessions.
        """
        if self.engine.dialect.name != "postgresql":
            return self.sessions()
        if self._read_sessions is None:
            self._read_sessions = session_factory(self._autocommit_engine())
        return self._read_sessions()

    def _autocommit_engine(self) -> AsyncEngine:
        if self._autocommit is None:
            self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return self._autocommit

    async def close(self) -> None:
        for chain in self.chains.values():
            await chain.close()
        if self._hot_pool is not None:
            await self._hot_pool.close()
        await self.engine.dispose()


def check_role(settings: Settings, role: Role) -> None:
    """Processes that face the network never hold the mnemonic."""
    if role in ROLES_WITHOUT_MNEMONIC and settings.wallet.mnemonic is not None:
        raise ConfigError("wallet.mnemonic", f"must not be set for the {role} process; "
                                             "only a worker serving the sweep queue may hold it")


async def verify_reachable_chains(chains: dict[str, EVMChain]) -> list[str]:
    """Every `rpc_url` is asked its chain id: a chain none of whose URLs serves it is a startup error
    (`ChainIdMismatch`); a URL that does not answer is not (see /ready), it is checked on first use.

    → one notice per chain not heard from, for the caller to log once its logging is configured
    (a start-up that fails later must stay one line)."""
    notices = []
    for chain in chains.values():
        try:
            await chain.verify_chain_id()
        except ChainIdMismatch:
            raise
        except RpcError as exc:
            notices.append(f"chain {chain.config.name}: chain id not known yet, checked on first use: {exc}")
    return notices


def build_runtime(settings: Settings, role: Role, *, engine: AsyncEngine | None = None, on_fault=None) -> Runtime:
    """Plugins, chains, deriver and database for a process of `role` (no network I/O here).

    `on_fault(chain, url, kind)` hears every RPC fault (workers count them in Prometheus).
    """
    check_role(settings, role)
    pm = get_plugin_manager(settings)
    engine = engine or create_engine(settings.database_url)
    return Runtime(settings=settings, pm=pm, chains=build_chains(settings, pm, on_fault=on_fault),
                   deriver=address_deriver(pm, settings), engine=engine, sessions=session_factory(engine),
                   matchers=collect_matchers(pm))

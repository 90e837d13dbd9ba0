"""What a cTrip process holds while it runs: settings, plugins, chains, deriver, database.

The database's kind is looked at once, when `build_runtime` picks the payment writer (PostgreSQL's
fast path or a session-based one, db/payment_writer.py) and the read sessions (db/engine.py).

Built once at startup by `build_runtime(settings, role)` (never at import time) and handed to the
API app, the workers and `ctrip dev`. The role decides what may be loaded: only `sweeper` and
`dev` may hold the mnemonic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pluggy
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from ctrip_core.chains import EVMChain
from ctrip_core.chains.evm import ChainIdMismatch
from ctrip_core.chains.registry import build_chains
from ctrip_core.chains.rpc import RpcError
from ctrip_core.config import ChainConfig, ConfigError, Settings
from ctrip_core.db.engine import create_engine, read_session_factory, session_factory
from ctrip_core.db.payment_writer import PaymentWriter, payment_writer_for
from ctrip_core.plugins import address_deriver, collect_matchers, collect_rate_providers, get_plugin_manager
from ctrip_core.pricing.open_assets import OpenAssets
from ctrip_core.pricing.rate_book import RateBook
from ctrip_core.services.payments.equivalence import Equivalence


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
    #: Where new payments are written: PostgreSQL's fast path or a session (db/payment_writer.py).
    payment_writer: PaymentWriter
    #: Sessions for read-only handlers (GET routes, the checkout): autocommit on
    #: PostgreSQL (db/engine.py `read_session_factory`); never write through one.
    read_sessions: async_sessionmaker
    matchers: list = field(default_factory=list)
    #: What a transfer of one asset credits a payment owed in another (payments.equivalent_assets).
    equivalence: Equivalence = field(default_factory=lambda: Equivalence((), []))
    #: Rates for priced payments (ctrip_core/pricing): asks nothing until a price is quoted.
    rates: RateBook | None = None
    #: Which assets an open payment offers (payments.open_payment_assets).
    open_assets: OpenAssets = field(default_factory=lambda: OpenAssets((), []))

    def chain_configs(self) -> dict[str, ChainConfig]:
        """Each enabled chain's configuration, by name."""
        return {name: chain.config for name, chain in self.chains.items()}

    async def close(self) -> None:
        for chain in self.chains.values():
            await chain.close()
        await self.payment_writer.close()
        if self.rates is not None:
            await self.rates.close()
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
    chains = build_chains(settings, pm, on_fault=on_fault)
    equivalence = Equivalence([chain.config for chain in chains.values()], settings.payments.equivalent_assets)
    rates = RateBook(collect_rate_providers(pm, settings, list(chains.values())), settings.rates)
    open_assets = OpenAssets([chain.config for chain in chains.values()], settings.payments.open_payment_assets)
    return Runtime(settings=settings, pm=pm, chains=chains, equivalence=equivalence, rates=rates,
                   open_assets=open_assets,
                   deriver=address_deriver(pm, settings), engine=engine, sessions=session_factory(engine),
                   payment_writer=payment_writer_for(engine), read_sessions=read_session_factory(engine),
                   matchers=collect_matchers(pm))

"""Unauthenticated operations routes: /health, /ready, /metrics (the API reference: blueprints/reference)."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response
from quart_schema import document_response, security_scheme_blueprint, validate_response
from sqlalchemy import func, select, text

from ctrip_core.api.errors import ErrorResponse
from ctrip_core.api.metrics import CONTENT_TYPE
from ctrip_core.api.metrics_access import require_metrics_access
from ctrip_core.api.schemas import Health, Readiness
from ctrip_core.api.state import app_state
from ctrip_core.db.models import Payment
from ctrip_core.db.types import utcnow
from ctrip_core.services.sweeps.gas_tanks import low_tank_warnings, tank_balances
from ctrip_core.services.watching.scan_lag import ScanPosition, max_lag_s, scan_positions, stalled

blueprint = Blueprint("ops", __name__)
security_scheme_blueprint(blueprint, [])  # unauthenticated: overrides the API's default bearer in OpenAPI
CHECK_TIMEOUT_S = 2.0


@blueprint.get("/health")
@validate_response(Health, 200)
async def health():
    """The process is up."""
    return Health(status="ok"), 200


async def _check(coro) -> str:
    try:
        problem = await asyncio.wait_for(coro, CHECK_TIMEOUT_S)
    except asyncio.TimeoutError:
        return "down: timeout"
    except Exception as exc:  # noqa: BLE001 - any failure (RPC, OS, driver) means not ready
        return f"down: {type(exc).__name__}"
    return "ok" if problem is None else f"down: {problem}"


async def _database() -> None:
    async with app_state().runtime.sessions() as session:
        await session.execute(text("SELECT 1"))


async def _chain(chain, position: ScanPosition | None, limit_s: float) -> str | None:
    """The node answers, and the chain's scanner is not stalled behind it."""
    return stalled(position, await chain.head(), limit_s, utcnow())


async def _scan_positions(state) -> dict[str, ScanPosition]:
    """Every chain's scanner position, also exported as `ctrip_scan_lag_seconds`; {} when the database is down."""
    try:
        async with state.runtime.read_sessions() as session:
            positions = await asyncio.wait_for(scan_positions(session), CHECK_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - the database check reports it
        return {}
    state.metrics.set_scan_lags({name: p.lag_s(utcnow()) for name, p in positions.items()
                                 if name in state.runtime.chains})
    return positions


@blueprint.get("/ready")
@validate_response(Readiness, 200)
@validate_response(Readiness, 503)
async def ready():
    """Ready to serve: database, broker, every chain's RPC, no stalled scanner (503 names what is down).

    Unauthenticated, so a failure is named by its exception's type, never its message (which may
    hold an RPC URL, a host or a database name), and a low gas tank without its address or balance.
    """
    state = app_state()
    chains = state.runtime.chains
    scanning = state.runtime.settings.scanning
    positions = await _scan_positions(state)
    names = ["database", "broker"] + [f"chain:{n}" for n in chains]
    results = await asyncio.gather(_check(_database()), _check(state.broker_check()),
                                   *(_check(_chain(c, positions.get(n), max_lag_s(scanning, c.config)))
                                     for n, c in chains.items()))
    checks = dict(zip(names, results))
    ok = all(v == "ok" for v in checks.values())
    warnings = await gas_tank_warnings(state)
    now = utcnow()
    lags = {n: positions[n].lag_s(now) if n in positions else None for n in chains}
    return (Readiness(status="ready" if ok else "not_ready", checks=checks, warnings=warnings, scan_lag_s=lags),
            (200 if ok else 503))


async def gas_tank_warnings(state) -> dict[str, str]:
    """/ready's warnings of tanks too low to pay token sweeps' gas (services/sweeps/gas_tanks.py);
    each tank's balance is exported as `ctrip_gas_tank_balance_wei` on the way."""
    runtime = state.runtime
    balances = await tank_balances(runtime.chains, runtime.deriver, CHECK_TIMEOUT_S)
    for name, balance in balances.items():
        state.metrics.gas_tank.labels(name).set(balance)
    return low_tank_warnings(balances, runtime.settings.sweeps.gas_tank_floor_wei)


@blueprint.get("/metrics")
@document_response(ErrorResponse, 401)
@document_response(ErrorResponse, 404)
async def metrics():
    """Prometheus text: HTTP requests and latencies by route and status, payments by status, scan lag.

    Served on the metrics port (`metrics.port`) or to `Authorization: Bearer <metrics.token>`
    (401 without it); else 404 (api/metrics_access.py).
    """
    state = app_state()
    require_metrics_access(state.runtime.settings.metrics)
    try:
        async with state.runtime.read_sessions() as session:
            rows = (await session.execute(select(Payment.chain, Payment.status, func.count())
                                          .group_by(Payment.chain, Payment.status))).all()
        state.metrics.set_payment_counts([(c, s, n) for c, s, n in rows])
    except Exception:  # noqa: BLE001 - metrics must render even when the database is down
        pass
    await _scan_positions(state)
    await gas_tank_warnings(state)
    return Response(state.metrics.render(), content_type=CONTENT_TYPE)

"""Dashboard payments list, filters and search over 1,000,000 payments on PostgreSQL (target: each p99 ≤ 150 ms).

Run: .venv/bin/python bench/dashboard.py [--payments 1000000] [--reps 100] [--keep]
Needs PostgreSQL on 127.0.0.1:5432 (user postgres), like `make test` (`make bench-dashboard`).

It makes the database `ctrip_bench_dashboard` (dropped and made again, migrated by ctrip_core.db.migrate),
loads PAYMENTS payments of five merchants (60 %, 16 %, 12 %, 8 %, 4 % of them) over a year, on five
chains in nine chain/asset pairs, in the statuses a live gateway accumulates (the newest 0.2 % pending
or detected or just settled, older ones mostly expired or confirmed, a few canceled or underpaid), and a
transfer for every detected, confirmed or underpaid one (about a third), then ANALYZEs. The load is
two server-side `INSERT … SELECT generate_series` statements (addresses, then payments) and one
`INSERT … SELECT` of transfers from the payments: no row crosses the client. Addresses are decimal
digits only (their EIP-55 form is themselves, so the search finds them as it finds real ones).

Then it times, case by case, what the dashboard's payments page does for one request
(api/blueprints/dashboard/payments.py): a read session, `list_payments` (a page of 25) or `find_payments`,
and `render_many` of the rows. REPS requests per case, the inputs varied across every merchant and
every value of the filter (ids, order ids, addresses, hashes and cursors drawn at random from the
data), after a warm-up of a few requests per case that is not counted. One line per case: p50, p99
(nearest rank) and whether the p99 is within 150 ms. Prints only; never asserts.

`--keep` leaves the database behind and, on the next run, reuses it when it holds PAYMENTS payments
at the newest migration (otherwise it loads again).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import make_url

from ctrip_core.db import migrate
from ctrip_core.db.engine import create_engine, read_session_factory, session_factory
from ctrip_core.devnet.scratch_database import admin_fetch
from ctrip_core.services.accounts.merchants import create_merchant
from ctrip_core.services.dashboard.search import find_payments
from ctrip_core.services.payments.operations import list_payments
from ctrip_core.services.payments.payment_view import render_many

PG_ADMIN_DSN = os.environ.get("CTRIP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = "ctrip_bench_dashboard"
#: The dashboard's page size (api/blueprints/dashboard/payments.py PAGE).
PAGE = 25
TARGET_MS = 150.0
WARMUP = 5
SPAN = timedelta(days=365)
STATUSES = ("pending", "detected", "confirmed", "underpaid", "expired", "canceled")
#: Each merchant's share of the payments.
MERCHANT_SHARES = (0.60, 0.16, 0.12, 0.08, 0.04)
#: (chain, chain id, asset, token address or None, decimals, share of the payments).
OFFERS = (
    ("ethereum", 1, "ETH", None, 18, 0.15),
    ("ethereum", 1, "USDT", "0xdAC17F958D2ee523a2206206994597C13D831ec7", 6, 0.12),
    ("ethereum", 1, "USDC", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 6, 0.08),
    ("bsc", 56, "BNB", None, 18, 0.10),
    ("bsc", 56, "USDT", "0x55d398326f99059fF775485246999027B3197955", 18, 0.15),
    ("polygon", 137, "POL", None, 18, 0.05),
    ("polygon", 137, "USDC", "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", 6, 0.15),
    ("base", 8453, "USDC", "0x833589fCD6eDb6E08f4c7C35d0a2b2bEa2E8e8E8", 6, 0.12),
    ("arbitrum", 42161, "ETH", None, 18, 0.08),
)
#: The newest share of payments, still open or just settled: pending 70 %, detected 10 %, confirmed 20 %.
RECENT = 0.002
#: Older payments: expired, confirmed, canceled, underpaid.
SETTLED = (("expired", 0.62), ("confirmed", 0.30), ("canceled", 0.05), ("underpaid", 0.03))


def pick(draw: str, choices) -> str:
    """An SQL CASE giving each value of `choices` ([(sql literal, share)]) for its share of `draw` in [0, 1)."""
    edge, arms = 0.0, []
    for value, share in choices[:-1]:
        edge += share
        arms.append(f"WHEN {draw} < {edge:.6f} THEN {value}")
    return f"CASE {' '.join(arms)} ELSE {choices[-1][0]} END"


def quoted(value) -> str:
    return "NULL" if value is None else f"'{value}'" if isinstance(value, str) else str(value)


def offer_array(column: int, sql_type: str) -> str:
    return f"(ARRAY[{', '.join(quoted(o[column]) for o in OFFERS)}]::{sql_type}[])"


ADDRESSES_SQL = """
INSERT INTO deposit_addresses (derivation_index, address, created_at)
SELECT i, '0x' || substr(translate(md5('a' || i), 'abcdef', '012345'), 1, 30) || lpad(i::text, 10, '0'),
       CAST(:start AS timestamptz) + (i - 1) * CAST(:step AS interval)
FROM generate_series(1, CAST(:n AS int)) AS i
"""

PAYMENTS_SQL = f"""
INSERT INTO payments (id, merchant_id, status, chain, chain_id, asset, token_address, decimals,
                      amount_base_units, amount_received_base_units, derivation_index, address, order_id,
                      metadata, confirmations_required, overpaid, late, tolerance_base_units,
                      created_at, updated_at, expires_at, detected_at, confirmed_at)
SELECT 'pay_' || substr(md5('p' || i), 1, 24), (CAST(:merchants AS text[]))[m], status,
       {offer_array(0, 'text')}[o], {offer_array(1, 'bigint')}[o], {offer_array(2, 'text')}[o],
       {offer_array(3, 'text')}[o], {offer_array(4, 'int')}[o],
       amount, CASE WHEN status IN ('confirmed', 'detected') THEN amount
                    WHEN status = 'underpaid' THEN amount / 2 ELSE 0 END,
       i, a.address, 'order-' || i, json_build_object('cart', i::text), 12, false, false, 0,
       at, at, at + interval '1 hour',
       CASE WHEN status IN ('confirmed', 'detected', 'underpaid') THEN at + interval '2 minutes' END,
       CASE WHEN status = 'confirmed' THEN at + interval '5 minutes' END
FROM (
    SELECT i, at, m, o,
           (1 + (i % 500)) * (10::numeric ^ {offer_array(4, 'int')}[o]) / 100 AS amount,
           CASE WHEN i > CAST(:n AS int) * (1 - {RECENT})
                THEN {pick('rs', [("'pending'", 0.7), ("'detected'", 0.1), ("'confirmed'", 0.2)])}
                ELSE {pick('rs', [(f"'{s}'", share) for s, share in SETTLED])} END AS status
    FROM (
        SELECT i, at, rs, {pick('rm', [(k + 1, share) for k, share in enumerate(MERCHANT_SHARES)])} AS m,
               {pick('ro', [(k + 1, o[5]) for k, o in enumerate(OFFERS)])} AS o
        FROM (
            SELECT i, CAST(:start AS timestamptz) + (i - 1) * CAST(:step AS interval) AS at,
                   random() AS rm, random() AS ro, random() AS rs
            FROM generate_series(1, CAST(:n AS int)) AS i
        ) AS draws
    ) AS drawn
) AS p
JOIN deposit_addresses AS a ON a.derivation_index = p.i
"""

TRANSFERS_SQL = """
INSERT INTO transfers (chain, tx_hash, log_index, payment_id, block_number, block_hash, from_address,
                       to_address, asset, token_address, amount_base_units, credited_base_units, state,
                       source, late, created_at, updated_at)
SELECT chain, '0x' || md5('t' || derivation_index) || md5('u' || derivation_index),
       CASE WHEN token_address IS NULL THEN -1 ELSE derivation_index % 300 END, id, derivation_index,
       '0x' || md5('b' || derivation_index) || md5('c' || derivation_index),
       '0x' || lpad(translate(md5('f' || derivation_index), 'abcdef', '012345'), 40, '7'),
       address, asset, token_address, amount_received_base_units, amount_received_base_units,
       CASE WHEN status = 'detected' THEN 'seen' ELSE 'confirmed' END,
       CASE WHEN token_address IS NULL THEN 'transaction' ELSE 'log' END, false, detected_at, detected_at
FROM payments WHERE status IN ('detected', 'confirmed', 'underpaid')
"""


def database_url() -> str:
    return make_url(PG_ADMIN_DSN).set(drivername="postgresql+asyncpg", database=DATABASE).render_as_string(
        hide_password=False)


async def reusable(url: str, payments: int) -> bool:
    """Whether the kept database is there, at the newest migration, with `payments` payments."""
    if not admin_fetch(PG_ADMIN_DSN, "SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
        return False
    if migrate.current(url) != migrate.head():
        return False
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.scalar(text("SELECT count(*) FROM payments")) == payments
    finally:
        await engine.dispose()


async def load(url: str, payments: int) -> None:
    """Drop, create and migrate the database, then load `payments` payments and their transfers."""
    admin_fetch(PG_ADMIN_DSN, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    admin_fetch(PG_ADMIN_DSN, f'CREATE DATABASE "{DATABASE}"')
    migrate.upgrade(url)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            merchants = [(await create_merchant(session, f"bench-{k}")).merchant_id
                         for k in range(len(MERCHANT_SHARES))]
        end = datetime.now(UTC).replace(microsecond=0)
        values = {"n": payments, "start": end - SPAN, "step": SPAN / payments, "merchants": merchants}
        async with engine.begin() as connection:
            await connection.execute(text("SELECT setseed(0.2026)"))
            for label, sql in (("deposit addresses", ADDRESSES_SQL), ("payments", PAYMENTS_SQL),
                               ("transfers", TRANSFERS_SQL)):
                t0 = time.perf_counter()
                result = await connection.execute(text(sql), values)
                print(f"  {result.rowcount:>9,} {label} in {time.perf_counter() - t0:.1f}s", flush=True)
            await connection.execute(text(
                "INSERT INTO chain_cursors (chain, last_block, updated_at) "
                "SELECT DISTINCT chain, CAST(:head AS bigint), now() FROM payments"), {"head": payments + 100})
        async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
            t0 = time.perf_counter()
            await connection.execute(text("VACUUM ANALYZE"))
            print(f"  VACUUM ANALYZE in {time.perf_counter() - t0:.1f}s", flush=True)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Samples:
    """What the cases draw their inputs from: the merchants (largest first), each with random payments
    of theirs (id, order id, address, created_at) and random transfers' hashes; the chains and assets
    present; the time the data spans."""

    merchants: list[str]
    payments: dict[str, list[tuple[str, str, str, datetime]]]
    hashes: dict[str, list[str]]
    chains: list[str]
    assets: list[str]
    first: datetime
    last: datetime


async def samples(engine, per_merchant: int) -> Samples:
    async with engine.connect() as c:
        merchants = list(await c.scalars(text(
            "SELECT merchant_id FROM payments GROUP BY merchant_id ORDER BY count(*) DESC")))
        payments, hashes = {}, {}
        for m in merchants:
            payments[m] = [tuple(r) for r in await c.execute(text(
                "SELECT id, order_id, address, created_at FROM payments "
                "WHERE merchant_id = :m ORDER BY random() LIMIT :k"), {"m": m, "k": per_merchant})]
            hashes[m] = list(await c.scalars(text(
                "SELECT t.tx_hash FROM transfers AS t JOIN payments AS p "
                "ON p.id = t.payment_id WHERE p.merchant_id = :m ORDER BY random() LIMIT :k"),
                {"m": m, "k": per_merchant}))
        chains = list(await c.scalars(text("SELECT DISTINCT chain FROM payments ORDER BY 1")))
        assets = list(await c.scalars(text("SELECT DISTINCT asset FROM payments ORDER BY 1")))
        first, last = (await c.execute(text("SELECT min(created_at), max(created_at) FROM payments"))).one()
    return Samples(merchants, payments, hashes, chains, assets, first, last)


def cases(s: Samples, rng: random.Random) -> dict[str, Callable[[int], Callable]]:
    """Each case: request number → a call (session → rows) the page would make for that request."""

    def merchant(n: int) -> str:
        return s.merchants[n % len(s.merchants)]

    def drawn(n: int) -> tuple[str, str, str, datetime]:
        return rng.choice(s.payments[merchant(n)])

    def listing(n: int, **filters) -> Callable:
        m = merchant(n)
        return lambda session: list_payments(session, m, limit=PAGE, **filters)

    def date_range(n: int) -> Callable:
        days = rng.choice((1, 7, 30, 90))
        start = s.first + (s.last - s.first - timedelta(days=days)) * rng.random()
        return listing(n, created_from=start, created_before=start + timedelta(days=days))

    def search(n: int, text_of: Callable[[str], str]) -> Callable:
        m = merchant(n)
        query = text_of(m)
        return lambda session: find_payments(session, m, query)

    # n // len(merchants) walks the values, so every merchant meets every value
    def nth(values: list[str], n: int) -> str:
        return values[(n // len(s.merchants)) % len(values)]

    return {
        "list, first page": lambda n: listing(n),
        "list, cursor page (random depth)": lambda n: listing(n, starting_after=drawn(n)[0]),
        "filter status (each)": lambda n: listing(n, status=nth(list(STATUSES), n)),
        "filter chain (each)": lambda n: listing(n, chain=nth(s.chains, n)),
        "filter asset (each)": lambda n: listing(n, asset=nth(s.assets, n)),
        "filter date range (1-90 days)": date_range,
        "search payment id": lambda n: search(n, lambda m: rng.choice(s.payments[m])[0]),
        "search order id": lambda n: search(n, lambda m: rng.choice(s.payments[m])[1]),
        "search address": lambda n: search(n, lambda m: rng.choice(s.payments[m])[2].lower()),
        "search tx hash": lambda n: search(n, lambda m: rng.choice(s.hashes[m])),
    }


async def page(sessions, call: Callable[..., Awaitable]) -> int:
    """One dashboard request's database work: → how many payments it rendered."""
    async with sessions() as session:
        rows = await call(session)
        rows = rows[0] if isinstance(rows, tuple) else rows
        return len(await render_many(session, rows))


def nearest_rank(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


async def run_case(sessions, label: str, make: Callable[[int], Callable], reps: int) -> None:
    for n in range(WARMUP):
        await page(sessions, make(n))
    took, rendered = [], 0
    for n in range(reps):
        call = make(n)
        t0 = time.perf_counter()
        rendered += await page(sessions, call)
        took.append((time.perf_counter() - t0) * 1000)
    took.sort()
    p99 = nearest_rank(took, 99)
    verdict = "ok" if p99 <= TARGET_MS else "MISSES"
    print(f"{label:<34} p50 {statistics.median(took):7.1f} ms  p99 {p99:7.1f} ms  max {took[-1]:7.1f} ms  "
          f"{rendered / reps:5.1f} rows/request  p99 ≤ {TARGET_MS:.0f} ms: {verdict}", flush=True)


async def main(args) -> None:
    url = database_url()
    if args.keep and await reusable(url, args.payments):
        print(f"reusing {DATABASE} ({args.payments:,} payments)")
    else:
        print(f"loading {args.payments:,} payments into {DATABASE}", flush=True)
        t0 = time.perf_counter()
        await load(url, args.payments)
        print(f"loaded in {time.perf_counter() - t0:.1f}s", flush=True)
    engine = create_engine(url)
    try:
        s = await samples(engine, per_merchant=max(args.reps, 20))
        print(f"{len(s.merchants)} merchants, chains {', '.join(s.chains)}, assets {', '.join(s.assets)}; "
              f"{args.reps} requests per case (page {PAGE}) after {WARMUP} not counted")
        sessions = read_session_factory(engine)
        rng = random.Random(20)
        for label, make in cases(s, rng).items():
            await run_case(sessions, label, make, args.reps)
    finally:
        await engine.dispose()
        if not args.keep:
            admin_fetch(PG_ADMIN_DSN, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=100, help="timed requests per case")
    parser.add_argument("--keep", action="store_true", help="keep the database, and reuse a kept one")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)

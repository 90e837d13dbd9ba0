"""Ablation for `bench/api.py --without ...`: a create's round trip replaced by nothing, to price it.

Only bench/api.py puts this folder on the server's PYTHONPATH (Python imports `sitecustomize` at
start-up, in Hypercorn's spawned workers too), and only with `--without`; the product never loads
it. What each ablation removes, from `CTRIP_BENCH_WITHOUT` (comma-separated):

- `rate-limit`: the Redis call (token bucket and revocation mark) answers "allowed" at once;
- `insert`: the payment's INSERT is skipped (the response is built all the same).

The figures then bound what any optimisation of that round trip could gain; they are not the
product's figures.
"""

import os

_WITHOUT = {part.strip() for part in os.environ.get("CTRIP_BENCH_WITHOUT", "").split(",") if part.strip()}

if "rate-limit" in _WITHOUT:
    from ctrip_core.api import ratelimit

    async def _allow(self, key, *, rate_per_s=None, burst=None):
        return ratelimit.Decision(True, 0.0, "")

    async def _no_mark(self):
        return ""

    ratelimit.RedisRateLimiter.hit = _allow
    ratelimit.RedisRateLimiter.revocation_mark = _no_mark

if "insert" in _WITHOUT:
    from ctrip_core.db import payment_writer

    async def _no_insert(conn, payment):
        return None

    payment_writer.insert_coalesced = _no_insert  # PostgreSQL's fast path, which the bench runs
    payment_writer.insert_in_one_statement = _no_insert

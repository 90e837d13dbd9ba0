"""Merchant API keys: generated once, shown once, stored as a SHA-256 hash only.

Keys carry 256 bits of randomness, so a fast hash is enough (no password stretching needed);
a key is found by an index lookup of its hash, so no secret is ever compared in Python.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "ctrip_sk_"
#: Redis key holding the revocation mark: replaced after every revocation (see api/key_cache.py).
REVOCATION_MARK_KEY = "ctrip:api_keys:revocation_mark"


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def display_prefix(api_key: str) -> str:
    """The part of a key safe to show in listings and logs."""
    return api_key[: len(KEY_PREFIX) + 4]


async def announce_revocation(redis_url: str) -> None:
    """Give the revocation mark a new random value, so every API process stops trusting its cached keys.

    Call it after the revocation has committed: a process that looked the key up before the commit
    cached it under the old mark, which this replaces. Raises when Redis cannot be reached.
    """
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.set(REVOCATION_MARK_KEY, secrets.token_hex(16))
    finally:
        await client.aclose()

"""Merchant API keys: generated once, shown once, stored as a SHA-256 hash only.

Keys carry 256 bits of randomness, so a fast hash is enough (no password stretching needed);
lookups go by the hash and the final comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "ctrip_sk_"


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def display_prefix(api_key: str) -> str:
    """The part of a key safe to show in listings and logs."""
    return api_key[: len(KEY_PREFIX) + 4]


def key_matches(api_key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(api_key), stored_hash)

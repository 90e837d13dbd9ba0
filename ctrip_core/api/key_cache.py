"""API keys this process has verified, trusted again only while no key has been revoked since.

Looking every request's key up in PostgreSQL cost a round trip, and on the create path more CPU
than the database's own work. A verified key is remembered with the *revocation mark* it was
verified under: a random value in Redis that `ctrip merchant revoke-key` replaces after its commit
(`services/accounts/api_keys.py`). The rate limiter's Redis call, which every /v1 request makes anyway,
returns the current mark in the same round trip, and a cached key counts only when the mark is
unchanged. So a request that starts after revoke-key has returned misses the cache and is looked
up again: revocation still works at once. The mark is random, never a counter, so a Redis restart
(which loses it) can only cause misses, never bring an old mark back.

Without a mark (Redis unreachable, or the in-memory limiter of `ctrip dev`, which a CLI in
another process cannot reach) nothing is cached or trusted. Entries also expire after
`api.key_cache_s` seconds: the bound for a key revoked without the command (SQL by hand, or Redis
unreachable from the CLI). Only successes are cached; an unknown key is looked up every time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple


class KeyGrant(NamedTuple):
    """What a verified key grants: its merchant, and its scopes (services/accounts/scopes.py)."""

    merchant_id: str
    scopes: frozenset[str]


class _Verified(NamedTuple):
    grant: KeyGrant
    mark: str
    expires_at: float


class KeyCache:
    """key hash → its grant (merchant id, scopes), as verified under a revocation mark; bounded, least recently used first out."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.ttl_s, self.max_entries, self._clock = ttl_s, max_entries, clock
        self._entries: OrderedDict[str, _Verified] = OrderedDict()

    def __contains__(self, key_hash: str) -> bool:
        return key_hash in self._entries

    def grant_for(self, key_hash: str, mark: str | None) -> KeyGrant | None:
        """The grant when `key_hash` was verified under `mark` and has not expired, else None."""
        entry = self._entries.get(key_hash)
        if entry is None or mark is None:
            return None
        if entry.mark != mark or entry.expires_at <= self._clock():
            del self._entries[key_hash]
            return None
        self._entries.move_to_end(key_hash)
        return entry.grant

    def remember(self, key_hash: str, grant: KeyGrant, mark: str | None) -> None:
        """Remember a key just verified in the database; `mark` must have been read before that lookup."""
        if mark is None or self.ttl_s <= 0:
            return
        self._entries[key_hash] = _Verified(grant, mark, self._clock() + self.ttl_s)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

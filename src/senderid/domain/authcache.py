"""A short-lived, per-process memory of authenticated keys.

Every API request authenticates its key; most requests of a busy client reuse the
same key. Remembering a successful lookup for ``SENDERID_AUTH_CACHE_SECONDS``
spares the database a query per request.

Correctness: a key revoked, or an account changed, *in this process* is forgotten
at once (:meth:`AuthCache.clear` is called by those domain functions); a change
made by another process (the CLI, another server) applies here within the cache's
lifetime. An expiring key is never served past its ``expires_at``, and unknown keys
are never remembered (nothing to revoke there, and a new key works at once).
Set the lifetime to 0 to turn the cache off.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from senderid.domain.accounts import Caller

MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    caller: "Caller"
    key_expires_at: datetime | None
    fresh_until: float  # time.monotonic()


class AuthCache:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str, now: datetime) -> "Caller | None":
        if self.seconds <= 0:
            return None
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry.fresh_until < time.monotonic() or (
            entry.key_expires_at is not None and entry.key_expires_at <= now
        ):
            self._entries.pop(key_hash, None)
            return None
        return entry.caller

    def put(self, key_hash: str, caller: "Caller", key_expires_at: datetime | None) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key_hash] = _Entry(caller, key_expires_at, time.monotonic() + self.seconds)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

"""What every message asks, answered from memory: key -> caller, account -> allowed senders.

``token/verify``, ``senderId/check`` and the gateway read the same few rows on every
call: the key's row and account, and the account's active custom numbers and
approved business names (with their status on ACMA's register). :class:`SenderCache`
keeps them per process, and forgets

* at once in the process that made a change: the domain calls :meth:`forget` after
  the commit of every change that matters (a key revoked, an account changed, a
  number activated, deleted or cancelled, a business name decided or withdrawn, an
  approved name's ACMA status changed);
* within 100 ms in every other process: triggers in the database signal the channels
  :data:`SENDERS_CHANNEL` and :data:`KEYS_CHANNEL` (``NOTIFY`` on PostgreSQL, a counter row on SQLite, see
  :mod:`senderid.store.listen`) whatever wrote the change (a server, the CLI, SQL by
  hand), and the process's listener calls :meth:`on_signal`.

The cache serves nothing unless a listener is attached and live (:meth:`attach`): a
process that cannot hear other processes' changes (the CLI, a bare test context)
always reads the database. Entries also age out after ``max_age`` seconds
(``SENDERID_AUTH_CACHE_SECONDS``), a bound should a signal ever be lost.

A fill that raced an invalidation is dropped: each read notes the generation before
it goes to the database, and its result is kept only if no invalidation happened
meanwhile (otherwise a read that started before a commit could store the old state
after the commit's invalidation).

Unknown keys are never remembered (a new key works at once); an expiring key is
never served past its ``expires_at``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from senderid.domain.types import Caller

if TYPE_CHECKING:
    from senderid.store.listen import Listener

SENDERS_CHANNEL = "senderid_senders"  # an account's active numbers or approved names changed
KEYS_CHANNEL = "senderid_keys"  # an API key or an account changed


class Miss:
    """Not in memory: the answer needs the database."""

    def __repr__(self) -> str:
        return "MISS"


MISS = Miss()
MAX_KEYS = 10_000
MAX_ACCOUNTS = 10_000
MAX_SENDERS_PER_ACCOUNT = 1_000  # an account with more is not kept (each check queries)


@dataclass(frozen=True, slots=True)
class AllowedSenders:
    """An account's active custom numbers (E.164) and approved business names (by lower case)."""

    numbers: frozenset[str]
    names: dict[str, str]  # name_key -> businessname as approved
    registered: frozenset[str] = frozenset()  # the name_keys registered on ACMA's register


@dataclass(frozen=True, slots=True)
class _Key:
    caller: Caller
    expires_at: datetime | None
    fresh_until: float


@dataclass(frozen=True, slots=True)
class _Senders:
    allowed: AllowedSenders
    fresh_until: float


class SenderCache:
    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._keys: dict[str, _Key] = {}
        self._senders: dict[str, _Senders] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._listener: Listener | None = None

    # -- wiring ---------------------------------------------------------------------------

    def attach(self, listener: "Listener") -> None:
        """Trust memory while ``listener`` hears the database's change signals."""
        listener.subscribe(SENDERS_CHANNEL, self.on_signal)
        listener.subscribe(KEYS_CHANNEL, self.on_signal)
        self._listener = listener

    def on_signal(self, channel: str, payload: str | None) -> None:
        """A change signal: the payload names an account, None means any may have changed."""
        if channel == SENDERS_CHANNEL:
            self.forget_senders(payload or None)
        else:
            self.forget(payload or None)

    @property
    def enabled(self) -> bool:
        return self.max_age > 0 and self._listener is not None and self._listener.live

    # -- reads ----------------------------------------------------------------------------

    def generation(self) -> int:
        """Note this before reading the database; pass it to the ``put_`` call after."""
        return self._generation

    def caller(self, key_hash: str, now: datetime) -> Caller | None:
        if not self.enabled:
            return None
        entry = self._keys.get(key_hash)
        if entry is None:
            return None
        if entry.fresh_until < time.monotonic() or (entry.expires_at is not None and entry.expires_at <= now):
            self._keys.pop(key_hash, None)
            return None
        return entry.caller

    def senders(self, account_id: str) -> AllowedSenders | None:
        if not self.enabled:
            return None
        entry = self._senders.get(account_id)
        if entry is None:
            return None
        if entry.fresh_until < time.monotonic():
            self._senders.pop(account_id, None)
            return None
        return entry.allowed

    # -- fills ----------------------------------------------------------------------------

    def put_caller(self, key_hash: str, caller: Caller, expires_at: datetime | None, generation: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            if generation != self._generation:
                return
            if len(self._keys) >= MAX_KEYS:
                self._keys.clear()
            self._keys[key_hash] = _Key(caller, expires_at, time.monotonic() + self.max_age)

    def put_senders(self, account_id: str, allowed: AllowedSenders, generation: int) -> None:
        if not self.enabled or len(allowed.numbers) + len(allowed.names) > MAX_SENDERS_PER_ACCOUNT:
            return
        with self._lock:
            if generation != self._generation:
                return
            if len(self._senders) >= MAX_ACCOUNTS:
                self._senders.clear()
            self._senders[account_id] = _Senders(allowed, time.monotonic() + self.max_age)

    # -- invalidation ---------------------------------------------------------------------

    def forget_senders(self, account_id: str | None) -> None:
        """Drop the account's senders (every account's with None); keys are unchanged."""
        with self._lock:
            self._generation += 1
            if account_id is None:
                self._senders.clear()
            else:
                self._senders.pop(account_id, None)

    def forget(self, account_id: str | None = None) -> None:
        """Drop what is known about ``account_id`` (its keys and senders), or everything."""
        with self._lock:
            self._generation += 1
            if account_id is None:
                self._keys.clear()
                self._senders.clear()
                return
            self._senders.pop(account_id, None)
            for key_hash in [h for h, e in self._keys.items() if e.caller.account.id == account_id]:
                self._keys.pop(key_hash, None)

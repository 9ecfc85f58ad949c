"""What every message asks, answered from memory: key -> caller, (account, sender) -> answer.

``token/verify``, ``senderId/check`` and the gateway read the same few rows on every
call: the key's row and account, and whether the account may send as the sender asked
(an active custom number of the account, or an approved business name with its status on
ACMA's register). :class:`SenderCache` keeps them per process: callers by key hash, and
one answer per (account, sender), "may not" included, in a bounded least-recently-used
table (:data:`MAX_SENDER_ANSWERS`). An answer costs the same whatever the account holds:
a miss is one point query for that sender, never a read of the account's senders.

It forgets

* at once in the process that made a change: the domain calls :meth:`forget` or
  :meth:`forget_senders` after the commit of every change that matters (a key revoked, an
  account changed, a number activated, deleted or cancelled, a business name decided or
  withdrawn, an approved name's ACMA status changed): every answer of that account goes;
* within 100 ms in every other process: triggers in the database signal the channels
  :data:`SENDERS_CHANNEL` and :data:`KEYS_CHANNEL` (``NOTIFY`` on PostgreSQL, a counter row on SQLite, see
  :mod:`senderid.store.listen`) whatever wrote the change (a server, the CLI, SQL by
  hand), and the process's listener calls :meth:`on_signal`.

The cache serves nothing unless a listener is attached and live (:meth:`attach`): a
process that cannot hear other processes' changes (the CLI, a bare test context)
always reads the database. Entries also age out after ``max_age`` seconds
(``SENDERID_AUTH_CACHE_SECONDS``), a bound should a signal ever be lost.

A fill that raced an invalidation is dropped: each read notes a generation before it goes
to the database (:meth:`generation` for keys, :meth:`sender_generation` per account for
senders), and its result is kept only if no invalidation of it happened meanwhile
(otherwise a read that started before a commit could store the old state after the
commit's invalidation). A change to one account does not drop another account's fills.

Unknown keys are never remembered (a new key works at once); an expiring key is
never served past its ``expires_at``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
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
MAX_SENDER_ANSWERS = 50_000  # (account, sender) answers kept; the least recently used go first
MAX_ACCOUNT_GENERATIONS = 10_000  # accounts whose change count is kept (past it: all start over)


@dataclass(frozen=True, slots=True)
class Sender:
    kind: str  # shared | custom_number | business_name
    value: str  # what the SMS goes out as ("" = the provider's default)
    acma_registered: bool | None = None  # a business name: registered on ACMA's register
    # a business name: the providers that have authorised it there (empty: every provider)
    acma_providers: tuple[str, ...] = ()


# Where a sender's answer comes from: ``number`` (E.164) for a custom number, else
# ``name`` (the business name in lower case). Kinds apart, so no name can pass as a number.
def sender_key(number: str | None, name_key: str) -> str:
    return "n" + number if number is not None else "b" + name_key


@dataclass(frozen=True, slots=True)
class _Key:
    caller: Caller
    expires_at: datetime | None
    fresh_until: float


@dataclass(frozen=True, slots=True)
class _Answer:
    sender: Sender | None  # None: the account may not send as it
    fresh_until: float


SenderGeneration = tuple[int, int]  # (every account's, this account's)


class SenderCache:
    def __init__(self, max_age: float, *, max_sender_answers: int = MAX_SENDER_ANSWERS) -> None:
        self.max_age = max_age
        self.max_sender_answers = max_sender_answers
        self._keys: dict[str, _Key] = {}
        self._generation = 0
        # (account id, sender key) -> answer, least recently used first; and per account
        # the sender keys it holds there, so that forgetting an account touches only its own
        self._answers: OrderedDict[tuple[str, str], _Answer] = OrderedDict()
        self._held: dict[str, set[str]] = {}
        self._senders_generation = 0
        self._account_generations: dict[str, int] = {}
        self._lock = threading.Lock()
        self._listener: Listener | None = None

    # -- wiring ---------------------------------------------------------------------------

    def attach(self, listener: Listener) -> None:
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
        """Note this before reading a key from the database; pass it to :meth:`put_caller` after."""
        return self._generation

    def sender_generation(self, account_id: str) -> SenderGeneration:
        """Note this before reading a sender of ``account_id`` from the database; pass it to
        :meth:`put_sender` after."""
        return self._senders_generation, self._account_generations.get(account_id, 0)

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

    def sender(self, account_id: str, key: str) -> Sender | None | Miss:
        """The answer kept for ``key`` (:func:`sender_key`) in this account: the sender, None
        (it may not), or MISS (not known here)."""
        if not self.enabled:
            return MISS
        slot = (account_id, key)
        with self._lock:
            entry = self._answers.get(slot)
            if entry is None:
                return MISS
            if entry.fresh_until < time.monotonic():
                self._drop(slot)
                return MISS
            self._answers.move_to_end(slot)
            return entry.sender

    def holds_senders(self, account_id: str) -> bool:
        """Whether any answer of the account is kept (for tests and diagnostics)."""
        return account_id in self._held

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

    def put_sender(self, account_id: str, key: str, sender: Sender | None, generation: SenderGeneration) -> None:
        """Keep the database's answer, unless the account changed since ``generation``."""
        if not self.enabled:
            return
        with self._lock:
            if generation != (self._senders_generation, self._account_generations.get(account_id, 0)):
                return
            slot = (account_id, key)
            self._answers[slot] = _Answer(sender, time.monotonic() + self.max_age)
            self._answers.move_to_end(slot)
            self._held.setdefault(account_id, set()).add(key)
            while len(self._answers) > self.max_sender_answers:
                self._drop(next(iter(self._answers)))

    # -- invalidation ---------------------------------------------------------------------

    def forget_senders(self, account_id: str | None) -> None:
        """Drop the account's sender answers (every account's with None); keys are unchanged."""
        with self._lock:
            self._forget_senders(account_id)

    def forget(self, account_id: str | None = None) -> None:
        """Drop what is known about ``account_id`` (its keys and senders), or everything."""
        with self._lock:
            self._generation += 1
            self._forget_senders(account_id)
            if account_id is None:
                self._keys.clear()
                return
            for key_hash in [h for h, e in self._keys.items() if e.caller.account.id == account_id]:
                self._keys.pop(key_hash, None)

    # -- under the lock -------------------------------------------------------------------

    def _forget_senders(self, account_id: str | None) -> None:
        if account_id is None or len(self._account_generations) >= MAX_ACCOUNT_GENERATIONS:
            # every account starts over: the per-account counts can go with the answers
            self._senders_generation += 1
            self._account_generations.clear()
            self._answers.clear()
            self._held.clear()
            if account_id is None:
                return
        self._account_generations[account_id] = self._account_generations.get(account_id, 0) + 1
        for key in self._held.pop(account_id, ()):
            self._answers.pop((account_id, key), None)

    def _drop(self, slot: tuple[str, str]) -> None:
        self._answers.pop(slot, None)
        account_id, key = slot
        held = self._held.get(account_id)
        if held is not None:
            held.discard(key)
            if not held:
                del self._held[account_id]

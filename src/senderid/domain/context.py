"""What every domain function is given: the database, settings, clock, secret, caches.

(Who acts, :class:`~senderid.domain.types.Actor`, lives in :mod:`senderid.domain.types`.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from senderid.clock import Clock
from senderid.domain.senders import SenderCache
from senderid.routing import Routes
from senderid.settings import Settings
from senderid.store.db import Database
from senderid.store.listen import Listener


@dataclass
class Context:
    db: Database
    settings: Settings
    clock: Clock
    secret: bytes
    # Called after a commit that queued a message, so an in-process worker wakes up.
    on_enqueue: Callable[[], None] = field(default=lambda: None)
    senders: SenderCache = field(init=False)  # keys and allowed senders in memory
    idempotency_purged_at: datetime | None = None  # when this process last purged expired keys
    listener: Listener | None = None  # change signals from the database (runtime.start_listener)
    # The named providers and routes (SENDERID_ROUTES_FILE), or the single provider's.
    routes: Routes = None  # type: ignore[assignment]  # None: the single provider's, set in __post_init__

    def __post_init__(self) -> None:
        self.senders = SenderCache(self.settings.auth_cache_seconds)
        if self.routes is None:
            self.routes = Routes.single(self.settings)

"""What every domain function is given: the database, settings, clock, secret."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from senderid.clock import Clock
from senderid.domain.authcache import AuthCache
from senderid.settings import Settings
from senderid.store.db import Database


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, for the audit log: ``key:<key id>``, ``cli``, ``system``..."""

    name: str
    ip: str | None = None


CLI = Actor("cli")
SYSTEM = Actor("system")


@dataclass
class Context:
    db: Database
    settings: Settings
    clock: Clock
    secret: bytes
    # Called after a commit that queued a message, so an in-process worker wakes up.
    on_enqueue: Callable[[], None] = field(default=lambda: None)
    auth_cache: AuthCache = field(init=False)

    def __post_init__(self) -> None:
        self.auth_cache = AuthCache(self.settings.auth_cache_seconds)

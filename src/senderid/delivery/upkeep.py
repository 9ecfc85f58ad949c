"""What a delivery worker does beside SMS, in its webhook thread: account webhook events
(:mod:`senderid.delivery.webhooks`), the housekeeping every HOUSEKEEPING_SECONDS and the
right-of-use tick every RIGHT_OF_USE_SECONDS. :class:`Upkeep` is a part of
:class:`senderid.delivery.worker.Worker`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from senderid.clock import Clock
from senderid.delivery import webhooks
from senderid.domain import custom_numbers, retention
from senderid.settings import Settings
from senderid.store.db import Database

log = logging.getLogger("senderid.worker")

HOUSEKEEPING_SECONDS = 300.0  # how often a running worker blanks old bodies and purges expired rows
RIGHT_OF_USE_SECONDS = 1.0  # how often it looks for notices, lapses, releases and claims due


class Upkeep:
    """The webhook loop and the periodic rounds of a worker."""

    db: Database
    settings: Settings
    clock: Clock
    webhooks: webhooks.Dispatcher
    forget_senders: Callable[[str], None] | None
    _webhooks_wake: threading.Event
    _swept_before: datetime | None
    _next_sweep: float
    _next_tick: float

    def housekeep(self) -> retention.Swept:
        """One round of housekeeping (:mod:`senderid.domain.retention`): blank the text of
        messages that ended more than SENDERID_MESSAGE_BODY_RETENTION_DAYS ago, purge
        expired Idempotency-Key records and spent limit rows, and, when set, delete ended
        messages and audit events past SENDERID_MESSAGE_RETENTION_DAYS /
        SENDERID_AUDIT_RETENTION_DAYS."""
        swept = retention.sweep(self.db, self.clock.now(),
                                retention_days=self.settings.message_body_retention_days,
                                since=self._swept_before,
                                message_retention_days=self.settings.message_retention_days,
                                audit_retention_days=self.settings.audit_retention_days)
        if swept.blanked_before is not None:
            self._swept_before = swept.blanked_before
        purged = swept.purged or retention.Purged()
        if (swept.bodies_blanked or swept.inbound_blanked or swept.idempotency_keys or swept.limit_rows
                or purged.messages or purged.audit_events):
            log.info("housekeeping", extra={"bodies_blanked": swept.bodies_blanked,
                                            "inbound_blanked": swept.inbound_blanked,
                                            "idempotency_keys": swept.idempotency_keys,
                                            "limit_rows": swept.limit_rows,
                                            "messages_deleted": purged.messages,
                                            "audit_events_deleted": purged.audit_events})
        return swept

    def right_of_use(self) -> custom_numbers.Ticked:
        """One right-of-use tick (:mod:`senderid.domain.custom_numbers.timed`): what is due, at once
        in this process's sender cache; one indexed query when nothing is."""
        ticked = custom_numbers.tick(self.db, self.settings, self.clock.now(), forget=self.forget_senders)
        if ticked != custom_numbers.Ticked():
            log.info("right of use", extra={"noticed": ticked.noticed, "lapsed": ticked.lapsed,
                                            "released": ticked.released, "reclaimed": ticked.reclaimed})
        return ticked

    def _run_webhooks(self, stop: threading.Event) -> None:
        """The webhook loop, which also runs the housekeeping every HOUSEKEEPING_SECONDS and
        the right-of-use tick every RIGHT_OF_USE_SECONDS (after bringing the numbers'
        schedules in line with the settings, once)."""
        try:
            changed = custom_numbers.reconcile(self.db, self.settings, self.clock.now())
            if changed:
                log.info("re-verification schedules computed", extra={"numbers": changed})
        except Exception:
            log.exception("computing re-verification schedules failed; the tick goes on")
        while not stop.is_set():
            if time.monotonic() >= self._next_tick:
                self._next_tick = time.monotonic() + RIGHT_OF_USE_SECONDS
                try:
                    self.right_of_use()
                except Exception:
                    log.exception("right-of-use tick failed; trying again shortly")
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + HOUSEKEEPING_SECONDS
                try:
                    self.housekeep()
                except Exception:
                    log.exception("housekeeping failed; trying again later")
            try:
                handled = self.webhooks.run_once()
            except Exception:
                log.exception("webhook loop failed; retrying")
                handled = 0
            if handled == 0:
                self._webhooks_wake.wait(min(self.settings.worker_poll_seconds,
                                             max(0.001, self._next_tick - time.monotonic())))
                self._webhooks_wake.clear()

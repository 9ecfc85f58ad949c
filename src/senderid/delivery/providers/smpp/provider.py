"""SmppProvider: the synchronous, thread-safe ``send`` over ``binds`` windowed sessions."""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from smpplib import consts

from senderid import sms_parts as _segments
from senderid.delivery.providers.base import (
    OutgoingSms,
    PermanentError,
    ProviderError,
    SendResult,
    TransientError,
)
from senderid.delivery.providers.smpp.bind import Bind
from senderid.delivery.providers.smpp.protocol import (
    NAME,
    THROTTLE_STATUSES,
    SubmitSm,
    address,
    status_error,
    submit_sm_body,
    text,
)
from senderid.delivery.providers.smpp.receipts import (
    MESSAGE_STATES,
    PartGroup,
    ReceiptBook,
    parse_receipt,
    receipt_done_at,
)
from senderid.delivery.providers.smpp.session import Sequences, Session

log = logging.getLogger("senderid.delivery.smpp")

# (provider message id, status, the receipt's done date or None); what it answers is not used
ReceiptCallback = Callable[[str, str, datetime | None], object]
InboundCallback = Callable[[str, str, str], object]  # (from, to, text) of a mobile-originated SMS


class SmppProvider:
    """SMPP 3.4 over ``binds`` transceiver sessions, each with ``window`` submits outstanding.

    ``send`` may be called from many threads at once; ``max_in_flight`` (window x binds)
    is how many of them can be served at the same time, the rest wait for a slot.
    A send that meets ``ESME_RTHROTTLED``/``ESME_RMSGQFUL`` waits for its bind's back-off
    and submits the part again; when the SMSC keeps throttling it for ``throttle_limit``
    seconds (default: ``timeout``) it raises TransientError with ``retry_after``.
    """

    name = NAME

    def __init__(
        self,
        host: str,
        port: int,
        system_id: str,
        password: str,
        system_type: str = "",
        timeout: float = 10.0,
        on_receipt: ReceiptCallback | None = None,
        on_inbound: InboundCallback | None = None,
        enquire_link_interval: float = 30.0,
        window: int = 10,
        binds: int = 1,
        throttle_limit: float | None = None,
        throttle_backoff: float = 0.05,
        throttle_backoff_max: float = 1.0,
    ) -> None:
        # SMPP 3.4 §4.1.1: C-octet strings of at most 16, 9 and 13 octets with the NUL.
        for field, value, limit in (("system_id", system_id, 15), ("password", password, 8),
                                    ("system_type", system_type, 12)):
            if len(value.encode()) > limit:
                raise ValueError(f"SMPP {field} is longer than {limit} characters")
        if window < 1 or binds < 1:
            raise ValueError("SMPP window and binds must be at least 1")
        if not 0 < throttle_backoff <= throttle_backoff_max:
            raise ValueError("SMPP throttle back-off must be positive and at most its maximum")
        self._bind_fields = {"system_id": system_id, "password": password,
                             "system_type": system_type, "addr_ton": 0, "addr_npi": 0,
                             "address_range": ""}
        self._timeout = timeout
        self._interval = enquire_link_interval
        self._throttle_limit = timeout if throttle_limit is None else throttle_limit
        self._retry_after = throttle_backoff_max
        self._on_receipt = on_receipt
        self._on_inbound = on_inbound
        self._sequences = Sequences()
        self._references = itertools.count(1)
        self._receipts = ReceiptBook()
        self._turn = itertools.count()
        self._choose_lock = threading.Lock()  # a bind's choice and its count of sends
        self._binds = [
            Bind(i, host, port, timeout, window, self._new_session, self._bind_session,
                 throttle_backoff, throttle_backoff_max)
            for i in range(binds)
        ]
        self.window = window
        self.max_in_flight: int | None = window * binds
        self._closed = False
        self._close_lock = threading.Lock()

    # the worker's interface -------------------------------------------------------------

    def connect(self) -> None:
        """Bind every session now instead of on first use (so receipts can arrive at once)."""
        errors: list[ProviderError] = []
        for bind in self._binds:
            try:
                bind.ensure_session()
            except ProviderError as error:
                errors.append(error)
        if len(errors) == len(self._binds):
            raise errors[0]

    def send(self, sms: OutgoingSms) -> SendResult:
        source = address(sms.sender)
        destination = address(sms.to)
        try:
            segments = _segments.split(sms.body, next(self._references) % 256)
        except _segments.MessageTooLong as exc:
            raise PermanentError(f"{NAME}: {exc}") from None
        bind = self._choose()
        try:
            return self._send_on(bind, source, destination, segments)
        finally:
            with self._choose_lock:
                bind.sends -= 1

    def _send_on(self, bind: Bind, source: tuple[int, int, str], destination: tuple[int, int, str],
                 segments: _segments.Segments) -> SendResult:
        """Submit the message's parts one after another, in order, on this one bind."""
        group = PartGroup(len(segments.parts))

        def note_part(response: Any) -> None:  # before any receipt for it can be read
            if response.status == consts.SMPP_ESME_ROK and group.total > 1:
                self._receipts.add_part(group, text(response.message_id))

        session: Session | None = None
        throttled_since: float | None = None
        last_status = consts.SMPP_ESME_RTHROTTLED
        ids: list[str] = []
        for part in segments.parts:
            body = submit_sm_body(source, destination, segments.esm_class, segments.data_coding,
                                  part)
            while True:
                now = time.monotonic()
                deadline = now + self._timeout
                if throttled_since is not None:
                    deadline = min(deadline, throttled_since + self._throttle_limit)
                if not bind.acquire(deadline, urgent=bool(ids) or throttled_since is not None):
                    if throttled_since is not None:
                        raise self._still_throttled(last_status)
                    raise TransientError(
                        f"{NAME}: no free submit_sm window slot within {self._timeout:g}s")
                sent_at, status, response = time.monotonic(), None, None
                try:
                    if session is None:  # the first part: (re)bind if the session died
                        session = bind.ensure_session()
                    elif not session.alive:
                        raise TransientError(f"{NAME}: the connection to the SMSC was lost")
                    pdu = SubmitSm(session.next_sequence(), body)
                    response = session.request(pdu, self._timeout, note_part)
                    status = response.status
                finally:
                    bind.release(status, sent_at)
                if status == consts.SMPP_ESME_ROK:
                    break
                if status not in THROTTLE_STATUSES:
                    raise status_error("submit_sm", status)
                last_status = status
                if throttled_since is None:
                    throttled_since = time.monotonic()
                if time.monotonic() - throttled_since >= self._throttle_limit:
                    raise self._still_throttled(status)
            ids.append(text(response.message_id))
        return SendResult(ids[0] or None)

    def close(self) -> None:
        with self._close_lock:
            self._closed = True
        for bind in self._binds:
            bind.close(grace=min(self._timeout, 2.0))

    def binds_state(self) -> list[dict[str, Any]]:
        """Each bind's session, window and load (for logs, metrics and tests)."""
        return [bind.state() for bind in self._binds]

    # internals --------------------------------------------------------------------------

    def _choose(self) -> Bind:
        """The least loaded bind that is bound or may try binding now; ties in turn.

        The choice and its count on the bind (``Bind.sends``, taken back when the send
        ends) are made under one lock, so sends choosing at the same moment see each other.
        """
        if self._closed:
            raise TransientError(f"{NAME}: the provider is closed")
        binds = self._binds
        with self._choose_lock:
            start = next(self._turn) % len(binds)
            now = time.monotonic()
            ordered = binds[start:] + binds[:start]
            usable = [b for b in ordered if b.alive or now >= b.retry_connect_at]
            if usable:
                best = min(usable, key=Bind.load)
            else:  # every bind failed to connect lately: try the one due first
                best = min(ordered, key=lambda b: b.retry_connect_at)
            best.sends += 1
        if best.alive or not usable or len(binds) == 1:
            return best
        try:  # bind it now, here, so that a bind refused by the SMSC is not chosen again
            best.ensure_session()
            return best
        except ProviderError as error:
            with self._choose_lock:
                best.sends -= 1
                alive = [b for b in usable if b.alive]
                if not alive:
                    raise
                other = min(alive, key=Bind.load)
                other.sends += 1
            log.warning("SMPP bind %d could not bind (%s); using the others", best.index,
                        error.reason)
            return other
        except BaseException:
            with self._choose_lock:
                best.sends -= 1
            raise

    def _still_throttled(self, status: int) -> ProviderError:
        return status_error(
            "submit_sm", status, retry_after=self._retry_after,
            note=f"; still throttled after {self._throttle_limit:g}s")

    def _new_session(self, sock: socket.socket, name: str) -> Session:
        return Session(sock, self._sequences, self._timeout, self._interval, self._deliver,
                       name=name)

    def _bind_session(self, session: Session) -> None:
        response = session.request(session.make("bind_transceiver", **self._bind_fields),
                                   self._timeout)
        if response.command != "bind_transceiver_resp" or response.status != consts.SMPP_ESME_ROK:
            raise status_error("bind_transceiver", response.status or consts.SMPP_ESME_RBINDFAIL)

    def _deliver(self, pdu: Any) -> None:
        """A deliver_sm: hand a delivery receipt on, or a mobile-originated text (a reply)."""
        message_type = (pdu.esm_class or 0) & 0x3C
        receipted = text(getattr(pdu, "receipted_message_id", None))
        if message_type not in (0x04, 0x08, 0x20) and not receipted:
            if self._on_inbound is not None:
                self._on_inbound(_address(pdu.source_addr, pdu.source_addr_ton),
                                 _address(pdu.destination_addr, pdu.dest_addr_ton),
                                 _decode(pdu.data_coding or 0, pdu.short_message or b""))
            return
        done_at = None
        try:
            message_id, status = parse_receipt(pdu.short_message or b"")
            done_at = receipt_done_at(pdu.short_message or b"")
        except ValueError:
            state = getattr(pdu, "message_state", None)
            if not receipted or state is None:
                log.warning("unreadable delivery receipt")
                return
            message_id, status = receipted, MESSAGE_STATES.get(state, "sent")
        report = self._receipts.resolve(receipted or message_id, status, done_at)
        if report is not None and self._on_receipt is not None:
            self._on_receipt(*report)


def _address(value: bytes | str | None, ton: int | None) -> str:
    """An SMPP address as senderid writes numbers: international ones with ``+``."""
    address = text(value)
    return f"+{address}" if ton == 1 and address.isdigit() else address


def _decode(data_coding: int, data: bytes | str) -> str:
    """A short_message's text: UCS-2 (data_coding 8), else one octet per character
    (GSM 03.38 default alphabet and Latin-1 agree on letters, digits and spaces)."""
    if isinstance(data, str):
        return data
    if data_coding == 8:
        return data.decode("utf-16-be", "replace")
    return data.decode("latin-1", "replace")

"""The ``smpp`` provider: an SMPP 3.4 transceiver session to an SMSC.

PDUs are encoded and decoded by ``smpplib``; this module owns the socket, so that one
reader thread can take every PDU the SMSC sends:

* the session is bound lazily (``bind_transceiver``) on the first send, or by
  :meth:`SmppProvider.connect`, and kept: a send on a dead session binds a new one;
* each text becomes one or more ``submit_sm`` (GSM 7-bit or UCS-2, concatenated with
  a UDH when long; see :mod:`._segments`), each waiting for its ``submit_sm_resp``;
* an idle session sends ``enquire_link`` every ``enquire_link_interval`` seconds and is
  dropped when nothing answers within ``timeout``; the SMSC's own ``enquire_link`` and
  ``unbind`` are answered;
* ``deliver_sm`` delivery receipts go to ``on_receipt(provider_message_id, status)``
  (status ``sent``, ``delivered`` or ``failed``), called on the reader thread.

A message split in parts returns the first part's id; its parts' receipts are folded
into one: ``failed`` as soon as a part fails, ``delivered`` when every part is.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import selectors
import socket
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from smpplib import consts, exceptions, smpp

from senderid.delivery.providers import _segments
from senderid.delivery.providers.base import (
    OutgoingSms,
    PermanentError,
    ProviderError,
    SendResult,
    TransientError,
)

NAME = "smpp"
log = logging.getLogger("senderid.delivery.smpp")

ReceiptCallback = Callable[[str, str], None]

TON_UNKNOWN, TON_INTERNATIONAL, TON_ALPHANUMERIC = 0x00, 0x01, 0x05
NPI_UNKNOWN, NPI_ISDN = 0x00, 0x01
REGISTERED_DELIVERY_RECEIPT = 0x01  # SMSC receipt on final success or failure
MAX_PDU_LENGTH = 65536
MAX_ALPHA_SENDER = 11

# command_status values worth retrying (SMPP 3.4 §5.1.3); every other error is final.
TRANSIENT_STATUSES = frozenset({
    consts.SMPP_ESME_RINVBNDSTS,  # session not bound (any more)
    consts.SMPP_ESME_RALYBND,
    consts.SMPP_ESME_RSYSERR,
    consts.SMPP_ESME_RMSGQFUL,
    consts.SMPP_ESME_RSUBMITFAIL,
    consts.SMPP_ESME_RTHROTTLED,
    consts.SMPP_ESME_RX_T_APPN,
    consts.SMPP_ESME_RUNKNOWNERR,
})
_STATUS_NAMES = {
    value: name.removeprefix("SMPP_")
    for name, value in vars(consts).items()
    if name.startswith("SMPP_ESME_R") and isinstance(value, int)
}


# -- delivery receipts (SMPP 3.4 Appendix B) ----------------------------------------------

_RECEIPT_ID = re.compile(r"(?:^|\s)id:(\S+)", re.IGNORECASE)
_RECEIPT_STAT = re.compile(r"(?:^|\s)stat:(\S+)", re.IGNORECASE)
_RECEIPT_TEXT = re.compile(r"\stext:", re.IGNORECASE)
_FINAL_STATES = {"DELIV": "delivered", "EXPIR": "failed", "DELET": "failed",
                 "UNDEL": "failed", "REJEC": "failed"}
_MESSAGE_STATES = {2: "delivered", 3: "failed", 4: "failed", 5: "failed", 8: "failed"}


def receipt_status(stat: str) -> str:
    """Our status for a receipt ``stat`` (DELIVRD, UNDELIV, ...): sent/delivered/failed."""
    return _FINAL_STATES.get(stat.upper()[:5], "sent")


def parse_receipt(short_message: bytes | str) -> tuple[str, str]:
    """``(message_id, status)`` of a receipt text ``id:... sub:... stat:DELIVRD ...``.

    Raises ValueError when the text is not a delivery receipt.
    """
    text = short_message.decode("latin-1") if isinstance(short_message, bytes) else short_message
    head = _RECEIPT_TEXT.split(text, maxsplit=1)[0]
    found_id, found_stat = _RECEIPT_ID.search(head), _RECEIPT_STAT.search(head)
    if not found_id or not found_stat:
        raise ValueError("not a delivery receipt")
    return found_id.group(1), receipt_status(found_stat.group(1))


class _Group:
    """The parts of one long message, as their submit_sm_resp come in."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.head: str | None = None  # the first part's id: the message's id
        self.delivered: set[str] = set()
        self.done = False


class _ReceiptBook:
    """Folds the receipts of a long message's parts into one receipt for its first id."""

    def __init__(self, limit: int = 50_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._parts: OrderedDict[str, _Group] = OrderedDict()

    def add_part(self, group: _Group, part_id: str) -> None:
        with self._lock:
            group.head = group.head or part_id
            self._parts[part_id] = group
            while len(self._parts) > self._limit:
                self._parts.popitem(last=False)

    def resolve(self, part_id: str, status: str) -> tuple[str, str] | None:
        """The receipt to report for a part's receipt, or None while parts are pending."""
        with self._lock:
            group = self._parts.get(part_id)
            if group is None:
                return part_id, status
            if group.done or group.head is None:
                return None
            if status == "failed":
                group.done = True
                return group.head, "failed"
            if status == "delivered":
                group.delivered.add(part_id)
                if len(group.delivered) == group.total:
                    group.done = True
                    return group.head, "delivered"
            return None


# -- addresses (SMPP 3.4 §5.2.5, §5.2.6) ---------------------------------------------------

def address(value: str) -> tuple[int, int, str]:
    """``(ton, npi, addr)``: E.164 is international/ISDN, letters are alphanumeric."""
    if not value:
        return TON_UNKNOWN, NPI_UNKNOWN, ""
    if value.startswith("+") and value[1:].isdigit():
        return TON_INTERNATIONAL, NPI_ISDN, value[1:]
    if value.isdigit():
        return TON_UNKNOWN, NPI_ISDN, value
    if len(value) > MAX_ALPHA_SENDER:
        raise PermanentError(f"{NAME}: alphanumeric sender longer than {MAX_ALPHA_SENDER} characters")
    return TON_ALPHANUMERIC, NPI_UNKNOWN, value


def status_error(action: str, status: int) -> ProviderError:
    """The error for a ``*_resp`` whose command_status is not ESME_ROK."""
    label = _STATUS_NAMES.get(status, "vendor-specific error")
    description = consts.DESCRIPTIONS.get(status, "")
    reason = f"{NAME}: {action} refused with 0x{status:08X} {label}"
    reason += f" ({description})" if description else ""
    if status in TRANSIENT_STATUSES:
        return TransientError(reason)
    return PermanentError(reason)


# -- the session --------------------------------------------------------------------------

class _Sequences:
    """Sequence numbers 1..0x7FFFFFFF (§3.2), shared by threads; smpplib's ``client``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sequence = 0

    def next_sequence(self) -> int:
        with self._lock:
            self.sequence = self.sequence % 0x7FFFFFFF + 1
            return self.sequence


class _Waiter:
    def __init__(self, on_response: Callable[[Any], None] | None) -> None:
        self.done = threading.Event()
        self.response: Any = None
        self.on_response = on_response  # run on the reader thread, before the next PDU


class _Session:
    """One TCP connection: a reader thread, and requests waiting for their responses."""

    def __init__(
        self,
        sock: socket.socket,
        sequences: _Sequences,
        timeout: float,
        enquire_link_interval: float,
        on_deliver: Callable[[Any], None],
    ) -> None:
        self._sock = sock
        self._sequences = sequences
        self._timeout = timeout
        self._interval = enquire_link_interval
        self._on_deliver = on_deliver
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._pending: dict[int, _Waiter] = {}
        self._parse_sequences = _Sequences()
        self.alive = True
        self._reader = threading.Thread(target=self._read_loop, name="smpp-reader", daemon=True)
        self._reader.start()

    # requests -------------------------------------------------------------------------

    def make(self, command: str, **fields: Any) -> Any:
        return smpp.make_pdu(command, client=self._sequences, **fields)

    def request(
        self, pdu: Any, timeout: float, on_response: Callable[[Any], None] | None = None
    ) -> Any:
        """Send ``pdu`` and wait for its response; TransientError if none comes."""
        waiter = _Waiter(on_response)
        with self._lock:
            if not self.alive:
                raise TransientError(f"{NAME}: the connection to the SMSC was lost")
            self._pending[pdu.sequence] = waiter
        try:
            self.write(pdu)
            if not waiter.done.wait(timeout):
                self.kill()  # a silent SMSC is not trusted with the next message
                raise TransientError(f"{NAME}: no {pdu.command}_resp within {timeout:g}s")
        finally:
            with self._lock:
                self._pending.pop(pdu.sequence, None)
        if waiter.response is None:
            raise TransientError(f"{NAME}: the connection to the SMSC was lost during {pdu.command}")
        return waiter.response

    def write(self, pdu: Any) -> None:
        data = pdu.generate()
        try:
            with self._write_lock:
                self._sock.sendall(data)
        except OSError:
            self.kill()
            raise TransientError(f"{NAME}: the connection to the SMSC was lost") from None

    def respond(self, request_sequence: int, command: str, status: int = 0, **fields: Any) -> None:
        pdu = self.make(command, status=status, **fields)
        pdu.sequence = request_sequence
        self.write(pdu)

    def close(self, grace: float) -> None:
        """Unbind politely (waiting at most ``grace`` seconds), then disconnect."""
        if self.alive:
            with contextlib.suppress(ProviderError):
                self.request(self.make("unbind"), grace)
        self.kill()
        self._reader.join(grace + 1.0)

    def kill(self) -> None:
        """Stop the session; the reader thread wakes up, fails waiters and closes."""
        self.alive = False
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    # reader ---------------------------------------------------------------------------

    def _read_loop(self) -> None:
        probe_deadline: float | None = None
        selector = selectors.DefaultSelector()
        try:
            selector.register(self._sock, selectors.EVENT_READ)
            while self.alive:
                wait = self._interval if probe_deadline is None else probe_deadline - time.monotonic()
                if not selector.select(max(wait, 0.0)):
                    if probe_deadline is not None:
                        log.warning("SMSC did not answer enquire_link; dropping the session")
                        return
                    self.write(self.make("enquire_link"))
                    probe_deadline = time.monotonic() + self._timeout
                    continue
                raw = self._read_pdu()
                if raw is None:
                    return
                probe_deadline = None
                self._dispatch(raw)
        except (OSError, ValueError, ProviderError) as exc:
            if self.alive:
                log.warning("SMPP session ended: %s", type(exc).__name__)
        except Exception:  # never let the reader die silently with a session that looks alive
            log.exception("SMPP reader failed")
        finally:
            selector.close()
            self._finish()

    def _read_exact(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = self._sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _read_pdu(self) -> bytes | None:
        head = self._read_exact(4)
        if head is None:
            return None
        (length,) = struct.unpack(">I", head)
        if not 16 <= length <= MAX_PDU_LENGTH:
            raise ValueError(f"bad command_length {length}")
        rest = self._read_exact(length - 4)
        return None if rest is None else head + rest

    def _dispatch(self, raw: bytes) -> None:
        _, command_id, _, sequence = struct.unpack(">IIII", raw[:16])
        try:
            pdu = smpp.parse_pdu(raw, client=self._parse_sequences, allow_unknown_opt_params=True)
        except (exceptions.UnknownCommandError, struct.error, IndexError, ValueError):
            pdu = None
        if command_id & 0x80000000:  # a response: wake whoever waits for it
            with self._lock:
                waiter = self._pending.get(sequence)
            if waiter is not None and pdu is not None:
                waiter.response = pdu
                if waiter.on_response is not None:
                    waiter.on_response(pdu)
                waiter.done.set()
            return
        if pdu is None:
            self.respond(sequence, "generic_nack", consts.SMPP_ESME_RINVCMDID)
        elif pdu.command == "enquire_link":
            self.respond(sequence, "enquire_link_resp")
        elif pdu.command == "unbind":
            self.respond(sequence, "unbind_resp")
            self.alive = False
        elif pdu.command == "deliver_sm":
            status = consts.SMPP_ESME_ROK
            try:
                self._on_deliver(pdu)
            except Exception:  # the SMSC will deliver it again
                log.exception("handling a deliver_sm failed")
                status = consts.SMPP_ESME_RX_T_APPN
            self.respond(sequence, "deliver_sm_resp", status)
        else:
            self.respond(sequence, "generic_nack", consts.SMPP_ESME_RINVCMDID)

    def _finish(self) -> None:
        self.alive = False
        with self._lock:
            waiters = list(self._pending.values())
        for waiter in waiters:
            waiter.done.set()  # response stays None: the connection was lost
        with contextlib.suppress(OSError):
            self._sock.close()


# -- the provider -------------------------------------------------------------------------

class SmppProvider:
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
        enquire_link_interval: float = 30.0,
    ) -> None:
        # SMPP 3.4 §4.1.1: C-octet strings of at most 16, 9 and 13 octets with the NUL.
        for field, value, limit in (("system_id", system_id, 15), ("password", password, 8),
                                    ("system_type", system_type, 12)):
            if len(value.encode()) > limit:
                raise ValueError(f"SMPP {field} is longer than {limit} characters")
        self._host, self._port = host, port
        self._bind_fields = {"system_id": system_id, "password": password,
                             "system_type": system_type, "addr_ton": 0, "addr_npi": 0,
                             "address_range": ""}
        self._timeout = timeout
        self._interval = enquire_link_interval
        self._on_receipt = on_receipt
        self._sequences = _Sequences()
        self._references = itertools.count(1)
        self._receipts = _ReceiptBook()
        self._lock = threading.Lock()  # one send (or bind) at a time
        self._session: _Session | None = None
        self._closed = False

    def connect(self) -> None:
        """Bind now instead of on the first send (so receipts can arrive at once)."""
        with self._lock:
            self._ensure_session()

    def send(self, sms: OutgoingSms) -> SendResult:
        source = address(sms.sender)
        destination = address(sms.to)
        try:
            segments = _segments.split(sms.body, next(self._references) % 256)
        except _segments.MessageTooLong as exc:
            raise PermanentError(f"{NAME}: {exc}") from None
        group = _Group(len(segments.parts))

        def note_part(response: Any) -> None:  # before any receipt for it can be read
            if response.status == consts.SMPP_ESME_ROK and group.total > 1:
                self._receipts.add_part(group, _text(response.message_id))

        with self._lock:
            session = self._ensure_session()
            ids: list[str] = []
            for part in segments.parts:
                pdu = session.make(
                    "submit_sm",
                    service_type="",
                    source_addr_ton=source[0], source_addr_npi=source[1], source_addr=source[2],
                    dest_addr_ton=destination[0], dest_addr_npi=destination[1],
                    destination_addr=destination[2],
                    esm_class=segments.esm_class,
                    registered_delivery=REGISTERED_DELIVERY_RECEIPT,
                    data_coding=segments.data_coding,
                    short_message=part,
                )
                response = session.request(pdu, self._timeout, note_part)
                if response.status != consts.SMPP_ESME_ROK:
                    raise status_error("submit_sm", response.status)
                ids.append(_text(response.message_id))
        return SendResult(ids[0] or None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            session, self._session = self._session, None
        if session is not None:
            session.close(grace=min(self._timeout, 2.0))

    # internals --------------------------------------------------------------------------

    def _ensure_session(self) -> _Session:
        if self._closed:
            raise TransientError(f"{NAME}: the provider is closed")
        if self._session is not None and self._session.alive:
            return self._session
        self._session = None
        try:
            sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
        except OSError as exc:
            raise TransientError(
                f"{NAME}: cannot connect to {self._host}:{self._port} ({exc.strerror or type(exc).__name__})"
            ) from None
        session = _Session(sock, self._sequences, self._timeout, self._interval, self._deliver)
        try:
            response = session.request(session.make("bind_transceiver", **self._bind_fields),
                                       self._timeout)
        except TransientError:
            session.kill()
            raise
        if response.command != "bind_transceiver_resp" or response.status != consts.SMPP_ESME_ROK:
            session.kill()
            raise status_error("bind_transceiver", response.status or consts.SMPP_ESME_RBINDFAIL)
        self._session = session
        return session

    def _deliver(self, pdu: Any) -> None:
        """A deliver_sm: hand a delivery receipt on; mobile-originated texts are ignored."""
        message_type = (pdu.esm_class or 0) & 0x3C
        receipted = _text(getattr(pdu, "receipted_message_id", None))
        if message_type not in (0x04, 0x08, 0x20) and not receipted:
            log.info("ignoring a mobile-originated deliver_sm")
            return
        try:
            message_id, status = parse_receipt(pdu.short_message or b"")
        except ValueError:
            state = getattr(pdu, "message_state", None)
            if not receipted or state is None:
                log.warning("unreadable delivery receipt")
                return
            message_id, status = receipted, _MESSAGE_STATES.get(state, "sent")
        report = self._receipts.resolve(receipted or message_id, status)
        if report is not None and self._on_receipt is not None:
            self._on_receipt(*report)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value

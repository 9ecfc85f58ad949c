"""A small test SMSC speaking SMPP 3.4 over TCP on 127.0.0.1, built on smpplib's PDU codec.

No SMSC could be installed from PyPI or Debian that starts in a test (Debian ships only
client libraries, libsmpp34 and Net::SMPP), so this one is written for the tests. It
checks, per the SMPP 3.4 specification (Issue 1.2):

* §3.2 the PDU header: command_length framing, sequence_number 1..0x7FFFFFFF, and
  responses that echo the request's sequence_number;
* §4.1.5/4.1.6 bind_transceiver: system_id and password (ESME_RINVSYSID,
  ESME_RINVPASWD), interface_version 0x34, no second bind (ESME_RALYBND);
  bind_transceiver_resp with system_id and the sc_interface_version TLV;
* §4.4.1/4.4.2 submit_sm only when bound (ESME_RINVBNDSTS); §5.2.5/5.2.6 TON/NPI:
  international/ISDN (1/1) addresses are digits without '+', alphanumeric (5/0)
  sources are 1-11 characters (ESME_RINVSRCTON/NPI/ADR, ESME_RINVDSTTON/NPI/ADR);
  §5.2.12 esm_class UDHI (0x40) requires a concatenation UDH (IEI 0x00, length 3)
  (ESME_RINVESMCLASS); §5.2.19 data_coding 0 (GSM 7-bit, one septet per octet) or 8
  (UCS-2); sm_length equal to the short_message length; a message_id per submit_sm;
* §4.6.1 deliver_sm receipts: esm_class 0x04, the Appendix B text
  ``id:... sub:... dlvrd:... submit date:... done date:... stat:... err:... text:...``
  and the receipted_message_id / message_state TLVs (§5.3.2.12, §5.3.2.35);
* §4.11 enquire_link both ways, §4.2 unbind, §4.3 generic_nack (ESME_RINVCMDID).

Faults: ``refuse(status)`` (a submit_sm_resp error), ``stall(seconds)``, ``drop()``
(close on the next submit_sm without answering) and ``disconnect_all()`` (idle drop).

Windowing: with ``answer_delay`` each ``submit_sm_resp`` is sent that many seconds after
its ``submit_sm`` while the connection keeps reading, so many submits are outstanding at
once; ``max_outstanding`` records the most seen on one connection. ``max_window`` makes
the SMSC refuse, with ``ESME_RMSGQFUL``, a submit beyond that many outstanding;
``throttle_for(seconds)`` answers ``ESME_RTHROTTLED`` to every submit for a while;
``ignore(times)`` reads the next submits and never answers them (the connection stays).
``hold_bind(connection)`` answers that connection's bind_transceiver only once the
returned event is set (a session that is still binding while others work).
Segments are reassembled into :class:`Message` objects (text decoded with smpplib's own
GSM table, independent from the provider's encoder).
"""

from __future__ import annotations

import contextlib
import heapq
import socket
import socketserver
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from smpplib import command_codes, consts, smpp
from smpplib.gsm import GSM_CHARACTER_TABLE

LOOPBACK = "127.0.0.1"
MAX_PDU = 65536


@dataclass
class Submit:
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes
    message_id: str | None = None
    status: int = 0
    connection: int = 0  # which ESME connection (bind) it came on, in order of connecting
    answered: bool = True
    system_type: str = ""  # of the bind it came on (tells apart the ESMEs of one system_id)
    fault: str | None = None  # the injected fault this submit_sm met ("status", "stall", "drop")


@dataclass
class Message:
    source_addr_ton: int
    source_addr: str
    destination_addr: str
    data_coding: int
    text: str
    message_ids: list[str] = field(default_factory=list)
    system_type: str = ""  # of the bind its parts came on


class _Sequences:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sequence = 0

    def next_sequence(self) -> int:
        with self._lock:
            self.sequence = self.sequence % 0x7FFFFFFF + 1
            return self.sequence


def decode_text(data_coding: int, data: bytes) -> str:
    if data_coding == consts.SMPP_ENCODING_ISO10646:
        return data.decode("utf-16-be")
    chars, escaped = [], False
    for octet in data:
        if octet == 0x1B and not escaped:
            escaped = True
            continue
        chars.append(GSM_CHARACTER_TABLE[octet + (0x80 if escaped else 0)])
        escaped = False
    return "".join(chars)


class _Connection:
    """One ESME connection, served by its own thread (and one for delayed answers)."""

    def __init__(self, smsc: TestSmsc, sock: socket.socket, number: int) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # answers leave at once
        self.smsc = smsc
        self.sock = sock
        self.number = number
        self.bound = False
        self.system_type = ""
        self.finished = threading.Event()
        self.outstanding = 0  # submit_sm read and not answered yet
        self.max_outstanding = 0
        self._write_lock = threading.Lock()
        self._waiting: dict[int, list[Any]] = {}  # sequence -> [event, response]
        self._later: list[tuple[float, int, Any]] = []  # (due, order, action): a heap
        self._later_cond = threading.Condition()
        self._later_order = 0
        self._later_thread: threading.Thread | None = None

    def later(self, delay: float, action: Any) -> None:
        """Run ``action()`` after ``delay`` seconds on this connection's answer thread."""
        with self._later_cond:
            self._later_order += 1
            heapq.heappush(self._later, (time.monotonic() + delay, self._later_order, action))
            if self._later_thread is None:
                self._later_thread = threading.Thread(target=self._run_later, daemon=True)
                self._later_thread.start()
            self._later_cond.notify()

    def _run_later(self) -> None:
        while True:
            with self._later_cond:
                while True:
                    if self.finished.is_set() and not self._later:
                        return
                    now = time.monotonic()
                    if self._later and self._later[0][0] <= now:
                        _, _, action = heapq.heappop(self._later)
                        break
                    wait = self._later[0][0] - now if self._later else 0.2
                    self._later_cond.wait(wait)
            with contextlib.suppress(OSError):
                action()

    def write(self, data: bytes) -> None:
        with self._write_lock:
            self.sock.sendall(data)

    def reply(self, request_sequence: int, command: str, status: int = 0, **fields: Any) -> None:
        if status:
            # §4.4.2 and others: no body when command_status is an error.
            code = command_codes.get_command_code(command)
            self.write(struct.pack(">IIII", 16, code, status, request_sequence))
            return
        pdu = smpp.make_pdu(command, client=self.smsc.sequences, status=status, **fields)
        pdu.sequence = request_sequence
        self.write(pdu.generate())

    def request(self, command: str, wait: float | None, **fields: Any) -> Any:
        """Send an SMSC-originated request; with ``wait``, return its response (or None)."""
        pdu = smpp.make_pdu(command, client=self.smsc.sequences, **fields)
        slot: list[Any] = [threading.Event(), None]
        self._waiting[pdu.sequence] = slot
        self.write(pdu.generate())
        if wait is None:
            return None
        slot[0].wait(wait)
        self._waiting.pop(pdu.sequence, None)
        return slot[1]

    def serve(self) -> None:
        try:
            while True:
                raw = self._read_pdu()
                if raw is None:
                    return
                if not self.smsc.handle(self, raw):
                    return
        except OSError:
            return
        finally:
            self.finished.set()
            with self._later_cond:
                self._later_cond.notify()

    def answer(self, sequence: int, pdu: Any) -> None:
        slot = self._waiting.get(sequence)
        if slot is not None:
            slot[1] = pdu
            slot[0].set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def _read_exact(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _read_pdu(self) -> bytes | None:
        head = self._read_exact(4)
        if head is None:
            return None
        (length,) = struct.unpack(">I", head)
        if not 16 <= length <= MAX_PDU:
            raise OSError(f"bad command_length {length}")
        rest = self._read_exact(length - 4)
        return None if rest is None else head + rest


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class TestSmsc:
    __test__ = False  # not a pytest test class

    def __init__(self, system_id: str = "senderid", password: str = "secret") -> None:
        self.system_id = system_id
        self.password = password
        self.invalid_numbers: set[str] = {"61491570000"}
        self.auto_receipt = False
        self.receipt_tlvs = True
        self.sequences = _Sequences()
        self.binds: list[dict[str, Any]] = []
        self.submits: list[Submit] = []
        self.messages: list[Message] = []
        self.enquire_links = 0
        self.answer_delay = 0.0  # seconds before each submit_sm_resp (0: at once)
        self.max_window: int | None = None  # refuse submits beyond this many outstanding
        self.max_outstanding = 0  # the most submit_sm outstanding on one connection
        self._throttle_until = 0.0
        self._throttle_status = consts.SMPP_ESME_RTHROTTLED
        self._ignore = 0
        self.errors: list[str] = []  # protocol violations seen (a test expects none)
        self._parts: dict[tuple[str, str, int], dict[int, Submit]] = {}
        self._faults: deque[tuple[str, float]] = deque()
        self._bind_holds: dict[int, threading.Event] = {}
        self._connections: list[_Connection] = []
        self._ids = 0
        self._lock = threading.Condition()
        self._release = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def __enter__(self) -> Self:
        smsc = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with smsc._lock:
                    connection = _Connection(smsc, self.request, len(smsc._connections))
                    smsc._connections.append(connection)
                connection.serve()

        self._server = _Server((LOOPBACK, 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        for hold in list(self._bind_holds.values()):
            hold.set()
        self.disconnect_all()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        for connection in list(self._connections):
            connection.finished.wait(2)

    # faults and SMSC-originated traffic ------------------------------------------------

    def refuse(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([("status", float(status))] * times)

    def stall(self, seconds: float) -> None:
        with self._lock:
            self._faults.append(("stall", seconds))

    def drop(self, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([("drop", 0.0)] * times)

    def throttle_for(self, seconds: float, status: int = consts.SMPP_ESME_RTHROTTLED) -> None:
        """Answer ``status`` (ESME_RTHROTTLED) to every submit_sm for ``seconds``."""
        with self._lock:
            self._throttle_until = time.monotonic() + seconds
            self._throttle_status = status

    def ignore(self, times: int = 1) -> None:
        """Read the next ``times`` submit_sm and never answer them."""
        with self._lock:
            self._ignore += times

    def hold_bind(self, connection: int = 0) -> threading.Event:
        """Answer the bind_transceiver of connection number ``connection`` (0: the first to
        connect) only once the returned event is set."""
        with self._lock:
            return self._bind_holds.setdefault(connection, threading.Event())

    @property
    def connections(self) -> int:
        """How many ESME connections were bound so far."""
        with self._lock:
            return sum(1 for c in self._connections if c.bound)

    def disconnect_all(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()

    def bound_connection(self, timeout: float = 5.0) -> _Connection:
        with self._lock:
            found = self._lock.wait_for(
                lambda: [c for c in self._connections if c.bound and not c.finished.is_set()],
                timeout)
        if not found:
            raise TimeoutError("no ESME is bound")
        return found[-1]

    def enquire_link(self, timeout: float = 2.0) -> bool:
        """Send enquire_link to the bound ESME; whether enquire_link_resp came back."""
        response = self.bound_connection().request("enquire_link", timeout)
        return response is not None and response.command == "enquire_link_resp"

    def send_receipt(self, message_id: str, stat: str = "DELIVRD", timeout: float = 2.0,
                     done_date: str | None = None) -> int | None:
        """Send a delivery receipt (``done_date``: its ``YYMMDDhhmm``, else now in UTC);
        the deliver_sm_resp command_status, or None."""
        submit = next((s for s in self.submits if s.message_id == message_id), None)
        response = self.bound_connection().request(
            "deliver_sm", timeout, **self._receipt_fields(message_id, stat, submit, done_date))
        return None if response is None else response.status

    def send_mo(self, source: str, destination: str, text: str, timeout: float = 2.0) -> int | None:
        """Send a mobile-originated deliver_sm (a reply from a phone, §4.6.1 esm_class 0):
        ``source`` and ``destination`` in international form without ``+``; the
        deliver_sm_resp command_status, or None."""
        alnum = not destination.isdigit()
        response = self.bound_connection().request(
            "deliver_sm", timeout, service_type="", esm_class=0, data_coding=0,
            source_addr_ton=consts.SMPP_TON_INTL, source_addr_npi=consts.SMPP_NPI_ISDN, source_addr=source,
            dest_addr_ton=consts.SMPP_TON_ALNUM if alnum else consts.SMPP_TON_INTL,
            dest_addr_npi=consts.SMPP_NPI_UNK if alnum else consts.SMPP_NPI_ISDN,
            destination_addr=destination, short_message=text.encode("latin-1"))
        return None if response is None else response.status

    def wait_for_submits(self, count: int, timeout: float = 5.0) -> list[Submit]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.submits) >= count, timeout):
                raise TimeoutError(f"expected {count} submit_sm, got {len(self.submits)}")
            return list(self.submits)

    def wait_for_enquire_links(self, count: int, timeout: float = 5.0) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self.enquire_links >= count, timeout):
                raise TimeoutError(f"expected {count} enquire_link, got {self.enquire_links}")

    # protocol --------------------------------------------------------------------------

    def handle(self, connection: _Connection, raw: bytes) -> bool:
        """Act on one PDU; False ends the connection."""
        length, command_id, _, sequence = struct.unpack(">IIII", raw[:16])
        if not 1 <= sequence <= 0x7FFFFFFF:
            self.errors.append(f"sequence_number {sequence} out of range")
        try:
            pdu = smpp.parse_pdu(raw, client=_Sequences(), allow_unknown_opt_params=True)
        except Exception:
            connection.reply(sequence, "generic_nack", consts.SMPP_ESME_RINVCMDID)
            return True
        if command_id & 0x80000000:
            connection.answer(sequence, pdu)
            return True
        command = pdu.command
        if command == "bind_transceiver":
            with self._lock:
                hold = self._bind_holds.get(connection.number)
            if hold is not None:
                hold.wait()
            connection.reply(sequence, "bind_transceiver_resp", **self._bind(connection, pdu))
        elif command == "enquire_link":
            with self._lock:
                self.enquire_links += 1
                self._lock.notify_all()
            connection.reply(sequence, "enquire_link_resp")
        elif command == "unbind":
            connection.reply(sequence, "unbind_resp")
            return False
        elif command == "submit_sm":
            return self._submit(connection, sequence, pdu)
        else:
            connection.reply(sequence, "generic_nack", consts.SMPP_ESME_RINVCMDID)
        return True

    def _bind(self, connection: _Connection, pdu: Any) -> dict[str, Any]:
        system_id, password = _text(pdu.system_id), _text(pdu.password)
        self.binds.append({"system_id": system_id, "password": password,
                           "system_type": _text(pdu.system_type),
                           "interface_version": pdu.interface_version})
        status = consts.SMPP_ESME_ROK
        if connection.bound:
            status = consts.SMPP_ESME_RALYBND
        elif system_id != self.system_id:
            status = consts.SMPP_ESME_RINVSYSID
        elif password != self.password:
            status = consts.SMPP_ESME_RINVPASWD
        elif pdu.interface_version != consts.SMPP_VERSION_34:
            status = consts.SMPP_ESME_RBINDFAIL
        if status == consts.SMPP_ESME_ROK:
            with self._lock:
                connection.bound = True
                connection.system_type = _text(pdu.system_type)
                self._lock.notify_all()
        return {"status": status, "system_id": "TESTSMSC",
                "sc_interface_version": consts.SMPP_VERSION_34}

    def _submit(self, connection: _Connection, sequence: int, pdu: Any) -> bool:
        submit = Submit(
            pdu.source_addr_ton or 0, pdu.source_addr_npi or 0, _text(pdu.source_addr),
            pdu.dest_addr_ton or 0, pdu.dest_addr_npi or 0, _text(pdu.destination_addr),
            pdu.esm_class or 0, pdu.data_coding or 0, pdu.registered_delivery or 0,
            pdu.short_message or b"", connection=connection.number,
            system_type=connection.system_type)
        if pdu.sm_length != len(submit.short_message):
            self.errors.append("sm_length does not match short_message")
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            busy = self.max_window is not None and connection.outstanding >= self.max_window
            throttled = time.monotonic() < self._throttle_until
            ignored = self._ignore > 0
            self._ignore -= 1 if ignored else 0
            connection.outstanding += 1
            connection.max_outstanding = max(connection.max_outstanding, connection.outstanding)
            self.max_outstanding = max(self.max_outstanding, connection.outstanding)
        status = consts.SMPP_ESME_RINVBNDSTS if not connection.bound else self._check(submit)
        if fault and fault[0] == "status":
            status = int(fault[1])
        elif busy:
            status = consts.SMPP_ESME_RMSGQFUL
        elif throttled:
            status = self._throttle_status
        if ignored:
            submit.status, submit.answered = -1, False
            with self._lock:
                self.submits.append(submit)
                self._lock.notify_all()
            return True
        if status == consts.SMPP_ESME_ROK:
            with self._lock:
                self._ids += 1
                submit.message_id = f"{self._ids:010X}"
        submit.status = status
        submit.fault = fault[0] if fault else None
        with self._lock:
            self.submits.append(submit)
            self._lock.notify_all()
        if fault and fault[0] == "drop":
            connection.close()
            return False
        if status == consts.SMPP_ESME_ROK:
            self._assemble(submit)
        if fault and fault[0] == "stall":
            self._release.wait(fault[1])
        if self.answer_delay > 0:
            connection.later(self.answer_delay, lambda: self._answer(connection, sequence, submit))
        else:
            self._answer(connection, sequence, submit)
        return True

    def _answer(self, connection: _Connection, sequence: int, submit: Submit) -> None:
        with self._lock:
            connection.outstanding -= 1
        status = submit.status
        connection.reply(sequence, "submit_sm_resp", status, message_id=submit.message_id)
        wants_receipt = self.auto_receipt and submit.registered_delivery & 0x01
        if status == consts.SMPP_ESME_ROK and wants_receipt and submit.message_id:
            connection.request("deliver_sm", None,
                               **self._receipt_fields(submit.message_id, "DELIVRD", submit))

    def _check(self, s: Submit) -> int:
        if s.source_addr_ton == consts.SMPP_TON_ALNUM:
            if s.source_addr_npi != consts.SMPP_NPI_UNK:
                return consts.SMPP_ESME_RINVSRCNPI
            if not 1 <= len(s.source_addr) <= 11:
                return consts.SMPP_ESME_RINVSRCADR
        elif s.source_addr_ton == consts.SMPP_TON_INTL:
            if s.source_addr_npi != consts.SMPP_NPI_ISDN:
                return consts.SMPP_ESME_RINVSRCNPI
            if not s.source_addr.isdigit():
                return consts.SMPP_ESME_RINVSRCADR
        elif s.source_addr_ton != consts.SMPP_TON_UNK:
            return consts.SMPP_ESME_RINVSRCTON
        if s.dest_addr_ton != consts.SMPP_TON_INTL:
            return consts.SMPP_ESME_RINVDSTTON
        if s.dest_addr_npi != consts.SMPP_NPI_ISDN:
            return consts.SMPP_ESME_RINVDSTNPI
        if not s.destination_addr.isdigit() or s.destination_addr in self.invalid_numbers:
            return consts.SMPP_ESME_RINVDSTADR
        if s.esm_class & consts.SMPP_GSMFEAT_UDHI and s.short_message[:3] != b"\x05\x00\x03":
            return consts.SMPP_ESME_RINVESMCLASS
        if s.data_coding not in (consts.SMPP_ENCODING_DEFAULT, consts.SMPP_ENCODING_ISO10646):
            return consts.SMPP_ESME_RX_P_APPN
        return consts.SMPP_ESME_ROK

    def _assemble(self, submit: Submit) -> None:
        data, ids = submit.short_message, [submit.message_id or ""]
        if submit.esm_class & consts.SMPP_GSMFEAT_UDHI:
            reference, total, number = data[3], data[4], data[5]
            key = (submit.source_addr, submit.destination_addr, reference)
            with self._lock:
                parts = self._parts.setdefault(key, {})
                parts[number] = submit
                if len(parts) < total:
                    return
                del self._parts[key]
            ordered = [parts[n] for n in range(1, total + 1)]
            data = b"".join(p.short_message[6:] for p in ordered)
            ids = [p.message_id or "" for p in ordered]
        text = decode_text(submit.data_coding, data)
        with self._lock:
            self.messages.append(Message(submit.source_addr_ton, submit.source_addr,
                                         submit.destination_addr,
                                         submit.data_coding, text, ids, submit.system_type))
            self._lock.notify_all()

    def _receipt_fields(self, message_id: str, stat: str, submit: Submit | None,
                        done_date: str | None = None) -> dict[str, Any]:
        stamp = time.strftime("%y%m%d%H%M", time.gmtime())
        state = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6,
                 "UNKNOWN": 7, "REJECTD": 8, "ENROUTE": 1}[stat]
        # Appendix B: "text" is the first 20 characters of the message.
        sample = self._sample(submit)
        text = f"id:{message_id} sub:001 dlvrd:{'001' if state == 2 else '000'} " \
               f"submit date:{stamp} done date:{done_date or stamp} stat:{stat} err:000 text:{sample}"
        fields: dict[str, Any] = {
            "service_type": "", "esm_class": 0x04, "data_coding": 0,
            "source_addr_ton": consts.SMPP_TON_INTL, "source_addr_npi": consts.SMPP_NPI_ISDN,
            "source_addr": submit.destination_addr if submit else "",
            "dest_addr_ton": submit.source_addr_ton if submit else 0,
            "dest_addr_npi": submit.source_addr_npi if submit else 0,
            "destination_addr": submit.source_addr if submit else "",
            "short_message": text.encode("ascii", "replace"),
        }
        if self.receipt_tlvs:
            fields["receipted_message_id"] = message_id
            fields["message_state"] = state
        return fields


    @staticmethod
    def _sample(submit: Submit | None) -> str:
        if submit is None:
            return ""
        data = submit.short_message
        if submit.esm_class & consts.SMPP_GSMFEAT_UDHI:
            data = data[6:]
        return decode_text(submit.data_coding, data)[:20]


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else value

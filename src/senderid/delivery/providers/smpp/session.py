"""One SMPP transceiver connection: a reader thread, and requests waiting for responses.

Any number of requests may be outstanding on a session; each response is matched to
its request by sequence_number (SMPP 3.4 §3.2). How many ``submit_sm`` may be
outstanding is the bind's business (bind.py), not the session's.

A request whose response does not come within its timeout fails alone: the session
sends ``enquire_link`` at once and is dropped only if the SMSC then stays silent for
the timeout (any PDU from the SMSC counts as an answer). So one lost response costs
one message a retry, while a dead or stalled SMSC is noticed within two timeouts and
every request still waiting on it fails at once. A late response to a request that
already timed out is ignored.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from smpplib import consts, exceptions, smpp

from senderid.delivery.providers.base import ProviderError, TransientError
from senderid.delivery.providers.smpp.protocol import (
    MAX_PDU_LENGTH,
    NAME,
    SUBMIT_SM_RESP,
    SubmitSmResp,
)

log = logging.getLogger("senderid.delivery.smpp")


class Sequences:
    """Sequence numbers 1..0x7FFFFFFF (§3.2), shared by threads; smpplib's ``client``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sequence = 0

    def next_sequence(self) -> int:
        with self._lock:
            self.sequence = self.sequence % 0x7FFFFFFF + 1
            return self.sequence


class _Waiter:
    __slots__ = ("done", "response", "on_response")

    def __init__(self, on_response: Callable[[Any], None] | None) -> None:
        self.done = threading.Event()
        self.response: Any = None
        self.on_response = on_response  # run on the reader thread, before the next PDU


class Session:
    def __init__(
        self,
        sock: socket.socket,
        sequences: Sequences,
        timeout: float,
        enquire_link_interval: float,
        on_deliver: Callable[[Any], None],
        name: str = "smpp-reader",
    ) -> None:
        self._sock = sock
        self._sequences = sequences
        self._timeout = timeout
        self._interval = enquire_link_interval
        self._on_deliver = on_deliver
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._pending: dict[int, _Waiter] = {}
        self._parse_sequences = Sequences()
        self._probe_deadline: float | None = None  # an enquire_link is waiting for any PDU
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.alive = True
        self._reader = threading.Thread(target=self._read_loop, name=name, daemon=True)
        self._reader.start()

    # requests -------------------------------------------------------------------------

    def make(self, command: str, **fields: Any) -> Any:
        return smpp.make_pdu(command, client=self._sequences, **fields)

    def next_sequence(self) -> int:
        return self._sequences.next_sequence()

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
        except TransientError:
            with self._lock:
                self._pending.pop(pdu.sequence, None)
            raise
        if not waiter.done.wait(timeout):
            with self._lock:
                mine = self._pending.pop(pdu.sequence, None) is not None
            if mine:  # the reader did not claim it: it timed out
                self.probe()
                raise TransientError(f"{NAME}: no {pdu.command}_resp within {timeout:g}s")
            waiter.done.wait()  # claimed by the reader this instant: it is being set
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

    def probe(self) -> None:
        """Ask the SMSC for a sign of life now; the session ends if none comes in time."""
        with self._lock:
            if not self.alive or self._probe_deadline is not None:
                return
            self._probe_deadline = time.monotonic() + self._timeout
        with contextlib.suppress(TransientError):
            self.write(self.make("enquire_link"))
        self._wake()

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
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # reader ---------------------------------------------------------------------------

    def _read_loop(self) -> None:
        selector = selectors.DefaultSelector()
        buffer = bytearray()
        idle_deadline = time.monotonic() + self._interval
        try:
            selector.register(self._sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while self.alive:
                probe = self._probe_deadline
                deadline = idle_deadline if probe is None else min(idle_deadline, probe)
                events = selector.select(max(deadline - time.monotonic(), 0.0))
                readable = False
                for key, _ in events:
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        readable = True
                if readable:
                    chunk = self._sock.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                    with self._lock:
                        self._probe_deadline = None
                    idle_deadline = time.monotonic() + self._interval
                    while (raw := self._take_pdu(buffer)) is not None:
                        self._dispatch(raw)
                    continue
                now = time.monotonic()
                if probe is not None and now >= probe:
                    log.warning("SMSC did not answer enquire_link; dropping the session")
                    return
                if now >= idle_deadline and probe is None:
                    idle_deadline = now + self._interval
                    self.probe()
        except (OSError, ValueError, ProviderError) as exc:
            if self.alive:
                log.warning("SMPP session ended: %s", type(exc).__name__)
        except Exception:  # never let the reader die silently with a session that looks alive
            log.exception("SMPP reader failed")
        finally:
            selector.close()
            self._finish()

    @staticmethod
    def _take_pdu(buffer: bytearray) -> bytes | None:
        if len(buffer) < 4:
            return None
        (length,) = struct.unpack_from(">I", buffer)
        if not 16 <= length <= MAX_PDU_LENGTH:
            raise ValueError(f"bad command_length {length}")
        if len(buffer) < length:
            return None
        raw = bytes(buffer[:length])
        del buffer[:length]
        return raw

    def _dispatch(self, raw: bytes) -> None:
        _, command_id, _, sequence = struct.unpack_from(">IIII", raw)
        try:
            if command_id == SUBMIT_SM_RESP:
                pdu = SubmitSmResp.parse(raw)
            else:
                pdu = smpp.parse_pdu(raw, client=self._parse_sequences, allow_unknown_opt_params=True)
        except (exceptions.UnknownCommandError, struct.error, IndexError, ValueError):
            pdu = None
        if command_id & 0x80000000:  # a response: wake whoever waits for it
            if pdu is None:
                return
            with self._lock:
                waiter = self._pending.pop(sequence, None)
            if waiter is not None:
                waiter.response = pdu
                try:
                    if waiter.on_response is not None:
                        waiter.on_response(pdu)
                finally:
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
            self._pending.clear()
        for waiter in waiters:
            waiter.done.set()  # response stays None: the connection was lost
        for closing in (self._sock, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                closing.close()

"""SMPP 3.4 values the provider needs: addresses, command_status meanings, error texts,
and the codec of the hot path (``submit_sm`` and ``submit_sm_resp``, §4.4), written out
because smpplib's generic one costs about 0.4 ms a PDU; every other PDU goes through
smpplib."""

from __future__ import annotations

import struct

from smpplib import consts

from senderid.delivery.providers.base import PermanentError, ProviderError, TransientError

NAME = "smpp"

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
# "Slow down": the bind backs off and the part is submitted again (see bind.py).
THROTTLE_STATUSES = frozenset({consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL})

_STATUS_NAMES = {
    value: name.removeprefix("SMPP_")
    for name, value in vars(consts).items()
    if name.startswith("SMPP_ESME_R") and isinstance(value, int)
}


def address(value: str) -> tuple[int, int, str]:
    """``(ton, npi, addr)``: E.164 is international/ISDN, letters are alphanumeric (§5.2.5)."""
    if not value:
        return TON_UNKNOWN, NPI_UNKNOWN, ""
    if value.startswith("+") and value[1:].isdigit():
        return TON_INTERNATIONAL, NPI_ISDN, value[1:]
    if value.isdigit():
        return TON_UNKNOWN, NPI_ISDN, value
    if len(value) > MAX_ALPHA_SENDER:
        raise PermanentError(f"{NAME}: alphanumeric sender longer than {MAX_ALPHA_SENDER} characters")
    return TON_ALPHANUMERIC, NPI_UNKNOWN, value


def status_error(action: str, status: int, *, retry_after: float | None = None,
                 note: str = "") -> ProviderError:
    """The error for a ``*_resp`` whose command_status is not ESME_ROK."""
    label = _STATUS_NAMES.get(status, "vendor-specific error")
    description = consts.DESCRIPTIONS.get(status, "")
    reason = f"{NAME}: {action} refused with 0x{status:08X} {label}"
    reason += f" ({description})" if description else ""
    reason += note
    if status in TRANSIENT_STATUSES:
        return TransientError(reason, retry_after=retry_after)
    return PermanentError(reason)


SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004


class SubmitSm:
    """A ``submit_sm`` ready to write: the body is encoded once, the header per attempt."""

    command = "submit_sm"
    __slots__ = ("sequence", "body")

    def __init__(self, sequence: int, body: bytes) -> None:
        self.sequence = sequence
        self.body = body

    def generate(self) -> bytes:
        return struct.pack(">IIII", 16 + len(self.body), SUBMIT_SM, 0, self.sequence) + self.body


class SubmitSmResp:
    """A decoded ``submit_sm_resp``: command_status and message_id (§4.4.2)."""

    command = "submit_sm_resp"
    __slots__ = ("sequence", "status", "message_id")

    def __init__(self, sequence: int, status: int, message_id: str) -> None:
        self.sequence, self.status, self.message_id = sequence, status, message_id

    @classmethod
    def parse(cls, raw: bytes) -> SubmitSmResp:
        _, _, status, sequence = struct.unpack_from(">IIII", raw)
        message_id = raw[16:].split(b"\0", 1)[0].decode("ascii", "replace")
        return cls(sequence, status, message_id)


def _c_octets(value: str, limit: int, field: str) -> bytes:
    data = value.encode("latin-1", "replace")
    if len(data) >= limit:
        raise PermanentError(f"{NAME}: {field} longer than {limit - 1} octets")
    return data + b"\0"


def submit_sm_body(source: tuple[int, int, str], destination: tuple[int, int, str],
                   esm_class: int, data_coding: int, short_message: bytes) -> bytes:
    """The mandatory fields of a ``submit_sm`` asking for a delivery receipt (§4.4.1)."""
    if len(short_message) > 254:
        raise PermanentError(f"{NAME}: a part longer than 254 octets")
    return b"".join((
        b"\0",  # service_type: the SMSC's default
        bytes((source[0], source[1])), _c_octets(source[2], 21, "source_addr"),
        bytes((destination[0], destination[1])),
        _c_octets(destination[2], 21, "destination_addr"),
        bytes((esm_class, 0, 0)),  # protocol_id 0, priority_flag 0
        b"\0\0",  # schedule_delivery_time and validity_period: immediate, the SMSC's default
        bytes((REGISTERED_DELIVERY_RECEIPT, 0, data_coding, 0, len(short_message))),
        short_message,
    ))


def text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value

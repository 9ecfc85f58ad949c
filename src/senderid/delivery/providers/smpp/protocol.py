"""SMPP 3.4 values the provider needs: addresses, command_status meanings, error texts."""

from __future__ import annotations

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


def text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value

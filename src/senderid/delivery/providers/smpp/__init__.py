"""The ``smpp`` provider: SMPP 3.4 transceiver sessions to an SMSC, with a window.

PDUs are encoded and decoded by ``smpplib``; this package owns the sockets, so that
one reader thread per session takes every PDU the SMSC sends:

* ``binds`` sessions (``bind_transceiver``) are bound lazily on first use, or by
  :meth:`SmppProvider.connect`, and kept; each binds again on its own when it dies;
* each text becomes one or more ``submit_sm`` (GSM 7-bit or UCS-2, concatenated with
  a UDH when long; see :mod:`senderid.sms_parts`); the parts of one message go one after
  another, in order, on one bind (the least loaded when the message starts);
* up to ``window`` ``submit_sm`` are outstanding per bind, matched to their
  ``submit_sm_resp`` by sequence number; ``ESME_RTHROTTLED``/``ESME_RMSGQFUL`` shrink
  and pause that bind's window and the part is submitted again (:mod:`.bind`);
* a missing response fails that send alone; the session is dropped only when it then
  does not answer an ``enquire_link`` either (:mod:`.session`);
* an idle session sends ``enquire_link`` every ``enquire_link_interval`` seconds and is
  dropped when nothing answers within ``timeout``; the SMSC's own ``enquire_link`` and
  ``unbind`` are answered;
* ``deliver_sm`` delivery receipts go to ``on_receipt(provider_message_id, status, done_at)``
  (status ``sent``, ``delivered`` or ``failed``; ``done_at`` the receipt's ``done date``,
  read as UTC, or None), called on the reader thread.

A message split in parts returns the first part's id; its parts' receipts are folded
into one: ``failed`` as soon as a part fails, ``delivered`` when every part is.
"""

from senderid.delivery.providers.smpp.protocol import (
    NAME,
    THROTTLE_STATUSES,
    TRANSIENT_STATUSES,
    address,
    status_error,
)
from senderid.delivery.providers.smpp.provider import SmppProvider
from senderid.delivery.providers.smpp.receipts import parse_receipt, receipt_done_at, receipt_status

__all__ = ["NAME", "THROTTLE_STATUSES", "TRANSIENT_STATUSES", "SmppProvider", "address",
           "parse_receipt", "receipt_done_at", "receipt_status", "status_error"]

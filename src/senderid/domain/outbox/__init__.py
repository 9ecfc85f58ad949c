"""The outbox: every SMS senderid sends, and every change of its state, in one package.

Each transition of a message is one function here, and every statement that inserts,
updates or deletes an outbox row is built once, named, in the module of its transition
(``tests/e2e/test_structure.py`` checks no other module builds one)::

    queueing.py   (new) -> queued              enqueue, enqueue_many: in the caller's transaction
    claims.py     queued -> sending            claim_priority, claim_bulk: a lease, by lane
    outcomes.py   sending -> sent | failed | dead | cancelled | queued
                                               record (batches), mark_sent, mark_ended
    receipts.py   sent -> delivered | failed   record_receipt, apply_early_receipts
    cancels.py    queued (| sending) -> cancelled
                                               cancel (ById, ToContact, FromSender, JustClaimed,
                                               OtpsOf), sender_removed, refuse_claimed, cancel_otps
    admin.py      dead | failed -> queued      retry; purge_dead (deleted); list, page, counts,
                                               queue_depth (reads)
    retention.py  ended -> text blanked        blank_ended
                  ended -> deleted             delete_ended
    history.py    each change's row in message_events, written by the modules above
    views.py      (reads) an account's messages, one with its history: view, page

Life of a message::

    queued --claim--> sending --provider accepted--> sent (--receipt--> delivered | failed)
                         |--transient error--> queued (later, with backoff) ... --> dead
                         |--permanent error--> failed
                         |--the circuit breaker is open--> queued (the attempt not counted)
    queued | sending --a newer code, or the registration ended--> cancelled
                        (an OTP: OtpsOf; one a live worker still hands over is recorded as
                        sent all the same)
    sending --an OTP that expired before it was handed over (the worker)--> cancelled
    queued --cancelled by the account, the contact opted out, the sender was removed--> cancelled
    sending (just claimed) --its sender is no longer its account's--> cancelled (never sent)
    dead | failed --an operator's retry--> queued (an OTP with a fresh code)
    dead --an operator's purge--> (deleted)

Every SMS is written to the outbox in the transaction that caused it; the worker
(:mod:`senderid.delivery.worker`, its lane policy in :mod:`senderid.delivery.lanes`) takes
it from there. A claim is a lease: a worker that dies while holding one leaves the
message ``sending`` with an expired lease, and the next claim takes it again, so a crash
loses nothing. Once a message leaves ``queued``/``sending`` for good, an OTP in its body
is blanked out (``redacted_body``): codes are not kept at rest after hand-off; the rest
of the text goes after SENDERID_MESSAGE_BODY_RETENTION_DAYS.

Delivery receipts move a sent message to delivered or failed; one that beats the
worker's record of ``sent`` is kept and applied when the record comes (:mod:`.receipts`).
"""

from senderid.domain.outbox.admin import (
    MAX_LIST,
    MAX_PAGE,
    RETRYABLE,
    OutboxMessage,
    counts,
    get_message,
    list_messages,
    page,
    purge_dead,
    queue_depth,
    retry,
    status_counts,
)
from senderid.domain.outbox.cancels import (
    SENDER_NOT_ALLOWED,
    ById,
    CancelledMessage,
    FromSender,
    JustClaimed,
    OtpsOf,
    ToContact,
    Which,
    audit_details,
    cancel,
    cancel_otps,
    refunded,
    refuse_claimed,
    sender_removed,
)
from senderid.domain.outbox.claims import (
    LANES,
    Claimed,
    accounts_with_due_bulk,
    claim_bulk,
    claim_priority,
    lane_of,
    sender_still_allowed,
)
from senderid.domain.outbox.history import MessageEvent, timeline
from senderid.domain.outbox.outcomes import DEFERRED, Outcome, mark_ended, mark_sent, mark_sent_many, record
from senderid.domain.outbox.queueing import Message, enqueue, enqueue_many
from senderid.domain.outbox.receipts import (
    EARLY_RECEIPT_TTL,
    RECEIPT_STATUSES,
    apply_early_receipts,
    record_receipt,
)
from senderid.domain.outbox.retention import blank_ended, delete_ended
from senderid.domain.outbox.statements import (
    CANCELLED,
    DEAD,
    DELIVERED,
    FAILED,
    KINDS,
    MAX_ERROR_LENGTH,
    QUEUED,
    SCHEDULED,
    SENDING,
    SENT,
    STATUSES,
)

__all__ = [
    "CANCELLED",
    "DEAD",
    "DEFERRED",
    "DELIVERED",
    "EARLY_RECEIPT_TTL",
    "FAILED",
    "KINDS",
    "LANES",
    "MAX_ERROR_LENGTH",
    "MAX_LIST",
    "MAX_PAGE",
    "QUEUED",
    "RECEIPT_STATUSES",
    "RETRYABLE",
    "SCHEDULED",
    "SENDER_NOT_ALLOWED",
    "SENDING",
    "SENT",
    "STATUSES",
    "ById",
    "CancelledMessage",
    "Claimed",
    "FromSender",
    "JustClaimed",
    "Message",
    "MessageEvent",
    "OtpsOf",
    "Outcome",
    "OutboxMessage",
    "ToContact",
    "Which",
    "accounts_with_due_bulk",
    "apply_early_receipts",
    "audit_details",
    "blank_ended",
    "cancel",
    "cancel_otps",
    "delete_ended",
    "claim_bulk",
    "claim_priority",
    "counts",
    "enqueue",
    "enqueue_many",
    "get_message",
    "lane_of",
    "list_messages",
    "mark_ended",
    "mark_sent",
    "mark_sent_many",
    "page",
    "purge_dead",
    "queue_depth",
    "record",
    "record_receipt",
    "refunded",
    "refuse_claimed",
    "retry",
    "sender_removed",
    "sender_still_allowed",
    "status_counts",
    "timeline",
]

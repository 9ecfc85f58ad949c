"""Custom numbers: register a number as a sender, prove it with an OTP.

The rules (SPEC §3):

* a registration is ``pending`` until its OTP is verified, then ``active``;
  it ends ``cancelled`` (another account verified the number first) or
  ``deleted``;
* a number is active for at most one account (a partial unique index says
  so too); while it is only pending, several accounts may hold a pending
  registration, so nobody can squat a number they do not own: the first to
  verify wins and the others are cancelled in the same transaction;
* OTP SMS are limited per account and number (cooldown and hourly), per
  number across accounts, and per account; one account's sends never use up
  another account's allowance for the same number, and the per-number cap is
  six accounts' allowances (docs/api.md says why that stops a squatter);
* wrong codes are budgeted per day (:mod:`senderid.domain.otp_guesses`): past the
  budget, verify fails and no new code is sent;
* a registration and its OTP SMS are written in one transaction (the outbox);
* a proof does not hold for ever: an active number proven by a code lapses when it is not
  proven again in time (``reverify``), and is released after a hold; a number's holder
  may reclaim it from another account by proving possession (``reclaim``); what is due
  with time is done by the worker's tick (``timed``), on the schedule of ``schedule``.

Work on one number is serialised by :meth:`Database.lock`, so the checks and
the writes that follow them see the same state on PostgreSQL too.

The modules, by concern: ``register`` (the input checks and add), ``verification``
(verify), ``reverify`` (prove possession again), ``reclaim`` (take a number by proving
possession), ``timed`` (notices, lapses, releases, claims decided), ``schedule`` (when a
proof runs out), ``manage`` (get, list, delete, resend; search across accounts), ``limits``
(the sending limits and guess budgets, read in one statement), ``changes`` (what comes
with a change of status: events, the others cancelled, senders forgotten) and
``statements`` (the statements, built once). This module is their public face.
"""

from senderid.domain.custom_numbers.changes import Verified
from senderid.domain.custom_numbers.manage import (
    READABLE_STATUSES,
    delete,
    get_registration,
    list_registrations,
    resend,
    search,
)
from senderid.domain.custom_numbers.reclaim import reclaim
from senderid.domain.custom_numbers.register import AddOutcome, AddResult, add
from senderid.domain.custom_numbers.reverify import reverify
from senderid.domain.custom_numbers.statements import EXPIRED, PENDING
from senderid.domain.custom_numbers.timed import Ticked, reconcile, tick
from senderid.domain.custom_numbers.verification import verify, verify_number

__all__ = ["EXPIRED", "PENDING", "READABLE_STATUSES", "AddOutcome", "AddResult", "Ticked", "Verified", "add",
           "delete", "get_registration", "list_registrations", "reclaim", "reconcile", "resend", "reverify",
           "search", "tick", "verify", "verify_number"]

"""The statements of custom numbers, built once and named: add, resend and verify bind
values into them, and run the hot ones on the driver's cursor
(:class:`senderid.store.prepared.Prepared`). (The read of a number's state and its sending limits is built once per
set of limits, in :mod:`senderid.domain.custom_numbers.limits`.)
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Float, String, and_, bindparam, case, insert, or_, select, update

from senderid.domain import otp_guesses
from senderid.domain.types import CustomNumberStatus
from senderid.store.coltypes import UTCDateTime, constant, constants
from senderid.store.prepared import Prepared
from senderid.store.tables import custom_numbers, otp_sends

PENDING, EXPIRED, ACTIVE, CANCELLED, DELETED, LAPSED, RELEASED, CLAIMING, RECLAIMED = CustomNumberStatus
# EXPIRED is derived, never stored. A number is held while active or lapsed, and taken (no
# one else may add it) while held or claimed.
HELD = (ACTIVE, LAPSED)
TAKEN = (ACTIVE, LAPSED, CLAIMING)
REVERIFY, RECLAIM = "reverify", "reclaim"  # what a code was sent for (otp_purpose)

# -- add and resend ----------------------------------------------------------------------

INSERT_REGISTRATION = Prepared(insert(custom_numbers))
INSERT_SEND = Prepared(insert(otp_sends))
NEW_CODE = Prepared(update(custom_numbers).where(custom_numbers.c.id == bindparam("b_id")))

# -- verify ------------------------------------------------------------------------------

# Count the try before comparing, atomically, in the statement that finds the registration
# the code was sent for (a pending one, or the account's active or lapsed one that asked to
# prove possession again): parallel guesses can never get more than otp_max_attempts
# comparisons. `taken` says whether another account holds the number (active or lapsed);
# `claim_id`/`claim_decides_at` name an open claim on it; `spent_*` whether a daily guess
# budget of the account is used up (then nothing is compared).
_HOLDER = custom_numbers.alias("holder")
_CLAIM = custom_numbers.alias("claim")


@lru_cache(maxsize=8)
def count_try(guess_limits: tuple[int, ...]) -> Prepared:
    return Prepared(COUNT_TRY.returning(*otp_guesses.nth_failures(
        guess_limits, bindparam("b_account_id"), bindparam("b_number"),
        bindparam("b_day_since", type_=UTCDateTime), "spent")))


COUNT_TRY = (
    update(custom_numbers)
    .where(
        custom_numbers.c.account_id == bindparam("b_account_id"),
        custom_numbers.c.number == bindparam("b_number"),
        or_(custom_numbers.c.status == constant(PENDING),
            and_(custom_numbers.c.status.in_(constants(HELD)), custom_numbers.c.otp_purpose == REVERIFY)),
        custom_numbers.c.otp_attempts < bindparam("b_max_attempts"),
        custom_numbers.c.otp_expires_at > bindparam("b_now", type_=UTCDateTime),
    )
    .values(otp_attempts=custom_numbers.c.otp_attempts + 1)
    .returning(
        custom_numbers.c.id, custom_numbers.c.otp_hash, custom_numbers.c.otp_attempts,
        custom_numbers.c.status, custom_numbers.c.otp_purpose,
        select(_HOLDER.c.id)
        .where(_HOLDER.c.number == bindparam("b_number"), _HOLDER.c.status.in_(constants(HELD)),
               _HOLDER.c.account_id != bindparam("b_account_id"))
        .limit(1)
        .scalar_subquery()
        .label("taken"),
        select(_CLAIM.c.id)
        .where(_CLAIM.c.number == bindparam("b_number"), _CLAIM.c.status == constant(CLAIMING))
        .scalar_subquery()
        .label("claim_id"),
        select(_CLAIM.c.decides_at)
        .where(_CLAIM.c.number == bindparam("b_number"), _CLAIM.c.status == constant(CLAIMING))
        .scalar_subquery()
        .label("claim_decides_at"),
    )
)
# A repeated verify: the account's active registration (or its open claim) of the number.
ACTIVE_MINE = Prepared(select(custom_numbers.c.id, custom_numbers.c.name, custom_numbers.c.otp_hash,
                     custom_numbers.c.status, custom_numbers.c.decides_at).where(
    custom_numbers.c.account_id == bindparam("b_account_id"),
    custom_numbers.c.number == bindparam("b_number"),
    custom_numbers.c.status.in_(constants((ACTIVE, CLAIMING))),
    custom_numbers.c.otp_expires_at > bindparam("b_now", type_=UTCDateTime),
))


# Activate ours and cancel every other pending registration of the number, in one UPDATE.
_MINE_ROW = custom_numbers.c.id == bindparam("b_id")
_B_NOW = bindparam("b_now", type_=UTCDateTime)
ACTIVATE = Prepared(
    update(custom_numbers)
    .where(custom_numbers.c.number == bindparam("b_number"),
           _MINE_ROW | (custom_numbers.c.status == constant(PENDING)))
    .values(
        status=case((_MINE_ROW, ACTIVE), else_=CANCELLED),
        name=case((_MINE_ROW, bindparam("b_name", type_=String)), else_=custom_numbers.c.name),
        verified_at=case((_MINE_ROW, _B_NOW), else_=custom_numbers.c.verified_at),
        ended_at=case((_MINE_ROW, custom_numbers.c.ended_at), else_=_B_NOW),
        otp_hash=case((_MINE_ROW, custom_numbers.c.otp_hash), else_=None),
        otp_purpose=case((_MINE_ROW, None), else_=custom_numbers.c.otp_purpose),
        verified_by=case((_MINE_ROW, bindparam("b_verified_by", type_=String)), else_=custom_numbers.c.verified_by),
        reverify_after_days=case((_MINE_ROW, bindparam("b_after", type_=Float)),
                                 else_=custom_numbers.c.reverify_after_days),
        reverify_by=case((_MINE_ROW, bindparam("b_reverify_by", type_=UTCDateTime)),
                         else_=custom_numbers.c.reverify_by),
        reverify_noticed_at=case((_MINE_ROW, None), else_=custom_numbers.c.reverify_noticed_at),
        due_at=case((_MINE_ROW, bindparam("b_due", type_=UTCDateTime)), else_=custom_numbers.c.due_at),
        updated_at=_B_NOW,
    )
    .returning(custom_numbers.c.id, custom_numbers.c.account_id)
)

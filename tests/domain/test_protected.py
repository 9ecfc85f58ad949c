"""Protected numbers, prefixes and names on both databases: refused to accounts not allowed
(nothing sent, audited), allowed to the accounts listed; the holders listed, and ended on
request."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from senderid.domain import business_names, protected
from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import CLI, Actor
from senderid.errors import BusinessNameProtected, InvalidRequest, NotFound, NumberProtected
from senderid.store.tables import audit_events, outbox
from tests.support.gateway import CONTACT, post, sms_rows

WHO = Actor("test")


def count(ctx: Context, table) -> int:
    with ctx.db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def audited(ctx: Context, action: str) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(sa.select(audit_events).where(audit_events.c.action == action)).all()


@pytest.mark.parametrize(("value", "refused", "free"), [
    ("0491 570 159", "+61491570159", "+61491570158"),
    ("+6149157*", "0491 570 156", "+61412345678"),
    ("049157*", "+61491570156", "+61412345678"),
])
def test_a_protected_number_or_prefix_is_refused(ctx: Context, customer, make_customer, value: str, refused: str,
                                                 free: str) -> None:
    allowed = make_customer("Agency")
    protected.add(ctx, value, accounts_allowed=[allowed.account.id], note="Do Not Originate", actor=CLI)
    with pytest.raises(NumberProtected):
        cn.add(ctx, customer.account, name="x", number=refused, actor=WHO)
    assert count(ctx, outbox) == 0  # nothing is sent
    [record] = audited(ctx, "custom_number.protected_refused")
    assert record.account_id == customer.account.id
    assert cn.add(ctx, customer.account, name="x", number=free, actor=WHO).outcome is cn.AddOutcome.OTP_SENT
    assert cn.add(ctx, allowed.account, name="x", number=refused, actor=WHO).outcome is cn.AddOutcome.OTP_SENT


def test_a_protected_number_cannot_be_reclaimed(ctx: Context, no_otp_customer, customer) -> None:
    cn.add(ctx, no_otp_customer.account, name="held", number="+61491570159", actor=WHO)
    protected.add(ctx, "+61491570159", accounts_allowed=[no_otp_customer.account.id], actor=CLI)
    with pytest.raises(NumberProtected):
        cn.reclaim(ctx, customer.account, name="x", number="+61491570159", actor=WHO)
    assert count(ctx, outbox) == 0


@pytest.mark.parametrize(("name", "is_refused"), [
    ("ANZ", True), ("ANZ Bank", True), ("my anz", True), ("Pay-ANZ", True), ("Banzai", False), ("ANZAC Day", False),
])
def test_a_protected_name_is_refused_as_a_whole_word(ctx: Context, customer, make_customer, name: str,
                                                     is_refused: bool) -> None:
    bank = make_customer("The bank")
    protected.add(ctx, "ANZ", accounts_allowed=[bank.account.id], actor=CLI)
    if is_refused:
        with pytest.raises(BusinessNameProtected):
            business_names.request(ctx, customer.account, businessname=name, actor=WHO)
        [record] = audited(ctx, "business_name.protected_refused")
        assert (record.details["businessname"], record.details["protected"]) == (name, "ANZ")
        assert business_names.request(ctx, bank.account, businessname=name, actor=WHO).status == "REQUESTED"
    else:
        assert business_names.request(ctx, customer.account, businessname=name, actor=WHO).status == "REQUESTED"


def test_protecting_a_held_value_lists_and_ends_the_holders(app_client, ctx: Context, no_otp_customer) -> None:
    account = no_otp_customer.account
    registration = cn.add(ctx, account, name="own", number="+61491570156", actor=WHO)
    status, _, [message_id] = post(app_client, no_otp_customer.headers, message="sale", contacts=[CONTACT],
                                   sender="+61491570156", delay=3000)
    assert status == 200
    name = business_names.request(ctx, account, businessname="ANZ Deals", actor=WHO)

    found = protected.add(ctx, "+6149157*", actor=CLI)
    assert [(h.kind, h.id) for h in found.holders] == [("custom_number", registration.id)] and not found.ended
    assert cn.get_registration(ctx, account.id, registration.id).status == "active"  # listed, not ended

    ended = protected.add(ctx, "+6149157*", end_holders=True, actor=CLI)
    assert ended.ended
    assert cn.get_registration(ctx, account.id, registration.id).status == "deleted"
    [row] = [r for r in sms_rows(ctx) if r.id == message_id]
    assert row.status == "cancelled"
    named = protected.add(ctx, "anz", end_holders=True, actor=CLI)
    assert [(h.kind, h.id) for h in named.holders] == [("business_name", name.id)]
    assert business_names.get(ctx, name.id).status == "REJECTED"


def test_the_list_and_bad_values(ctx: Context, customer) -> None:
    protected.add(ctx, "ANZ", note="a bank", actor=CLI)
    protected.add(ctx, "ANZ", accounts_allowed=[customer.account.id], note="the bank's own", actor=CLI)  # replaced
    protected.add(ctx, "+6149157*", actor=CLI)
    listed = [(e.kind, e.shown, e.accounts, e.note) for e in protected.list_protected(ctx)]
    assert listed == [("name", "ANZ", (customer.account.id,), "the bank's own"), ("prefix", "+6149157*", (), None)]
    for bad in ("", "12345", "+*", "0491 570"):
        with pytest.raises(InvalidRequest):
            protected.add(ctx, bad, actor=CLI)
    with pytest.raises(NotFound):
        protected.add(ctx, "Westpac", accounts_allowed=["0" * 24], actor=CLI)
    protected.remove(ctx, "+6149157*", actor=CLI)
    with pytest.raises(NotFound):
        protected.remove(ctx, "+6149157*", actor=CLI)
    assert [e.shown for e in protected.list_protected(ctx)] == ["ANZ"]

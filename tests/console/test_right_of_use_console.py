"""The console's right of use: the Protected page (protect, the holders found and ended,
remove), OTP turned off only with a reason, an account's re-verification period, and a
registration's verifiedBy."""

from __future__ import annotations

import re

import sqlalchemy as sa
from fastapi.testclient import TestClient

from senderid.domain import accounts, protected
from senderid.domain import custom_numbers as cn
from senderid.domain.context import Context
from senderid.domain.types import Actor
from senderid.store.tables import audit_events
from tests.support.console_support import csrf_of

WHO = Actor("test")


def _post(console: TestClient, page: str, action: str, **form: str):
    token = csrf_of(console.get(page).text)
    return console.post(action, data={"csrf": token, **form}, follow_redirects=False)


def test_the_protected_page(console: TestClient, ctx: Context, no_otp_customer) -> None:
    held = cn.add(ctx, no_otp_customer.account, name="x", number="+61491570156", actor=WHO)
    r = _post(console, "/console/protected", "/console/protected", value="+6149157*", note="Do Not Originate")
    assert r.status_code == 200 and "still held by" in r.text and "+61491570156" in r.text
    assert cn.get_registration(ctx, no_otp_customer.account.id, held.id).status == "active"
    r = _post(console, "/console/protected", "/console/protected", value="+6149157*", end_holders="true")
    assert r.status_code == 200 and "ended" in r.text
    assert cn.get_registration(ctx, no_otp_customer.account.id, held.id).status == "deleted"
    page = console.get("/console/protected").text
    assert "+6149157*" in page and "Do Not Originate" not in page  # protecting again replaced the note
    r = _post(console, "/console/protected", "/console/protected", value="0491 570")
    assert r.status_code == 400 and "not a valid mobile number" in r.text
    r = _post(console, "/console/protected", "/console/protected/remove", value="+6149157*")
    assert r.status_code == 303
    assert protected.list_protected(ctx) == []


def test_otp_off_needs_a_reason_and_numbers_show_how_they_were_proven(console: TestClient, ctx: Context,
                                                                      customer) -> None:
    page = f"/console/accounts/{customer.account.id}"
    r = _post(console, page, f"{page}/otp", otp_required="false")
    assert r.status_code == 400 and "needs a reason" in r.text
    assert accounts.get_account(ctx, customer.account.id).otp_required is True
    r = _post(console, page, f"{page}/otp", otp_required="false", reason="vouched for by the carrier")
    assert r.status_code == 303
    with ctx.db.read() as conn:
        details = conn.execute(sa.select(audit_events.c.details).where(
            audit_events.c.action == "account.updated")).scalars().all()
    assert {"otp_required": False, "reason": "vouched for by the carrier"} in details

    r = _post(console, page, f"{page}/reverify", reverify_after_days="90")
    assert r.status_code == 303 and accounts.get_account(ctx, customer.account.id).reverify_after_days == 90
    assert _post(console, page, f"{page}/reverify", reverify_after_days="soon").status_code == 400

    account = accounts.get_account(ctx, customer.account.id)
    registration = cn.add(ctx, account, name="x", number="+61491570156", actor=WHO)
    text = console.get(f"{page}/numbers/{registration.id}").text
    assert re.search(r"Verified by</dt><dd>operator", text), text
    assert "operator" in console.get("/console/numbers").text

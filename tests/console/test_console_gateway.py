"""The console's gateway pages: scheduled messages (cancel), opt-outs, credits and usage per account."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from senderid.domain import accounts, credits, messages, optouts
from senderid.domain.context import Context
from senderid.domain.types import CLI
from tests.support.console_support import csrf_of
from tests.support.gateway import sms_rows
from tests.support.helpers import deliver_all


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_scheduled_messages_and_cancelling(console: TestClient, ctx: Context, customer) -> None:
    outcome = messages.send(ctx, customer.account, message="Later", contacts=["+61491570157"], sender=None,
                            actor=CLI, fields={"delay": 3_600_000, "customString": "crm"})
    messages.send(ctx, customer.account, message="Now", contacts=["+61491570158"], sender=None, actor=CLI)
    page = console.get("/console/scheduled")
    assert page.status_code == 200
    shown = text(page.text)
    assert "+614915***57" in shown and "crm" in shown and "Acme" in shown
    assert "+614915***58" not in shown and "+61491570157" not in page.text  # masked; not the due one
    message_id = outcome.queued[0].message_id
    r = console.post(f"/console/scheduled/{message_id}/cancel",
                     data={"csrf": csrf_of(page.text), "account_id": customer.account.id}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/console/scheduled?done=cancelled")
    assert {row.id: row.status for row in sms_rows(ctx)}[message_id] == "cancelled"
    assert "No scheduled messages." in console.get("/console/scheduled").text


def test_an_accounts_opt_outs_credits_and_usage(console: TestClient, ctx: Context, customer) -> None:
    a = customer.account.id
    path = f"/console/accounts/{a}/gateway"
    page = console.get(path)
    assert page.status_code == 200
    assert "Unlimited" in page.text and "Nobody has opted out." in page.text and "Nothing sent yet." in page.text
    assert optouts.list_id(a) in page.text
    assert path in console.get(f"/console/accounts/{a}").text  # linked from the account page
    csrf = csrf_of(page.text)

    r = console.post(f"/console/accounts/{a}/credits", data={"csrf": csrf, "credits": "12.5"}, follow_redirects=False)
    assert r.headers["location"] == f"{path}?done=credits-set"
    assert credits.balance(ctx, a) == 12.5
    bad = console.post(f"/console/accounts/{a}/credits", data={"csrf": csrf, "credits": "lots"})
    assert bad.status_code == 400 and "Credits: a number, or empty for unlimited" in bad.text

    r = console.post(f"/console/accounts/{a}/optouts", data={"csrf": csrf, "number": "0491 570 157"},
                     follow_redirects=False)
    assert r.headers["location"] == f"{path}?done=optout-added"
    assert [o.source for o in optouts.list_optouts(ctx, a)[0]] == ["console"]
    bad = console.post(f"/console/accounts/{a}/optouts", data={"csrf": csrf, "number": "nope"})
    assert bad.status_code == 400 and "number is not a valid mobile number" in bad.text

    account = accounts.get_account(ctx, a)  # as the API's caller sees it now: prepaid
    messages.send(ctx, account, message="Hi", contacts=["+61491570157", "+61491570158"], sender=None,
                  actor=CLI, fields={"customString": "shop"})
    deliver_all(ctx)
    shown = text(console.get(path).text)
    assert "Prepaid balance: 11.5 credits" in shown
    assert "shop 1 1" in shown  # one contact sent (the other opted out): one part, one credit
    assert "+61491570157 console" in shown

    r = console.post(f"/console/accounts/{a}/optouts/remove", data={"csrf": csrf, "number": "+61491570157"},
                     follow_redirects=False)
    assert r.headers["location"] == f"{path}?done=optout-removed"
    assert optouts.list_optouts(ctx, a)[1] == 0
    gone = console.post(f"/console/accounts/{a}/optouts/remove", data={"csrf": csrf, "number": "+61491570157"})
    assert gone.status_code == 400 and "is not on your opt-out list" in gone.text
    r = console.post(f"/console/accounts/{a}/credits", data={"csrf": csrf, "credits": ""}, follow_redirects=False)
    assert credits.balance(ctx, a) is None

"""Short links of gateway messages: ``gosite.au/<shortUrl>`` becomes ``<base>/<code>``.

Each message gets its own code for each link, so a click tells which contact
followed it. ``GET /s/<code>`` redirects to the long URL and counts the click.
Codes are 8 random letters and digits (62^8 of them): not guessable in practice.

A message from a business name with ``replyStopToOptOut`` gets an unsubscribe link too
(:func:`store_optouts`): a code whose row names the contact (``optout_number``) instead of
a long URL. Following it never counts a click nor opts out; the page it shows does, by a
form POST (:func:`senderid.domain.optouts.add_by_link`).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from senderid.domain.context import Context
from senderid.domain.gateway_fields import CODE_LENGTH, Link
from senderid.store.bulk import insert_rows
from senderid.store.coltypes import UTCDateTime
from senderid.store.tables import outbox, short_links

_ALPHABET = string.ascii_letters + string.digits
CODE = re.compile(rf"[A-Za-z0-9]{{{CODE_LENGTH}}}")


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True, slots=True)
class Click:
    long_url: str


def codes_for(count: int, links: Sequence[Link]) -> list[dict[str, str]]:
    """A fresh code per message (``count`` of them) and link: ``[{short: code}]``."""
    return [{link.short: new_code() for link in links} for _ in range(count)]


def store(conn: Connection, *, account_id: str, now: datetime, message_ids: Sequence[str],
          links: Sequence[Link], codes: Sequence[dict[str, str]]) -> None:
    """Every message's codes, in one statement (:func:`senderid.store.bulk.insert_rows`)."""
    rows = [
        {"code": per_message[link.short], "account_id": account_id, "message_id": message_id,
         "long_url": link.long_url, "clicks": 0, "created_at": now}
        for message_id, per_message in zip(message_ids, codes, strict=True) for link in links
    ]
    insert_rows(conn, short_links, rows)


def store_optouts(conn: Connection, *, account_id: str, now: datetime, message_ids: Sequence[str],
                  numbers: Sequence[str], codes: Sequence[str]) -> None:
    """The messages' unsubscribe links (a code per message), in one statement."""
    rows = [
        {"code": code, "account_id": account_id, "message_id": message_id, "long_url": "", "clicks": 0,
         "created_at": now, "optout_number": number}
        for message_id, number, code in zip(message_ids, numbers, codes, strict=True)
    ]
    insert_rows(conn, short_links, rows)


@dataclass(frozen=True, slots=True)
class OptOutLink:
    account_id: str
    number: str  # the contact it opts out (E.164)
    sender: str  # what the message went out as


def optout_link(ctx: Context, code: str) -> OptOutLink | None:
    """The unsubscribe link of ``code``, or None (unknown, or a plain short link). Reads only."""
    if not CODE.fullmatch(code):
        return None
    with ctx.db.read() as conn:
        row = conn.execute(
            select(short_links.c.account_id, short_links.c.optout_number, outbox.c.sender)
            .select_from(short_links.outerjoin(outbox, outbox.c.id == short_links.c.message_id))
            .where(short_links.c.code == code, short_links.c.optout_number.is_not(None))
        ).first()
    return None if row is None else OptOutLink(row.account_id, row.optout_number, row.sender or "")


_FOLLOW = (
    update(short_links)
    .where(short_links.c.code == bindparam("s_code"), short_links.c.optout_number.is_(None))
    .values(clicks=short_links.c.clicks + 1, last_click_at=bindparam("s_now", type_=UTCDateTime))
    .returning(short_links.c.long_url)
)


def follow(ctx: Context, code: str) -> str | None:
    """The long URL of ``code``, counting the click; None for an unknown code or an
    unsubscribe link (:func:`optout_link`)."""
    if not CODE.fullmatch(code):
        return None
    with ctx.db.write() as conn:
        return conn.execute(_FOLLOW, {"s_code": code, "s_now": ctx.clock.now()}).scalar()


def of_message(ctx: Context, message_id: str) -> list[dict[str, object]]:
    """The links of one message, with their clicks."""
    with ctx.db.read() as conn:
        rows = conn.execute(select(short_links).where(short_links.c.message_id == message_id)
                            .order_by(short_links.c.created_at, short_links.c.code)).all()
    return [{"code": r.code, "long_url": r.long_url, "clicks": r.clicks, "last_click_at": r.last_click_at}
            for r in rows]

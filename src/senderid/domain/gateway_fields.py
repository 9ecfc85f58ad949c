"""The gateway's optional Cellcast v1 fields, read and checked (SPEC §6.1): pure, no storage.

Each documented field is honoured or refused with a 400 that names it; none is
silently ignored:

* ``scheduleAt`` (ISO-8601, or ``Y-m-d H:i:s`` read as UTC) or ``delay`` (milliseconds,
  1 to 86,400,000): when the message becomes due (the outbox row's due time);
* ``customString``: letters, digits and dashes, kept with each message for the usage report;
* ``replyStopToOptOut``: a last line ``Reply STOP to opt out`` is added to the text; a
  business name cannot receive a reply, so from one the line is ``Opt out: <link>``, a
  link of this server (``SENDERID_SHORT_LINK_BASE``) whose page opts the contact out;
* ``optout`` / ``optoutId``: the opt-out list to honour (one per account, named by
  :func:`senderid.domain.optouts.list_id`);
* ``longUrl``: ``gosite.au/<shortUrl>`` in the text becomes a short link of this server;
* ``countryCode``: only 61 (as documented).

Custom fields ``{{[Field]}}`` are refused: senderid keeps no contact book to fill them from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from senderid.errors import InvalidRequest

MAX_DELAY_MS = 86_400_000
MAX_SCHEDULE_AHEAD = timedelta(days=366)
MAX_CUSTOM_STRING = 64
MAX_LINKS = 10
MAX_LONG_URL = 2000
STOP_LINE = "Reply STOP to opt out"
OPTOUT_LINK_LINE = "Opt out: {link}"
LINK_HOST = "gosite.au"
CODE_LENGTH = 8  # a short link's code: 8 letters and digits

_CUSTOM_FIELD = re.compile(r"\{\{\s*\[[^\]]*\]\s*\}\}")
_CUSTOM_STRING = re.compile(r"[A-Za-z0-9-]+")
_SHORT_URL = re.compile(r"[A-Za-z0-9]{3,32}")
_PLAIN_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits only: "²" and "٣" are digits to str.isdigit
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+-]*:")  # http:, javascript:, mailto: (a dot: a host name)


@dataclass(frozen=True, slots=True)
class Link:
    short: str  # the caller's shortUrl, as in gosite.au/<short>
    long_url: str  # where the link leads (https:// added when no scheme was given)


@dataclass(frozen=True, slots=True)
class SendOptions:
    due_at: datetime | None = None  # None: at once
    custom_string: str | None = None
    reply_stop: bool = False
    optout_list: str | None = None  # the list asked for (None: the account's default)
    links: tuple[Link, ...] = ()


PLAIN = SendOptions()


def refuse_custom_fields(message: str) -> None:
    found = _CUSTOM_FIELD.search(message)
    if found:
        raise InvalidRequest(
            f"message: custom fields such as {found.group()} are not supported; senderid keeps no "
            "contact book to fill them from, so put the text itself in the message"
        )


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


_PAST = "scheduleAt is in the past: give a future time (UTC), or leave it out to send now"
_TOO_FAR = "scheduleAt is more than a year ahead"


def parse_schedule_at(value: object, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise InvalidRequest(
            "scheduleAt must be a string such as 2024-08-14T14:58:00.981Z or 2024-08-14 14:58:00 (UTC)"
        )
    text = value.strip()
    try:
        if _PLAIN_TIME.fullmatch(text):
            at = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        else:
            at = datetime.fromisoformat(text.replace("z", "Z"))
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)  # documented as UTC+0
    except ValueError:
        raise InvalidRequest(
            f"scheduleAt {text[:40]!r} is not a time: use ISO-8601 UTC such as 2024-08-14T14:58:00.981Z "
            "or Y-m-d H:i:s such as 2024-08-14 14:58:00 (UTC)"
        ) from None
    try:
        at = at.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 or 9999-12-31T23:59:59-01:00: outside what UTC can hold
        raise InvalidRequest(_PAST if at.year < now.year else _TOO_FAR) from None
    if at <= now:
        raise InvalidRequest(_PAST)
    if at > now + MAX_SCHEDULE_AHEAD:
        raise InvalidRequest(_TOO_FAR)
    return at


def parse_delay(value: object) -> timedelta:
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DELAY_MS:
        raise InvalidRequest(f"delay must be a whole number of milliseconds from 1 to {MAX_DELAY_MS:,} (24 hours)")
    return timedelta(milliseconds=value)


def _flag(body: Mapping[str, object], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be true or false")
    return value


def _custom_string(value: object) -> str | None:
    if _blank(value):
        return None
    if (
        not isinstance(value, str)
        or not _CUSTOM_STRING.fullmatch(value.strip())
        or len(value.strip()) > MAX_CUSTOM_STRING
    ):
        raise InvalidRequest(f"customString may hold only letters, digits and dashes (at most {MAX_CUSTOM_STRING})")
    return value.strip()


def _optout(body: Mapping[str, object], list_id: str) -> str | None:
    enabled = _flag(body, "optout")
    wanted = body.get("optoutId")
    if _blank(wanted):
        return list_id if enabled else None
    if not isinstance(wanted, str) or wanted.strip().lower() != list_id:
        raise InvalidRequest(f"optoutId does not name an opt-out list of your account (yours is {list_id})")
    return list_id


def _links(value: object, message: str, base: str | None) -> tuple[Link, ...]:
    if value is None or value == []:
        return ()
    if base is None:
        raise InvalidRequest(
            "longUrl: short links are not enabled on this server (SENDERID_SHORT_LINK_BASE is not set)"
        )
    if not isinstance(value, list) or len(value) > MAX_LINKS:
        raise InvalidRequest(f'longUrl must be a list of at most {MAX_LINKS} {{"longUrl": ..., "shortUrl": ...}}')
    links: list[Link] = []
    for item in value:
        if not isinstance(item, dict):
            raise InvalidRequest('longUrl must be a list of {"longUrl": ..., "shortUrl": ...}')
        short, long_url = item.get("shortUrl"), item.get("longUrl")
        if not isinstance(short, str) or not _SHORT_URL.fullmatch(short):
            raise InvalidRequest("longUrl: each shortUrl must be 3 to 32 letters or digits")
        if not isinstance(long_url, str) or not long_url.strip() or len(long_url.strip()) > MAX_LONG_URL:
            raise InvalidRequest(f"longUrl: each longUrl must be a URL of at most {MAX_LONG_URL} characters")
        target = long_url.strip()
        if not _SCHEME.match(target):
            target = "https://" + target
        if (not target.lower().startswith(("http://", "https://")) or not target.isprintable() or " " in target
                or not _hostname(target)):
            raise InvalidRequest("longUrl: each longUrl must be an http(s) web address")
        if any(link.short == short for link in links):
            raise InvalidRequest(f"longUrl: shortUrl {short!r} is given twice")
        if not link_pattern(short).search(message):
            raise InvalidRequest(f"longUrl: the message does not contain {LINK_HOST}/{short}")
        links.append(Link(short, target))
    return tuple(links)


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:  # https://[::1 : an unclosed IPv6 address, and the like
        return None


def link_pattern(short: str) -> re.Pattern[str]:
    """``gosite.au/<short>`` in a text (with or without http(s)://), not followed by more of a name."""
    return re.compile(rf"(?:https?://)?{re.escape(LINK_HOST)}/{re.escape(short)}(?![A-Za-z0-9])", re.IGNORECASE)


def parse(body: Mapping[str, object], *, message: str, now: datetime, list_id: str,
          short_link_base: str | None) -> SendOptions:
    """The options of a gateway request (400 naming the field for anything wrong)."""
    country = body.get("countryCode")
    if not _blank(country) and not (
        (type(country) is int and country == 61)
        or (isinstance(country, str) and country.strip().lstrip("+") == "61")
    ):
        raise InvalidRequest("countryCode: the only allowed value is 61")
    schedule_at, delay = body.get("scheduleAt"), body.get("delay")
    if not _blank(schedule_at) and not _blank(delay):
        raise InvalidRequest("scheduleAt and delay cannot both be given: choose one")
    due_at = None
    if not _blank(schedule_at):
        due_at = parse_schedule_at(schedule_at, now)
    elif not _blank(delay):
        due_at = now + parse_delay(delay)
    return SendOptions(
        due_at=due_at,
        custom_string=_custom_string(body.get("customString")),
        reply_stop=_flag(body, "replyStopToOptOut"),
        optout_list=_optout(body, list_id),
        links=_links(body.get("longUrl"), message, short_link_base),
    )


def compose(message: str, options: SendOptions, optout_link: str | None = None) -> str:
    """The text as sent, with ``gosite.au/<short>`` still in it (see :func:`with_links`).
    ``optout_link``: the message's unsubscribe link, which takes the STOP line's place."""
    if not options.reply_stop:
        return message
    line = STOP_LINE if optout_link is None else OPTOUT_LINK_LINE.format(link=optout_link)
    return f"{message}\n{line}"


def with_links(text: str, options: SendOptions, base: str, codes: dict[str, str]) -> str:
    """``text`` with each link of ``options`` replaced by ``<base>/<code>``."""
    for link in options.links:
        text = link_pattern(link.short).sub(_literally(f"{base}/{codes[link.short]}"), text)
    return text


def _literally(replacement: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement that is taken as it is (no group references)."""
    return lambda _match: replacement

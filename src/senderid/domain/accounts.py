"""Accounts and their API keys.

A key is ``sid_`` followed by 43 URL-safe characters (256 random bits). It is
shown once, when created; only its SHA-256 is stored (a key has far too much
entropy for a fast hash to be brute-forced), so a key found in the database
cannot be used. Keys can expire and be revoked; a key is named in listings and
audit records by its id and its first characters (``prefix``), never in full.

An operator can suspend an account (:func:`set_suspended`): its keys are refused with the
same 401 as a revoked key (the authentication statement skips a suspended account), and
its queued messages wait: the worker's claim skips them (``delivery.lanes``) until the
account is resumed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, or_, select, update

from senderid import ids, signing, webhook_urls
from senderid.domain import audit
from senderid.domain.context import Context
from senderid.domain.custom_numbers import timed
from senderid.domain.types import Account, Actor, ApiKey, Caller
from senderid.errors import InvalidRequest, NotFound
from senderid.store.coltypes import UTCDateTime
from senderid.store.prepared import Prepared
from senderid.store.tables import accounts, api_keys

KEY_PREFIX = "sid_"
_SHOWN_PREFIX_LENGTH = 12
MAX_ACCOUNT_NAME = 200


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _account(row: Row[Any]) -> Account:
    m = row._mapping
    return Account(id=m["id"], name=m["name"], otp_required=m["otp_required"], created_at=m["created_at"],
                   prepaid=bool(m["prepaid"]), reverify_after_days=m["reverify_after_days"],
                   suspended_at=m.get("suspended_at"))


def _api_key(row: Row[Any]) -> ApiKey:
    m = row._mapping
    return ApiKey(
        id=m["id"],
        account_id=m["account_id"],
        prefix=m["prefix"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
    )


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_ACCOUNT_NAME or not name.isprintable():
        raise InvalidRequest(f"An account name is 1 to {MAX_ACCOUNT_NAME} printable characters")
    return name


def create_account(ctx: Context, name: str, *, otp_required: bool = True, actor: Actor) -> Account:
    name = _clean_name(name)
    now = ctx.clock.now()
    account = Account(id=ids.new_id(), name=name, otp_required=otp_required, created_at=now)
    with ctx.db.write() as conn:
        conn.execute(
            insert(accounts).values(
                id=account.id, name=name, otp_required=otp_required, created_at=now, updated_at=now
            )
        )
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.ACCOUNT_CREATED, account_id=account.id,
            subject=account.id, name=name, otp_required=otp_required,
        )
    return account


def get_account(ctx: Context, account_id: str) -> Account:
    with ctx.db.read() as conn:
        row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    if row is None:
        raise NotFound(f"No account with id {account_id}")
    return _account(row)


def find_account_by_name(ctx: Context, name: str) -> Account | None:
    with ctx.db.read() as conn:
        row = conn.execute(
            select(accounts).where(accounts.c.name == name).order_by(accounts.c.created_at).limit(1)
        ).first()
    return None if row is None else _account(row)


def names(ctx: Context, account_ids: set[str]) -> dict[str, str]:
    """Account id -> name, for the ids given (unknown ids are left out)."""
    if not account_ids:
        return {}
    with ctx.db.read() as conn:
        rows = conn.execute(select(accounts.c.id, accounts.c.name).where(accounts.c.id.in_(sorted(account_ids))))
        return {row.id: row.name for row in rows}


def list_accounts(ctx: Context, *, limit: int = 50, offset: int = 0) -> tuple[list[Account], int]:
    """One page of accounts, oldest first (ties broken by id, so pages are stable), and the total."""
    with ctx.db.read() as conn:
        total = conn.execute(select(func.count()).select_from(accounts)).scalar_one()
        rows = conn.execute(
            select(accounts).order_by(accounts.c.created_at, accounts.c.id).limit(limit).offset(offset)
        ).all()
    return [_account(row) for row in rows], total


MAX_REASON = 500


def set_otp_required(ctx: Context, account_id: str, otp_required: bool, *, reason: object = None,
                     actor: Actor) -> Account:
    """Whether adding a number sends a code. Turning codes off needs a ``reason`` (kept in
    the audit record): the account's numbers are then activated on the operator's word
    (``verifiedBy`` ``operator``)."""
    clean_reason = reason.strip() if isinstance(reason, str) else None
    if not otp_required and not clean_reason:
        raise InvalidRequest("turning OTP off needs a reason (who vouches for the account's numbers, and why)")
    if clean_reason is not None and (len(clean_reason) > MAX_REASON or not clean_reason.isprintable()):
        raise InvalidRequest(f"a reason is at most {MAX_REASON} printable characters")
    reason_field = {"reason": clean_reason} if clean_reason else {}
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        result = conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(otp_required=otp_required, updated_at=now)
        )
        if result.rowcount == 0:
            raise NotFound(f"No account with id {account_id}")
        ctx.db.after_commit(lambda: ctx.senders.forget(account_id))  # cached callers carry it
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.ACCOUNT_UPDATED, account_id=account_id,
            subject=account_id, otp_required=otp_required, **reason_field,
        )
    return get_account(ctx, account_id)


MAX_REVERIFY_DAYS = 36_500


def set_reverify_after_days(ctx: Context, account_id: str, days: float | None, *, actor: Actor) -> Account:
    """The account's own SENDERID_REVERIFY_AFTER_DAYS (None: the setting's; 0: its numbers
    never lapse). Its active numbers' schedules follow at once, each with its full notice
    period if the change makes it overdue."""
    if days is not None and not (0 <= days <= MAX_REVERIFY_DAYS):
        raise InvalidRequest(f"reverify-after-days must be between 0 and {MAX_REVERIFY_DAYS:,} (0: never)")
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        result = conn.execute(update(accounts).where(accounts.c.id == account_id)
                              .values(reverify_after_days=days, updated_at=now))
        if result.rowcount == 0:
            raise NotFound(f"No account with id {account_id}")
        ctx.db.after_commit(lambda: ctx.senders.forget(account_id))  # cached callers carry it
        audit.record(conn, at=now, actor=actor, action=audit.Action.ACCOUNT_UPDATED, account_id=account_id,
                     subject=account_id, reverify_after_days=days)
        timed.reconcile(ctx.db, ctx.settings, now, account_id=account_id)  # joins this transaction
    return get_account(ctx, account_id)


def rename(ctx: Context, account_id: str, name: str, *, actor: Actor) -> Account:
    """Give the account a new name (1 to 200 printable characters)."""
    name = _clean_name(name)
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        old = conn.execute(select(accounts.c.name).where(accounts.c.id == account_id)).scalar_one_or_none()
        if old is None:
            raise NotFound(f"No account with id {account_id}")
        conn.execute(update(accounts).where(accounts.c.id == account_id).values(name=name, updated_at=now))
        ctx.db.after_commit(lambda: ctx.senders.forget(account_id))  # cached callers carry it
        audit.record(conn, at=now, actor=actor, action=audit.Action.ACCOUNT_RENAMED, account_id=account_id,
                     subject=account_id, name=name, previous_name=old)
    return get_account(ctx, account_id)


def set_suspended(ctx: Context, account_id: str, suspended: bool, *, actor: Actor) -> tuple[Account, bool]:
    """Suspend the account (``suspended``) or resume it: the account, and whether this changed
    anything (suspending a suspended account, or resuming one in use, changes nothing and is
    not audited again).

    From the commit on, this process refuses the account's keys; the others when the
    database's change signal reaches them (the ``accounts`` trigger, within 100 ms). The
    worker's claim reads the column itself, so no queued message of a suspended account is
    taken after the commit, whichever process claims."""
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        row = conn.execute(select(accounts.c.suspended_at).where(accounts.c.id == account_id)).first()
        if row is None:
            raise NotFound(f"No account with id {account_id}")
        changed = (row.suspended_at is None) == suspended
        if changed:
            conn.execute(update(accounts).where(accounts.c.id == account_id)
                         .values(suspended_at=now if suspended else None, updated_at=now))
            ctx.db.after_commit(lambda: ctx.senders.forget(account_id))
            if suspended:
                audit.record(conn, at=now, actor=actor, action=audit.Action.ACCOUNT_SUSPENDED,
                             account_id=account_id, subject=account_id)
            else:
                audit.record(conn, at=now, actor=actor, action=audit.Action.ACCOUNT_RESUMED,
                             account_id=account_id, subject=account_id)
    return get_account(ctx, account_id), changed


MAX_KEY_DAYS = 36_500  # a hundred years: any longer is "never", which is no expiry at all


def create_key(
    ctx: Context, account_id: str, *, expires_in_days: int | None = None, actor: Actor,
    key: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key for the account: its record, and the key itself (shown once).

    ``key``: the key's value when the caller derived it itself (the demo key, from the
    server secret, so that a restart can name it again); random otherwise."""
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_KEY_DAYS:
        raise InvalidRequest(f"expires_in_days must be between 1 and {MAX_KEY_DAYS:,} (days)")
    if key is not None and not (key.startswith(KEY_PREFIX) and len(key) == len(KEY_PREFIX) + 43):
        raise InvalidRequest(f"A key is {KEY_PREFIX} and 43 URL-safe characters")
    key = key or KEY_PREFIX + secrets.token_urlsafe(32)
    now = ctx.clock.now()
    record = ApiKey(
        id=ids.new_id(),
        account_id=account_id,
        prefix=key[:_SHOWN_PREFIX_LENGTH],
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        revoked_at=None,
    )
    with ctx.db.write() as conn:
        if conn.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first() is None:
            raise NotFound(f"No account with id {account_id}")
        conn.execute(
            insert(api_keys).values(
                id=record.id,
                account_id=account_id,
                key_hash=hash_key(key),
                prefix=record.prefix,
                created_at=now,
                expires_at=record.expires_at,
            )
        )
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.KEY_CREATED, account_id=account_id,
            subject=record.id, prefix=record.prefix, expires_at=_iso(record.expires_at),
        )
    return record, key


def revoke_key(ctx: Context, key_or_id: str, *, actor: Actor) -> ApiKey:
    """Revoke a key given either the key itself or its id. Revoking twice is harmless."""
    if key_or_id.startswith(KEY_PREFIX):
        where = api_keys.c.key_hash == hash_key(key_or_id)
    else:
        where = api_keys.c.id == key_or_id
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        row = conn.execute(select(api_keys).where(where)).first()
        if row is None:
            raise NotFound("No such key")
        key = _api_key(row)
        if key.revoked_at is None:
            conn.execute(update(api_keys).where(api_keys.c.id == key.id).values(revoked_at=now))
            audit.record(
                conn, at=now, actor=actor, action=audit.Action.KEY_REVOKED, account_id=key.account_id,
                subject=key.id, prefix=key.prefix,
            )
            key = ApiKey(key.id, key.account_id, key.prefix, key.created_at, key.expires_at, now)
        # After the commit this process stops accepting the key at once; the others when
        # the database's change signal reaches them (within 100 ms).
        ctx.db.after_commit(lambda: ctx.senders.forget(key.account_id))
    return key


def find_key(ctx: Context, key: str) -> ApiKey | None:
    """The record of ``key`` (usable or not), or None when no such key was ever made."""
    with ctx.db.read() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.key_hash == hash_key(key))).first()
    return None if row is None else _api_key(row)


def list_keys(ctx: Context, account_id: str) -> list[ApiKey]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.created_at)
        ).all()
    return [_api_key(row) for row in rows]


# Built once, run on the driver's cursor: a key not in memory only binds its hash and the time.
_AUTHENTICATE = Prepared(
    select(api_keys.c.id.label("key_id"), api_keys.c.expires_at, accounts.c.id, accounts.c.name,
           accounts.c.otp_required, accounts.c.created_at, accounts.c.prepaid, accounts.c.reverify_after_days)
    .join(accounts, accounts.c.id == api_keys.c.account_id)
    .where(
        api_keys.c.key_hash == bindparam("key_hash"),
        api_keys.c.revoked_at.is_(None),
        accounts.c.suspended_at.is_(None),  # a suspended account's keys answer as revoked ones
        or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > bindparam("now", type_=UTCDateTime)),
    )
)


def cached_caller(ctx: Context, key: str) -> Caller | None:
    """The caller of ``key`` if this process has it in memory (no database work), else None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    return ctx.senders.caller(hash_key(key), ctx.clock.now())


def authenticate(ctx: Context, key: str) -> Caller | None:
    """The caller a key belongs to, or None for an unknown, revoked or expired key."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    key_hash, now = hash_key(key), ctx.clock.now()
    cached = ctx.senders.caller(key_hash, now)
    if cached is not None:
        return cached
    generation = ctx.senders.generation()
    with ctx.db.read() as conn:
        row = _AUTHENTICATE.run(conn, {"key_hash": key_hash, "now": now}).first()
    if row is None:
        return None
    caller = Caller(account=_account(row), key_id=row.key_id)
    ctx.senders.put_caller(key_hash, caller, row.expires_at, generation)
    return caller


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# -- webhooks ------------------------------------------------------------------------------
# An account may name one URL that receives its events (custom_number.verified, ...), signed
# with the account's secret (Standard Webhooks, ``whsec_...``). The secret is kept in clear
# (it is needed to sign) and shown only when created; audit records never hold it, nor the
# URL's query string (which may carry a receiver's token).


@dataclass(frozen=True, slots=True)
class WebhookChange:
    """What :func:`set_webhook_url` did: the URL now set, and a secret it had to create."""

    url: str | None
    new_secret: str | None  # set only when the account had no secret yet: shown this once


def set_webhook_url(ctx: Context, account_id: str, url: str | None, *, actor: Actor) -> WebhookChange:
    """Point the account's events at ``url`` (None or blank: stop sending them).

    The URL must be http(s), name a host and carry no credentials; unless
    ``webhook_allow_private``, its host must resolve to public addresses only (checked
    again at every delivery). An account without a signing secret gets one here, so
    every event is signed; it is returned once, in ``new_secret``.
    """
    clean = (url or "").strip() or None
    if clean is not None:
        try:  # before the transaction: resolving a name can take a while
            webhook_urls.check_url(clean, allow_private=ctx.settings.webhook_allow_private)
        except webhook_urls.UnsafeUrl as exc:
            raise InvalidRequest(str(exc)) from None
    now = ctx.clock.now()
    new_secret = None
    with ctx.db.write() as conn:
        row = conn.execute(
            select(accounts.c.webhook_secret).where(accounts.c.id == account_id)
        ).first()
        if row is None:
            raise NotFound(f"No account with id {account_id}")
        values: dict[str, object] = {"webhook_url": clean, "updated_at": now}
        if clean is not None and not row.webhook_secret:
            new_secret = values["webhook_secret"] = signing.generate_secret()
        conn.execute(update(accounts).where(accounts.c.id == account_id).values(**values))
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.ACCOUNT_WEBHOOK_UPDATED, account_id=account_id,
            subject=account_id, webhook_url=None if clean is None else webhook_urls.without_query(clean),
            signing_secret_created=new_secret is not None,
        )
    return WebhookChange(clean, new_secret)


def rotate_webhook_secret(ctx: Context, account_id: str, *, actor: Actor) -> str:
    """A new signing secret for the account's webhook, returned once; the old one stops at once."""
    secret = signing.generate_secret()
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        result = conn.execute(
            update(accounts).where(accounts.c.id == account_id).values(webhook_secret=secret, updated_at=now)
        )
        if result.rowcount == 0:
            raise NotFound(f"No account with id {account_id}")
        audit.record(
            conn, at=now, actor=actor, action=audit.Action.ACCOUNT_WEBHOOK_SECRET_ROTATED, account_id=account_id,
            subject=account_id,
        )
    return secret


def get_webhook_url(ctx: Context, account_id: str) -> str | None:
    """The account's webhook URL, or None (the secret is never read back)."""
    with ctx.db.read() as conn:
        row = conn.execute(select(accounts.c.webhook_url).where(accounts.c.id == account_id)).first()
    if row is None:
        raise NotFound(f"No account with id {account_id}")
    url: str | None = row.webhook_url
    return url

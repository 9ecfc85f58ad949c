"""Accounts and their API keys.

A key is ``sid_`` followed by 43 URL-safe characters (256 random bits). It is
shown once, when created; only its SHA-256 is stored (a key has far too much
entropy for a fast hash to be brute-forced), so a key found in the database
cannot be used. Keys can expire and be revoked; a key is named in listings and
audit records by its id and its first characters (``prefix``), never in full.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, select, update

from senderid import ids
from senderid.domain import audit
from senderid.domain.context import Actor, Context
from senderid.errors import InvalidRequest, NotFound
from senderid.store.tables import accounts, api_keys

KEY_PREFIX = "sid_"
_SHOWN_PREFIX_LENGTH = 12
MAX_ACCOUNT_NAME = 200


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    otp_required: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    account_id: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def is_usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated API caller."""

    account: Account
    key_id: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _account(row: object) -> Account:
    m = row._mapping  # type: ignore[attr-defined]
    return Account(id=m["id"], name=m["name"], otp_required=m["otp_required"], created_at=m["created_at"])


def _api_key(row: object) -> ApiKey:
    m = row._mapping  # type: ignore[attr-defined]
    return ApiKey(
        id=m["id"],
        account_id=m["account_id"],
        prefix=m["prefix"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
    )


def create_account(ctx: Context, name: str, *, otp_required: bool = True, actor: Actor) -> Account:
    name = name.strip()
    if not name or len(name) > MAX_ACCOUNT_NAME:
        raise InvalidRequest(f"An account name is 1 to {MAX_ACCOUNT_NAME} characters")
    now = ctx.clock.now()
    account = Account(id=ids.new_id(), name=name, otp_required=otp_required, created_at=now)
    with ctx.db.write() as conn:
        conn.execute(
            insert(accounts).values(
                id=account.id, name=name, otp_required=otp_required, created_at=now, updated_at=now
            )
        )
        audit.record(
            conn, at=now, actor=actor, action="account.created", account_id=account.id,
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


def set_otp_required(ctx: Context, account_id: str, otp_required: bool, *, actor: Actor) -> Account:
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        result = conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(otp_required=otp_required, updated_at=now)
        )
        if result.rowcount == 0:
            raise NotFound(f"No account with id {account_id}")
        audit.record(
            conn, at=now, actor=actor, action="account.updated", account_id=account_id,
            subject=account_id, otp_required=otp_required,
        )
    return get_account(ctx, account_id)


def create_key(
    ctx: Context, account_id: str, *, expires_in_days: int | None = None, actor: Actor
) -> tuple[ApiKey, str]:
    """A new key for the account: its record, and the key itself (shown once)."""
    if expires_in_days is not None and expires_in_days < 1:
        raise InvalidRequest("A key expires after at least 1 day")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
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
            conn, at=now, actor=actor, action="key.created", account_id=account_id,
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
                conn, at=now, actor=actor, action="key.revoked", account_id=key.account_id,
                subject=key.id, prefix=key.prefix,
            )
            key = ApiKey(key.id, key.account_id, key.prefix, key.created_at, key.expires_at, now)
    return key


def list_keys(ctx: Context, account_id: str) -> list[ApiKey]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.created_at)
        ).all()
    return [_api_key(row) for row in rows]


def authenticate(ctx: Context, key: str) -> Caller | None:
    """The caller a key belongs to, or None for an unknown, revoked or expired key."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    now = ctx.clock.now()
    query = (
        select(api_keys.c.id.label("key_id"), accounts)
        .join(accounts, accounts.c.id == api_keys.c.account_id)
        .where(
            api_keys.c.key_hash == hash_key(key),
            api_keys.c.revoked_at.is_(None),
            or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now),
        )
    )
    with ctx.db.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return Caller(account=_account(row), key_id=row.key_id)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()



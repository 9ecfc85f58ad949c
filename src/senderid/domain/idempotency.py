"""Idempotency keys: a POST sent twice with one ``Idempotency-Key`` acts once.

Per account, a key remembers the hash of the first request (method, path and
raw body) and its response.

The request path uses :func:`run`: the key is looked up, the request acts and its
response is stored **in one write transaction**, the domain's own (the domain's
``ctx.db.write()`` joins it). So a key costs two statements and no transaction of
its own, and a crash can never leave a key without its effect, or an effect
without its key: both commit together or neither does. Concurrent first requests
with one key: on SQLite writers are serialised, so the second sees the first's row;
on PostgreSQL the second's final insert waits for the first's row, finds it
committed, its own transaction rolls back (its effect with it) and it replays the
first's response. An answer that is final but comes from a refused domain write (a
4xx raised inside the transaction, which therefore rolls back) is stored by a second,
short transaction.

The life of a key::

    no row                the request acts; a final answer (2xx, 4xx but 429) is stored
    a row, same hash      the stored response, replayed
    a row, other hash     IdempotencyKeyReused: the key belongs to another request
    a replaceable row     as if there were none (the new answer replaces it)

A row is replaceable when it expired (``idempotency_ttl_hours`` after it was
stored), or when it holds no response (``status_code`` NULL: an "in progress" row
written by an earlier version, which claimed a key before acting; its request may
never have finished, and no request of this version waits for it).
The primary key (account, key) makes concurrent first requests safe. Each new key
also deletes a bounded number of expired rows (at most once a minute per process),
so the table stays small without a separate job.

Nothing here knows HTTP: a response is a status code, body bytes and headers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, bindparam, delete, or_, select, tuple_

from senderid.domain.context import Context
from senderid.errors import IdempotencyKeyInvalid, IdempotencyKeyReused, SenderIdError
from senderid.store.coltypes import UTCDateTime
from senderid.store.prepared import Prepared
from senderid.store.tables import idempotency_keys

R = TypeVar("R")
PURGE_EVERY = timedelta(minutes=1)  # how often :func:`run` purges expired keys (per process)

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
PURGE_BATCH = 100  # expired rows deleted with each new key
PASSES = 3  # a pass acts again only when a row that beat it expired meanwhile (TTL >= 1 h)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Keyed:
    """A request that carries an Idempotency-Key."""

    account_id: str
    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class Fresh(Generic[R]):
    """:func:`run` acted: the response (stored when final)."""

    response: R


class _Taken(Exception):
    """A concurrent first request committed the key before us."""


class _Refused(Exception):
    def __init__(self, error: SenderIdError) -> None:
        self.error = error


def run(
    ctx: Context,
    keyed: Keyed,
    act: Callable[[], R],
    describe: Callable[[R], StoredResponse],
    render: Callable[[SenderIdError], R],
) -> Fresh[R] | StoredResponse:
    """Act at most once per key, in one transaction with the key (see the module's text).

    ``act`` does the work (its ``ctx.db.write()`` joins ours) and returns a response;
    ``describe`` turns a response into what is stored; ``render`` is the response to a
    domain error. Returns :class:`Fresh`, or the stored response to replay. Raises
    IdempotencyKeyReused.
    """
    for _ in range(PASSES):
        outcome = _attempt(ctx, keyed, act, describe, render)
        if outcome is not None:
            return outcome
        # A concurrent request stored the key, and its row expired before this one could
        # read it: nothing to replay, so this request acts again, as a new one.
    raise RuntimeError(f"{HEADER}: no answer after {PASSES} passes")  # a 500: the key stays free


def _attempt(
    ctx: Context,
    keyed: Keyed,
    act: Callable[[], R],
    describe: Callable[[R], StoredResponse],
    render: Callable[[SenderIdError], R],
) -> Fresh[R] | StoredResponse | None:
    """One pass of :func:`run`; None when it must act again (its effect was rolled back)."""
    now = ctx.clock.now()
    try:
        with ctx.db.write() as conn:
            row = _row(conn, keyed.account_id, keyed.key)
            if row is not None and not _replaceable(row, now):
                return _judge(row, keyed.request_hash)
            try:
                response = act()
            except SenderIdError as error:
                if ctx.db.rollback_only:
                    raise _Refused(error) from None
                response = render(error)
            stored = describe(response)
            if should_store(stored.status_code) and not _store(ctx, conn, keyed, now, stored):
                raise _Taken()
            return Fresh(response)
    except _Taken:
        return _look_again(ctx, keyed)
    except _Refused as refused:
        # Nothing was done: the refusal is the answer, unless a concurrent request
        # stored one for the key first.
        response = render(refused.error)
        stored = describe(response)
        if should_store(stored.status_code):
            with ctx.db.write() as conn:
                if _store(ctx, conn, keyed, now, stored):
                    return Fresh(response)
        again = _look_again(ctx, keyed)
        return Fresh(response) if again is None else again


def _look_again(ctx: Context, keyed: Keyed) -> StoredResponse | None:
    """The response a concurrent request committed for the key (IdempotencyKeyReused when it
    was another request), or None when there is none to replay."""
    with ctx.db.read() as conn:
        row = _row(conn, keyed.account_id, keyed.key)
    if row is None or _replaceable(row, ctx.clock.now()):
        return None
    return _judge(row, keyed.request_hash)


def _store(ctx: Context, conn: Connection, keyed: Keyed, now: datetime, response: StoredResponse) -> bool:
    """Insert the key with its response (replacing a replaceable row); False when a live
    row of another request is there."""
    try:
        text = response.body.decode()
    except UnicodeDecodeError:  # not ours to replay faithfully in a text column
        return True
    if ctx.idempotency_purged_at is None or ctx.idempotency_purged_at <= now - PURGE_EVERY:
        ctx.idempotency_purged_at = now
        _purge(conn, now)
    values = dict(
        account_id=keyed.account_id, key=keyed.key, request_hash=keyed.request_hash, created_at=now,
        expires_at=now + timedelta(hours=ctx.settings.idempotency_ttl_hours),
        status_code=response.status_code, response_body=text, response_headers=response.headers,
        now=now,
    )
    return _store_statement(conn.dialect.name).run(conn, values).first() is not None


_STORED = ("request_hash", "created_at", "expires_at", "status_code", "response_body", "response_headers")


@functools.lru_cache(maxsize=2)
def _store_statement(dialect: str) -> Prepared:
    """INSERT the key with its answer; on a conflict replace only a replaceable row (built
    once, run on the driver's cursor)."""
    from sqlalchemy.dialects import postgresql, sqlite

    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(idempotency_keys)
    return Prepared(statement.on_conflict_do_update(
        index_elements=[idempotency_keys.c.account_id, idempotency_keys.c.key],
        set_={name: getattr(statement.excluded, name) for name in _STORED},
        where=_REPLACEABLE,
    ).returning(idempotency_keys.c.created_at))


# The row in the table may be replaced: it expired, or it holds no response (see the module's text).
_REPLACEABLE = or_(
    idempotency_keys.c.expires_at <= bindparam("now", type_=UTCDateTime),
    idempotency_keys.c.status_code.is_(None),
)


def _replaceable(row: Any, now: datetime) -> bool:
    """Expired, or without a response (:data:`_REPLACEABLE`, read in Python)."""
    return row.expires_at <= now or row.status_code is None


def check_key(value: str) -> str:
    """The key as given, if it is 1-255 visible ASCII characters; IdempotencyKeyInvalid otherwise."""
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not all("!" <= ch <= "~" for ch in value):
        raise IdempotencyKeyInvalid()
    return value


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no ambiguous joins
        digest.update(part)
    return digest.hexdigest()


def should_store(status_code: int) -> bool:
    """2xx and 4xx answers are final and replayed; 5xx and 429 (nothing was done) are not."""
    return 200 <= status_code < 500 and status_code != 429


def purge_batch(conn: Connection, now: datetime, *, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` expired keys in ``conn``'s transaction (housekeeping)."""
    return _purge(conn, now, limit=limit)


def purge_expired(ctx: Context, *, limit: int = 10_000) -> int:
    """Delete up to ``limit`` expired keys now (new keys already purge a few each)."""
    with ctx.db.write() as conn:
        return _purge(conn, ctx.clock.now(), limit=limit)


# -- helpers -------------------------------------------------------------------------------


_ROW = Prepared(select(idempotency_keys).where(
    idempotency_keys.c.account_id == bindparam("b_account_id"), idempotency_keys.c.key == bindparam("b_key")))


def _row(conn: Connection, account_id: str, key: str) -> Any:
    return _ROW.run(conn, {"b_account_id": account_id, "b_key": key}).first()


def _judge(row: Any, req_hash: str) -> StoredResponse:
    """A live row: its response, or IdempotencyKeyReused when it was stored for another request."""
    if not _same(row.request_hash, req_hash):
        raise IdempotencyKeyReused()
    return StoredResponse(row.status_code, (row.response_body or "").encode(), dict(row.response_headers or {}))


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _purge(conn: Connection, now: datetime, *, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` expired rows, oldest first (on PostgreSQL, rows another
    transaction holds are skipped, so concurrent purges never wait on each other)."""
    expired = (
        select(idempotency_keys.c.account_id, idempotency_keys.c.key)
        .where(idempotency_keys.c.expires_at <= now)
        .order_by(idempotency_keys.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = conn.execute(
        delete(idempotency_keys).where(
            tuple_(idempotency_keys.c.account_id, idempotency_keys.c.key).in_(expired)
        )
    )
    return result.rowcount

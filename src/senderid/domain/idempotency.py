"""Idempotency keys: a POST sent twice with one ``Idempotency-Key`` acts once.

Per account, a key remembers the hash of the first request (method, path and
raw body) and its response.

The request path uses :func:`run`: the key is looked up, the request acts and its
response is stored **in one write transaction**, the domain's own (the domain's
``ctx.db.write()`` joins it). So a key costs two statements and no transaction of
its own, and a crash can never leave a claimed key without its effect, or an effect
without its key: both commit together or neither does. Concurrent first requests
with one key: on SQLite writers are serialised, so the second sees the first's row;
on PostgreSQL the second's final insert finds the first's committed row, its own
transaction rolls back (its effect with it) and it replays the first's response.
An answer that is final but comes from a refused domain write (a 4xx raised inside
the transaction, which therefore rolls back) is stored by a second, short
transaction.

The older two-step API below (:func:`begin`, then :func:`complete` or
:func:`abandon`) is kept for callers that cannot put their effect in our
transaction; its "in progress" rows are honoured by :func:`run` (it waits). The
life of a key there::

    begin -> (no row)            insert "in progress" (status_code NULL), own short
                                 transaction; the caller acts, then
                                 complete (2xx/4xx: the response is stored) or
                                 abandon  (5xx, 429, a crash: the row goes, a retry may act)
          -> finished, same hash  the stored response, replayed
          -> any row, other hash  Conflict: the key belongs to another request
          -> in progress          wait (short sleeps, bounded) for it to finish, then replay;
                                  Conflict "still in progress" when it does not finish in time

The primary key (account, key) makes concurrent first requests safe: one
insert wins, the others see its row and wait. Rows expire after
``idempotency_ttl_hours`` (expired rows are ignored and replaced); a row left
"in progress" longer than :data:`ABANDONED_AFTER` (its process died mid-request)
is replaced too. Each new key also deletes a bounded number of expired rows, so
the table stays small without a separate job.

Nothing here knows HTTP: a response is a status code, body bytes and headers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from senderid.domain.context import Context
from senderid.errors import Conflict, InvalidRequest, SenderIdError
from senderid.store.coltypes import UTCDateTime
from senderid.store.tables import idempotency_keys

R = TypeVar("R")
PURGE_EVERY = timedelta(minutes=1)  # how often :func:`run` purges expired keys (per process)

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
WAIT_SECONDS = 10.0  # how long a repeat waits for the first request to finish
POLL_SECONDS = (0.02, 0.05, 0.1, 0.2, 0.25)  # then 0.25 s until WAIT_SECONDS
ABANDONED_AFTER = timedelta(minutes=5)  # an "in progress" row older than this is replaced
PURGE_BATCH = 100  # expired rows deleted with each new key


class InvalidKey(InvalidRequest):
    message = (f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters "
               "(letters, digits and punctuation; no spaces)")


class KeyReused(Conflict):
    message = (f"This {HEADER} was already used with a different request; "
               "send a new key for a new request")


class StillInProgress(Conflict):
    message = (f"A request with this {HEADER} is still being processed; "
               "try again in a moment to get its response")

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Claim:
    """This request owns the key: act, then :func:`complete` or :func:`abandon`."""

    account_id: str
    key: str
    created_at: datetime  # tells our row from a later one that replaced it


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


class _Busy(Exception):
    """Another request holds the key with an "in progress" row (two-step API)."""


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
) -> Fresh[R] | StoredResponse | None:
    """Act at most once per key, in one transaction with the key (see the module's text).

    ``act`` does the work (its ``ctx.db.write()`` joins ours) and returns a response;
    ``describe`` turns a response into what is stored; ``render`` is the response to a
    domain error. Returns :class:`Fresh`, the stored response to replay, or None while a
    two-step holder keeps the key "in progress" (the caller waits and calls again).
    Raises KeyReused.
    """
    now = ctx.clock.now()
    try:
        with ctx.db.write() as conn:
            row = _row(conn, keyed.account_id, keyed.key)
            if row is not None and not _replaceable(row, now):
                replay = _judge(row, keyed.request_hash)
                if replay is None:
                    raise _Busy()
                return replay
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
    except _Busy:
        return None
    except _Taken:
        return _look_again(ctx, keyed)
    except _Refused as refused:
        response = render(refused.error)
        stored = describe(response)
        if should_store(stored.status_code):
            with ctx.db.write() as conn:
                if _store(ctx, conn, keyed, now, stored):
                    return Fresh(response)
            return _look_again(ctx, keyed)
        again = _look_again(ctx, keyed)
        return Fresh(response) if again is None else again


def _look_again(ctx: Context, keyed: Keyed) -> StoredResponse | None:
    """The response a concurrent request committed for the key (KeyReused when it was another
    request), or None when there is none to replay (yet)."""
    with ctx.db.read() as conn:
        row = _row(conn, keyed.account_id, keyed.key)
    if row is None or row.status_code is None or _replaceable(row, ctx.clock.now()):
        return None
    return _judge(row, keyed.request_hash)


def _store(ctx: Context, conn: Connection, keyed: Keyed, now: datetime, response: StoredResponse) -> bool:
    """Insert the key with its response (replacing an expired or abandoned row); False when
    a live row of another request is there."""
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
        now=now, abandoned=now - ABANDONED_AFTER,
    )
    return conn.execute(_store_statement(conn.dialect.name), values).first() is not None


_STORED = ("request_hash", "created_at", "expires_at", "status_code", "response_body", "response_headers")


@functools.lru_cache(maxsize=2)
def _store_statement(dialect: str) -> Any:
    """INSERT the key with its answer; on a conflict replace only a replaceable row (built once)."""
    from sqlalchemy.dialects import postgresql, sqlite

    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(idempotency_keys)
    return statement.on_conflict_do_update(
        index_elements=[idempotency_keys.c.account_id, idempotency_keys.c.key],
        set_={name: getattr(statement.excluded, name) for name in _STORED},
        where=_REPLACEABLE,
    ).returning(idempotency_keys.c.created_at)


# The row in the table may be replaced: it expired, or its two-step holder never finished.
_REPLACEABLE = or_(
    idempotency_keys.c.expires_at <= bindparam("now", type_=UTCDateTime),
    and_(idempotency_keys.c.status_code.is_(None),
         idempotency_keys.c.created_at <= bindparam("abandoned", type_=UTCDateTime)),
)


def check_key(value: str) -> str:
    """The key as given, if it is 1-255 visible ASCII characters; InvalidKey otherwise."""
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not all("!" <= ch <= "~" for ch in value):
        raise InvalidKey()
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


def begin(
    ctx: Context, account_id: str, key: str, req_hash: str, *, wait_seconds: float | None = None
) -> Claim | StoredResponse:
    """Own the key (a :class:`Claim`) or get the response to replay; raises KeyReused, or
    StillInProgress when the request holding the key does not finish within ``wait_seconds``
    (default :data:`WAIT_SECONDS`). Blocks while it waits; async callers loop over
    :func:`try_begin` and :func:`pauses` themselves, sleeping without holding a thread."""
    outcome = try_begin(ctx, account_id, key, req_hash)
    if outcome is not None:
        return outcome
    for pause in pauses(wait_seconds):
        time.sleep(pause)
        outcome = try_begin(ctx, account_id, key, req_hash, peek=True)
        if outcome is not None:
            return outcome
    raise StillInProgress()


def pauses(wait_seconds: float | None = None) -> Iterator[float]:
    """The pauses between looks at a key another request holds, until the wait is over."""
    deadline = time.monotonic() + (WAIT_SECONDS if wait_seconds is None else wait_seconds)
    for n in itertools.count():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        yield min(POLL_SECONDS[min(n, len(POLL_SECONDS) - 1)], left)


def try_begin(
    ctx: Context, account_id: str, key: str, req_hash: str, *, peek: bool = False
) -> Claim | StoredResponse | None:
    """One step, never waiting: a Claim, a response to replay, or None while another request
    holds the key; raises KeyReused. ``peek`` looks in a read transaction first and takes
    the write lock only when the key is free (for repeated looks while waiting)."""
    if peek:
        with ctx.db.read() as conn:
            row = _row(conn, account_id, key)
        if row is not None and not _replaceable(row, ctx.clock.now()):
            return _judge(row, req_hash)
    now = ctx.clock.now()
    try:
        with ctx.db.write() as conn:
            row = _row(conn, account_id, key)
            if row is not None and not _replaceable(row, now):
                return _judge(row, req_hash)
            if row is not None:
                conn.execute(delete(idempotency_keys).where(*_pk(account_id, key)))
            _purge(conn, now)
            conn.execute(
                insert(idempotency_keys).values(
                    account_id=account_id, key=key, request_hash=req_hash, created_at=now,
                    expires_at=now + timedelta(hours=ctx.settings.idempotency_ttl_hours),
                )
            )
    except IntegrityError:
        return None  # a concurrent first request inserted it: wait for that one
    return Claim(account_id, key, now)


def _judge(row: Any, req_hash: str) -> StoredResponse | None:
    """A live row: KeyReused for another request, its response, or None while in progress."""
    if not _same(row.request_hash, req_hash):
        raise KeyReused()
    if row.status_code is None:
        return None
    return StoredResponse(row.status_code, (row.response_body or "").encode(), dict(row.response_headers or {}))


def complete(ctx: Context, claim: Claim, response: StoredResponse) -> None:
    """Store the response of the request that owns the key (or let it go when not storable)."""
    if not should_store(response.status_code):
        abandon(ctx, claim)
        return
    try:
        text = response.body.decode()
    except UnicodeDecodeError:  # not ours to replay faithfully in a text column
        abandon(ctx, claim)
        return
    with ctx.db.write() as conn:
        conn.execute(
            update(idempotency_keys)
            .where(*_mine(claim))
            .values(status_code=response.status_code, response_body=text, response_headers=response.headers)
        )


def abandon(ctx: Context, claim: Claim) -> None:
    """Let the key go, so that a retry acts (the request failed without a final answer)."""
    with ctx.db.write() as conn:
        conn.execute(delete(idempotency_keys).where(*_mine(claim)))


def purge_batch(conn: Connection, now: datetime, *, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` expired keys in ``conn``'s transaction (housekeeping)."""
    return _purge(conn, now, limit=limit)


def purge_expired(ctx: Context, *, limit: int = 10_000) -> int:
    """Delete up to ``limit`` expired keys now (new keys already purge a few each)."""
    with ctx.db.write() as conn:
        return _purge(conn, ctx.clock.now(), limit=limit)


# -- helpers -------------------------------------------------------------------------------


def _pk(account_id: str, key: str) -> tuple[Any, ...]:
    return (idempotency_keys.c.account_id == account_id, idempotency_keys.c.key == key)


def _mine(claim: Claim) -> tuple[Any, ...]:
    return (*_pk(claim.account_id, claim.key), idempotency_keys.c.status_code.is_(None),
            idempotency_keys.c.created_at == claim.created_at)


_ROW = select(idempotency_keys).where(
    idempotency_keys.c.account_id == bindparam("b_account_id"), idempotency_keys.c.key == bindparam("b_key"))


def _row(conn: Connection, account_id: str, key: str) -> Any:
    return conn.execute(_ROW, {"b_account_id": account_id, "b_key": key}).first()


def _replaceable(row: Any, now: datetime) -> bool:
    """Expired, or left in progress by a request that never finished."""
    return row.expires_at <= now or (row.status_code is None and row.created_at <= now - ABANDONED_AFTER)


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

"""Console sessions: signed cookies, CSRF tokens and a sign-in throttle (pure: no I/O, time passed in).

A session cookie is ``v1.<payload>.<signature>``: the payload is base64url JSON
``{"sid", "exp", "auth"}``, signed by :class:`itsdangerous.Signer` (HMAC-SHA256
over ``v1.<payload>``, compared in constant time) under a key derived from the
server secret *and* the admin token, so changing either ends every session at
once. ``exp`` (Unix seconds) is inside the signed payload and checked against the
injected clock: a cookie kept past its time is refused whatever the browser does
with Max-Age. (itsdangerous's own timestamps would read the wall clock and add a
fourth part to the cookie.)

Before sign-in the browser holds a short *pre-session* (``auth: false``), which
only exists so the sign-in form has a CSRF token too; signing in replaces it with
a new session id (no fixation). Each form carries the CSRF token of its session,
``HMAC(key, "csrf" || sid)``, checked with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import deque
from dataclasses import dataclass, field

from itsdangerous import BadData, Signer
from itsdangerous.encoding import base64_decode, base64_encode

COOKIE_NAME = "senderid_console"
COOKIE_PATH = "/console"
SESSION_SECONDS = 8 * 3600  # a signed-in session
PRE_SESSION_SECONDS = 3600  # the sign-in form's session
_VERSION = "v1"
_MAX_COOKIE_LENGTH = 512


def derive_key(server_secret: bytes, admin_token: str) -> bytes:
    """The cookie-signing key: bound to the server secret and to the current admin token."""
    return hmac.new(
        server_secret, b"senderid console session v1\x00" + admin_token.encode(), hashlib.sha256
    ).digest()


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of an admin token typed into the sign-in form."""
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    expires_at: int  # Unix seconds
    authenticated: bool
    csrf: str


def _signer(key: bytes) -> Signer:
    # The key is derived already (derive_key): itsdangerous uses it as it is.
    return Signer(key, key_derivation="none", digest_method=hashlib.sha256, sep=".")


def csrf_token(key: bytes, sid: str) -> str:
    return hmac.new(key, b"csrf\x00" + sid.encode("ascii"), hashlib.sha256).hexdigest()


def _session(key: bytes, sid: str, expires_at: int, authenticated: bool) -> Session:
    return Session(sid=sid, expires_at=expires_at, authenticated=authenticated, csrf=csrf_token(key, sid))


def issue(key: bytes, *, now: float, authenticated: bool) -> tuple[str, Session]:
    """A new session (fresh random id) and its cookie value."""
    ttl = SESSION_SECONDS if authenticated else PRE_SESSION_SECONDS
    session = _session(key, secrets.token_hex(16), int(now) + ttl, authenticated)
    payload = base64_encode(
        json.dumps(
            {"sid": session.sid, "exp": session.expires_at, "auth": authenticated},
            separators=(",", ":"),
        )
    ).decode("ascii")
    return _signer(key).sign(f"{_VERSION}.{payload}").decode("ascii"), session


def read(key: bytes, cookie: str | None, *, now: float) -> Session | None:
    """The session a cookie holds, or None when it is missing, tampered with, foreign or expired."""
    if not cookie or len(cookie) > _MAX_COOKIE_LENGTH:
        return None
    parts = cookie.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        return None
    try:
        signed = _signer(key).unsign(cookie).decode("ascii")
        data = json.loads(base64_decode(signed.split(".")[1]))
    except (BadData, UnicodeError, ValueError):  # a bad signature, base64 or JSON
        return None
    if not isinstance(data, dict):
        return None
    sid, exp, auth = data.get("sid"), data.get("exp"), data.get("auth")
    if not isinstance(sid, str) or not sid.isalnum() or not isinstance(auth, bool):
        return None
    if not isinstance(exp, int) or isinstance(exp, bool) or exp <= now:
        return None
    return _session(key, sid, exp, auth)


def csrf_ok(session: Session, given: str | None) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), session.csrf.encode())


@dataclass
class SignOuts:
    """Session ids signed out in this process, kept until their cookies would expire anyway."""

    _ended: dict[str, int] = field(default_factory=dict)

    def end(self, session: Session, *, now: float) -> None:
        self._ended = {sid: exp for sid, exp in self._ended.items() if exp > now}
        self._ended[session.sid] = session.expires_at

    def ended(self, session: Session) -> bool:
        return session.sid in self._ended


@dataclass
class SignInThrottle:
    """At most ``max_failures`` failed sign-ins per client address in ``window_seconds``.

    In memory, per process: light protection against guessing from one address
    (an admin token of 32+ random characters cannot be guessed anyway).
    """

    max_failures: int = 10
    window_seconds: float = 600.0
    max_clients: int = 10_000
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client, deque())
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        return times

    def retry_after(self, client: str, *, now: float) -> int:
        """Seconds until ``client`` may try again (0: it may try now)."""
        times = self._recent(client, now)
        if len(times) < self.max_failures:
            return 0
        return max(1, int(times[0] + self.window_seconds - now) + 1)

    def failed(self, client: str, *, now: float) -> None:
        if client not in self._failures and len(self._failures) >= self.max_clients:
            for stale in [c for c, t in self._failures.items() if not self._recent(c, now)]:
                del self._failures[stale]
            if len(self._failures) >= self.max_clients:  # still full: forget the oldest entry
                self._failures.pop(next(iter(self._failures)))
        times = self._recent(client, now)
        times.append(now)
        self._failures[client] = times

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

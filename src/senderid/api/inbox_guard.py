"""Who may use the developer inbox: every path under ``/dev/inbox`` (the page, its JSON,
clearing it, and whatever is added under it later).

The inbox shows every OTP the server "sent" in clear, so:

* only loopback clients (127.0.0.0/8, ::1) are answered unless
  ``SENDERID_DEVINBOX_ALLOW_REMOTE=true``; the client is the socket peer, or the address a
  trusted proxy forwarded (``SENDERID_TRUSTED_PROXIES``, applied by the server before
  this runs);
* a state-changing request (anything but GET, HEAD and OPTIONS) from a browser must come
  from the inbox's own origin: a cross-site form post is refused (403). A request with
  neither ``Origin`` nor ``Sec-Fetch-Site`` (curl, a script) is not a browser's and passes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.types import Scope

PREFIX = "/dev/inbox"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

LOCAL_ONLY = ("The developer inbox answers only clients on this machine (it shows every code "
              "in clear); set SENDERID_DEVINBOX_ALLOW_REMOTE=true to open it to others")
CROSS_SITE = "Cross-site requests to the developer inbox are refused; use the inbox page itself"


def covered(path: str) -> bool:
    return path.startswith(PREFIX)


def is_loopback(client: Sequence[Any] | None) -> bool:
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except (ValueError, TypeError, IndexError):
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on a dual-stack socket
    return (mapped or address).is_loopback


def same_origin(headers: dict[bytes, bytes]) -> bool:
    """True unless a browser says the request comes from another site.

    ``Origin`` must name the host the request was sent to (the ``Host`` header, which a
    browser sets itself); ``Sec-Fetch-Site``, when sent, must be ``same-origin`` or
    ``none`` (typed by the user)."""
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None and fetch_site not in (b"same-origin", b"none"):
        return False
    origin = headers.get(b"origin")
    if origin is None:
        return True
    try:
        parts = urlsplit(origin.decode("latin-1"))
    except ValueError:
        return False
    host = headers.get(b"host", b"").decode("latin-1").lower()
    return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.netloc.lower() == host


def refusal(scope: Scope, *, allow_remote: bool) -> str | None:
    """Why a request under :data:`PREFIX` is refused (answered 403), or None."""
    if not allow_remote and not is_loopback(scope.get("client")):
        return LOCAL_ONLY
    if scope["method"] not in SAFE_METHODS and not same_origin(dict(scope["headers"])):
        return CROSS_SITE
    return None

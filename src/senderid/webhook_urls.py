"""Where an account's webhook may point: the URL and address rules (pure, no I/O but DNS).

Unless ``SENDERID_WEBHOOK_ALLOW_PRIVATE`` is set, a webhook URL must resolve only to
public addresses. It is checked when the URL is set (:mod:`senderid.domain.accounts`)
and again at every delivery (:mod:`senderid.delivery.webhooks`), and the connection goes
to the address that was checked, so a DNS answer that changes in between (DNS rebinding)
cannot turn a webhook into a way into the server's network.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000  # accounts.webhook_url
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeUrl(ValueError):
    """A webhook URL senderid will not call; the text says why (and never holds a secret)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect, and the name the server answers to."""

    url: str
    scheme: str
    host: str  # as written (no brackets around IPv6)
    port: int

    @property
    def is_ip_literal(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def parse_url(url: str) -> Target:
    """Check a URL's form: http(s), a host, no credentials, nothing odd. Raises UnsafeUrl."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"The webhook URL must be at most {MAX_URL_LENGTH} characters")
    if not url.isascii() or not url.isprintable() or any(ch.isspace() for ch in url):
        raise UnsafeUrl(
            "The webhook URL must be plain ASCII without spaces or control characters "
            "(write an international host name in its xn-- form)"
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeUrl("The webhook URL must start with http:// or https://")
    if "@" in parts.netloc:
        raise UnsafeUrl("The webhook URL must not contain a user name or password")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The webhook URL must name a host")
    try:
        port = parts.port
    except ValueError:
        raise UnsafeUrl("The webhook URL has an invalid port") from None
    return Target(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80))


def forbidden_reason(address: str) -> str | None:
    """Why an IP address is not a public one (None when it is)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address wrapped in IPv6 is judged as the IPv4 address it reaches.
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    for flag in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{flag}"):
            return flag.replace("_", "-")
    if not ip.is_global:
        return "non-public"
    return None


def resolve(target: Target) -> list[str]:
    """Every address the host resolves to, each checked. Raises UnsafeUrl."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeUrl(f"The webhook host {target.host} could not be resolved") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeUrl(f"The webhook host {target.host} could not be resolved")
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None:
            raise UnsafeUrl(
                f"The webhook host {target.host} resolves to {address.split('%', 1)[0]}, a {reason} "
                "address; webhooks go to public addresses only "
                "(SENDERID_WEBHOOK_ALLOW_PRIVATE=true lifts this for closed networks)"
            )
    return addresses


def check_url(url: str, *, allow_private: bool) -> Target:
    """The form check, then (unless private addresses are allowed) the address check."""
    target = parse_url(url)
    if not allow_private:
        resolve(target)
    return target


def without_query(url: str) -> str:
    """The URL as it may be shown (audit, logs): no query string or fragment, which may hold tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"

"""``senderid serve --demo`` (what ``make run`` starts): a demo account and key, printed
with commands that work, on the first start and on every start after it.

The key is derived from the server secret (HMAC), so a restart finds the same key in the
database and prints it again instead of minting another; a revoked demo key is replaced
by the next one in the same sequence. The number in the printed commands is the first
of ACMA's fictional mobile numbers that nobody holds or is verifying, so "register a
number" answers "OTP sent" on a second run too, not "already exist". Unless
``SENDERID_ADMIN_TOKEN`` is set, the admin API and the console are turned on with a
development admin token, derived from the server secret the same way and printed beside
the console's address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import shlex

import typer

from senderid.domain import accounts, custom_numbers
from senderid.domain.context import Context
from senderid.domain.types import CLI, CustomNumberStatus
from senderid.settings import Settings

DEMO_ACCOUNT = "demo"
# ACMA reserves these mobile numbers for fiction and examples: they reach nobody.
DEMO_NUMBERS = (
    "+61491570156", "+61491570157", "+61491570158", "+61491570159", "+61491570110",
    "+61491570313", "+61491570737", "+61491570006", "+61491571266", "+61491571491",
    "+61491571804", "+61491572549", "+61491572665", "+61491572983", "+61491573770",
    "+61491573087", "+61491574118", "+61491574632", "+61491575254", "+61491575789",
)
_MAX_DEMO_KEYS = 1000


def demo_key(ctx: Context, account_id: str) -> tuple[str, bool]:
    """The demo account's key, and whether it already existed (False: made just now)."""
    for n in range(_MAX_DEMO_KEYS):
        digest = hmac.new(ctx.secret, f"senderid demo key {account_id} {n}".encode(), hashlib.sha256).digest()
        key = accounts.KEY_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")
        record = accounts.find_key(ctx, key)
        if record is None:
            accounts.create_key(ctx, account_id, actor=CLI, key=key)
            return key, False
        if record.is_usable(ctx.clock.now()):
            return key, True
    _record, key = accounts.create_key(ctx, account_id, actor=CLI)  # pragma: no cover - 1000 revoked
    return key, False


def development_admin_token(ctx: Context) -> str:
    """The admin token ``serve --demo`` turns the admin API and the console on with when
    ``SENDERID_ADMIN_TOKEN`` is unset: derived from the server secret like the demo key,
    so it is the same on every start."""
    digest = hmac.new(ctx.secret, b"senderid development admin token", hashlib.sha256).digest()
    return "dev_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def free_number(ctx: Context) -> str:
    """The first demo number with no active or pending registration in any account."""
    for number in DEMO_NUMBERS:
        rows, _total = custom_numbers.search(ctx, number=number, limit=20)
        if not any(row.status in (CustomNumberStatus.ACTIVE, CustomNumberStatus.PENDING) for row in rows):
            return number
    return DEMO_NUMBERS[-1]



def proxy_note(settings: Settings) -> str:
    """What ``make run`` says about client addresses and reverse proxies."""
    if settings.trusted_proxies:
        return ("Client addresses (audit records, the console's sign-in throttle) come from the\n"
                f"X-Forwarded-For of {', '.join(settings.trusted_proxies)} (SENDERID_TRUSTED_PROXIES).")
    return ("Client addresses (audit records, the console's sign-in throttle) are the socket peer's.\n"
            "Behind a reverse proxy, start the server with\n"
            "  SENDERID_TRUSTED_PROXIES=<the proxy's address>   (127.0.0.1 for one on this machine)\n"
            "so they are the clients' addresses from its X-Forwarded-For.")


def print_demo(ctx: Context, host: str, port: int, *, admin_token: str | None = None) -> None:
    """Print the demo account, its key, the commands that use it and the console's address;
    ``admin_token``: the development admin token to print (None: the operator set one)."""
    account = accounts.find_account_by_name(ctx, DEMO_ACCOUNT)
    if account is None:
        account = accounts.create_account(ctx, DEMO_ACCOUNT, otp_required=True, actor=CLI)
    key, reused = demo_key(ctx, account.id)
    number = free_number(ctx)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown_host}:{port}"
    auth = shlex.quote(f"Authorization: Bearer {key}")
    add_body = shlex.quote(f'{{"name": "Demo", "number": "{number}"}}')
    verify_body = shlex.quote(f'{{"name": "Demo", "number": "{number}", "otp": "CODE"}}')
    again = " (the same as before: it is kept across restarts)" if reused else ""
    sign_in = (f"admin token {admin_token} (development: derived from the server secret)"
               if admin_token else "sign in with SENDERID_ADMIN_TOKEN")
    typer.echo(
        f"""
senderid demo
  account  {account.id} ({DEMO_ACCOUNT}, OTP required)
  API key  {key}{again}

  export SENDERID_API_KEY={key}

Console  {base}/console
  {sign_in}

Check the key:
  curl -s {base}/api/v1/user/token/verify -H {auth}

Register a number (an OTP goes to the developer inbox, {base}/dev/inbox):
  curl -s {base}/api/v1/customNumber/add -H {auth} -H 'Content-Type: application/json' -d {add_body}

Verify it with the code from {base}/dev/inbox.json (put it in place of CODE):
  curl -s {base}/api/v1/customNumber/verifyCustomNumber -H {auth} -H 'Content-Type: application/json' -d {verify_body}

{proxy_note(ctx.settings)}
""",
    )

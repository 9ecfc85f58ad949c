"""One-time codes: generate, hash and check (pure).

Codes are 6 digits from the operating system's CSPRNG. At rest only an
HMAC-SHA256 of the code (bound to the number it registers) under the server
secret is kept, and codes are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import string

CODE_LENGTH = 6
TEMPLATE_FIELDS = ("code", "number", "minutes")  # what :func:`render` fills in


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


def render(template: str, *, code: str, number: str, valid_seconds: float) -> tuple[str, str]:
    """The SMS that carries ``code`` (``SENDERID_OTP_TEMPLATE`` with ``{code}``, ``{number}``
    and ``{minutes}``, the whole minutes it stays valid, at least 1), and the same text
    with the code blanked out: what is kept once the SMS is handed over."""
    minutes = max(1, math.ceil(valid_seconds / 60))
    return (template.format(code=code, number=number, minutes=minutes),
            template.format(code="*" * CODE_LENGTH, number=number, minutes=minutes))


def template_problem(template: str) -> str | None:
    """Why ``template`` cannot be the OTP SMS (None: it can): it must hold ``{code}``, name
    no field but :data:`TEMPLATE_FIELDS`, and be filled in without an error."""
    try:
        names = {name for _text, name, _spec, _conversion in string.Formatter().parse(template)
                 if name is not None}
    except ValueError as exc:
        return f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
    unknown = sorted(name for name in names if name not in TEMPLATE_FIELDS)
    if unknown:
        return (f"names {', '.join('{' + name + '}' for name in unknown)}; only {{code}}, {{number}} "
                "and {minutes} are filled in")
    if "code" not in names:
        return "must contain {code}, where the code goes"
    try:
        render(template, code="0" * CODE_LENGTH, number="+61491570156", valid_seconds=600)
    except (ValueError, TypeError) as exc:
        return f"cannot be filled in ({exc})"
    return None


def hash_code(secret: bytes, number: str, code: str) -> str:
    return hmac.new(secret, f"otp:{number}:{code}".encode(), hashlib.sha256).hexdigest()


def looks_like_code(value: object) -> bool:
    return isinstance(value, str) and len(value) == CODE_LENGTH and value.isascii() and value.isdigit()


def check_code(secret: bytes, number: str, code: str, stored_hash: str | None) -> bool:
    """True when ``code`` is the one whose hash is stored (constant time)."""
    if stored_hash is None:
        return False
    candidate = hash_code(secret, number, code if looks_like_code(code) else "")
    return hmac.compare_digest(candidate, stored_hash)

"""One-time codes: generate, hash and check (pure).

Codes are 6 digits from the operating system's CSPRNG. At rest only an
HMAC-SHA256 of the code (bound to the number it registers) under the server
secret is kept, and codes are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_LENGTH = 6


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


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

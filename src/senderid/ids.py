"""Identifiers.

Records are named by 24 hex characters, the shape of the ids in the
Cellcast wire format (`_id`, `user`, `MessageId`): 4 bytes of Unix time
followed by 8 random bytes, so ids sort roughly by creation time.
"""

from __future__ import annotations

import re
import secrets
import time

_ID_RE = re.compile(r"^[0-9a-f]{24}$")


def new_id() -> str:
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{secrets.token_hex(8)}"


def is_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID_RE.match(value))

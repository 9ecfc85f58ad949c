"""Identifiers.

Records are named by 24 hex characters, the shape of the ids in the
Cellcast wire format (`_id`, `user`, `MessageId`): 4 bytes of Unix time, a
3-byte counter of this process (starting at a random value) and 5 random bytes.
So ids sort by creation time, and ids made by one process within one second sort
in the order they were made (a batch of messages is claimed first in, first out).
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import time

_ID_RE = re.compile(r"^[0-9a-f]{24}$")


_counter = itertools.count(secrets.randbelow(1 << 24))
_lock = threading.Lock()


def new_id() -> str:
    with _lock:
        n = next(_counter)
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{n & 0xFFFFFF:06x}{secrets.token_hex(5)}"


def is_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID_RE.match(value))

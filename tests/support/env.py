"""Constants the fixtures and the tests share."""

from __future__ import annotations

import os
from dataclasses import dataclass

from senderid.domain.types import Account

POSTGRES_URL = os.environ.get("SENDERID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_SECRET = "test-secret-" + "x" * 40
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class Customer:
    account: Account
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

"""Query parameters shared by list endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000_000  # far beyond any list; small enough for every database's integer

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1 to 200).")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip (0 to 1,000,000,000).")]


def page(items: list[dict[str, object]], total: int, limit: int, offset: int) -> dict[str, object]:
    return {"items": items, "total": total, "limit": limit, "offset": offset}

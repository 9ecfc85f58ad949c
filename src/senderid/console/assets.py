"""The console's and the developer inbox's static files: one CSS file and one script.

Served by the app itself at ``/assets/<name>`` (no CDN, no build step); pages link
them with a content hash (``?v=...``), so browsers may cache them for a day.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from senderid.console.pages import ASSETS, asset

router = APIRouter(prefix="/assets", include_in_schema=False)

_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}


@router.get("/{name}")
async def static_file(name: str) -> Response:
    if name not in ASSETS:
        return Response("Not found\n", 404, media_type="text/plain")
    return Response(
        asset(name),
        media_type=_TYPES[name.rsplit(".", 1)[-1]],
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )

"""``GET /metrics``: the server's Prometheus metrics (every process of ``serve --workers N``
added up), in the text exposition format.

No key is needed (like ``/healthz``); turn it off with ``SENDERID_METRICS_ENABLED=false``,
or keep it off the public side of the proxy. See :mod:`senderid.metrics`
for how the processes' values are added up; nothing here reads the database.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from senderid import metrics

router = APIRouter(tags=["operations"], include_in_schema=False)


@router.get("/metrics")
def prometheus_metrics() -> Response:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE_LATEST)

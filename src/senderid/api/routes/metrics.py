"""``GET /metrics``: this process's Prometheus metrics, in the text exposition format.

No key is needed (like ``/healthz``); turn it off with ``SENDERID_METRICS_ENABLED=false``,
or keep it off the public side of the proxy. Every process serves its own metrics
(see :mod:`senderid.metrics`); nothing here reads the database.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from senderid import metrics

router = APIRouter(tags=["operations"], include_in_schema=False)


@router.get("/metrics")
def prometheus_metrics() -> Response:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE_LATEST)

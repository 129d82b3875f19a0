"""GET /metrics: Prometheus text of every gateway process (gateway/runtime/metrics.py)."""

from __future__ import annotations

import falcon

from gateway.runtime.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.openapi import describe


class MetricsResource:
    """No key needed: bind the gateway where only your scraper reaches it, or filter the path."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The current values."""
        resp.content_type = CONTENT_TYPE
        resp.data = self._metrics.render()


describe("GET", "/metrics", "Prometheus metrics of the gateway processes", text=CONTENT_TYPE.split(";")[0],
         auth=False, tag="operations")

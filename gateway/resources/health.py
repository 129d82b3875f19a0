"""GET /health: 200 once this process is connected to NATS and has loaded the keys."""

from __future__ import annotations

import falcon

from gateway.bus_client import Bridge


class HealthResource:
    """Readiness of this gateway process (no key needed, no details leaked)."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """`{"status": "ok"}` or 503 `{"status": "starting"}`."""
        ready = self._bridge.ready
        resp.status = 200 if ready else 503
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"status":"ok"}' if ready else b'{"status":"starting"}'

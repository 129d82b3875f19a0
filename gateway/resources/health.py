"""GET /health: 200 while this process is connected to NATS (and has loaded the keys)."""

from __future__ import annotations

import falcon

from gateway.bus_client import Bridge


class HealthResource:
    """Readiness of this gateway process (no key needed, no details leaked)."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """`{"status": "ok"}`, or 503 `{"status": "starting"}` / `{"status": "bus_unavailable"}`."""
        resp.content_type = falcon.MEDIA_JSON
        if not self._bridge.ready:
            resp.status, resp.data = 503, b'{"status":"starting"}'
        elif self._bridge.down:  # a load balancer sends new requests to another gateway
            resp.status, resp.data = 503, b'{"status":"bus_unavailable"}'
        else:
            resp.status, resp.data = 200, b'{"status":"ok"}'

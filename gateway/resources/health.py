"""Probes, no key needed: GET /healthz (alive), /readyz (ready to serve), /health (kept), `/`.

- `/healthz`: the process answers HTTP; it checks nothing else (a liveness probe must not
  restart a gateway because NATS or a worker is away).
- `/readyz`: NATS connected, keys loaded, a worker answering for every configured provider
  (see gateway/readiness.py); 503 with a body naming what is not ready.
- `/health`: what it always said, for probes written before /readyz: this process is
  connected to NATS and has loaded the keys (workers not checked).
- `/`: `HEAD /` answers the reachability probe Claude Code sends before its first request;
  `/api/hello` is the same resource, for the probe Claude Code also sends there.
"""

from __future__ import annotations

import falcon
import msgspec

from gateway.bus_client import Bridge
from gateway.openapi import describe
from gateway.readiness import Readiness, ReadinessReport

_ENCODER = msgspec.json.Encoder()


class ProbeStatus(msgspec.Struct):
    """The body of /healthz and /health."""

    status: str


class HealthResource:
    """GET /health: readiness of this gateway process itself (no details leaked)."""

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


class LivenessResource:
    """GET /healthz: 200 while the process serves HTTP at all."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """`{"status": "alive"}`, always."""
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"status":"alive"}'


class ReadinessResource:
    """GET /readyz: 200 when ready, else 503; the body names every check."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The (cached) readiness report."""
        report = self._readiness.report()
        resp.status = 200 if report.status == "ready" else 503
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _ENCODER.encode(report)


class RootResource:
    """`/`: answers the reachability probe (`HEAD /`) clients such as Claude Code send."""

    def on_head(self, req: falcon.Request, resp: falcon.Response) -> None:
        """200, no body."""
        resp.status = falcon.HTTP_200
        resp.content_type = falcon.MEDIA_JSON

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """200 with a short note of what is served here."""
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"service":"llm-gateway","api":["/v1/chat/completions","/v1/messages"]}'


describe("GET", "/healthz", "Liveness: 200 while the process serves HTTP", response=ProbeStatus, auth=False, tag="operations")
describe("GET", "/readyz", "Readiness: NATS, keys, a worker per provider (503 when not ready)", response=ReadinessReport,
         other=((503, ReadinessReport),), auth=False, tag="operations")
describe("GET", "/health", "Kept for older probes: connected to NATS with the keys loaded", response=ProbeStatus,
         other=((503, ProbeStatus),), auth=False, tag="operations")
describe("GET", "/", "What this server serves", auth=False, tag="operations")
describe("HEAD", "/", "Reachability probe (Claude Code sends it first)", auth=False, tag="operations")
describe("GET", "/api/hello", "What this server serves (as `/`)", auth=False, tag="operations")
describe("HEAD", "/api/hello", "Reachability probe (Claude Code sends it on every run)", auth=False, tag="operations")

"""create_app: wiring only. Every collaborator comes in as an argument."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import falcon
import falcon.asgi

from gateway.admission import Gate
from gateway.attempts import Attempts
from gateway.balancer import LoadBoard
from gateway.cooldowns import Cooldowns
from gateway.auth import Authenticator, Fetch
from gateway.bus_client import Bridge
from gateway.contracts.config import Config
from gateway.contracts.log import Logger
from gateway.errors import ErrorHandlers
from gateway.keycache import KeyCache
from gateway.runtime.metrics import GatewayMetrics
from gateway.middleware import RequestContext
from gateway.relay import Relay
from gateway.readiness import Readiness
from gateway.dialects import DialectSpec, Services
from gateway.dialects.table import DIALECTS
from gateway.dispatch import Dispatcher
from gateway.resources.dialect import DialectResource
from gateway.resources.health import HealthResource, LivenessResource, ReadinessResource, RootResource
from gateway.resources.metrics import MetricsResource
from gateway.resources.models import ModelsResource
from gateway.resources.openapi import OpenAPIResource
from gateway.routing import Router


# Response headers a browser caller may read besides the CORS-safelisted ones.
CORS_EXPOSED = ("x-request-id", "retry-after", "x-should-retry", "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", "x-gateway-dropped-params")


def cors(origins: list[str]) -> _Cors:
    """CORS for the configured origins only (`[gateway] cors_origins`; off when empty).

    Falcon's middleware answers preflights (OPTIONS with Access-Control-Request-Method) on
    every route with the route's methods, echoes the requested headers (Authorization
    included) and sets Access-Control-Allow-Origin on every answer to an allowed origin,
    errors included, so a browser can read them; other origins get no CORS header. Keys
    are bearer tokens, never cookies: no Allow-Credentials.
    """
    return _Cors(allow_origins=origins, expose_headers=list(CORS_EXPOSED))


class _Cors(falcon.CORSMiddleware[falcon.asgi.Request, falcon.asgi.Response]):
    """Falcon's CORS, plus `Vary: Origin`: the answer's CORS headers depend on the origin,
    so a shared cache must not hand one origin's answer to another."""

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        super().process_response(req, resp, resource, req_succeeded)
        resp.append_header("Vary", "Origin")


def add_dialects(app: falcon.App[falcon.Request, falcon.Response], services: Services,
                 dialects: Sequence[DialectSpec[Any]] = DIALECTS) -> None:
    """Serve each dialect's POST routes (one resource per dialect) and its extra routes."""
    for spec in dialects:
        resource = DialectResource(spec, services)
        for path in spec.routes:
            app.add_route(path, resource)
        for path, extra, suffix in spec.extras(services):
            app.add_route(path, extra, suffix=suffix)


def create_app(config: Config, bridge: Bridge, keys: KeyCache, fetch_key: Fetch, gate: Gate,
               log: Logger, attempts: Attempts | None = None,
               clock: Callable[[], float] = time.time,
               metrics: GatewayMetrics | None = None,
               dialects: Sequence[DialectSpec[Any]] = DIALECTS) -> falcon.App[falcon.Request, falcon.Response]:
    """The WSGI app serving the OpenAI API and the other dialects of `dialects` (the route table)."""
    metrics = metrics or GatewayMetrics(key_names=config.metrics.key_names)
    middleware: list[Any] = [RequestContext(log, metrics)]
    if config.gateway.cors_origins:
        middleware.append(cors(config.gateway.cors_origins))
    app = falcon.App(middleware=middleware, media_type=falcon.MEDIA_JSON)
    app.req_options.strip_url_path_trailing_slash = True
    ErrorHandlers(log).register(app)
    auth = Authenticator(keys, fetch_key)
    router = Router(config)
    relay = Relay(bridge, config.gateway, log, clock, heartbeat_s=config.workers.heartbeat_s)
    if attempts is None:  # routing state of this process only (no bucket watch): tests
        attempts = Attempts(config.routing, Cooldowns(config.routing, bridge.publish, log),
                            LoadBoard(config.routing.load_report_s, log), log)
    readiness = Readiness(bridge, keys, list(config.providers))
    hidden = (lambda: {}) if config.gateway.list_unavailable_models else (lambda: readiness.report().unavailable)
    models = ModelsResource(auth, router, hidden)
    app.add_route("/v1/models", models)
    app.add_route("/v1/models/{model_id}", models, suffix="one")
    dispatcher = Dispatcher(gate, attempts, relay, router, config.gateway, clock)
    add_dialects(app, Services(config, bridge, auth, router, dispatcher), dialects)
    app.add_route("/health", HealthResource(bridge))
    app.add_route("/", RootResource())
    app.add_route("/api/hello", RootResource())
    app.add_route("/healthz", LivenessResource())
    app.add_route("/readyz", ReadinessResource(readiness))
    app.add_route("/openapi.json", OpenAPIResource())
    app.add_route("/metrics", MetricsResource(metrics))
    return app

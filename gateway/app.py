"""create_app: wiring only. Every collaborator comes in as an argument."""

from __future__ import annotations

import time
from collections.abc import Callable

import falcon

from gateway.admission import Gate
from gateway.auth import Authenticator, Fetch
from gateway.bus_client import Bridge
from gateway.contracts.config import Config
from gateway.contracts.log import Logger
from gateway.errors import ErrorHandlers
from gateway.keycache import KeyCache
from gateway.metrics import GatewayMetrics
from gateway.middleware import RequestContext
from gateway.relay import Relay
from gateway.resources.completions import ChatResource, EmbeddingsResource
from gateway.readiness import Readiness
from gateway.resources.health import HealthResource, LivenessResource, ReadinessResource
from gateway.resources.metrics import MetricsResource
from gateway.resources.models import ModelsResource
from gateway.resources.openapi import OpenAPIResource
from gateway.routing import Router


def create_app(config: Config, bridge: Bridge, keys: KeyCache, fetch_key: Fetch, gate: Gate,
               log: Logger, clock: Callable[[], float] = time.time,
               metrics: GatewayMetrics | None = None) -> falcon.App[falcon.Request, falcon.Response]:
    """The WSGI app serving the OpenAI API."""
    metrics = metrics or GatewayMetrics(key_names=config.metrics.key_names)
    app = falcon.App(middleware=[RequestContext(log, metrics)], media_type=falcon.MEDIA_JSON)
    app.req_options.strip_url_path_trailing_slash = True
    ErrorHandlers(log).register(app)
    auth = Authenticator(keys, fetch_key)
    router = Router(config)
    relay = Relay(bridge, config.gateway, log, clock)
    models = ModelsResource(auth, router)
    app.add_route("/v1/models", models)
    app.add_route("/v1/models/{model_id}", models, suffix="one")
    app.add_route("/v1/chat/completions", ChatResource(auth, router, gate, relay, config.gateway, log, clock))
    app.add_route("/v1/embeddings", EmbeddingsResource(auth, router, gate, relay, config.gateway, log, clock))
    app.add_route("/health", HealthResource(bridge))
    app.add_route("/healthz", LivenessResource())
    app.add_route("/readyz", ReadinessResource(Readiness(bridge, keys, list(config.providers))))
    app.add_route("/openapi.json", OpenAPIResource())
    app.add_route("/metrics", MetricsResource(metrics))
    return app

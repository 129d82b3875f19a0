"""GET /v1/models and /v1/models/{model_id}: the models the caller's key may use."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime

import falcon
import msgspec

from gateway.auth import Authenticator
from gateway.contracts import anthropic_messages
from gateway.contracts.config import ModelConfig
from gateway.contracts.openai import Model, ModelList
from gateway.dialects import shaped_errors
from gateway.dialects.messages import MESSAGES, speaks_anthropic
from gateway.openapi import describe
from gateway.routing import Router

_ENCODER = msgspec.json.Encoder()


def to_model(model: ModelConfig) -> Model:
    """The OpenAI view of a configured model."""
    return Model(id=model.id, created=model.created, owned_by=model.owned_by or model.routes()[0].provider)


def to_anthropic_model(model: ModelConfig) -> anthropic_messages.ModelInfo:
    """The Anthropic view of a configured model (`created_at` in RFC 3339)."""
    created = datetime.fromtimestamp(model.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return anthropic_messages.ModelInfo(id=model.id, display_name=model.id, created_at=created)


def _errors_for(req: falcon.Request) -> AbstractContextManager[None]:
    """Errors in Anthropic's shape for Anthropic's clients, else OpenAI's."""
    return shaped_errors(MESSAGES.error_shape, MESSAGES.error_status) if speaks_anthropic(req) else nullcontext()


class ModelsResource:
    """The per-key model list."""

    def __init__(self, auth: Authenticator, router: Router,
                 unavailable: Callable[[], dict[str, str]] = dict) -> None:
        self._auth = auth
        self._router = router
        # provider -> why its models cannot answer (its workers lack the secret); such models
        # are left out of the list unless `[gateway] list_unavailable_models` (gateway/app.py)
        self._unavailable = unavailable

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the models this key may use."""
        with _errors_for(req):
            self._list(req, resp)

    def _list(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = req.context.key = self._auth.authenticate(req)
        lacking = self._unavailable()
        models = [m for m in self._router.visible_to(key)
                  if not lacking or any(d.provider not in lacking for d in m.routes())]
        resp.content_type = falcon.MEDIA_JSON
        if speaks_anthropic(req):
            page = [to_anthropic_model(m) for m in models]
            first, last = (page[0].id, page[-1].id) if page else (None, None)
            resp.data = _ENCODER.encode(anthropic_messages.ModelPage(data=page, first_id=first, last_id=last))
            return
        resp.data = _ENCODER.encode(ModelList(data=[to_model(m) for m in models]))

    def on_get_one(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        """One model, 404 when unknown or not allowed for this key."""
        with _errors_for(req):
            self._one(req, resp, model_id)

    def _one(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        key = req.context.key = self._auth.authenticate(req)
        model = self._router.get(key, model_id)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _ENCODER.encode(to_anthropic_model(model) if speaks_anthropic(req) else to_model(model))


describe("GET", "/v1/models", "List the models the caller's key may use", response=ModelList)
describe("GET", "/v1/models/{model_id}", "One model (404 when unknown or not allowed for the key)", response=Model)

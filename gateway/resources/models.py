"""GET /v1/models and /v1/models/{model_id}: the models the caller's key may use."""

from __future__ import annotations

import falcon
import msgspec

from gateway.auth import Authenticator
from gateway.contracts.config import ModelConfig
from gateway.contracts.openai import Model, ModelList
from gateway.openapi import describe
from gateway.routing import Router

_ENCODER = msgspec.json.Encoder()


def to_model(model: ModelConfig) -> Model:
    """The OpenAI view of a configured model."""
    return Model(id=model.id, created=model.created, owned_by=model.owned_by or model.provider)


class ModelsResource:
    """The per-key model list."""

    def __init__(self, auth: Authenticator, router: Router) -> None:
        self._auth = auth
        self._router = router

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the models this key may use."""
        key = req.context.key = self._auth.authenticate(req)
        listing = ModelList(data=[to_model(m) for m in self._router.visible_to(key)])
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _ENCODER.encode(listing)

    def on_get_one(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        """One model, 404 when unknown or not allowed for this key."""
        key = req.context.key = self._auth.authenticate(req)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _ENCODER.encode(to_model(self._router.get(key, model_id)))


describe("GET", "/v1/models", "List the models the caller's key may use", response=ModelList)
describe("GET", "/v1/models/{model_id}", "One model (404 when unknown or not allowed for the key)", response=Model)

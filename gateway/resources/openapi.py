"""GET /openapi.json: the generated description of every public route (gateway/openapi.py)."""

from __future__ import annotations

import falcon
import msgspec

from gateway import openapi
from gateway.openapi import describe


class OpenAPIResource:
    """Serves the document, built once (the routes are registered at import)."""

    def __init__(self) -> None:
        self._body: bytes | None = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The OpenAPI 3.1 document as JSON."""
        if self._body is None:
            self._body = msgspec.json.encode(openapi.document())
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body


describe("GET", "/openapi.json", "This document: an OpenAPI 3.1 description of the gateway", auth=False,
         tag="operations")

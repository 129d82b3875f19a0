"""POST of any inbound dialect: authenticate -> read -> decode -> route -> dispatch -> relay.

One resource class serves every dialect's POST routes; what differs comes from the
dialect's spec (gateway/dialects/), and everything after resolving the model is the
Dispatcher's (gateway/dispatch.py).
"""

from __future__ import annotations

from typing import Any

import falcon

from gateway.body import decode, read_body
from gateway.contracts.errors import APIError
from gateway.dialects import DialectSpec, Services, reshaped


class DialectResource:
    """POST on each route of one dialect."""

    def __init__(self, spec: DialectSpec[Any], services: Services) -> None:
        self.spec = spec
        self._services = services

    def on_post(self, req: falcon.Request, resp: falcon.Response, **fields: str) -> None:
        """Authenticate -> decode -> route -> dispatch -> relay, errors in the dialect's shape."""
        spec, services = self.spec, self._services
        try:
            req.context.key = services.auth.authenticate(req, spec.keys)
            raw = read_body(req, services.config.gateway.max_body_bytes)
            body = decode(spec.decoder, raw)
            summary = spec.summary(body, req, fields)
            req.context.model = summary.model
            spec.check(body)
            model = services.router.resolve(req.context.key, summary.model, spec.kind)
            services.dispatcher.dispatch(req, resp, spec.outbound(req), model, raw, summary)
        except APIError as ex:
            # PERF: the hot path's own try rather than `shaped_errors` (a generator per request)
            raise reshaped(ex, spec.error_shape, spec.error_status) from None

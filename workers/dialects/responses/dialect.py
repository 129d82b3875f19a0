"""The Responses dialect's `prepare` (workers/dialects/__init__.py): history, then
pass-through or conversion, with the Output that stores the answer.

1. Decode the caller's body; with `previous_response_id`, load that response's
   conversation from the store (this key's only: another key's id is a 404).
2. A provider with `responses = true` (openai kind) gets the request as sent
   (passthrough.py). Every other route gets the chat request (request.py), its chat
   output turned into Responses by ResponsesOutput (output.py).
3. With `store` (the default), the finished response and its whole input are stored
   before the caller sees it complete (the Output's `settle`).
"""

from __future__ import annotations

from functools import partial

import msgspec

from gateway.contracts.bus import Job
from gateway.contracts.errors import (
    from_validation_error,
    invalid_request,
    previous_response_not_found,
    store_unavailable,
)
from gateway.contracts.openai_responses import RESPONSES_REQUEST_DECODER, ResponsesRequest
from gateway.runtime.estimate import tokens_from_chars
from workers.dialects import Converted, Direct
from workers.dialects.responses import passthrough
from workers.dialects.responses.output import ResponsesOutput, Store
from workers.dialects.responses.request import request_items, to_chat_request
from workers.dialects.responses.response import minting, response_shell
from workers.dialects.responses.store import ResponseStore
from workers.job import Route, new_id
from workers.providers.base import Target, UpstreamRequest


class ResponsesDialect:
    """Conversion rules of the Responses dialect, with this worker's response store."""

    def __init__(self, store: ResponseStore | None) -> None:
        self._store = store

    async def prepare(self, job: Job, route: Route, target: Target, created: int) -> Direct | Converted:
        """As sent to an upstream serving Responses; converted to chat for every other."""
        try:
            req = RESPONSES_REQUEST_DECODER.decode(job.body)
        except msgspec.ValidationError as ex:
            raise from_validation_error(ex) from ex
        history = await self._history(job, req)
        items = [*(history or []), *request_items(req)]
        store: Store | None = partial(self._save, job.key_id, items) if self._stores(req) else None
        if route.config.kind == "openai" and route.config.responses:
            body = passthrough.upstream_body(job.body, target.upstream_model, items if history else None)
            body, dropped = passthrough.without_refused(body, target)
            upstream = passthrough.request(target, body, job.stream, dropped)
            relay = passthrough.ResponsesRelay(target.public_model, req.previous_id(), store)
            # Billed only if the upstream reports nothing: the size of what went up.
            return Direct(upstream, relay, tokens_from_chars(len(body)), passthrough.RelayOutput(relay))
        converted = to_chat_request(req, items, job.stream, route.config.kind, target.options.rules.drop_params)
        shell = response_shell(req, new_id("resp"), created, job.model)
        output = ResponsesOutput(shell, minting(new_id), converted.namespaces, store, job.stream, converted.places)
        return Converted(converted.chat, converted.body(), output, dropped=tuple(converted.dropped))

    def count_tokens(self, kind: str, job: Job, target: Target) -> UpstreamRequest | None:
        """No native count is relayed for this dialect."""
        return None

    def estimate_tokens(self, job: Job, target: Target) -> msgspec.Struct:
        """The gateway sends no token counts in this dialect."""
        raise invalid_request("Token counting is not available for the Responses dialect.")

    def _stores(self, req: ResponsesRequest) -> bool:
        return req.is_stored() and self._store is not None

    async def _history(self, job: Job, req: ResponsesRequest) -> list[msgspec.Raw] | None:
        previous = req.previous_id()
        if previous is None:
            return None
        if self._store is None:
            raise store_unavailable()
        history = await self._store.history(job.key_id, previous)
        if history is None:
            raise previous_response_not_found(previous)
        return history

    async def _save(self, key_id: str, items: list[msgspec.Raw], response_id: str, response: bytes) -> None:
        assert self._store is not None
        await self._store.save(key_id, response_id, response, items)

"""One `/v1/responses` job: history, pass-through or conversion, storage.

1. Decode the caller's body; with `previous_response_id`, load that response's
   conversation from the store (this key's only: another key's id is a 404).
2. A provider with `responses = true` (openai kind) gets the request as sent
   (passthrough.py). Every other route gets the chat request (request.py), run by the
   service's own chat path, its output turned into Responses by the ResponsesSink.
3. With `store` (the default), the finished response and its whole input are stored
   before the caller sees it complete.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

import msgspec

from gateway.contracts.bus import Job
from gateway.contracts.errors import from_validation_error, previous_response_not_found, store_unavailable
from gateway.contracts.openai import ChatRequest
from gateway.contracts.openai_responses import RESPONSES_REQUEST_DECODER, Response, ResponsesRequest
from workers.dialects.responses import passthrough
from workers.dialects.responses.request import request_items, to_chat_request
from workers.dialects.responses.response import NewId, response_shell
from workers.dialects.responses.sink import ResponsesSink
from workers.dialects.responses.store import ResponseStore
from workers.frames import FrameSink
from workers.providers.base import Target

if TYPE_CHECKING:
    from workers.service import Outcome, Route

RouteOf = Callable[[Job], "tuple[Route, Target]"]
RunChat = Callable[[Job, ChatRequest, bytes, FrameSink, "Outcome"], Awaitable[None]]
_JSON = msgspec.json.Encoder()


class ResponsesDialect:
    """Runs `dialect = "responses"` jobs for the worker service."""

    def __init__(self, store: ResponseStore | None, new_id: NewId) -> None:
        self._store = store
        self._new_id = new_id

    async def run(self, job: Job, sink: FrameSink, outcome: Outcome, route_of: RouteOf, run_chat: RunChat,
                  created: int) -> None:
        """Answer `job` on `sink` (a ResponsesSink made by `sink_for`)."""
        assert isinstance(sink, ResponsesSink)
        try:
            req = RESPONSES_REQUEST_DECODER.decode(job.body)
        except msgspec.ValidationError as ex:
            raise from_validation_error(ex) from ex
        route, target = route_of(job)
        history = await self._history(job, req)
        items = [*(history or []), *request_items(req)]
        if route.config.kind == "openai" and route.config.responses:
            on_stored = partial(self._save, job.key_id, items) if self._stores(req) else None
            upstream = passthrough.request(
                target, passthrough.upstream_body(job.body, target.upstream_model, items if history else None),
                job.stream,
            )
            await passthrough.pass_through(route, target, upstream, job.stream, sink, outcome, on_stored,
                                           req.previous_id())
            return
        converted = to_chat_request(req, items, job.stream)
        shell = response_shell(req, self._new_id("resp"), created, job.model)

        async def on_final(response: Response) -> None:
            if self._stores(req):
                await self._save(job.key_id, items, response.id, _JSON.encode(response))

        sink.convert(shell, self._new_id, converted.namespaces, on_final)
        await run_chat(job, converted.chat, converted.body(), sink, outcome)

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

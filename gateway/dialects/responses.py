"""OpenAI Responses: POST /v1/responses; GET and DELETE /v1/responses/{id} as extras.

POST validates the Responses schema (gateway/contracts/openai_responses.py) and publishes
a chat-op Job with `dialect = "responses"`; the worker converts it
(workers/dialects/responses/) and stores the answer when `store` is true. The stored
responses are read and deleted by gateway/resources/responses.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import falcon

from gateway.contracts.openai_responses import RESPONSES_REQUEST_DECODER, Response, ResponsesRequest, check_request
from gateway.dialects import DialectSpec, ExtraRoute, Services, Summary
from gateway.openapi import describe
from gateway.resources.responses import ResponseStore, StoredResponseResource
from gateway.sse_framing import ResponsesFraming


def summary(body: ResponsesRequest, req: falcon.Request, fields: Mapping[str, str]) -> Summary:
    """The model, stream and `max_output_tokens` of a Responses request."""
    return Summary(body.model, body.is_stream(), body.output_limit())


def extras(services: Services) -> Iterable[ExtraRoute]:
    """The stored responses of the caller's key."""
    store = ResponseStore(services.bridge, services.config.responses.store_ttl_s)
    return [("/v1/responses/{response_id}", StoredResponseResource(services.auth, store), None)]


RESPONSES = DialectSpec(name="responses", routes=("/v1/responses",), decoder=RESPONSES_REQUEST_DECODER,
                        summary=summary, check=check_request, framing=ResponsesFraming(), extras=extras)

describe("POST", "/v1/responses", "Create a response (OpenAI's Responses API; SSE events with `stream: true`)",
         request=ResponsesRequest, response=Response)

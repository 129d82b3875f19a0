"""OpenAI Chat Completions: POST /v1/chat/completions."""

from __future__ import annotations

from collections.abc import Mapping

import falcon

from gateway.contracts.openai import CHAT_REQUEST_DECODER, ChatCompletion, ChatCompletionChunk, ChatRequest
from gateway.dialects import DialectSpec, Summary
from gateway.openapi import describe


def summary(body: ChatRequest, req: falcon.Request, fields: Mapping[str, str]) -> Summary:
    """The model, stream, output limit and usage chunk of a chat request."""
    return Summary(body.model, body.is_stream(), body.output_limit(), body.wants_usage_chunk())


CHAT = DialectSpec(name="chat", routes=("/v1/chat/completions",), decoder=CHAT_REQUEST_DECODER, summary=summary)

describe("POST", "/v1/chat/completions", "Create a chat completion (a JSON body, or SSE with `stream: true`)",
         request=ChatRequest, response=ChatCompletion, stream=ChatCompletionChunk)

"""OpenAI Embeddings: POST /v1/embeddings (the `embed` op, on embedding models only)."""

from __future__ import annotations

from collections.abc import Mapping

import falcon

from gateway.contracts.openai import EMBEDDING_REQUEST_DECODER, EmbeddingRequest, EmbeddingResponse, embedding_inputs
from gateway.dialects import DialectSpec, Summary
from gateway.openapi import describe


def summary(body: EmbeddingRequest, req: falcon.Request, fields: Mapping[str, str]) -> Summary:
    """The model; embeddings never stream and have no output limit."""
    return Summary(body.model)


def check(body: EmbeddingRequest) -> None:
    """400 naming `input` unless it is one of the shapes OpenAI accepts."""
    embedding_inputs(body)


# NOTE: the Job's dialect stays "chat": workers convert only the dialects that need it.
EMBEDDINGS = DialectSpec(name="chat", routes=("/v1/embeddings",), decoder=EMBEDDING_REQUEST_DECODER,
                         summary=summary, check=check, op="embed", kind="embedding")

describe("POST", "/v1/embeddings", "Create embeddings", request=EmbeddingRequest, response=EmbeddingResponse)

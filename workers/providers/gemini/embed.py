"""OpenAI `/v1/embeddings` <-> Gemini `:batchEmbedContents` (conversion-reference.md 3.8).

- every input is one request of the batch, in order (`model: "models/<id>"`, one text
  part, `outputDimensionality` from `dimensions`), so an array gets one vector per item;
- Gemini embeds text only: token-array inputs are refused (400 naming `input`), and one
  batch holds at most 100 requests (`MAX_BATCH`, announced to the service as the
  provider's `max_embed_inputs`, which splits longer lists), more are refused here;
- with `dimensions`, Gemini truncates the vector; we scale it back to unit length, as
  OpenAI's vectors are (and as Google's embeddings guide recommends for reduced sizes);
- usage: `usageMetadata.promptTokenCount` when Google sends it, otherwise an estimate
  (billed as `estimated`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
from msgspec import UNSET

from gateway.contracts.openai import EmbeddingRequest, Usage, embedding_inputs
from workers.providers.base import ConversionError, EmbedResult, ReplyContext
from workers.providers.embedding_format import to_embedding_response
from workers.providers.gemini import errors
from workers.providers.gemini.schema import (
    EMBED_RESPONSE_DECODER,
    BatchEmbedContentsRequest,
    Content,
    EmbedContentRequest,
    Part,
)
from workers.providers.token_estimate import estimate_many

MAX_BATCH = 100


def to_batch_embed_request(req: EmbeddingRequest, model: str) -> BatchEmbedContentsRequest:
    """The batchEmbedContents body for the caller's inputs; `model` is the bare upstream id."""
    texts = _texts(req)
    dimensions = req.output_dimensions() or UNSET
    if len(texts) > MAX_BATCH:
        raise ConversionError(
            f"'input' has {len(texts)} items; Gemini embeds at most {MAX_BATCH} per request.",
            "input",
        )
    return BatchEmbedContentsRequest(
        requests=[
            EmbedContentRequest(
                model=f"models/{model}",
                content=Content(parts=[Part(text=text)]),
                output_dimensionality=dimensions,
            )
            for text in texts
        ]
    )


def to_embed_result(body: bytes, req: EmbeddingRequest, ctx: ReplyContext) -> EmbedResult:
    """The OpenAI embeddings response (float or base64) and the usage to bill."""
    try:
        response = EMBED_RESPONSE_DECODER.decode(body)
    except msgspec.DecodeError as ex:
        raise errors.malformed(f"unreadable batchEmbedContents response: {ex}") from ex
    texts = _texts(req)
    vectors = [embedding.values for embedding in response.embeddings]
    if len(vectors) != len(texts) or any(not v for v in vectors):
        raise errors.malformed(
            f"batchEmbedContents returned {len(vectors)} vectors for {len(texts)} inputs"
        )
    if req.output_dimensions() is not None:
        vectors = [unit_length(v) for v in vectors]
    meta = response.usage_metadata
    reported = meta.prompt_token_count if meta is not None else 0
    tokens = reported or estimate_many(texts)
    body_out = to_embedding_response(vectors, ctx.model, tokens, req.wants_base64())
    return EmbedResult(
        body=body_out,
        usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
        estimated=not reported,
    )


def unit_length(vector: Sequence[float]) -> list[float]:
    """The vector scaled to length 1 (a zero vector stays as it is)."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)


def _texts(req: EmbeddingRequest) -> list[str]:
    inputs = embedding_inputs(req)
    texts = [item for item in inputs if isinstance(item, str)]
    if len(texts) != len(inputs):
        raise ConversionError(
            "'input' holds token arrays; Gemini embeds text only, send strings.", "input"
        )
    return texts

"""OpenAI's embedding output formats: a float list, or base64 of little-endian float32."""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence

from gateway.contracts.openai import Embedding, EmbeddingResponse, EmbeddingUsage


def encode_base64(vector: Sequence[float]) -> str:
    """Base64 of the vector as little-endian float32, exactly as OpenAI sends it."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def decode_base64(text: str) -> list[float]:
    """The float32 vector inside an OpenAI base64 embedding."""
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def to_embedding_response(
    vectors: Sequence[Sequence[float]], model: str, prompt_tokens: int, as_base64: bool
) -> EmbeddingResponse:
    """An OpenAI embeddings response, vectors in input order."""
    data = [
        Embedding(index=i, embedding=encode_base64(v) if as_base64 else [float(x) for x in v])
        for i, v in enumerate(vectors)
    ]
    return EmbeddingResponse(
        data=data, model=model, usage=EmbeddingUsage(prompt_tokens, prompt_tokens)
    )

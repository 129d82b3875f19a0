"""The offline `echo` provider: an OpenAI-protocol upstream served inside the worker.

It answers with the last user message (streamed word by word), reports usage (one
completion token a word, prompt tokens estimated) and gives deterministic unit-length
embeddings, so the default config works with no network and no keys. Requests and
responses go through the openai provider's pass-through code, exactly as for a real
OpenAI upstream.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import AsyncIterator

import msgspec

from gateway.contracts.openai import (
    CHAT_REQUEST_DECODER,
    EMBEDDING_REQUEST_DECODER,
    JSON_ENCODER,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    Choice,
    ChunkChoice,
    Delta,
    DeveloperMessage,
    EmbeddingRequest,
    ResponseMessage,
    SystemMessage,
    TextPart,
    ToolMessage,
    Usage,
    UserMessage,
    embedding_inputs,
)
from workers.providers.base import LocalResponse, UpstreamRequest
from workers.providers.embedding_format import to_embedding_response
from workers.providers.openai import OpenAIProvider
from workers.providers.token_estimate import estimate_many, estimate_text_tokens

DEFAULT_DIMENSIONS = 64
_WORDS = re.compile(r"\S+\s*")
_JSON = {"content-type": "application/json"}


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.text for p in content if isinstance(p, TextPart))
    return ""


def _prompt_texts(req: ChatRequest) -> list[str]:
    texts = []
    for m in req.messages:
        if isinstance(m, (SystemMessage, DeveloperMessage, UserMessage, ToolMessage, AssistantMessage)):
            texts.append(_text_of(m.content))
    return texts


def reply_words(req: ChatRequest) -> tuple[list[str], str]:
    """The words echoed back (the last user message) and the finish reason."""
    last = next((m for m in reversed(req.messages) if isinstance(m, UserMessage)), None)
    words = _WORDS.findall(_text_of(last.content) if last else "")
    limit = req.output_limit()
    if limit is not None and len(words) > limit:
        return words[:limit], "length"
    return words, "stop"


def echo_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for `text` (same text, same vector)."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    vector = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


class EchoUpstream:
    """Serves `/chat/completions` and `/embeddings` the way an OpenAI server would."""

    async def respond(self, request: UpstreamRequest) -> LocalResponse:
        """Answer one OpenAI-protocol request."""
        try:
            if request.url.endswith("/embeddings"):
                return self._embeddings(EMBEDDING_REQUEST_DECODER.decode(request.body))
            return self._chat(CHAT_REQUEST_DECODER.decode(request.body))
        except msgspec.DecodeError as ex:
            error = {"error": {"message": str(ex), "type": "invalid_request_error", "param": None, "code": None}}
            return LocalResponse(400, _JSON, _once(JSON_ENCODER.encode(error)))

    def _chat(self, req: ChatRequest) -> LocalResponse:
        words, finish = reply_words(req)
        n = req.choice_count()
        prompt = estimate_many(_prompt_texts(req))
        usage = Usage(
            prompt_tokens=prompt, completion_tokens=len(words) * n, total_tokens=prompt + len(words) * n
        )
        created = int(time.time())
        if req.is_stream():
            stream = _stream(req, words, finish, usage, created)
            return LocalResponse(200, {"content-type": "text/event-stream"}, stream)
        choices = [
            Choice(index=i, message=ResponseMessage(content="".join(words)), finish_reason=finish)
            for i in range(n)
        ]
        completion = ChatCompletion(
            id="chatcmpl-echo", created=created, model=req.model, choices=choices, usage=usage
        )
        return LocalResponse(200, _JSON, _once(JSON_ENCODER.encode(completion)))

    def _embeddings(self, req: EmbeddingRequest) -> LocalResponse:
        inputs = embedding_inputs(req)
        texts = [x if isinstance(x, str) else " ".join(map(str, x)) for x in inputs]
        dims = req.output_dimensions() or DEFAULT_DIMENSIONS
        vectors = [echo_vector(t, dims) for t in texts]
        tokens = sum(estimate_text_tokens(t) if isinstance(x, str) else len(x) for t, x in zip(texts, inputs, strict=True))
        body = to_embedding_response(vectors, req.model, tokens, req.wants_base64())
        return LocalResponse(200, _JSON, _once(JSON_ENCODER.encode(body)))


async def _stream(
    req: ChatRequest, words: list[str], finish: str, usage: Usage, created: int
) -> AsyncIterator[bytes]:
    def frame(choices: list[ChunkChoice], with_usage: bool = False) -> bytes:
        chunk = ChatCompletionChunk(
            id="chatcmpl-echo", created=created, model=req.model, choices=choices
        )
        if with_usage:
            chunk.usage = usage
        return b"data: " + JSON_ENCODER.encode(chunk) + b"\n\n"

    for i in range(req.choice_count()):
        yield frame([ChunkChoice(index=i, delta=Delta(role="assistant", content=""))])
        for word in words:
            yield frame([ChunkChoice(index=i, delta=Delta(content=word))])
        yield frame([ChunkChoice(index=i, delta=Delta(), finish_reason=finish)])
    if req.wants_usage_chunk():
        yield frame([], with_usage=True)
    yield b"data: [DONE]\n\n"


class EchoProvider(OpenAIProvider):
    """The openai provider's conversion, answered by `EchoUpstream`."""

    local_upstream = EchoUpstream()


PROVIDER = EchoProvider()

"""OpenAI and OpenAI-compatible upstreams: the caller's body passes through.

Only four things change on the way: the upstream model id replaces ours, streams
always ask for usage (`stream_options.include_usage`) so every stream can be billed
(the upstream's usage chunk is then held back and the service emits the caller's own,
only if they asked), Claude-style `cache_control` marks are removed, and the model's
parameter rules apply (workers/providers/param_rules.py: the output limit's field, what
the model refuses, the `developer` role). Parameters we do not model are forwarded untouched. Responses
pass through as raw bytes unless the upstream names another model than the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

from gateway.contracts.errors import upstream_error
from gateway.contracts.openai import (
    ChatCompletionChunk,
    ChatRequest,
    CompletionTokensDetails,
    EmbeddingRequest,
    PromptTokensDetails,
    Usage,
)
from workers.providers.base import (
    ChatResult,
    EmbedResult,
    ReplyContext,
    SseEvent,
    StreamOutcome,
    Target,
    UpstreamError,
    UpstreamRequest,
)
from workers.providers import param_rules
from workers.providers.upstream_errors import by_cause, counts


class _PromptDetails(Struct):
    cached_tokens: int | None = None


class _CompletionDetails(Struct):
    reasoning_tokens: int | None = None


class _UpstreamUsage(Struct):
    """An upstream's usage, read leniently: OpenAI's own SDK types allow `null` for every
    count and breakdown, and vLLM-style servers send them; null means 0 / absent, so
    work the upstream did (and charged for) is never turned into a 502."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None

    def to_usage(self) -> Usage:
        """Our Usage; a missing total is prompt + completion."""
        prompt, completion = self.prompt_tokens or 0, self.completion_tokens or 0
        asked, told = self.prompt_tokens_details, self.completion_tokens_details
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=self.total_tokens if self.total_tokens is not None else prompt + completion,
            prompt_tokens_details=(
                PromptTokensDetails(cached_tokens=asked.cached_tokens or 0) if asked else UNSET
            ),
            completion_tokens_details=(
                CompletionTokensDetails(reasoning_tokens=told.reasoning_tokens or 0) if told else UNSET
            ),
        )


class _Peek(Struct):
    """The fields we read from an upstream body; the rest passes through unread."""

    model: str = ""
    usage: _UpstreamUsage | None = None
    choices: list[Any] | UnsetType = UNSET
    error: Any = None  # OpenAI-compatible servers report mid-stream failures this way


class _EmbeddingUsage(Struct):
    prompt_tokens: int | None = None  # null = 0, as in chat usage
    total_tokens: int | None = None


class _EmbeddingPeek(Struct):
    model: str = ""
    usage: _EmbeddingUsage | None = None


class _ErrorInner(Struct):
    message: str = ""
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


class _ErrorBody(Struct):
    error: _ErrorInner | str | None = None


_PEEK = msgspec.json.Decoder(_Peek)
_EMBED_PEEK = msgspec.json.Decoder(_EmbeddingPeek)
_ERROR = msgspec.json.Decoder(_ErrorBody)
_DICT = msgspec.json.Decoder(dict[str, Any])
_ENCODER = msgspec.json.Encoder()


def _headers(target: Target) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if target.api_key:
        headers["authorization"] = f"Bearer {target.api_key}"
    return headers


def _url(target: Target, path: str) -> str:
    return f"{target.base_url.rstrip('/')}/{path}"


def _with_model(body: bytes, model: str, old: str | None = None) -> bytes:
    """The JSON object `body` with its `model` replaced (everything else kept).

    PERF: when the current value is known, a byte replacement of the `"model":"<old>"`
    member avoids decoding and re-encoding every chunk of a stream. That token cannot
    occur inside a JSON string (its quotes would be escaped), and the first occurrence is
    the top-level member in OpenAI's objects; any other spelling takes the slow path.
    """
    if old is not None:
        value = _ENCODER.encode(old)
        for member in (b'"model":' + value, b'"model": ' + value):
            if member in body:
                return body.replace(member, b'"model":' + _ENCODER.encode(model), 1)
    doc = _DICT.decode(body)
    doc["model"] = model
    return _ENCODER.encode(doc)


def _strip_cache_control(doc: dict[str, Any]) -> None:
    """Remove `cache_control` marks where callers put them for Claude (docs/compat-anthropic.md).

    They are Anthropic's convention, not OpenAI's: OpenAI caches prefixes by itself and
    strict OpenAI-compatible servers refuse fields they do not know. Only the places the
    convention uses are touched (messages, their content parts, tools), never a tool's schema.
    """
    for item in [*(doc.get("messages") or []), *(doc.get("tools") or [])]:
        if not isinstance(item, dict):
            continue
        item.pop("cache_control", None)
        content = item.get("content")
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict):
                part.pop("cache_control", None)


class OpenAIStream:
    """Passes upstream chunks through; captures (and holds back) the usage chunk."""

    def __init__(self, ctx: ReplyContext) -> None:
        self._ctx = ctx
        self._usage = Usage()
        self._done = False

    def feed(self, event: SseEvent) -> list[ChatCompletionChunk | msgspec.Raw]:
        """One upstream SSE event -> at most one chunk for the caller."""
        data = event.data
        if data.startswith("[DONE]"):
            self._done = True
            return []
        raw = data.encode()
        try:
            peek = _PEEK.decode(raw)
        except msgspec.DecodeError as ex:
            raise UpstreamError.of(upstream_error(f"upstream sent a malformed stream chunk: {ex}")) from ex
        if peek.error is not None:
            raise _error_from_body(502, {}, raw)
        if peek.usage is not None:
            self._usage = peek.usage.to_usage()
        if isinstance(peek.choices, list) and not peek.choices:
            return []  # the upstream's usage chunk: the service sends the caller's own
        if peek.model and peek.model != self._ctx.model:
            return [msgspec.Raw(_with_model(raw, self._ctx.model, peek.model))]
        return [msgspec.Raw(raw)]

    def usage(self) -> Usage:
        """Usage reported so far."""
        return self._usage

    def close(self) -> StreamOutcome:
        """End of stream; one without `[DONE]` was cut off."""
        if not self._done:
            raise UpstreamError.of(upstream_error("upstream stream ended before [DONE]"))
        return StreamOutcome(usage=self._usage)


# "This model's maximum context length is 128000 tokens. However, your messages resulted in
# 250000 tokens." (or "you requested 250000 tokens"): OpenAI's context_length_exceeded.
_OVERFLOW = re.compile(r"maximum context length is (?P<maximum>\d+) tokens\. However, "
                       r"(?:your messages resulted in|you requested) (?P<tokens>\d+) tokens")


def _error_from_body(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    message = body.decode("utf-8", "replace")[:2000] or f"HTTP {status}"
    param: str | None = None
    kind: str | None = None
    try:
        inner = _ERROR.decode(body).error
    except msgspec.DecodeError:
        inner = None
    if isinstance(inner, _ErrorInner):
        message = inner.message or message
        param = inner.param
        kind = inner.type
    elif isinstance(inner, str):
        message = inner
    overflow = counts(_OVERFLOW, message)  # vLLM-style servers word it alike, without the code
    if overflow is None and isinstance(inner, _ErrorInner) and inner.code == "context_length_exceeded":
        overflow = (None, None)
    return by_cause(
        "openai",
        status,
        message,
        headers,
        rate_limited=kind in ("rate_limit_exceeded", "requests", "tokens"),
        param=param,
        overflow=overflow,
    )


class OpenAIProvider:
    """Pass-through provider for OpenAI-compatible upstreams."""

    supports_n = True
    max_embed_inputs: int | None = None
    local_upstream: Any = None

    def chat_request(
        self, req: ChatRequest, raw: bytes, target: Target, stream: bool
    ) -> UpstreamRequest:
        """The caller's body with our upstream model id (and usage asked for streams)."""
        body = raw
        dropped: list[str] = []
        # PERF: the byte tests keep the common request on the no-decode path.
        marked = b"cache_control" in raw
        if stream or target.upstream_model != req.model or marked or param_rules.may_apply(raw, target):
            doc = _DICT.decode(raw)
            doc["model"] = target.upstream_model
            if marked:
                _strip_cache_control(doc)
            if stream:
                options = doc.get("stream_options")
                doc["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
            dropped = param_rules.apply_chat(doc, target)
            body = _ENCODER.encode(doc)
        return UpstreamRequest(url=_url(target, "chat/completions"), headers=_headers(target), body=body,
                               stream=stream, dropped=tuple(dropped))

    def chat_result(self, body: bytes, ctx: ReplyContext) -> ChatResult:
        """The upstream body as is (model name set to ours) and its usage."""
        try:
            peek = _PEEK.decode(body)
        except msgspec.DecodeError as ex:
            raise UpstreamError.of(upstream_error(f"upstream sent malformed JSON: {ex}")) from ex
        out = body if peek.model == ctx.model else _with_model(body, ctx.model, peek.model)
        return ChatResult(body=msgspec.Raw(out), usage=peek.usage.to_usage() if peek.usage else Usage())

    def chat_stream(self, ctx: ReplyContext, include_usage: bool) -> OpenAIStream:
        """A pass-through stream converter."""
        return OpenAIStream(ctx)

    def embed_request(self, req: EmbeddingRequest, raw: bytes, target: Target) -> UpstreamRequest:
        """The caller's embeddings body with our upstream model id."""
        body = raw if target.upstream_model == req.model else _with_model(raw, target.upstream_model)
        return UpstreamRequest(url=_url(target, "embeddings"), headers=_headers(target), body=body)

    def embed_result(self, body: bytes, req: EmbeddingRequest, ctx: ReplyContext) -> EmbedResult:
        """The upstream embeddings body (already in the caller's encoding) and its usage."""
        try:
            peek = _EMBED_PEEK.decode(body)
        except msgspec.DecodeError as ex:
            raise UpstreamError.of(upstream_error(f"upstream sent malformed JSON: {ex}")) from ex
        out = body if peek.model == ctx.model else _with_model(body, ctx.model, peek.model)
        tokens = (peek.usage.prompt_tokens if peek.usage else None) or 0
        return EmbedResult(
            body=msgspec.Raw(out), usage=Usage(prompt_tokens=tokens, total_tokens=tokens)
        )

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """OpenAI's error body -> our table, message and param kept."""
        return _error_from_body(status, headers, body)


PROVIDER = OpenAIProvider()

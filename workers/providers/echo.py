"""The offline `echo` provider: an OpenAI-protocol upstream served inside the worker.

It answers with the last user message (streamed word by word), or with a tool call when
the caller's `tool_choice` demands one and with the tool results' text after them
(`echo_tools.py`), reports usage (one completion token a word, prompt tokens estimated)
and gives deterministic unit-length embeddings, so the default config works with no
network and no keys. Requests and responses go through the openai provider's
pass-through code, exactly as for a real OpenAI upstream.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
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
    FunctionCall,
    FunctionCallDelta,
    FunctionDefinition,
    ResponseMessage,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolMessage,
    Usage,
    UserMessage,
    embedding_inputs,
)
from workers.providers.base import LocalResponse, UpstreamRequest
from workers.providers.echo_tools import (
    ToolChoiceError,
    arguments_for,
    forced_function,
    tool_results_text,
)
from workers.providers.embedding_format import to_embedding_response
from workers.providers.openai import OpenAIProvider
from workers.providers.token_estimate import estimate_many, estimate_text_tokens

DEFAULT_DIMENSIONS = 64
_WORDS = re.compile(r"\S+\s*")
# Streamed tool-call arguments arrive in fragments of this many characters, as from OpenAI.
_ARGUMENT_FRAGMENT = 8
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


def _is_reminder(text: str) -> bool:
    # Claude Code injects `<system-reminder>` text as parts of, or whole, user messages;
    # echoing them would read as the gateway's own words (issue 22 item 4).
    return text.lstrip().startswith("<system-reminder>")


def _last_user_text(req: ChatRequest) -> str:
    """The user's own words: the last user text part that is not a system reminder."""
    for m in reversed(req.messages):
        if not isinstance(m, UserMessage):
            continue
        parts = [m.content] if isinstance(m.content, str) else [p.text for p in m.content if isinstance(p, TextPart)]
        own = next((t for t in reversed(parts) if not _is_reminder(t)), None)
        if own is not None:
            return own
    return ""


def reply_words(req: ChatRequest) -> tuple[list[str], str]:
    """The words echoed back (the tool results that end the conversation, else the last
    user message) and the finish reason."""
    results = tool_results_text(req)
    words = _WORDS.findall(results if results is not None else _last_user_text(req))
    limit = req.output_limit()
    if limit is not None and len(words) > limit:
        return words[:limit], "length"
    return words, "stop"


def tool_call(req: ChatRequest, function: FunctionDefinition) -> ToolCall:
    """A call of `function` with arguments made from the user's words (a fresh call id)."""
    arguments = JSON_ENCODER.encode(arguments_for(function, _last_user_text(req).strip())).decode()
    return ToolCall(id=f"call_{secrets.token_hex(12)}", function=FunctionCall(function.name, arguments))


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
            return _error(str(ex), None)

    def _chat(self, req: ChatRequest) -> LocalResponse:
        try:
            function = forced_function(req)
        except ToolChoiceError as ex:
            return _error(str(ex), "tool_choice")
        n = req.choice_count()
        messages: list[ResponseMessage] = []
        deltas: list[list[Delta]] = []
        if function is not None:
            calls = [tool_call(req, function) for _ in range(n)]
            completion = sum(estimate_text_tokens(c.function.name + c.function.arguments) for c in calls)
            messages = [ResponseMessage(content=None, tool_calls=[c]) for c in calls]
            deltas = [_call_deltas(c) for c in calls]
            finish = "tool_calls"
        else:
            words, finish = reply_words(req)
            completion = len(words) * n
            messages = [ResponseMessage(content="".join(words)) for _ in range(n)]
            deltas = [_text_deltas(words) for _ in range(n)]
        prompt = estimate_many(_prompt_texts(req))
        usage = Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)
        created = int(time.time())
        # As an OpenAI server: a fresh id per response, the same on every chunk of a stream.
        completion_id = f"chatcmpl-echo{secrets.token_hex(12)}"
        if req.is_stream():
            stream = _stream(req, deltas, finish, usage, created, completion_id)
            return LocalResponse(200, {"content-type": "text/event-stream"}, stream)
        choices = [Choice(index=i, message=m, finish_reason=finish) for i, m in enumerate(messages)]
        body = ChatCompletion(
            id=completion_id, created=created, model=req.model, choices=choices, usage=usage
        )
        return LocalResponse(200, _JSON, _once(JSON_ENCODER.encode(body)))

    def _embeddings(self, req: EmbeddingRequest) -> LocalResponse:
        inputs = embedding_inputs(req)
        texts = [x if isinstance(x, str) else " ".join(map(str, x)) for x in inputs]
        dims = req.output_dimensions() or DEFAULT_DIMENSIONS
        vectors = [echo_vector(t, dims) for t in texts]
        tokens = sum(estimate_text_tokens(t) if isinstance(x, str) else len(x) for t, x in zip(texts, inputs, strict=True))
        body = to_embedding_response(vectors, req.model, tokens, req.wants_base64())
        return LocalResponse(200, _JSON, _once(JSON_ENCODER.encode(body)))


def _error(message: str, param: str | None) -> LocalResponse:
    error = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return LocalResponse(400, _JSON, _once(JSON_ENCODER.encode(error)))


def _text_deltas(words: list[str]) -> list[Delta]:
    return [Delta(role="assistant", content="")] + [Delta(content=word) for word in words]


def _call_deltas(call: ToolCall) -> list[Delta]:
    """A tool call as OpenAI streams it: id, type and name (arguments "") first, then
    the arguments in fragments, all under tool-call index 0."""
    first = ToolCallDelta(
        index=0, id=call.id, type="function", function=FunctionCallDelta(name=call.function.name, arguments="")
    )
    arguments = call.function.arguments
    fragments = [arguments[i : i + _ARGUMENT_FRAGMENT] for i in range(0, len(arguments), _ARGUMENT_FRAGMENT)]
    return [Delta(role="assistant", content=None, tool_calls=[first])] + [
        Delta(tool_calls=[ToolCallDelta(index=0, function=FunctionCallDelta(arguments=part))])
        for part in fragments
    ]


async def _stream(
    req: ChatRequest, deltas: list[list[Delta]], finish: str, usage: Usage, created: int, completion_id: str
) -> AsyncIterator[bytes]:
    def frame(choices: list[ChunkChoice], with_usage: bool = False) -> bytes:
        chunk = ChatCompletionChunk(
            id=completion_id, created=created, model=req.model, choices=choices
        )
        if with_usage:
            chunk.usage = usage
        return b"data: " + JSON_ENCODER.encode(chunk) + b"\n\n"

    for i, choice_deltas in enumerate(deltas):
        for delta in choice_deltas:
            yield frame([ChunkChoice(index=i, delta=delta)])
        yield frame([ChunkChoice(index=i, delta=Delta(), finish_reason=finish)])
    if req.wants_usage_chunk():
        yield frame([], with_usage=True)
    yield b"data: [DONE]\n\n"


class EchoProvider(OpenAIProvider):
    """The openai provider's conversion, answered by `EchoUpstream`."""

    local_upstream = EchoUpstream()


PROVIDER = EchoProvider()

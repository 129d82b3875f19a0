"""OpenAI ChatRequest -> Gemini GenerateContentRequest (conversion-reference.md 3.2-3.3).

Messages:
- system/developer (wherever they appear) -> `systemInstruction`, one text part each, in
  order; a request with nothing else sends them as the user turn (Gemini needs contents);
- user -> "user", assistant -> "model"; consecutive turns of one role are merged; a
  conversation that starts with the model (a trimmed agent history beginning with a tool
  call) gets a user turn "." before it;
- assistant `tool_calls` -> `functionCall` parts after its text; the thought signature a
  caller echoes in `extra_content.google.thought_signature` (or that the call's id
  carries, signatures.py) goes back on its part, and a
  turn whose calls carry none gets Google's documented placeholder on its first call
  (https://ai.google.dev/gemini-api/docs/thought-signatures), so history from other
  providers or clients that drop unknown fields still validates on Gemini 3;
- tool messages answering one assistant message -> one user turn of `functionResponse`
  parts in the order of the calls, whatever order they came in; the name comes from the
  matching call; a JSON-object result is sent as is, any other text as {"result": text};
  a tool message's images and files follow the responses as parts of that turn;
- text that is empty or whitespace never becomes a part;
- images: data URLs -> `inlineData`; Files API and YouTube URLs -> `fileData`; other
  http(s) URLs -> 400 (conversion is pure: the worker does not fetch URLs for Gemini);
  `input_audio` -> `inlineData` audio/wav or audio/mp3; `file` data URLs -> `inlineData`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypeVar, assert_never

import msgspec
from msgspec import UNSET, UnsetType

from gateway.contracts.config import GeminiModelFlags
from gateway.contracts.openai import (
    AssistantMessage,
    AudioPart,
    ChatRequest,
    DeveloperMessage,
    FilePart,
    FileRef,
    FunctionMessage,
    ImagePart,
    JsonObjectFormat,
    JsonSchemaFormat,
    Message,
    RefusalPart,
    SystemMessage,
    TextFormat,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from workers.providers.base import ConversionError
from workers.providers.data_url import parse_data_url
from workers.providers.openai_only import function_calls, refuse_function_message
from workers.providers.gemini.schema import (
    RAW_CHAT_DECODER,
    Blob,
    Content,
    FileData,
    FunctionCall,
    FunctionResponse,
    GenerateContentRequest,
    GenerationConfig,
    Part,
    ThinkingConfig,
)
from workers.providers.gemini.signatures import call_signature
from workers.providers.gemini.tool_schema import OutsideSubsetError, to_gemini_schema
from workers.providers.gemini.tools import to_gemini_tool_config, to_gemini_tools
from workers.providers.tool_args import parse_arguments

# The user turn put before a conversation that starts with the model (as anthropic/messages.py).
PLACEHOLDER_USER_TEXT = "."
# Google's placeholder for function calls whose signature is unknown (thought-signatures FAQ).
DUMMY_THOUGHT_SIGNATURE = "skip_thought_signature_validator"
# reasoning_effort -> thinkingBudget; low/medium/high as Google's own OpenAI layer maps them.
REASONING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
_FILES_API = "https://generativelanguage.googleapis.com/"
_YOUTUBE = re.compile(r"https://(www\.|m\.)?(youtube\.com/watch\?|youtu\.be/)")
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
_OBJECT = msgspec.json.Decoder(dict[str, Any])
DEFAULT_FLAGS = GeminiModelFlags()
T = TypeVar("T")


def to_generate_content_request(
    req: ChatRequest, raw: bytes, flags: GeminiModelFlags = DEFAULT_FLAGS
) -> GenerateContentRequest:
    """The whole Gemini request body for a chat request; ConversionError (400) if impossible.

    `flags` say what the model accepts where Gemini versions differ (gateway config).
    """
    check_tools_with_json(req, flags)
    system, contents = to_contents(req.messages, thought_signatures(req, raw))
    return GenerateContentRequest(
        contents=contents,
        system_instruction=system,
        tools=to_gemini_tools(req),
        tool_config=to_gemini_tool_config(req),
        generation_config=to_generation_config(req, flags),
    )


def check_tools_with_json(req: ChatRequest, flags: GeminiModelFlags) -> None:
    """Refuse `tools` with a JSON `response_format` on models that reject the pair.

    Gemini 2.x answers function calling together with `responseMimeType:
    application/json` with INVALID_ARGUMENT (any `tool_choice`, forced included); Gemini 3
    takes both. The model's `tools_with_json_response` flag says which it is.
    """
    if flags.tools_with_json_response or not req.tools:
        return
    if isinstance(req.response_format, JsonObjectFormat | JsonSchemaFormat):
        raise _refused(
            "response_format",
            "(JSON) cannot be combined with 'tools' on this model: Gemini 2.x rejects "
            "function calling together with a JSON response. Send one of them, or use a "
            "model that takes both (Gemini 3).",
        )


def to_contents(
    messages: list[Message], signatures: dict[tuple[int, int], str]
) -> tuple[Content | UnsetType, list[Content]]:
    """`systemInstruction` and `contents` for the conversation."""
    out = _Turns()
    for i, message in enumerate(messages):
        if not isinstance(message, ToolMessage):
            out.close_tool_results()
        match message:
            case SystemMessage(content=content) | DeveloperMessage(content=content):
                out.system.extend(_text_parts(content))
            case UserMessage():
                out.add("user", _user_parts(message, i))
            case AssistantMessage():
                out.add("model", _assistant_parts(message, i, signatures))
                if calls := function_calls(message, i, "Gemini"):
                    out.pending = _Pending(i, calls)
            case ToolMessage():
                out.answer(i, message)
            case FunctionMessage():
                raise refuse_function_message(i, "Gemini")
            case _:
                assert_never(message)
    out.close_tool_results()
    if out.turns and out.turns[0].role == "model":
        # Gemini rejects a leading function-call turn ("function call turn comes immediately
        # after a user turn or after a function response turn"): histories trimmed by agents
        # start that way. A placeholder user turn, as the Anthropic path sends.
        out.turns.insert(0, Content(role="user", parts=[Part(text=PLACEHOLDER_USER_TEXT)]))
    if out.turns:
        return (Content(parts=out.system) if out.system else UNSET), out.turns
    if out.system:
        return UNSET, [Content(role="user", parts=out.system)]
    raise _refused("messages", "hold no non-empty content to send to Gemini.")


def thought_signatures(req: ChatRequest, raw: bytes) -> dict[tuple[int, int], str]:
    """(message index, tool call index) -> the signature echoed in `extra_content`, else
    the one its id carries (signatures.py).

    Keyed by position, not id: some clients reuse ids such as `call_0` across turns.
    """
    if not any(isinstance(m, AssistantMessage) and m.tool_calls for m in req.messages):
        return {}
    found: dict[tuple[int, int], str] = {}
    for i, message in enumerate(req.messages):
        calls = message.tool_calls if isinstance(message, AssistantMessage) else None
        for j, call in enumerate(calls if isinstance(calls, list) else []):
            if signature := call_signature(call.id):
                found[(i, j)] = signature
    try:
        body = RAW_CHAT_DECODER.decode(raw)
    except msgspec.DecodeError:
        return found
    for i, raw_message in enumerate(body.messages):
        for j, raw_call in enumerate(raw_message.tool_calls or []):
            google = raw_call.extra_content.google if raw_call.extra_content else None
            if google is not None and google.thought_signature:
                found[(i, j)] = google.thought_signature
    return found


@dataclass(slots=True)
class _Pending:
    """The tool calls of the latest assistant message and the answers seen so far."""

    message_index: int
    calls: list[ToolCall]
    answers: dict[str, Part] = field(default_factory=dict)
    attached: list[Part] = field(default_factory=list)  # the answers' images and files, after them


@dataclass(slots=True)
class _Turns:
    """The turns built so far; merges same-role neighbours."""

    system: list[Part] = field(default_factory=list)
    turns: list[Content] = field(default_factory=list)
    pending: _Pending | None = None

    def add(self, role: str, parts: list[Part]) -> None:
        if not parts:
            return
        if self.turns and self.turns[-1].role == role:
            self.turns[-1].parts.extend(parts)
        else:
            self.turns.append(Content(role=role, parts=parts))

    def answer(self, i: int, message: ToolMessage) -> None:
        pending, call_id = self.pending, message.tool_call_id
        call = next((c for c in pending.calls if c.id == call_id), None) if pending else None
        param = f"messages[{i}].tool_call_id"
        if pending is None or call is None:
            problem = "does not answer a call of the assistant message before it."
            raise _refused(param, f"{call_id!r} {problem}")
        if call_id in pending.answers:
            raise _refused(param, f"{call_id!r} answers a tool call a second time.")
        texts = message.content if isinstance(message.content, str) else [
            part for part in message.content if isinstance(part, TextPart)]
        response = FunctionResponse(name=call.function.name, response=_tool_result(texts))
        pending.answers[call_id] = Part(function_response=response)
        pending.attached += _attached_parts(message, i)

    def close_tool_results(self) -> None:
        pending, self.pending = self.pending, None
        if pending is None:
            return
        for j, call in enumerate(pending.calls):
            if call.id not in pending.answers:
                param = f"messages[{pending.message_index}].tool_calls[{j}]"
                raise _refused(param, f"(id {call.id!r}) has no tool message answering it.")
        self.add("user", [*(pending.answers[call.id] for call in pending.calls), *pending.attached])


def _refused(param: str, problem: str) -> ConversionError:
    return ConversionError(f"'{param}' {problem}", param)


def _texts(content: str | list[TextPart]) -> list[str]:
    return [content] if isinstance(content, str) else [part.text for part in content]


def _text_parts(content: str | list[TextPart]) -> list[Part]:
    return [Part(text=text) for text in _texts(content) if text.strip()]


def _attached_parts(message: ToolMessage, i: int) -> list[Part]:
    """A tool message's images and files, as parts after the function responses (a
    `functionResponse` holds JSON only)."""
    parts: list[Part] = []
    for j, part in enumerate(message.content if isinstance(message.content, list) else []):
        match part:
            case ImagePart(image_url=image):
                parts.append(_image_part(image.url, f"messages[{i}].content[{j}].image_url.url"))
            case FilePart(file=file):
                parts.append(_file_part(file, f"messages[{i}].content[{j}]"))
    return parts


def _tool_result(content: str | list[TextPart]) -> dict[str, Any]:
    text = "".join(_texts(content))
    try:
        return _OBJECT.decode(text)
    except msgspec.DecodeError:
        return {"result": text}


def _user_parts(message: UserMessage, i: int) -> list[Part]:
    if isinstance(message.content, str):
        return _text_parts(message.content)
    parts: list[Part] = []
    for j, part in enumerate(message.content):
        where = f"messages[{i}].content[{j}]"
        match part:
            case TextPart(text=text):
                if text.strip():
                    parts.append(Part(text=text))
            case ImagePart(image_url=image):
                parts.append(_image_part(image.url, f"{where}.image_url.url"))
            case AudioPart(input_audio=audio):
                mime = _AUDIO_TYPES.get(audio.format.lower(), f"audio/{audio.format.lower()}")
                parts.append(Part(inline_data=Blob(mime_type=mime, data=audio.data)))
            case FilePart(file=file):
                parts.append(_file_part(file, where))
            case _:
                assert_never(part)
    return parts


def _image_part(url: str, param: str) -> Part:
    if url.startswith("data:"):
        data = parse_data_url(url)
        if data is None or not data.media_type.startswith("image/"):
            raise _refused(param, "is not a base64 image data URL (data:image/png;base64,...).")
        return Part(inline_data=Blob(mime_type=data.media_type, data=data.data))
    if url.startswith(_FILES_API) or _YOUTUBE.match(url):
        return Part(file_data=FileData(file_uri=url))
    raise _refused(
        param,
        "cannot be fetched by Gemini: send the image inline as a base64 data URL "
        "(data:image/png;base64,...) or as a Gemini Files API URI.",
    )


def _file_part(file: FileRef, where: str) -> Part:
    if isinstance(file.file_data, str):
        data = parse_data_url(file.file_data)
        if data is None:
            problem = "must be a base64 data URL (data:application/pdf;base64,...)."
            raise _refused(f"{where}.file.file_data", problem)
        return Part(inline_data=Blob(mime_type=data.media_type, data=data.data))
    if isinstance(file.file_id, str):
        problem = "is an uploaded file Gemini cannot see; send 'file_data'."
        raise _refused(f"{where}.file.file_id", problem)
    raise _refused(f"{where}.file", "needs 'file_data'.")


def _assistant_parts(
    message: AssistantMessage, i: int, signatures: dict[tuple[int, int], str]
) -> list[Part]:
    texts: list[str] = []
    if isinstance(message.content, str):
        texts.append(message.content)
    elif isinstance(message.content, list):
        for part in message.content:
            match part:
                case TextPart(text=text):
                    texts.append(text)
                case RefusalPart(refusal=refusal):
                    texts.append(refusal)
                case _:
                    assert_never(part)
    elif isinstance(message.refusal, str):
        texts.append(message.refusal)
    parts = [Part(text=text) for text in texts if text.strip()]
    calls = function_calls(message, i, "Gemini")
    call_parts: list[Part] = []
    for j, call in enumerate(calls):
        if any(other.id == call.id for other in calls[:j]):
            problem = f"{call.id!r} repeats an earlier call's id."
            raise _refused(f"messages[{i}].tool_calls[{j}].id", problem)
        args = parse_arguments(
            call.function.arguments, f"messages[{i}].tool_calls[{j}].function.arguments"
        )
        call_parts.append(
            Part(
                function_call=FunctionCall(name=call.function.name, args=args),
                thought_signature=signatures.get((i, j), UNSET),
            )
        )
    if call_parts and all(isinstance(p.thought_signature, UnsetType) for p in call_parts):
        call_parts[0].thought_signature = DUMMY_THOUGHT_SIGNATURE
    return parts + call_parts


def to_generation_config(
    req: ChatRequest, flags: GeminiModelFlags = DEFAULT_FLAGS
) -> GenerationConfig | UnsetType:
    """`generationConfig` for the sampling, limit and format parameters (UNSET if none)."""
    if isinstance(req.logit_bias, dict) and req.logit_bias:
        raise _refused("logit_bias", "is not supported by Gemini.")
    config = GenerationConfig(
        stop_sequences=_stop_sequences(req.stop),
        candidate_count=_given(req.n),
        max_output_tokens=_given(req.output_limit()),
        temperature=_given(req.temperature),
        top_p=_given(req.top_p),
        presence_penalty=_given(req.presence_penalty),
        frequency_penalty=_given(req.frequency_penalty),
        seed=_given(req.seed),
        thinking_config=_thinking(req.reasoning_effort, flags),
    )
    _apply_response_format(config, req)
    _apply_logprobs(config, req)
    return UNSET if config == GenerationConfig() else config


def _given(value: T | None | UnsetType) -> T | UnsetType:
    return UNSET if value is None or isinstance(value, UnsetType) else value


def _stop_sequences(stop: str | list[str] | None | UnsetType) -> list[str] | UnsetType:
    if stop is None or isinstance(stop, UnsetType):
        return UNSET
    items = [stop] if isinstance(stop, str) else stop
    if any(item == "" for item in items):
        raise _refused("stop", "must not contain empty strings.")
    return items or UNSET


def _thinking(effort: str | None | UnsetType, flags: GeminiModelFlags) -> ThinkingConfig | UnsetType:
    if effort is None or isinstance(effort, UnsetType):
        return UNSET
    if effort not in REASONING_BUDGETS:
        allowed = ", ".join(REASONING_BUDGETS)
        raise _refused("reasoning_effort", f"{effort!r} is not one of {allowed}.")
    if effort == "none" and flags.thinking_can_be_off is False:
        # NOTE: models whose thinking is always on (2.5 Pro) reject thinkingBudget 0; the
        # least thinking they allow is their own default (docs/compat-gemini.md).
        return UNSET
    return ThinkingConfig(thinking_budget=REASONING_BUDGETS[effort])


def _apply_response_format(config: GenerationConfig, req: ChatRequest) -> None:
    fmt = req.response_format
    if fmt is None or isinstance(fmt, UnsetType):
        return
    match fmt:
        case TextFormat():
            return
        case JsonObjectFormat():
            config.response_mime_type = "application/json"
        case JsonSchemaFormat(json_schema=spec):
            config.response_mime_type = "application/json"
            if isinstance(spec.schema, dict):
                try:
                    schema = to_gemini_schema(
                        spec.schema, "response_format.json_schema.schema", keep_order=True
                    )
                except OutsideSubsetError:
                    config.response_json_schema = spec.schema  # plain JSON Schema, as given
                    return
                config.response_schema = UNSET if schema is None else schema
        case _:
            assert_never(fmt)


def _apply_logprobs(config: GenerationConfig, req: ChatRequest) -> None:
    top = _given(req.top_logprobs)
    if req.logprobs is not True:
        if not isinstance(top, UnsetType):
            raise _refused("top_logprobs", "requires 'logprobs': true.")
        return
    config.response_logprobs = True
    config.logprobs = top

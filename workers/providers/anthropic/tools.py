"""OpenAI tools, tool_choice, parallel_tool_calls, JSON mode and tool-call ids -> Anthropic.

Rules (https://docs.claude.com/en/docs/agents-and-tools/tool-use/implement-tool-use):
- `tools[i].function` -> `{name, description, input_schema}`; names must match
  `^[a-zA-Z0-9_-]{1,64}$` and `input_schema` must be an object schema.
- `tool_choice` none/auto/required/named -> none/auto/any/tool; `parallel_tool_calls:
  false` -> `disable_parallel_tool_use: true` on auto/any/tool. With extended thinking only
  auto and none are allowed, so forcing a tool then is a 400.
- JSON mode (`response_format` json_object/json_schema) is a forced tool named
  `JSON_TOOL_NAME` whose input is the answer; the reply converters turn that tool's
  input back into `content` (they see only the tool name, so the name is reserved).
- History that holds tool calls but no `tools` (Anthropic refuses tool blocks without
  tool definitions) gets stand-in definitions for the names it uses and
  `tool_choice: none`, so Claude reads the history and cannot call anything.

Tool-call ids: we keep Anthropic's `toolu_...` ids. When a reply has thinking before a
tool call, the thinking blocks (text and signature) are packed into that call's id
(`<toolu id>.<base64url(zlib(json))>`), because Anthropic needs them back unchanged in
the next request of the tool loop and an OpenAI client echoes nothing else for sure.
Ids from other upstreams are mapped to Anthropic's id alphabet.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from gateway.contracts.openai import (
    ChatRequest,
    JsonObjectFormat,
    JsonSchemaFormat,
    NamedToolChoice,
    TextFormat,
    Tool,
)
from workers.providers.anthropic.cache import to_cache_control
from workers.providers.anthropic.schema import (
    ThinkingPart,
    ToolChoice,
    ToolChoiceAny,
    ToolChoiceAuto,
    ToolChoiceNone,
    ToolChoiceTool,
    ToolSpec,
)
from workers.providers.base import ConversionError
from workers.providers.openai_only import function_tool_choice

JSON_TOOL_NAME = "json_response"
JSON_TOOL_DESCRIPTION = "Respond with a JSON object. Its input is the whole answer."
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_ID_SEPARATOR = "."
# SECURITY: a packed id comes back from the caller; cap what it may inflate to.
_MAX_THINKING_BYTES = 4 * 1024 * 1024
_THINKING_ENCODER = msgspec.json.Encoder()
_THINKING_DECODER = msgspec.json.Decoder(list[ThinkingPart])

# ---------------------------------------------------------------- tools


def _input_schema(parameters: dict[str, Any] | UnsetType, param: str) -> dict[str, Any]:
    if not parameters:
        return {"type": "object", "properties": {}}
    assert isinstance(parameters, dict)
    kind = parameters.get("type", "object")
    if kind != "object":
        raise ConversionError(
            f"'{param}' must be a JSON Schema of type 'object' for Claude models, not {kind!r}.",
            param,
        )
    return {"type": "object", **parameters}


def to_tool_specs(tools: Sequence[Tool]) -> list[ToolSpec]:
    """The caller's function tools as Anthropic tools; 400 naming a bad name or schema."""
    specs = []
    for i, tool in enumerate(tools):
        fn = tool.function
        param = f"tools[{i}].function.name"
        if not _NAME.match(fn.name):
            raise ConversionError(
                f"'{param}' must match ^[a-zA-Z0-9_-]{{1,64}}$ for Claude models.", param
            )
        if fn.name == JSON_TOOL_NAME:
            raise ConversionError(
                f"'{param}': the tool name '{JSON_TOOL_NAME}' is reserved by the gateway "
                "for response_format on Claude models.",
                param,
            )
        schema = _input_schema(fn.parameters, f"tools[{i}].function.parameters")
        specs.append(ToolSpec(name=fn.name, input_schema=schema, description=fn.description,
                              cache_control=to_cache_control(tool.cache_control)))
    return specs


def stand_in_tools(names: Iterable[str]) -> list[ToolSpec]:
    """Definitions for tools that history uses but the request does not offer."""
    unique = dict.fromkeys(n for n in names if _NAME.match(n))
    return [ToolSpec(name=n, input_schema={"type": "object"}) for n in unique]


def to_tool_choice(req: ChatRequest, names: Sequence[str], thinking: bool) -> ToolChoice | UnsetType:
    """Anthropic's `tool_choice` for the caller's tool_choice and parallel_tool_calls."""
    choice = function_tool_choice(req.tool_choice, "Claude")
    single = True if req.parallel_tool_calls is False else UNSET
    if not names:
        if choice not in (UNSET, None, "none"):
            raise ConversionError("'tool_choice' is only allowed when 'tools' are given.", "tool_choice")
        return UNSET
    if thinking and (choice == "required" or isinstance(choice, NamedToolChoice)):
        raise ConversionError(
            "'tool_choice' cannot force a tool call together with 'reasoning_effort' on "
            "Claude models (extended thinking allows only 'auto' and 'none').",
            "tool_choice",
        )
    if choice == "none":
        return ToolChoiceNone()
    if choice == "required":
        return ToolChoiceAny(disable_parallel_tool_use=single)
    if isinstance(choice, NamedToolChoice):
        if choice.function.name not in names:
            raise ConversionError(
                f"'tool_choice' names the function '{choice.function.name}', which is not in 'tools'.",
                "tool_choice",
            )
        return ToolChoiceTool(name=choice.function.name, disable_parallel_tool_use=single)
    if choice == "auto" or single is True:
        return ToolChoiceAuto(disable_parallel_tool_use=single)
    return UNSET


# ---------------------------------------------------------------- JSON mode


def json_mode_tool(req: ChatRequest, has_tools: bool, thinking: bool) -> ToolSpec | None:
    """The forced tool that makes Claude answer in JSON, or None without response_format."""
    fmt = req.response_format
    if fmt in (UNSET, None) or isinstance(fmt, TextFormat):
        return None
    reason = "'tools'" if has_tools else "'reasoning_effort'" if thinking else None
    if reason:
        raise ConversionError(
            f"'response_format' cannot be combined with {reason} on Claude models: JSON "
            "output is produced by forcing a tool call.",
            "response_format",
        )
    if isinstance(fmt, JsonObjectFormat):
        return ToolSpec(JSON_TOOL_NAME, {"type": "object"}, JSON_TOOL_DESCRIPTION)
    assert isinstance(fmt, JsonSchemaFormat)
    spec = fmt.json_schema
    schema = _input_schema(spec.schema, "response_format.json_schema.schema")
    return ToolSpec(JSON_TOOL_NAME, schema, spec.description or JSON_TOOL_DESCRIPTION)


# ---------------------------------------------------------------- tool-call ids


def to_tool_use_id(call_id: str) -> str:
    """An OpenAI tool-call id in Anthropic's id alphabet (same input, same output)."""
    return _ID_UNSAFE.sub("_", call_id)


def encode_call_id(tool_use_id: str, thinking: Sequence[ThinkingPart]) -> str:
    """The tool-call id we give the caller: Anthropic's id, plus the preceding thinking."""
    if not thinking:
        return tool_use_id
    packed = zlib.compress(_THINKING_ENCODER.encode(list(thinking)))
    payload = base64.urlsafe_b64encode(packed).decode().rstrip("=")
    return f"{tool_use_id}{_ID_SEPARATOR}{payload}"


def _unpack_thinking(payload: str) -> list[ThinkingPart] | None:
    try:
        packed = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        inflater = zlib.decompressobj()
        data = inflater.decompress(packed, _MAX_THINKING_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            return None
        return _THINKING_DECODER.decode(data)
    except (binascii.Error, ValueError, zlib.error, msgspec.DecodeError):
        return None


def decode_call_id(call_id: str) -> tuple[str, list[ThinkingPart]]:
    """The Anthropic tool_use id and the thinking blocks packed into a tool-call id."""
    head, sep, payload = call_id.partition(_ID_SEPARATOR)
    if sep:
        thinking = _unpack_thinking(payload)
        if thinking is not None:
            return to_tool_use_id(head), thinking
    return to_tool_use_id(call_id), []

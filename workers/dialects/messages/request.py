"""Anthropic Messages request -> the chat shape (pure; docs/compat-anthropic.md has the table).

Used for every provider that is not Anthropic itself. What has no chat equivalent is
refused with a 400 naming the Messages parameter (`top_k`, server tools, Files API
sources), never dropped; `thinking` becomes `reasoning_effort` by its budget.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from msgspec import UNSET, UnsetType

from gateway.contracts import anthropic_messages as am
from gateway.contracts import openai as oa
from workers.providers.base import ConversionError

# Thinking budgets -> reasoning_effort: below LOW_BUDGET "low", below HIGH_BUDGET "medium",
# else "high" (the thresholds of conversion-reference's effort -> budget table, inverted).
LOW_BUDGET = 4096
HIGH_BUDGET = 16384
MAX_STOP = 4  # OpenAI's limit on `stop`
DEFAULT_FILENAME = "document.pdf"  # base64 documents are PDFs (Anthropic's only base64 document type)


def _cache(mark: am.CacheControl | None | UnsetType) -> oa.CacheControl | UnsetType:
    if isinstance(mark, am.CacheControl):
        return oa.CacheControl(type="ephemeral", ttl=mark.ttl)
    return UNSET


def _data_url(source: am.Base64Source) -> str:
    return f"data:{source.media_type};base64,{source.data}"


def _image(block: am.ImageBlock, where: str) -> oa.ImagePart:
    source = block.source
    if isinstance(source, am.Base64Source):
        return oa.ImagePart(oa.ImageURL(_data_url(source)))
    if isinstance(source, am.UrlSource):
        return oa.ImagePart(oa.ImageURL(source.url))
    raise ConversionError("Files API sources are served by Claude models only.", f"{where}.source")


def _document(block: am.DocumentBlock, where: str) -> oa.UserPart:
    source = block.source
    if isinstance(source, am.Base64Source):
        # NOTE: OpenAI refuses `file_data` without a `filename`; Claude Code's Read sends
        # PDFs untitled (issue 21).
        name = block.title if isinstance(block.title, str) and block.title else DEFAULT_FILENAME
        return oa.FilePart(oa.FileRef(file_data=_data_url(source), filename=name))
    if isinstance(source, am.TextSource):
        return oa.TextPart(source.data, cache_control=_cache(block.cache_control))
    if isinstance(source, am.ContentSource) and isinstance(source.content, str):
        return oa.TextPart(source.content, cache_control=_cache(block.cache_control))
    if isinstance(source, am.ContentSource):
        text = "".join(str(part.get("text", "")) for part in source.content if isinstance(part, dict))
        return oa.TextPart(text, cache_control=_cache(block.cache_control))
    raise ConversionError(
        "Documents by URL or Files API id are served by Claude models only; send the bytes (base64).",
        f"{where}.source",
    )


def _tool_result_text(block: am.ToolResultBlock, where: str) -> tuple[str, list[oa.UserPart]]:
    """A tool result's text, and the images/documents it holds (they follow as a user turn)."""
    content = block.content
    extra: list[oa.UserPart] = []
    if isinstance(content, UnsetType):
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        texts: list[str] = []
        for j, part in enumerate(content):
            if isinstance(part, am.TextBlock):
                texts.append(part.text)
            elif isinstance(part, am.ImageBlock):
                extra.append(_image(part, f"{where}.content[{j}]"))
            elif isinstance(part, am.DocumentBlock):
                extra.append(_document(part, f"{where}.content[{j}]"))
            else:
                raise _not_here(part, f"{where}.content[{j}]", "a tool result")
        text = "\n".join(texts)
    if block.is_error is True:
        # NOTE: chat has no error flag on a tool result; the model reads it from the text.
        text = f"Error: {text}" if text else "Error"
    return text, extra


def _not_here(block: am.Block | am.ToolResultPart, where: str, turn: str) -> ConversionError:
    """400 for a block this turn cannot hold off Claude (server-tool blocks among them)."""
    kind = _block_type(block)
    if isinstance(block, am.ClaudeOnlyBlock):
        return ConversionError(f"'{kind}' blocks are served by Claude models only.", f"{where}.type")
    return ConversionError(f"{turn.capitalize()} cannot hold a '{kind}' block.", f"{where}.type")


def _block_type(block: am.Block | am.ToolResultPart) -> str:
    """The wire `type` of a block (its Struct tag)."""
    return str(type(block).__struct_config__.tag)


def _user_turn(content: str | list[am.Block], where: str) -> list[oa.Message]:
    """One user turn: its tool results as tool messages first, then its other content."""
    if isinstance(content, str):
        return [oa.UserMessage(content=content)]
    tools: list[oa.Message] = []
    parts: list[oa.UserPart] = []
    for i, block in enumerate(content):
        at = f"{where}.content[{i}]"
        if isinstance(block, am.ToolResultBlock):
            text, extra = _tool_result_text(block, at)
            tools.append(oa.ToolMessage(content=text, tool_call_id=block.tool_use_id))
            parts.extend(extra)
        elif isinstance(block, am.TextBlock):
            parts.append(oa.TextPart(block.text, cache_control=_cache(block.cache_control)))
        elif isinstance(block, am.ImageBlock):
            parts.append(_image(block, at))
        elif isinstance(block, am.DocumentBlock):
            parts.append(_document(block, at))
        else:
            raise _not_here(block, at, "a user turn")
    return tools + ([oa.UserMessage(content=parts)] if parts else [])


def _assistant_turn(content: str | list[am.Block], where: str) -> oa.AssistantMessage:
    """One assistant turn: text, tool calls, thinking (as reasoning_content)."""
    if isinstance(content, str):
        return oa.AssistantMessage(content=content)
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[oa.AnyToolCall] = []
    for i, block in enumerate(content):
        if isinstance(block, am.TextBlock):
            texts.append(block.text)
        elif isinstance(block, am.ToolUseBlock):
            arguments = json.dumps(block.input, separators=(",", ":"), ensure_ascii=False)
            calls.append(oa.ToolCall(id=block.id, function=oa.FunctionCall(block.name, arguments)))
        elif isinstance(block, am.ThinkingBlock):
            thoughts.append(block.thinking)
        elif isinstance(block, am.RedactedThinkingBlock):
            continue  # NOTE: encrypted for Claude; no other model can read it
        else:
            raise _not_here(block, f"{where}.content[{i}]", "an assistant turn")
    return oa.AssistantMessage(
        content="".join(texts) if texts else None,
        tool_calls=calls or UNSET,
        reasoning_content="\n".join(thoughts) if thoughts else UNSET,
    )


def _system(system: str | list[am.TextBlock] | UnsetType) -> list[oa.Message]:
    if isinstance(system, UnsetType):
        return []
    if isinstance(system, str):
        return [oa.SystemMessage(content=system)] if system else []
    parts = [oa.TextPart(b.text, cache_control=_cache(b.cache_control)) for b in system]
    return [oa.SystemMessage(content=parts)] if parts else []


def _system_turn(content: str | list[am.Block], where: str) -> oa.SystemMessage:
    """A `system` turn between the others (Claude Code sends them): a system message there."""
    if isinstance(content, str):
        return oa.SystemMessage(content=content)
    parts: list[oa.TextPart] = []
    for i, block in enumerate(content):
        if not isinstance(block, am.TextBlock):
            raise ConversionError("A system turn holds text blocks only.", f"{where}.content[{i}].type")
        parts.append(oa.TextPart(block.text, cache_control=_cache(block.cache_control)))
    return oa.SystemMessage(content=parts)


def to_chat_messages(req: am.MessagesRequest | am.CountTokensRequest) -> list[oa.Message]:
    """System and turns in chat order."""
    messages = _system(req.system)
    for i, turn in enumerate(req.messages):
        where = f"messages[{i}]"
        if turn.role == "user":
            messages.extend(_user_turn(turn.content, where))
        elif turn.role == "system":
            messages.append(_system_turn(turn.content, where))
        else:
            messages.append(_assistant_turn(turn.content, where))
    return messages


def to_chat_tools(tools: list[am.ToolDefinition] | UnsetType) -> list[oa.AnyTool] | UnsetType:
    """Client tools -> function tools; a typed (server) tool is a 400."""
    if isinstance(tools, UnsetType) or not tools:
        return UNSET  # NOTE: chat upstreams refuse an empty `tools` list
    out: list[oa.AnyTool] = []
    for i, tool in enumerate(tools):
        if tool.type not in (UNSET, None, "custom"):
            raise ConversionError(
                f"The tool type '{tool.type}' is an Anthropic server tool, served by Claude models only.",
                f"tools[{i}].type",
            )
        if not isinstance(tool.name, str):
            raise ConversionError("A client tool needs a name.", f"tools[{i}].name")
        schema: dict[str, Any] = tool.input_schema if isinstance(tool.input_schema, dict) else {"type": "object"}
        function = oa.FunctionDefinition(name=tool.name, description=tool.description, parameters=schema)
        out.append(oa.Tool(function=function, cache_control=_cache(tool.cache_control)))
    return out


def to_chat_tool_choice(choice: am.ToolChoice | UnsetType) -> tuple[oa.ToolChoice | UnsetType, bool | UnsetType]:
    """tool_choice and parallel_tool_calls (`disable_parallel_tool_use` inverted)."""
    if isinstance(choice, UnsetType):
        return UNSET, UNSET
    if isinstance(choice, am.ToolChoiceNone):
        return "none", UNSET
    parallel = UNSET if isinstance(choice.disable_parallel_tool_use, UnsetType) else not choice.disable_parallel_tool_use
    if isinstance(choice, am.ToolChoiceAuto):
        return "auto", parallel
    if isinstance(choice, am.ToolChoiceAny):
        return "required", parallel
    return oa.NamedToolChoice(oa.ToolChoiceFunction(choice.name)), parallel


# output_config.effort -> reasoning_effort (chat has no levels above "high").
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def to_reasoning_effort(thinking: am.Thinking | UnsetType, output: am.OutputConfig | UnsetType) -> str | UnsetType:
    """thinking -> reasoning_effort. Only thinking turns it on: `output_config.effort` sets
    its level when given, else an enabled budget does (adaptive alone is "medium");
    disabled or absent thinking sends none."""
    effort = output.effort if isinstance(output, am.OutputConfig) and isinstance(output.effort, str) else None
    if isinstance(thinking, am.ThinkingEnabled | am.ThinkingAdaptive) and effort is not None:
        if effort not in _EFFORTS:
            raise ConversionError(f"Unknown effort '{effort}'.", "output_config.effort")
        return _EFFORTS[effort]
    if isinstance(thinking, am.ThinkingEnabled):
        if thinking.budget_tokens < LOW_BUDGET:
            return "low"
        return "medium" if thinking.budget_tokens < HIGH_BUDGET else "high"
    if isinstance(thinking, am.ThinkingAdaptive):
        return "medium"
    return UNSET


def to_response_format(output: am.OutputConfig | UnsetType) -> oa.ResponseFormat | UnsetType:
    """output_config.format (a JSON schema) -> response_format json_schema (strict)."""
    if not isinstance(output, am.OutputConfig) or not isinstance(output.format, am.JsonSchemaOutput):
        return UNSET
    return oa.JsonSchemaFormat(oa.JsonSchemaSpec(name="output", schema=output.format.schema, strict=True))


MAX_SAFETY_IDENTIFIER = 64  # OpenAI's limit on `safety_identifier`


def to_safety_identifier(metadata: am.Metadata | UnsetType) -> str | UnsetType:
    """metadata.user_id -> safety_identifier (OpenAI's end-user id, at most 64 characters:
    a longer id, as Claude Code sends, becomes its SHA-256, stable and as distinct)."""
    user = metadata.user_id if isinstance(metadata, am.Metadata) else None
    if not isinstance(user, str) or not user:
        return UNSET
    return user if len(user) <= MAX_SAFETY_IDENTIFIER else hashlib.sha256(user.encode()).hexdigest()


def to_chat_request(req: am.MessagesRequest) -> oa.ChatRequest:
    """The whole request; `stream` asks for usage so every stream can be billed."""
    if not isinstance(req.top_k, UnsetType):
        raise ConversionError(
            "'top_k' is served by Claude models only; chat-shaped upstreams have no top-k sampling.", "top_k"
        )
    stop: list[str] | UnsetType = UNSET
    if isinstance(req.stop_sequences, list) and req.stop_sequences:
        if len(req.stop_sequences) > MAX_STOP:
            raise ConversionError(
                f"At most {MAX_STOP} stop_sequences are served by this model.", "stop_sequences"
            )
        stop = req.stop_sequences
    tool_choice, parallel = to_chat_tool_choice(req.tool_choice)
    tools = to_chat_tools(req.tools)
    stream = req.is_stream()
    return oa.ChatRequest(
        model=req.model,
        messages=to_chat_messages(req),
        max_completion_tokens=req.max_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        stop=stop,
        tools=tools,
        tool_choice=tool_choice if not isinstance(tools, UnsetType) else UNSET,
        parallel_tool_calls=parallel if not isinstance(tools, UnsetType) else UNSET,
        reasoning_effort=to_reasoning_effort(req.thinking, req.output_config),
        response_format=to_response_format(req.output_config),
        safety_identifier=to_safety_identifier(req.metadata),
        stream=True if stream else UNSET,
        stream_options=oa.StreamOptions(include_usage=True) if stream else UNSET,
    )

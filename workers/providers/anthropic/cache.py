"""Prompt-cache breakpoints from OpenAI-shaped requests (pure; docs/compat-anthropic.md).

Callers mark breakpoints as other gateways accept them: `cache_control` on a text part,
on a system/developer message (the end of its text) and on a function tool. Anthropic
takes at most `MAX_BREAKPOINTS` per request, so a fifth is a 400 naming it (dropping one
would silently change what is cached and billed). With the model's `prompt_cache =
"auto"`, the gateway adds breakpoints itself, never past the limit and never twice on one
block, in this order: the last block of the last user turn (it covers everything before
it, which is what an agent loop resends), the end of the system prompt, the last tool.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
from msgspec import UNSET, UnsetType

from gateway.contracts.openai import CacheControl as OpenAICacheControl
from gateway.contracts.openai import (
    ChatRequest,
    DeveloperMessage,
    SystemMessage,
    TextPart,
    Tool,
)
from workers.providers.anthropic.schema import (
    CacheControl,
    DocumentBlock,
    ImageBlock,
    InputBlock,
    InputMessage,
    MessagesRequest,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
)
from workers.providers.base import ConversionError

MAX_BREAKPOINTS = 4
_MARKABLE = (TextBlock, ImageBlock, DocumentBlock, ToolResultBlock)


def to_cache_control(mark: OpenAICacheControl | UnsetType) -> CacheControl | UnsetType:
    """The caller's `cache_control` in Anthropic's shape (UNSET stays UNSET)."""
    if isinstance(mark, UnsetType):
        return UNSET
    return CacheControl(type=mark.type, ttl=mark.ttl)


def _caller_marks(req: ChatRequest) -> Iterator[str]:
    """The param of every breakpoint the caller set, in the order of the request."""
    for i, tool in enumerate(req.tools if isinstance(req.tools, list) else []):
        if isinstance(tool, Tool) and not isinstance(tool.cache_control, UnsetType):
            yield f"tools[{i}].cache_control"
    for i, msg in enumerate(req.messages):
        if isinstance(msg, SystemMessage | DeveloperMessage) and not isinstance(msg.cache_control, UnsetType):
            yield f"messages[{i}].cache_control"
        content = getattr(msg, "content", None)
        for j, part in enumerate(content if isinstance(content, list) else []):
            if isinstance(part, TextPart) and not isinstance(part.cache_control, UnsetType):
                yield f"messages[{i}].content[{j}].cache_control"


def check_breakpoints(req: ChatRequest) -> None:
    """400 naming the caller's fifth `cache_control` (Anthropic allows four)."""
    for n, param in enumerate(_caller_marks(req), start=1):
        if n > MAX_BREAKPOINTS:
            raise ConversionError(
                f"'{param}' is a cache breakpoint too many: Claude models take at most "
                f"{MAX_BREAKPOINTS} 'cache_control' marks per request.",
                param,
            )


def _marked(block: object) -> bool:
    return not isinstance(getattr(block, "cache_control", UNSET), UnsetType)


def _count(request: MessagesRequest) -> int:
    blocks: list[object] = [*(request.tools or []), *(request.system or [])]
    for message in request.messages:
        for block in message.content:
            blocks.append(block)
            if isinstance(block, ToolResultBlock) and isinstance(block.content, list):
                blocks.extend(block.content)
    return sum(1 for block in blocks if _marked(block))


def _last_user_turn(messages: list[InputMessage]) -> int | None:
    return next((k for k in range(len(messages) - 1, -1, -1) if messages[k].role == "user"), None)


def with_auto_breakpoints(request: MessagesRequest) -> MessagesRequest:
    """`request` with the gateway's breakpoints added (prompt_cache = "auto")."""
    room = MAX_BREAKPOINTS - _count(request)
    mark = CacheControl("ephemeral")
    messages = list(request.messages)
    turn = _last_user_turn(messages)
    if room > 0 and turn is not None:
        content: list[InputBlock] = list(messages[turn].content)
        last = content[-1] if content else None
        if isinstance(last, _MARKABLE) and not _marked(last):
            content[-1] = msgspec.structs.replace(last, cache_control=mark)
            messages[turn] = InputMessage(messages[turn].role, content)
            room -= 1
    system = list(request.system or [])
    if room > 0 and system and not _marked(system[-1]):
        system[-1] = msgspec.structs.replace(system[-1], cache_control=mark)
        room -= 1
    tools = list(request.tools or [])
    last_tool = tools[-1] if tools else None
    if room > 0 and isinstance(last_tool, ToolSpec) and not _marked(last_tool):  # not a server tool
        tools[-1] = msgspec.structs.replace(last_tool, cache_control=mark)
    return msgspec.structs.replace(
        request, messages=messages, system=system or UNSET, tools=tools or UNSET
    )

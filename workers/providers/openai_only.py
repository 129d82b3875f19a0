"""Chat Completions shapes only OpenAI models take, narrowed away for converted providers.

OpenAI-kind routes forward the caller's body as sent, so custom tools, custom tool calls,
`allowed_tools` and the legacy `function` role reach OpenAI unchanged. Claude and Gemini
have no equivalent of them (tools there take a JSON object input, and there is no way to
declare a tool the model may not call), so their converters call these helpers, which
return the function-only shapes or raise a 400 naming the parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from msgspec import UnsetType

from gateway.contracts.openai import (
    AllowedToolsChoice,
    AnyTool,
    AnyToolCall,
    AssistantMessage,
    CustomTool,
    CustomToolCall,
    CustomToolChoice,
    NamedToolChoice,
    Tool,
    ToolCall,
    ToolChoice,
)
from workers.providers.base import ConversionError

FunctionToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


def _refuse(param: str, what: str, provider: str) -> ConversionError:
    return ConversionError(
        f"'{param}' is {what}, which only OpenAI models support; {provider} models take "
        "function tools only.",
        param,
    )


def function_tools(tools: Sequence[AnyTool] | None | UnsetType, provider: str) -> list[Tool]:
    """The caller's tools, all of them functions; 400 naming `tools[i]` for a custom tool."""
    if not isinstance(tools, list):
        return []
    out: list[Tool] = []
    for i, tool in enumerate(tools):
        if isinstance(tool, CustomTool):
            raise _refuse(f"tools[{i}]", "a custom tool (type 'custom')", provider)
        out.append(tool)
    return out


def function_calls(message: AssistantMessage, i: int, provider: str) -> list[ToolCall]:
    """An assistant message's tool calls; 400 naming `messages[i].tool_calls[j]` for a custom one."""
    calls: Sequence[AnyToolCall] = message.tool_calls if isinstance(message.tool_calls, list) else []
    out: list[ToolCall] = []
    for j, call in enumerate(calls):
        if isinstance(call, CustomToolCall):
            raise _refuse(f"messages[{i}].tool_calls[{j}]", "a custom tool call (type 'custom')", provider)
        out.append(call)
    return out


def function_tool_choice(
    choice: ToolChoice | None | UnsetType, provider: str
) -> FunctionToolChoice | None | UnsetType:
    """`tool_choice` without the OpenAI-only forms; 400 naming `tool_choice` for them."""
    if isinstance(choice, CustomToolChoice):
        raise _refuse("tool_choice", "a custom tool choice (type 'custom')", provider)
    if isinstance(choice, AllowedToolsChoice):
        raise ConversionError(
            f"'tool_choice' of type 'allowed_tools' is not supported by {provider} models, "
            "which cannot declare a tool the model may not call; send only the allowed tools "
            "in 'tools' (with tool_choice 'auto' or 'required') instead.",
            "tool_choice",
        )
    return choice


def refuse_function_message(i: int, provider: str) -> ConversionError:
    """The 400 for a legacy `role: "function"` message at `messages[i]`."""
    return ConversionError(
        f"'messages[{i}].role' is 'function' (the deprecated function-call result), which only "
        f"OpenAI models support; send tool results to {provider} models as 'tool' messages.",
        f"messages[{i}].role",
    )

"""OpenAI `tools`, `tool_choice`, `parallel_tool_calls` -> Gemini `tools` and `toolConfig`.

https://ai.google.dev/gemini-api/docs/function-calling (conversion-reference.md 3.4):
all functions go in one `functionDeclarations` entry; `tool_choice` maps to
`functionCallingConfig.mode`: none -> NONE, auto -> AUTO, required -> ANY, a named
function -> ANY + `allowedFunctionNames: [name]`.

Gemini cannot be told to make at most one call per turn, so `parallel_tool_calls: false`
is refused with a 400 rather than silently ignored (`true` is Gemini's behaviour anyway).
"""

from __future__ import annotations

import re
from typing import Any, assert_never

from msgspec import UNSET, UnsetType

from gateway.contracts.openai import ChatRequest, NamedToolChoice
from workers.providers.base import ConversionError
from workers.providers.openai_only import function_tool_choice, function_tools
from workers.providers.gemini.grounding import search_tool
from workers.providers.gemini.schema import (
    FunctionCallingConfig,
    FunctionDeclaration,
    Tool,
    ToolConfig,
)
from workers.providers.gemini.tool_schema import OutsideSubsetError, to_gemini_schema

# FunctionDeclaration.name: letters, digits, underscores, colons, dots and dashes, at most
# 128 characters, starting with a letter or an underscore.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,127}")


def to_gemini_tools(req: ChatRequest) -> list[Tool] | UnsetType:
    """The `tools` of the Gemini request (UNSET when the caller offered none): the
    function declarations, then Google Search grounding (grounding.py)."""
    tools = [*_function_tools(req), *search_tool(req)]
    return tools or UNSET


def _function_tools(req: ChatRequest) -> list[Tool]:
    if not req.tools:
        return []
    declarations: list[FunctionDeclaration] = []
    seen: set[str] = set()
    for i, tool in enumerate(function_tools(req.tools, "Gemini")):
        fn = tool.function
        param = f"tools[{i}].function"
        if not _NAME.fullmatch(fn.name):
            raise ConversionError(
                f"'{param}.name' {fn.name!r} is not a valid Gemini function name: use letters, "
                "digits, '_', '.', ':' or '-' (at most 128, starting with a letter or '_').",
                f"{param}.name",
            )
        if fn.name in seen:
            raise ConversionError(f"'{param}.name' {fn.name!r} is declared twice.", f"{param}.name")
        seen.add(fn.name)
        declaration = FunctionDeclaration(name=fn.name, description=fn.description)
        if isinstance(fn.parameters, dict):
            _set_parameters(declaration, fn.parameters, f"{param}.parameters")
        declarations.append(declaration)
    return [Tool(function_declarations=declarations)]


def _set_parameters(declaration: FunctionDeclaration, parameters: dict[str, Any], param: str) -> None:
    """`parameters` in Gemini's Schema subset, else the caller's JSON Schema as is in
    `parametersJsonSchema` (Pydantic `Any`, `items: {}`, `true` sub-schemas...)."""
    not_object = ConversionError(f"'{param}' must describe an object (type 'object').", param)
    try:
        schema = to_gemini_schema(parameters, param)
    except OutsideSubsetError:
        if parameters.get("type", "object") != "object":
            raise not_object from None
        declaration.parameters_json_schema = parameters
        return
    if schema is not None and schema.type != "OBJECT":
        raise not_object
    declaration.parameters = UNSET if schema is None else schema


def to_gemini_tool_config(req: ChatRequest) -> ToolConfig | UnsetType:
    """The `toolConfig` for `tool_choice` (UNSET when Gemini's default AUTO applies)."""
    if req.parallel_tool_calls is False and req.tools:
        raise ConversionError(
            "'parallel_tool_calls': false is not supported by Gemini, which may return "
            "several function calls in one turn; omit it or set it to true.",
            "parallel_tool_calls",
        )
    choice = function_tool_choice(req.tool_choice, "Gemini")
    if choice is None or isinstance(choice, UnsetType):
        return UNSET
    names = {tool.function.name for tool in function_tools(req.tools, "Gemini")}
    if not names:
        if choice in ("none", "auto"):
            return UNSET
        raise ConversionError(
            "'tool_choice' requires 'tools' naming at least one function.", "tool_choice"
        )
    match choice:
        case "none":
            return _config("NONE")
        case "auto":
            return _config("AUTO")
        case "required":
            return _config("ANY")
        case NamedToolChoice(function=function):
            if function.name not in names:
                raise ConversionError(
                    f"'tool_choice.function.name' {function.name!r} is not one of the 'tools'.",
                    "tool_choice.function.name",
                )
            return _config("ANY", [function.name])
        case _:
            assert_never(choice)


def _config(mode: str, allowed: list[str] | UnsetType = UNSET) -> ToolConfig:
    return ToolConfig(
        function_calling_config=FunctionCallingConfig(mode=mode, allowed_function_names=allowed)
    )

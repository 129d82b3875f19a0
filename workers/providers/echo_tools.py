"""Tool calls for the offline `echo` provider: which function it calls, with what arguments.

The echo model shows what the product does without a network: when the caller offers
tools and `tool_choice` demands a call ("required" or a named function) it answers with
one well-formed call whose arguments satisfy simple JSON Schemas (every required
property filled with a value of its declared type; strings from the user's own words).
With "auto" or "none" it keeps echoing text, and once the conversation ends in tool
results it echoes their text, so a tool-calling loop finishes.
"""

from __future__ import annotations

from typing import Any

from gateway.contracts.openai import (
    ChatRequest,
    FunctionDefinition,
    NamedToolChoice,
    TextPart,
    Tool,
    ToolMessage,
)

# JSON Schema nesting deeper than this gets no value (a recursive schema must not loop).
_MAX_DEPTH = 8


class ToolChoiceError(Exception):
    """`tool_choice` names a function that is not among `tools`."""


def forced_function(req: ChatRequest) -> FunctionDefinition | None:
    """The function the echo model must call, or None to answer with text.

    None also after tool results (the last message is a `tool` message): the loop ends
    with the results echoed instead of calling again forever.
    """
    # NOTE: echo calls function tools only; a custom (free-form) tool is never chosen
    tools = [t for t in req.tools if isinstance(t, Tool)] if isinstance(req.tools, list) else []
    if not tools or isinstance(req.messages[-1], ToolMessage):
        return None
    choice = req.tool_choice
    if choice == "required":
        return tools[0].function
    if isinstance(choice, NamedToolChoice):
        for tool in tools:
            if tool.function.name == choice.function.name:
                return tool.function
        raise ToolChoiceError(
            f"tool_choice names the function '{choice.function.name}', which is not in tools."
        )
    return None


def tool_results_text(req: ChatRequest) -> str | None:
    """The text of the tool results that end the conversation, or None if it ends otherwise."""
    results: list[str] = []
    for message in reversed(req.messages):
        if not isinstance(message, ToolMessage):
            break
        content = message.content
        text = content if isinstance(content, str) else "".join(p.text for p in content if isinstance(p, TextPart))
        results.append(text)
    return "\n".join(reversed(results)) if results else None


def arguments_for(function: FunctionDefinition, words: str) -> dict[str, Any]:
    """Arguments valid for the function's (simple) parameter schema.

    Every required property gets a value of its declared type: `default`, `const` or the
    first `enum` value when the schema gives one, else the user's words for strings, the
    minimum (or 0) for numbers, false, an empty array (or `minItems` copies), a nested
    object filled the same way.
    """
    params = function.parameters if isinstance(function.parameters, dict) else {}
    value = _value_for(params, words or "echo", 0)
    return value if isinstance(value, dict) else {}


def _value_for(schema: Any, words: str, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _value_for(options[0], words, depth + 1)
    match _declared_type(schema):
        case "object":
            return _object_for(schema, words, depth)
        case "array":
            count = schema.get("minItems", 0)
            count = count if isinstance(count, int) and count > 0 else 0
            return [_value_for(schema.get("items", {}), words, depth + 1) for _ in range(count)]
        case "integer" | "number" as kind:
            low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
            low = low if isinstance(low, (int, float)) and not isinstance(low, bool) else 0
            if "exclusiveMinimum" in schema and "minimum" not in schema:
                low = low + 1
            return int(low) if kind == "integer" else float(low)
        case "boolean":
            return False
        case "null":
            return None
        case _:
            return _string_for(schema, words)


def _declared_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first that is not null
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    return "object" if "properties" in schema else "string"


def _object_for(schema: dict[str, Any], words: str, depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    names = [n for n in required if isinstance(n, str)] if isinstance(required, list) else []
    return {name: _value_for(properties.get(name, {}), words, depth + 1) for name in names}


def _string_for(schema: dict[str, Any], words: str) -> str:
    text = words
    high = schema.get("maxLength")
    if isinstance(high, int) and high >= 0:
        text = text[:high]
    low = schema.get("minLength")
    if isinstance(low, int) and len(text) < low:
        text = text.ljust(low, ".")
    return text

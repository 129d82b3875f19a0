"""The caller's own field for a chat parameter an error names (pure).

A converted Messages request fails in chat's terms: a provider's conversion or its
upstream names `parallel_tool_calls` or `messages[3].content[0].image_url.url`, which
the caller never sent. `caller_param` names the Messages field instead
(`tool_choice.disable_parallel_tool_use`, `messages[1].content[2].source.url`), walking
the request in the order `request.py` `to_chat_messages` writes chat messages.
"""

from __future__ import annotations

import re

from gateway.contracts import anthropic_messages as am

# Top-level chat parameters -> the Messages field each came from.
_TOP = {
    "parallel_tool_calls": "tool_choice.disable_parallel_tool_use", "response_format": "output_config.format",
    "reasoning_effort": "thinking", "max_completion_tokens": "max_tokens", "stop": "stop_sequences",
    "safety_identifier": "metadata.user_id", "user": "metadata.user_id",
}
# The rest of a path inside a chat part or call -> inside the Messages block.
_REST = ((re.compile(r"^\.(image_url|file)\b.*"), ".source"), (re.compile(r"^\.function\.arguments"), ".input"),
         (re.compile(r"^\.function\.name"), ".name"), (re.compile(r"^\.function\.parameters"), ".input_schema"),
         (re.compile(r"^\.tool_call_id"), ".tool_use_id"))
_INDEXED = re.compile(r"^(messages|tools)\[(\d+)\](.*)$")
_PART = re.compile(r"^\.(content|tool_calls)\[(\d+)\](.*)$")


class _Origin:
    """Where one chat message came from: its Messages path, and each content part's or
    tool call's."""

    def __init__(self, path: str, parts: list[str] | None = None, calls: list[str] | None = None) -> None:
        self.path, self.parts, self.calls = path, parts or [], calls or []


def _rest(rest: str) -> str:
    for pattern, replacement in _REST:
        if pattern.match(rest):
            return pattern.sub(replacement, rest, count=1)
    return rest


def _user(turn: str, content: str | list[am.Block]) -> list[_Origin]:
    if isinstance(content, str):
        return [_Origin(turn)]
    tools: list[_Origin] = []
    parts: list[str] = []
    for j, block in enumerate(content):
        at = f"{turn}.content[{j}]"
        if isinstance(block, am.ToolResultBlock):
            tools.append(_Origin(at))
            inner = block.content if isinstance(block.content, list) else []
            parts += [f"{at}.content[{q}]" for q, p in enumerate(inner) if not isinstance(p, am.TextBlock)]
        else:
            parts.append(at)
    return tools + ([_Origin(turn, parts)] if parts else [])


def origins(req: am.MessagesRequest | am.CountTokensRequest) -> list[_Origin]:
    """The origin of each chat message `to_chat_messages(req)` writes, in order."""
    out: list[_Origin] = []
    system = req.system
    if isinstance(system, str) and system:
        out.append(_Origin("system"))
    elif isinstance(system, list) and system:
        out.append(_Origin("system", [f"system[{p}]" for p in range(len(system))]))
    for i, turn in enumerate(req.messages):
        where = f"messages[{i}]"
        if turn.role == "user":
            out += _user(where, turn.content)
            continue
        blocks = turn.content if isinstance(turn.content, list) else []
        parts = [f"{where}.content[{j}]" for j in range(len(blocks))]
        calls = [f"{where}.content[{j}]" for j, b in enumerate(blocks) if isinstance(b, am.ToolUseBlock)]
        out.append(_Origin(where, parts, calls))
    return out


def caller_param(param: str, req: am.MessagesRequest) -> str:
    """The Messages field of a chat parameter (`param` itself where it is the same)."""
    if param in _TOP:
        return _TOP[param]
    if param.startswith("tool_choice.function"):
        return "tool_choice.name"
    found = _INDEXED.match(param)
    if found is None:
        return param
    kind, index, rest = found.group(1), int(found.group(2)), found.group(3)
    if kind == "tools":
        return f"tools[{index}]{_rest(rest)}"
    chat = origins(req)
    if index >= len(chat):
        return param
    origin = chat[index]
    inner = _PART.match(rest)
    if inner is not None:
        listed = origin.parts if inner.group(1) == "content" else origin.calls
        position = int(inner.group(2))
        if position < len(listed):
            return f"{listed[position]}{_rest(inner.group(3))}"
        return origin.path
    if origin.path == "system":
        return "system"  # the top-level system prompt: chat's `content` is the prompt itself
    return f"{origin.path}{_rest(rest)}"


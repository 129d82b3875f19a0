"""Chat parameter names -> the Responses fields they came from, for errors.

A provider refuses the chat request by naming chat's parameters (`response_format`,
`messages[4].tool_calls[0]`), and an OpenAI-kind upstream answers a 400 the same way;
a Responses caller sent neither. The conversion (request.py) records where each chat
message, tool call, attached image and tool came from, and `Places.caller` names that
place in the caller's own terms (ResponsesOutput renames every error of a converted job
on its way out): `messages[4].tool_calls[0]` -> `input[6]` (the
`function_call` item), `response_format` -> `text.format`, `max_completion_tokens` ->
`max_output_tokens`. History loaded by `previous_response_id` is named by that field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.contracts.errors import OpenAIError

_MESSAGE = re.compile(r"^messages\[(\d+)\](.*)$")
_INDEXED = re.compile(r"^(?:\.(tool_calls|content)\[(\d+)\])(.*)$")
_TOOL = re.compile(r"^tools\[(\d+)\](.*)$")
# Chat request fields whose Responses field has another name (the rest keep theirs).
_FIELDS = {
    "messages": "input",
    "max_completion_tokens": "max_output_tokens",
    "max_tokens": "max_output_tokens",
    "response_format": "text.format",
    "reasoning_effort": "reasoning.effort",
    "verbosity": "text.verbosity",
}
# A chat name quoted in an error's message ('messages[1].tool_calls[0]', 'response_format').
_QUOTED = re.compile(r"'((?:messages|tools)\[\d+\][^'\s]*|" + "|".join(_FIELDS) + r")'")
# Inside a part, a call or a tool: chat's nesting -> Responses' flat fields (first match).
_INNER = [(".image_url.url", ".image_url"), (".file", ""), (".function.arguments", ".arguments"),
          (".function.name", ".name"), (".function.parameters", ".parameters"), (".function", ""),
          (".tool_call_id", ".call_id"), (".id", ".call_id")]


@dataclass(slots=True)
class _Origin:
    """Where one chat message came from."""

    where: str  # "input[3]", "instructions" or "previous_response_id"
    tool_output: bool = False  # a tool message: its `content` was the item's `output`
    calls: list[str] = field(default_factory=list)  # an assistant turn's function_call items
    parts: list[str] = field(default_factory=list)  # the attached user message's parts


@dataclass(slots=True)
class Places:
    """Origins of the chat request's messages and tools, in order (see the module doc)."""

    messages: list[_Origin] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)

    def message(self, where: str, tool_output: bool = False) -> None:
        """The next chat message came from `where`."""
        self.messages.append(_Origin(where, tool_output))

    def call(self, where: str) -> None:
        """The latest assistant message got a call from the item at `where`."""
        self.messages[-1].calls.append(where)

    def attached(self, parts: list[str]) -> None:
        """The next chat message is the user message holding these tool-output parts."""
        self.messages.append(_Origin(parts[0], parts=parts))

    def rename(self, error: OpenAIError) -> None:
        """`error`'s param, and the chat names quoted in its message, as the caller's."""
        if error.param:
            error.param = self.caller(error.param)
        error.message = _QUOTED.sub(lambda found: f"'{self.caller(found.group(1))}'", error.message)

    def caller(self, param: str) -> str:
        """`param` of the chat request, named as the Responses caller sent it."""
        if found := _MESSAGE.match(param):
            index, rest = int(found.group(1)), found.group(2)
            return self._in_message(self.messages[index], rest) if index < len(self.messages) else "input"
        if (found := _TOOL.match(param)) and int(found.group(1)) < len(self.tools):
            return self.tools[int(found.group(1))] + _inner(found.group(2))
        head, dot, tail = param.partition(".")
        return _FIELDS.get(head, head) + dot + tail

    def _in_message(self, origin: _Origin, rest: str) -> str:
        if origin.where in ("instructions", "previous_response_id"):
            return origin.where
        if indexed := _INDEXED.match(rest):
            name, j, tail = indexed.group(1), int(indexed.group(2)), _inner(indexed.group(3))
            if name == "tool_calls" and j < len(origin.calls):
                return origin.calls[j] + tail
            if name == "content" and origin.parts:
                return (origin.parts[j] + tail) if j < len(origin.parts) else origin.parts[0]
            if name == "content":
                return f"{origin.where}.{'output' if origin.tool_output else 'content'}[{j}]{tail}"
        if origin.tool_output and rest.startswith(".content"):
            rest = ".output" + rest[len(".content"):]
        return origin.where + _inner(rest)


def _inner(rest: str) -> str:
    for chat, caller in _INNER:
        if rest == chat or rest.startswith((chat + ".", chat + "[")):
            return caller + rest[len(chat):]
    return rest

"""OpenAI `messages` -> Anthropic `system` + alternating user/assistant turns (pure).

Rules (https://docs.claude.com/en/api/messages, conversion-reference.md 2.3):
- every `system`/`developer` message, wherever it sits, becomes one block of the
  top-level `system`, in order;
- consecutive turns of one role merge into one turn; `tool` messages become
  `tool_result` blocks of a user turn, placed before any other content of that turn;
- text that is empty or only whitespace is never sent (Anthropic rejects such blocks);
  a message left with nothing is skipped;
- a tool message must answer a tool call of the assistant turn just before it, and every
  tool call must be answered in the next turn (both 400s, as OpenAI itself answers);
- a conversation that starts with the assistant gets a user turn "." before it, a final
  assistant turn (prefill) loses its trailing whitespace, and a request with only
  system text sends that text as the user turn;
- images: http(s) URL -> `url` source, base64 data URL -> `base64` source; PDFs as data
  URL -> `document`; audio and other files -> 400 naming `messages[i].content[j]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import assert_never

from msgspec import UNSET, UnsetType

from gateway.contracts.openai import (
    AssistantMessage,
    AudioPart,
    DeveloperMessage,
    FilePart,
    FunctionMessage,
    ImagePart,
    Message,
    RefusalPart,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)
from workers.providers.anthropic.cache import to_cache_control
from workers.providers.anthropic.schema import (
    Base64Source,
    CacheControl,
    DocumentBlock,
    ImageBlock,
    InputBlock,
    InputMessage,
    TextBlock,
    ThinkingPart,
    ToolResultBlock,
    ToolUseBlock,
    UrlSource,
)
from workers.providers.anthropic.tools import decode_call_id
from workers.providers.base import ConversionError
from workers.providers.data_url import parse_data_url
from workers.providers.openai_only import function_calls, refuse_function_message
from workers.providers.tool_args import parse_arguments

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
PLACEHOLDER_USER_TEXT = "."
PROVIDER_NAME = "Claude"


@dataclass(slots=True)
class _Turn:
    role: str
    thinking: list[ThinkingPart] = field(default_factory=list)
    results: list[ToolResultBlock] = field(default_factory=list)
    blocks: list[InputBlock] = field(default_factory=list)
    # assistant turns: tool_use id -> OpenAI param of the call, to name unanswered calls
    calls: dict[str, str] = field(default_factory=dict)

    def content(self) -> list[InputBlock]:
        return [*self.thinking, *self.results, *self.blocks]


@dataclass(slots=True)
class Conversation:
    """The converted conversation and what the request builder needs to know about it."""

    system: list[TextBlock]
    messages: list[InputMessage]
    tool_names: list[str]  # names of the tools history calls
    thinking_allowed: bool  # False: the open tool loop's turn has no thinking to send back


def _texts(text: str, cache: CacheControl | UnsetType = UNSET) -> list[TextBlock]:
    return [TextBlock(text, cache)] if text.strip() else []


def _content_text(content: str | Sequence[TextPart | RefusalPart] | None) -> list[TextBlock]:
    if content is None:
        return []
    if isinstance(content, str):
        return _texts(content)
    blocks: list[TextBlock] = []
    for part in content:
        if isinstance(part, TextPart):
            blocks += _texts(part.text, to_cache_control(part.cache_control))
        else:
            blocks += _texts(part.refusal)
    return blocks


def _system_text(msg: SystemMessage | DeveloperMessage) -> list[TextBlock]:
    """A system/developer message's blocks; its own `cache_control` marks the last one."""
    blocks = _content_text(msg.content)
    cache = to_cache_control(msg.cache_control)
    if blocks and not isinstance(cache, UnsetType):
        blocks[-1] = TextBlock(blocks[-1].text, cache)
    return blocks


def _image(url: str, param: str) -> ImageBlock:
    if url.startswith(("https://", "http://")):
        return ImageBlock(UrlSource(url))
    data = parse_data_url(url)
    if data is None:
        raise ConversionError(
            f"'{param}' must be an http(s) URL or a base64 data URL for Claude models.", param
        )
    media_type = "image/jpeg" if data.media_type == "image/jpg" else data.media_type
    if media_type not in IMAGE_TYPES:
        raise ConversionError(
            f"'{param}' is a {data.media_type} image; Claude models accept "
            f"{', '.join(sorted(IMAGE_TYPES))}.",
            param,
        )
    return ImageBlock(Base64Source(media_type, data.data))


def _document(part: FilePart, param: str) -> DocumentBlock:
    file_data = part.file.file_data
    data = parse_data_url(file_data) if isinstance(file_data, str) else None
    if data is None or data.media_type != "application/pdf":
        raise ConversionError(
            f"'{param}' is not supported by Claude models: only PDF files sent as a base64 "
            "data URL in 'file_data' are (no 'file_id', no other file types).",
            param,
        )
    return DocumentBlock(Base64Source("application/pdf", data.data))


def _part_blocks(part: TextPart | ImagePart | FilePart, param: str) -> list[TextBlock | ImageBlock | DocumentBlock]:
    """One text, image or file part of a user or tool message as Claude's blocks."""
    match part:
        case TextPart():
            return list(_texts(part.text, to_cache_control(part.cache_control)))
        case ImagePart():
            return [_image(part.image_url.url, param)]
        case FilePart():
            return [_document(part, param)]
        case _:
            assert_never(part)


def _user_blocks(msg: UserMessage, i: int) -> list[InputBlock]:
    if isinstance(msg.content, str):
        return list(_texts(msg.content))
    blocks: list[InputBlock] = []
    for j, part in enumerate(msg.content):
        param = f"messages[{i}].content[{j}]"
        if isinstance(part, AudioPart):
            raise ConversionError(f"'{param}' is an input_audio part; Claude models do not accept audio.", param)
        blocks += _part_blocks(part, param)
    return blocks


def _tool_result(msg: ToolMessage, i: int) -> ToolResultBlock:
    """The tool message as a `tool_result`, its images and PDFs as blocks inside it."""
    tool_use_id, _ = decode_call_id(msg.tool_call_id)
    if isinstance(msg.content, str):
        text = msg.content if msg.content.strip() else None
        return ToolResultBlock(tool_use_id, text) if text else ToolResultBlock(tool_use_id)
    blocks: list[TextBlock | ImageBlock | DocumentBlock] = []
    for j, part in enumerate(msg.content):
        blocks += _part_blocks(part, f"messages[{i}].content[{j}]")
    return ToolResultBlock(tool_use_id, blocks) if blocks else ToolResultBlock(tool_use_id)


class _Builder:
    """Collects turns message by message; see the module docstring for the rules."""

    def __init__(self) -> None:
        self.system: list[TextBlock] = []
        self.turns: list[_Turn] = []
        self.tool_names: list[str] = []

    def _turn(self, role: str) -> _Turn:
        if not self.turns or self.turns[-1].role != role:
            self.turns.append(_Turn(role))
        return self.turns[-1]

    def add(self, msg: Message, i: int) -> None:
        match msg:
            case SystemMessage() | DeveloperMessage():
                self.system += _system_text(msg)
            case UserMessage():
                blocks = _user_blocks(msg, i)
                if blocks:
                    self._turn("user").blocks += blocks
            case AssistantMessage():
                self._add_assistant(msg, i)
            case ToolMessage():
                self._add_tool(msg, i)
            case FunctionMessage():
                raise refuse_function_message(i, PROVIDER_NAME)
            case _:
                assert_never(msg)

    def _add_assistant(self, msg: AssistantMessage, i: int) -> None:
        text = _content_text(msg.content)
        calls = function_calls(msg, i, PROVIDER_NAME)
        if not text and not calls:
            return
        turn = self._turn("assistant")
        turn.blocks += text
        for j, call in enumerate(calls):
            param = f"messages[{i}].tool_calls[{j}]"
            tool_use_id, thinking = decode_call_id(call.id)
            args = parse_arguments(call.function.arguments, f"{param}.function.arguments")
            if not turn.thinking and not turn.calls:
                turn.thinking += thinking  # the turn must start with its thinking
            else:
                turn.blocks += thinking
            turn.blocks.append(ToolUseBlock(tool_use_id, call.function.name, args))
            turn.calls[tool_use_id] = param
            self.tool_names.append(call.function.name)

    def _add_tool(self, msg: ToolMessage, i: int) -> None:
        param = f"messages[{i}].tool_call_id"
        result = _tool_result(msg, i)
        turns = self.turns
        before = turns[:-1] if turns and turns[-1].role == "user" else turns
        if not before or result.tool_use_id not in before[-1].calls:
            raise ConversionError(
                f"'{param}' ({msg.tool_call_id!r}) does not answer a tool call of the "
                "assistant message before it.",
                param,
            )
        self._turn("user").results.append(result)

    def _check_answers(self) -> None:
        for k, turn in enumerate(self.turns):
            if not turn.calls:
                continue
            after = self.turns[k + 1] if k + 1 < len(self.turns) else None
            answered = {r.tool_use_id for r in after.results} if after else set()
            for tool_use_id, param in turn.calls.items():
                if tool_use_id not in answered:
                    raise ConversionError(
                        f"'{param}' has no tool message answering it: each tool call must be "
                        "followed by a 'tool' message with its tool_call_id.",
                        param,
                    )

    def finish(self, keep_thinking: bool) -> Conversation:
        self._check_answers()
        turns = self.turns
        if not turns and self.system:
            # NOTE: a system-only request: Anthropic needs a user turn, the text becomes it.
            turns.append(_Turn("user", blocks=list(self.system)))
            self.system = []
        if not turns:
            raise ConversionError(
                "'messages' must contain at least one message with non-empty content.", "messages"
            )
        if turns[0].role == "assistant":
            turns.insert(0, _Turn("user", blocks=[TextBlock(PLACEHOLDER_USER_TEXT)]))
        _strip_prefill(turns[-1])
        if not turns[-1].content():
            turns.pop()
        allowed = _thinking_allowed(turns)
        if not (keep_thinking and allowed):
            for turn in turns:
                turn.thinking = []
                turn.blocks = [b for b in turn.blocks if isinstance(b, _NOT_THINKING)]
        messages = [InputMessage(t.role, t.content()) for t in turns]  # type: ignore[arg-type]
        return Conversation(self.system, messages, self.tool_names, allowed)


_NOT_THINKING = (TextBlock, ImageBlock, DocumentBlock, ToolUseBlock, ToolResultBlock)


def _thinking_allowed(turns: list[_Turn]) -> bool:
    """False inside a tool loop whose assistant turn has no thinking to send back.

    With thinking on, Anthropic wants the assistant turn before the final tool results to
    start with its thinking block; a loop begun without thinking cannot switch it on.
    """
    if len(turns) < 2 or turns[-1].role != "user" or not turns[-1].results:
        return True
    return bool(turns[-2].thinking)


def _strip_prefill(turn: _Turn) -> None:
    """Anthropic rejects a final assistant turn that ends in whitespace."""
    if turn.role != "assistant" or not turn.blocks or not isinstance(turn.blocks[-1], TextBlock):
        return
    text = turn.blocks[-1].text.rstrip()
    if text:
        turn.blocks[-1] = TextBlock(text, turn.blocks[-1].cache_control)
    else:
        turn.blocks.pop()


def to_conversation(messages: Sequence[Message], keep_thinking: bool) -> Conversation:
    """`system` and `messages` for Anthropic; raises ConversionError naming the message.

    `keep_thinking`: thinking is on, so thinking blocks carried in tool-call ids go back.
    """
    builder = _Builder()
    for i, msg in enumerate(messages):
        builder.add(msg, i)
    return builder.finish(keep_thinking)

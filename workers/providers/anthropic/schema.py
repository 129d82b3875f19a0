"""Anthropic Messages API wire schema: the request we send, the message and stream events we read.

Spelled as Anthropic spells it (https://docs.claude.com/en/api/messages,
https://docs.claude.com/en/docs/build-with-claude/streaming). Outbound Structs use
`omit_defaults=True` and UNSET so only what a converter set is sent. Content blocks and
stream events are tagged on `type`.

Inbound, Anthropic adds block, delta and event types over time and its versioning policy
says clients must ignore the ones they do not know. A tagged union cannot have a
catch-all variant, so the places where new types appear (a message's `content` items, a
`content_block_start`'s block, a `content_block_delta`'s delta, the event itself) are
read as `msgspec.Raw` first and decoded with `decode_block` / `decode_delta` /
`decode_event`, which return None for a type we do not know.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import msgspec
from msgspec import UNSET, Struct, UnsetType

from workers.providers.anthropic.web_search import ServerToolUseBlock, WebSearchTool, WebSearchToolResultBlock

# ---------------------------------------------------------------- content blocks (both ways)


class CacheControl(Struct, omit_defaults=True):
    """A prompt-cache breakpoint: the prefix up to and including this block is cached."""

    type: str  # "ephemeral", the only kind
    ttl: str | UnsetType = UNSET


class TextBlock(Struct, tag_field="type", tag="text", omit_defaults=True):
    """A text block (`citations`: on replies, where it cites what a web search found)."""

    text: str
    cache_control: CacheControl | UnsetType = UNSET
    citations: list[Any] | None | UnsetType = UNSET


class Base64Source(Struct, tag_field="type", tag="base64"):
    """Inline base64 data with its media type."""

    media_type: str
    data: str


class UrlSource(Struct, tag_field="type", tag="url"):
    """A URL Anthropic fetches itself."""

    url: str


ImageSource = Base64Source | UrlSource


class ImageBlock(Struct, tag_field="type", tag="image", omit_defaults=True):
    """An image."""

    source: ImageSource
    cache_control: CacheControl | UnsetType = UNSET


class DocumentBlock(Struct, tag_field="type", tag="document", omit_defaults=True):
    """A document (PDF)."""

    source: Base64Source
    cache_control: CacheControl | UnsetType = UNSET


class ToolUseBlock(Struct, tag_field="type", tag="tool_use"):
    """A call the model made; `input` is a JSON object."""

    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(Struct, tag_field="type", tag="tool_result", omit_defaults=True):
    """The result of one tool call, sent in a user turn."""

    tool_use_id: str
    content: str | list[TextBlock | ImageBlock | DocumentBlock] | UnsetType = UNSET
    is_error: bool | UnsetType = UNSET
    cache_control: CacheControl | UnsetType = UNSET


class ThinkingBlock(Struct, tag_field="type", tag="thinking"):
    """Extended-thinking text with the signature that lets it be sent back."""

    thinking: str
    signature: str = ""


class RedactedThinkingBlock(Struct, tag_field="type", tag="redacted_thinking"):
    """Thinking the API returns encrypted; only ever sent back as is."""

    data: str


InputBlock = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
)
ReplyBlock = (
    TextBlock | ToolUseBlock | ThinkingBlock | RedactedThinkingBlock | ServerToolUseBlock | WebSearchToolResultBlock
)
ThinkingPart = ThinkingBlock | RedactedThinkingBlock

# ---------------------------------------------------------------- request


class InputMessage(Struct):
    """One turn of `messages`."""

    role: Literal["user", "assistant"]
    content: list[InputBlock]


class ToolSpec(Struct, omit_defaults=True):
    """A custom (client) tool."""

    name: str
    input_schema: dict[str, Any]
    description: str | UnsetType = UNSET
    cache_control: CacheControl | UnsetType = UNSET


class ToolChoiceAuto(Struct, tag_field="type", tag="auto", omit_defaults=True):
    """The model decides whether to call tools."""

    disable_parallel_tool_use: bool | UnsetType = UNSET


class ToolChoiceAny(Struct, tag_field="type", tag="any", omit_defaults=True):
    """The model must call some tool."""

    disable_parallel_tool_use: bool | UnsetType = UNSET


class ToolChoiceTool(Struct, tag_field="type", tag="tool", omit_defaults=True):
    """The model must call the named tool."""

    name: str
    disable_parallel_tool_use: bool | UnsetType = UNSET


class ToolChoiceNone(Struct, tag_field="type", tag="none"):
    """The model must not call tools."""


ToolChoice = ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone


class ThinkingEnabled(Struct, tag_field="type", tag="enabled"):
    """Extended thinking with a token budget (>= 1024, < max_tokens)."""

    budget_tokens: int


class ThinkingAdaptive(Struct, tag_field="type", tag="adaptive"):
    """Adaptive thinking: the model decides how much to think (Claude 4.6+)."""


Thinking = ThinkingEnabled | ThinkingAdaptive


class OutputConfig(Struct, omit_defaults=True):
    """`output_config`: how much effort the answer gets (low, medium, high, xhigh, max)."""

    effort: str | UnsetType = UNSET


class RequestMetadata(Struct, omit_defaults=True):
    """`metadata`: only an opaque end-user id."""

    user_id: str | UnsetType = UNSET


class MessagesRequest(Struct, kw_only=True, omit_defaults=True):
    """`POST /v1/messages` body."""

    model: str
    max_tokens: int
    messages: list[InputMessage]
    system: list[TextBlock] | UnsetType = UNSET
    temperature: float | UnsetType = UNSET
    top_p: float | UnsetType = UNSET
    stop_sequences: list[str] | UnsetType = UNSET
    metadata: RequestMetadata | UnsetType = UNSET
    tools: list[ToolSpec | WebSearchTool] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET
    thinking: Thinking | UnsetType = UNSET
    output_config: OutputConfig | UnsetType = UNSET
    stream: bool | UnsetType = UNSET


# ---------------------------------------------------------------- reply


class AnthropicUsage(Struct):
    """`usage` of a message; cache fields may be absent or null."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class DeltaUsage(Struct):
    """`usage` of `message_delta`: cumulative; newer streams repeat the input fields."""

    output_tokens: int | None = None
    input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class Message(Struct):
    """A whole reply (also the `message` of `message_start`, with empty content)."""

    content: list[msgspec.Raw] = []
    id: str = ""
    model: str = ""
    role: str = "assistant"
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: AnthropicUsage = msgspec.field(default_factory=AnthropicUsage)


# ---------------------------------------------------------------- stream


class TextDelta(Struct, tag_field="type", tag="text_delta"):
    """More text of a text block."""

    text: str


class InputJsonDelta(Struct, tag_field="type", tag="input_json_delta"):
    """A fragment of a tool_use block's input JSON (may be empty)."""

    partial_json: str


class ThinkingDelta(Struct, tag_field="type", tag="thinking_delta"):
    """More text of a thinking block."""

    thinking: str


class SignatureDelta(Struct, tag_field="type", tag="signature_delta"):
    """The signature of a thinking block, just before its stop."""

    signature: str


class CitationsDelta(Struct, tag_field="type", tag="citations_delta"):
    """A citation attached to a text block (not converted)."""

    citation: Any = None


BlockDelta = TextDelta | InputJsonDelta | ThinkingDelta | SignatureDelta | CitationsDelta


class MessageStart(Struct, tag_field="type", tag="message_start"):
    """First event: the message shell and the input usage."""

    message: Message


class ContentBlockStart(Struct, tag_field="type", tag="content_block_start"):
    """A block starts at `index` (decode it with `decode_block`)."""

    index: int
    content_block: msgspec.Raw


class ContentBlockDelta(Struct, tag_field="type", tag="content_block_delta"):
    """A change to block `index` (decode it with `decode_delta`)."""

    index: int
    delta: msgspec.Raw


class ContentBlockStop(Struct, tag_field="type", tag="content_block_stop"):
    """Block `index` is complete."""

    index: int


class MessageDeltaBody(Struct):
    """The top-level fields `message_delta` changes."""

    stop_reason: str | None = None
    stop_sequence: str | None = None


class MessageDelta(Struct, tag_field="type", tag="message_delta"):
    """The stop reason and the cumulative usage."""

    delta: MessageDeltaBody = msgspec.field(default_factory=MessageDeltaBody)
    usage: DeltaUsage = msgspec.field(default_factory=DeltaUsage)


class MessageStop(Struct, tag_field="type", tag="message_stop"):
    """Last event of a complete stream."""


class Ping(Struct, tag_field="type", tag="ping"):
    """Keep-alive."""


class ErrorDetail(Struct):
    """`error` of an error body or event."""

    type: str = "api_error"
    message: str = ""


class ErrorEvent(Struct, tag_field="type", tag="error"):
    """An error after HTTP 200, e.g. `overloaded_error`."""

    error: ErrorDetail = msgspec.field(default_factory=ErrorDetail)


StreamEvent = (
    MessageStart
    | ContentBlockStart
    | ContentBlockDelta
    | ContentBlockStop
    | MessageDelta
    | MessageStop
    | Ping
    | ErrorEvent
)


class ErrorBody(Struct):
    """`{"type": "error", "error": {...}, "request_id": ...}` of a non-2xx response."""

    error: ErrorDetail | None = None
    request_id: str | None = None


# ---------------------------------------------------------------- decoding


class _Typed(Struct):
    type: str = ""


_TYPED = msgspec.json.Decoder(_Typed)
_BLOCK = msgspec.json.Decoder(ReplyBlock)
_DELTA = msgspec.json.Decoder(BlockDelta)
_EVENT = msgspec.json.Decoder(StreamEvent)
MESSAGE_DECODER = msgspec.json.Decoder(Message)
ERROR_DECODER = msgspec.json.Decoder(ErrorBody)
ENCODER = msgspec.json.Encoder()



def _tags(union: Any) -> frozenset[str]:
    """The `type` tags of a tagged union's variants."""
    return frozenset(str(t.__struct_config__.tag) for t in get_args(union))


_BLOCK_TYPES = _tags(ReplyBlock)
_DELTA_TYPES = _tags(BlockDelta)
_EVENT_TYPES = _tags(StreamEvent)


def _decode_known(
    data: bytes | msgspec.Raw, decoder: msgspec.json.Decoder[Any], known: frozenset[str]
) -> Any:
    """`decoder`'s type for a known `type`; None for an unknown one.

    A known type that does not decode raises msgspec.ValidationError / DecodeError.
    """
    if _TYPED.decode(data).type not in known:
        return None
    return decoder.decode(data)


def decode_block(data: bytes | msgspec.Raw) -> ReplyBlock | None:
    """A reply content block, or None for a type we do not convert (server tools...)."""
    result: ReplyBlock | None = _decode_known(data, _BLOCK, _BLOCK_TYPES)
    return result


def decode_delta(data: bytes | msgspec.Raw) -> BlockDelta | None:
    """A content block delta, or None for an unknown delta type."""
    result: BlockDelta | None = _decode_known(data, _DELTA, _DELTA_TYPES)
    return result


def decode_event(data: bytes | str) -> StreamEvent | None:
    """A stream event, or None for an unknown event type."""
    raw = data.encode() if isinstance(data, str) else data
    result: StreamEvent | None = _decode_known(raw, _EVENT, _EVENT_TYPES)
    return result

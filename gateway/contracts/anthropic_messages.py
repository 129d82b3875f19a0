"""Anthropic Messages wire schema: the inbound `/v1/messages` dialect (issue 13).

The gateway validates a caller's body with `MESSAGES_ENVELOPE_DECODER` (a violation is a
400 naming the field, in Anthropic's error shape): the fields every route reads, with
blocks, tools and options left as the caller wrote them, because a Claude route forwards
the caller's bytes and Anthropic accepts more (and newer) block and tool types than any
schema of ours lists. Workers converting for another provider decode the body again with
`MESSAGES_REQUEST_DECODER` (`workers/dialects/messages/`), which knows every block it
converts and refuses the rest naming its path. Unknown fields are accepted and ignored,
as in `openai.py`. The response and stream-event Structs are what non-Claude routes
answer with.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from gateway.contracts.errors import overflow_headline
from gateway.contracts.openai import INT32_MAX

# ---------------------------------------------------------------- request: blocks


class CacheControl(Struct, kw_only=True):
    """A prompt-cache breakpoint."""

    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | UnsetType = UNSET


class Base64Source(Struct, tag_field="type", tag="base64"):
    """Inline bytes of an image or a PDF."""

    media_type: str
    data: str


class UrlSource(Struct, tag_field="type", tag="url"):
    """An image or a PDF by URL."""

    url: str


class TextSource(Struct, tag_field="type", tag="text"):
    """A plain-text document."""

    media_type: str
    data: str


class FileSource(Struct, tag_field="type", tag="file"):
    """A file uploaded to Anthropic's Files API (Claude routes only)."""

    file_id: str


class ContentSource(Struct, tag_field="type", tag="content"):
    """A document made of content blocks."""

    content: str | list[dict[str, Any]]


ImageSource = Base64Source | UrlSource | FileSource
DocumentSource = Base64Source | UrlSource | TextSource | FileSource | ContentSource


class TextBlock(Struct, tag_field="type", tag="text", kw_only=True):
    """Text; `citations` are accepted and ignored off Claude."""

    text: str
    cache_control: CacheControl | None | UnsetType = UNSET


class ImageBlock(Struct, tag_field="type", tag="image", kw_only=True):
    """An image."""

    source: ImageSource
    cache_control: CacheControl | None | UnsetType = UNSET


class DocumentBlock(Struct, tag_field="type", tag="document", kw_only=True):
    """A document (PDF, text)."""

    source: DocumentSource
    title: str | None | UnsetType = UNSET
    context: str | None | UnsetType = UNSET
    cache_control: CacheControl | None | UnsetType = UNSET


class ToolUseBlock(Struct, tag_field="type", tag="tool_use", kw_only=True):
    """A tool call the assistant made."""

    id: str
    name: str
    input: Any
    cache_control: CacheControl | None | UnsetType = UNSET


class SearchResultBlock(Struct, tag_field="type", tag="search_result"):
    """A search result with citations (in a turn or a tool result; Claude routes only)."""


class ToolReferenceBlock(Struct, tag_field="type", tag="tool_reference"):
    """A deferred tool made available by a tool search (in a tool result; Claude routes only)."""


ToolResultPart = TextBlock | ImageBlock | DocumentBlock | SearchResultBlock | ToolReferenceBlock


class ToolResultBlock(Struct, tag_field="type", tag="tool_result", kw_only=True):
    """The result of one tool call, in a user turn."""

    tool_use_id: str
    content: str | list[ToolResultPart] | UnsetType = UNSET
    is_error: bool | UnsetType = UNSET
    cache_control: CacheControl | None | UnsetType = UNSET


class ThinkingBlock(Struct, tag_field="type", tag="thinking", kw_only=True):
    """A thinking block from history (Claude checks its signature)."""

    thinking: str
    signature: str = ""


class RedactedThinkingBlock(Struct, tag_field="type", tag="redacted_thinking", kw_only=True):
    """Encrypted thinking from history (meaningful to Claude only)."""

    data: str


# Blocks of Anthropic's server tools and features, accepted so a Claude route forwards
# them as sent; other routes refuse them (400 naming the block).


class ServerToolUseBlock(Struct, tag_field="type", tag="server_tool_use"):
    """A server tool call (web search, web fetch, code execution...)."""


class WebSearchResultBlock(Struct, tag_field="type", tag="web_search_tool_result"):
    """A web search result."""


class WebFetchResultBlock(Struct, tag_field="type", tag="web_fetch_tool_result"):
    """A web fetch result."""


class CodeExecutionResultBlock(Struct, tag_field="type", tag="code_execution_tool_result"):
    """A code execution result."""


class McpToolUseBlock(Struct, tag_field="type", tag="mcp_tool_use"):
    """A call of an MCP server's tool (MCP connector)."""


class McpToolResultBlock(Struct, tag_field="type", tag="mcp_tool_result"):
    """The result of an MCP server's tool."""


class BashCodeExecutionResultBlock(Struct, tag_field="type", tag="bash_code_execution_tool_result"):
    """A bash code execution result."""


class TextEditorCodeExecutionResultBlock(Struct, tag_field="type", tag="text_editor_code_execution_tool_result"):
    """A text editor code execution result."""


class ToolSearchResultBlock(Struct, tag_field="type", tag="tool_search_tool_result"):
    """A tool search result."""


class CompactionBlock(Struct, tag_field="type", tag="compaction"):
    """A summary of earlier turns written by Anthropic's context compaction."""


class ContainerUploadBlock(Struct, tag_field="type", tag="container_upload"):
    """A file uploaded to a code execution container."""


ClaudeOnlyBlock = (
    ServerToolUseBlock | WebSearchResultBlock | WebFetchResultBlock | CodeExecutionResultBlock
    | McpToolUseBlock | McpToolResultBlock | SearchResultBlock | ContainerUploadBlock
    | BashCodeExecutionResultBlock | TextEditorCodeExecutionResultBlock | ToolSearchResultBlock
    | CompactionBlock | ToolReferenceBlock
)

Block = (
    TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock
    | RedactedThinkingBlock | ClaudeOnlyBlock
)


class InputMessage(Struct, kw_only=True):
    """One turn; Claude Code also sends `system` turns between them (instructions)."""

    role: Literal["user", "assistant", "system"]
    content: str | list[Block]


# ---------------------------------------------------------------- request: tools and options


class ToolDefinition(Struct, kw_only=True):
    """A tool: a client tool (`input_schema`) or a typed server/built-in tool (toolsets
    such as `mcp_toolset` have no name)."""

    name: str | UnsetType = UNSET
    type: str | None | UnsetType = UNSET  # absent or "custom": a client tool
    description: str | UnsetType = UNSET
    input_schema: dict[str, Any] | UnsetType = UNSET
    cache_control: CacheControl | None | UnsetType = UNSET


class ToolChoiceAuto(Struct, tag_field="type", tag="auto", kw_only=True):
    """The model decides."""

    disable_parallel_tool_use: bool | UnsetType = UNSET


class ToolChoiceAny(Struct, tag_field="type", tag="any", kw_only=True):
    """The model must call some tool."""

    disable_parallel_tool_use: bool | UnsetType = UNSET


class ToolChoiceTool(Struct, tag_field="type", tag="tool", kw_only=True):
    """The model must call the named tool."""

    name: str
    disable_parallel_tool_use: bool | UnsetType = UNSET


class ToolChoiceNone(Struct, tag_field="type", tag="none", kw_only=True):
    """The model must not call tools."""


ToolChoice = ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone


class ThinkingEnabled(Struct, tag_field="type", tag="enabled", kw_only=True):
    """Extended thinking with a token budget."""

    budget_tokens: Annotated[int, Meta(ge=1, le=INT32_MAX)]


class ThinkingDisabled(Struct, tag_field="type", tag="disabled", kw_only=True):
    """No thinking."""


class ThinkingAdaptive(Struct, tag_field="type", tag="adaptive", kw_only=True):
    """The model decides how much to think (newer Claude models)."""


Thinking = ThinkingEnabled | ThinkingDisabled | ThinkingAdaptive


class JsonSchemaOutput(Struct, tag_field="type", tag="json_schema", kw_only=True):
    """Structured output: the reply is JSON matching `schema`."""

    schema: dict[str, Any]


class OutputConfig(Struct, kw_only=True):
    """`output_config`: how hard the model works (`effort`) and the reply's format."""

    effort: str | None | UnsetType = UNSET
    format: JsonSchemaOutput | None | UnsetType = UNSET


class Metadata(Struct, kw_only=True):
    """Request metadata."""

    user_id: str | None | UnsetType = UNSET


class MessagesRequest(Struct, kw_only=True):
    """`POST /v1/messages` body."""

    model: str
    messages: Annotated[list[InputMessage], Meta(min_length=1)]
    max_tokens: Annotated[int, Meta(ge=1, le=INT32_MAX)]
    system: str | list[TextBlock] | UnsetType = UNSET
    temperature: Annotated[float, Meta(ge=0, le=1)] | UnsetType = UNSET
    top_p: Annotated[float, Meta(ge=0, le=1)] | UnsetType = UNSET
    top_k: Annotated[int, Meta(ge=0, le=INT32_MAX)] | UnsetType = UNSET
    stop_sequences: list[str] | UnsetType = UNSET
    stream: bool | UnsetType = UNSET
    tools: list[ToolDefinition] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET
    thinking: Thinking | UnsetType = UNSET
    output_config: OutputConfig | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET

    def is_stream(self) -> bool:
        """True when the caller asked for SSE."""
        return self.stream is True


class CountTokensRequest(Struct, kw_only=True):
    """`POST /v1/messages/count_tokens` body: a Messages request without `max_tokens`."""

    model: str
    messages: Annotated[list[InputMessage], Meta(min_length=1)]
    system: str | list[TextBlock] | UnsetType = UNSET
    tools: list[ToolDefinition] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET
    thinking: Thinking | UnsetType = UNSET


# ---------------------------------------------------------------- request: what the gateway reads


class EnvelopeMessage(Struct, kw_only=True):
    """A turn as the gateway checks it: its role, and content as text or a list of blocks
    (each kept as its JSON: PERF, the gateway reads none of them)."""

    role: Literal["user", "assistant", "system"]
    content: str | list[msgspec.Raw]


class MessagesEnvelope(Struct, kw_only=True):
    """`POST /v1/messages` as the gateway validates it for every route: what it reads
    (model, stream, `max_tokens`) and the bounds no model accepts past; blocks, tools
    and options are checked by the worker that converts them."""

    model: str
    messages: Annotated[list[EnvelopeMessage], Meta(min_length=1)]
    max_tokens: Annotated[int, Meta(ge=1, le=INT32_MAX)]
    system: str | list[msgspec.Raw] | UnsetType = UNSET
    temperature: Annotated[float, Meta(ge=0, le=1)] | UnsetType = UNSET
    top_p: Annotated[float, Meta(ge=0, le=1)] | UnsetType = UNSET
    top_k: Annotated[int, Meta(ge=0, le=INT32_MAX)] | UnsetType = UNSET
    stop_sequences: list[str] | UnsetType = UNSET
    stream: bool | UnsetType = UNSET
    tools: list[msgspec.Raw] | UnsetType = UNSET

    def is_stream(self) -> bool:
        """True when the caller asked for SSE."""
        return self.stream is True


class CountTokensEnvelope(Struct, kw_only=True):
    """`POST /v1/messages/count_tokens` as the gateway validates it."""

    model: str
    messages: Annotated[list[EnvelopeMessage], Meta(min_length=1)]
    system: str | list[msgspec.Raw] | UnsetType = UNSET
    tools: list[msgspec.Raw] | UnsetType = UNSET


class CountTokensResponse(Struct):
    """`/v1/messages/count_tokens` response."""

    input_tokens: int


# ---------------------------------------------------------------- response


class MessageUsage(Struct, kw_only=True):
    """Anthropic's usage: `input_tokens` excludes cache reads and writes."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class OutText(Struct, tag_field="type", tag="text", kw_only=True):
    """A text block of a reply."""

    text: str


class OutThinking(Struct, tag_field="type", tag="thinking", kw_only=True):
    """A thinking block of a reply (unsigned when the model is not Claude)."""

    thinking: str
    signature: str = ""


class OutToolUse(Struct, tag_field="type", tag="tool_use", kw_only=True):
    """A tool call of a reply."""

    id: str
    name: str
    input: Any


OutBlock = OutText | OutThinking | OutToolUse


class Message(Struct, kw_only=True):
    """A whole non-stream reply."""

    id: str
    type: str = "message"
    role: str = "assistant"
    model: str
    content: list[OutBlock]
    stop_reason: str | None
    stop_sequence: str | None = None
    usage: MessageUsage


# ---------------------------------------------------------------- stream events


class MessageStart(Struct, tag_field="type", tag="message_start"):
    """The first event: the message with empty content."""

    message: Message


class ContentBlockStart(Struct, tag_field="type", tag="content_block_start"):
    """A block opens at `index`."""

    index: int
    content_block: OutBlock


class TextDelta(Struct, tag_field="type", tag="text_delta"):
    """More text."""

    text: str


class ThinkingDelta(Struct, tag_field="type", tag="thinking_delta"):
    """More thinking."""

    thinking: str


class SignatureDelta(Struct, tag_field="type", tag="signature_delta"):
    """The signature of a thinking block."""

    signature: str


class InputJsonDelta(Struct, tag_field="type", tag="input_json_delta"):
    """More of a tool call's input, as JSON text."""

    partial_json: str


BlockDelta = TextDelta | ThinkingDelta | SignatureDelta | InputJsonDelta


class ContentBlockDelta(Struct, tag_field="type", tag="content_block_delta"):
    """A delta of the block at `index`."""

    index: int
    delta: BlockDelta


class ContentBlockStop(Struct, tag_field="type", tag="content_block_stop"):
    """The block at `index` is complete."""

    index: int


class StopDelta(Struct):
    """How the message ended."""

    stop_reason: str | None
    stop_sequence: str | None = None


class MessageDelta(Struct, tag_field="type", tag="message_delta"):
    """The stop reason and the final usage."""

    delta: StopDelta
    usage: MessageUsage


class MessageStop(Struct, tag_field="type", tag="message_stop"):
    """The last event."""


class Ping(Struct, tag_field="type", tag="ping"):
    """A keep-alive event."""


Event = (
    MessageStart | ContentBlockStart | ContentBlockDelta | ContentBlockStop | MessageDelta
    | MessageStop | Ping
)

# ---------------------------------------------------------------- errors


class ErrorDetail(Struct):
    """The inner object of an Anthropic error."""

    type: str
    message: str


class ErrorBody(Struct, tag_field="type", tag="error"):
    """`{"type": "error", "error": {"type", "message"}}`: body and mid-stream event."""

    error: ErrorDetail


# Our statuses (gateway/contracts/errors.py's table) kept as they are, typed as Anthropic
# types them; 502/503 are failures behind us (api_error), as Anthropic's own 500 is.
OVERLOADED_STATUS = 529
_TYPES_BY_STATUS = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
    429: "rate_limit_error", 500: "api_error", 502: "api_error", 503: "overloaded_error",
    504: "timeout_error", OVERLOADED_STATUS: "overloaded_error",
}


def error_type(status: int, code: str | None) -> str:
    """Anthropic's error type for one of our statuses (and OpenAI codes)."""
    if code == "insufficient_quota":
        return "billing_error"
    if code == "upstream_overloaded":
        return "overloaded_error"
    return _TYPES_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_status(status: int, code: str | None) -> int:
    """The HTTP status on /v1/messages: ours, but an overloaded upstream stays Anthropic's
    529 (Claude Code's overload handling keys on it)."""
    return OVERLOADED_STATUS if code == "upstream_overloaded" else status


def error_message(message: str, param: str | None, code: str | None) -> str:
    """The message on /v1/messages. Anthropic's error has no `param`: the message names the
    field first, as Anthropic's own do (`messages.1.content.0.type: ...`); an overflow is
    worded exactly as Anthropic words it ("prompt is too long: N tokens > M maximum"),
    which Claude Code parses to compact."""
    if code == "context_length_exceeded":
        return overflow_headline(message)
    if param and param not in message:
        return f"{param}: {message}"
    return message


def error_body(status: int, message: str, code: str | None, param: str | None = None) -> bytes:
    """The encoded Anthropic error body for one of our errors."""
    return ENCODER.encode(ErrorBody(ErrorDetail(error_type(status, code), error_message(message, param, code))))


MESSAGES_REQUEST_DECODER = msgspec.json.Decoder(MessagesRequest)
COUNT_TOKENS_DECODER = msgspec.json.Decoder(CountTokensRequest)
MESSAGES_ENVELOPE_DECODER = msgspec.json.Decoder(MessagesEnvelope)
COUNT_TOKENS_ENVELOPE_DECODER = msgspec.json.Decoder(CountTokensEnvelope)
ENCODER = msgspec.json.Encoder()


# ---------------------------------------------------------------- models


class ModelInfo(Struct, kw_only=True):
    """One model as Anthropic's `GET /v1/models` lists it."""

    id: str
    display_name: str
    created_at: str  # RFC 3339
    type: str = "model"


class ModelPage(Struct, kw_only=True):
    """Anthropic's `GET /v1/models` response: one page holding every model."""

    data: list[ModelInfo]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None

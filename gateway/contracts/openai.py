"""OpenAI wire schema: the public API the gateway serves.

Requests are validated here by type (msgspec constraints), so a violation comes back from
the decoder with a JSON path that `errors.param_from_path` turns into OpenAI's `param`.
Unknown request fields are accepted and ignored by the Structs (OpenAI adds parameters
often); the openai-kind provider forwards the caller's raw body, so they still reach an
OpenAI upstream.

Optional request fields default to UNSET: "not sent" and "sent as null" are different
requests, and converters must not invent values the caller did not give.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

# ---------------------------------------------------------------- request: content parts


class CacheControl(Struct, kw_only=True):
    """A prompt-cache breakpoint (Anthropic's, in the convention other gateways accept).

    Claude models honour it on text parts, system/developer messages and tools; OpenAI-kind
    routes strip it, since OpenAI caches prefixes by itself (docs/compat-anthropic.md).
    """

    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | UnsetType = UNSET


class TextPart(Struct, tag_field="type", tag="text"):
    """A text content part."""

    text: str
    cache_control: CacheControl | UnsetType = UNSET


class ImageURL(Struct):
    """The `image_url` object of an image part: an https URL or a data URL."""

    url: str
    detail: Literal["auto", "low", "high"] | UnsetType = UNSET


class ImagePart(Struct, tag_field="type", tag="image_url"):
    """An image content part."""

    image_url: ImageURL


class InputAudio(Struct):
    """Base64 audio of an `input_audio` part."""

    data: str
    format: str


class AudioPart(Struct, tag_field="type", tag="input_audio"):
    """An audio content part (passed through to OpenAI; other providers refuse it)."""

    input_audio: InputAudio


class FileRef(Struct):
    """The `file` object of a file part."""

    file_data: str | UnsetType = UNSET
    file_id: str | UnsetType = UNSET
    filename: str | UnsetType = UNSET


class FilePart(Struct, tag_field="type", tag="file"):
    """A file content part (e.g. a PDF as a data URL)."""

    file: FileRef


class RefusalPart(Struct, tag_field="type", tag="refusal"):
    """A refusal part, only in assistant history."""

    refusal: str


UserPart = TextPart | ImagePart | AudioPart | FilePart
# NOTE: OpenAI takes text only in a tool message; Claude and Gemini take a tool's images
# and PDFs (the Responses dialect sends them Codex's `view_image` results this way).
ToolPart = TextPart | ImagePart | FilePart
AssistantPart = TextPart | RefusalPart

# ---------------------------------------------------------------- request: messages


class FunctionCall(Struct):
    """A function call: its name and its arguments as a JSON string."""

    name: str
    arguments: str


class ToolCall(Struct, tag_field="type", tag="function"):
    """A function tool call made by the assistant (`type` is required, as OpenAI requires it)."""

    id: str
    function: FunctionCall


class CustomCall(Struct):
    """What a custom tool call carries: the tool's name and its free-form text input."""

    name: str
    input: str


class CustomToolCall(Struct, tag_field="type", tag="custom"):
    """A call of a custom (free-form text) tool in history; OpenAI models only."""

    id: str
    custom: CustomCall


AnyToolCall = ToolCall | CustomToolCall


class SystemMessage(Struct, tag_field="role", tag="system", kw_only=True):
    """A system message; `cache_control` marks the end of its text as a breakpoint."""

    content: str | list[TextPart]
    name: str | UnsetType = UNSET
    cache_control: CacheControl | UnsetType = UNSET


class DeveloperMessage(Struct, tag_field="role", tag="developer", kw_only=True):
    """A developer message (newer name of the system role)."""

    content: str | list[TextPart]
    name: str | UnsetType = UNSET
    cache_control: CacheControl | UnsetType = UNSET


class UserMessage(Struct, tag_field="role", tag="user", kw_only=True):
    """A user message: text or a list of parts."""

    content: str | list[UserPart]
    name: str | UnsetType = UNSET


class AssistantMessage(Struct, tag_field="role", tag="assistant", kw_only=True):
    """An assistant message from history; content may be null when it made tool calls."""

    content: str | list[AssistantPart] | None = None
    # NOTE: null = no calls: `ChatCompletionMessage.model_dump()` writes `tool_calls: null`.
    tool_calls: list[AnyToolCall] | None | UnsetType = UNSET
    refusal: str | None | UnsetType = UNSET
    name: str | UnsetType = UNSET
    # NOTE: some clients send reasoning back; providers that sign thinking need it.
    reasoning_content: str | None | UnsetType = UNSET


class ToolMessage(Struct, tag_field="role", tag="tool", kw_only=True):
    """The result of one tool call (images and files: see ToolPart)."""

    content: str | list[ToolPart]
    tool_call_id: str


class FunctionMessage(Struct, tag_field="role", tag="function", kw_only=True):
    """The legacy (deprecated) result of a `function_call`; OpenAI models only."""

    content: str | None
    name: str


Message = (
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage
)

# ---------------------------------------------------------------- request: tools, formats


class FunctionDefinition(Struct, kw_only=True):
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str | UnsetType = UNSET
    parameters: dict[str, Any] | UnsetType = UNSET
    strict: bool | None | UnsetType = UNSET


class Tool(Struct, tag_field="type", tag="function"):
    """A function tool offered to the model (`cache_control`: a breakpoint after it)."""

    function: FunctionDefinition
    cache_control: CacheControl | UnsetType = UNSET


class CustomToolDefinition(Struct, kw_only=True):
    """A custom tool: free-form text input, optionally constrained by a grammar."""

    name: str
    description: str | UnsetType = UNSET
    format: dict[str, Any] | UnsetType = UNSET


class CustomTool(Struct, tag_field="type", tag="custom"):
    """A custom tool offered to the model; OpenAI models only."""

    custom: CustomToolDefinition


AnyTool = Tool | CustomTool


class ToolChoiceFunction(Struct):
    """The function named by a forced tool choice."""

    name: str


class NamedToolChoice(Struct, tag_field="type", tag="function"):
    """`tool_choice` forcing one named function."""

    function: ToolChoiceFunction


class CustomToolChoice(Struct, tag_field="type", tag="custom"):
    """`tool_choice` forcing one named custom tool; OpenAI models only."""

    custom: ToolChoiceFunction


class AllowedTools(Struct):
    """The tools a model may call (a subset of `tools`, named as `tools` names them)."""

    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class AllowedToolsChoice(Struct, tag_field="type", tag="allowed_tools"):
    """`tool_choice` restricting calls to some of the `tools`; OpenAI models only."""

    allowed_tools: AllowedTools


ToolChoice = (
    Literal["none", "auto", "required"] | NamedToolChoice | CustomToolChoice | AllowedToolsChoice
)


class TextFormat(Struct, tag_field="type", tag="text"):
    """`response_format` of plain text (the default)."""


class JsonObjectFormat(Struct, tag_field="type", tag="json_object"):
    """`response_format` asking for any JSON object."""


class JsonSchemaSpec(Struct, kw_only=True):
    """The schema of a `json_schema` response format."""

    name: str
    description: str | UnsetType = UNSET
    schema: dict[str, Any] | UnsetType = UNSET
    strict: bool | None | UnsetType = UNSET


class JsonSchemaFormat(Struct, tag_field="type", tag="json_schema"):
    """`response_format` asking for JSON matching a schema."""

    json_schema: JsonSchemaSpec


ResponseFormat = TextFormat | JsonObjectFormat | JsonSchemaFormat


class StreamOptions(Struct):
    """`stream_options`: whether the stream ends with a usage chunk."""

    include_usage: bool | None | UnsetType = UNSET


Temperature = Annotated[float, Meta(ge=0, le=2)]
TopP = Annotated[float, Meta(ge=0, le=1)]
Penalty = Annotated[float, Meta(ge=-2, le=2)]
# NOTE: JSON integers have no size limit and msgspec decodes any, but nothing downstream
# takes more than 32 bits for a count (Gemini's maxOutputTokens and candidateCount are
# int32) and cost estimates go through floats: a 400-digit max_tokens must be a 400
# naming it, not an OverflowError (issue 12, section 5). Seeds are int64 as OpenAI's.
INT32_MAX = 2**31 - 1
PositiveInt = Annotated[int, Meta(ge=1, le=INT32_MAX)]
Seed = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
TokenId = Annotated[int, Meta(ge=0, le=INT32_MAX)]
ChoiceCount = Annotated[int, Meta(ge=1, le=128)]
StopList = Annotated[list[str], Meta(max_length=4)]


class ChatRequest(Struct, kw_only=True):
    """`POST /v1/chat/completions` body."""

    model: str
    messages: Annotated[list[Message], Meta(min_length=1)]
    stream: bool | None | UnsetType = UNSET
    stream_options: StreamOptions | None | UnsetType = UNSET
    temperature: Temperature | None | UnsetType = UNSET
    top_p: TopP | None | UnsetType = UNSET
    n: ChoiceCount | None | UnsetType = UNSET
    max_tokens: PositiveInt | None | UnsetType = UNSET
    max_completion_tokens: PositiveInt | None | UnsetType = UNSET
    stop: str | StopList | None | UnsetType = UNSET
    presence_penalty: Penalty | None | UnsetType = UNSET
    frequency_penalty: Penalty | None | UnsetType = UNSET
    tools: list[AnyTool] | None | UnsetType = UNSET
    tool_choice: ToolChoice | None | UnsetType = UNSET
    parallel_tool_calls: bool | None | UnsetType = UNSET
    response_format: ResponseFormat | None | UnsetType = UNSET
    seed: Seed | None | UnsetType = UNSET
    user: str | None | UnsetType = UNSET
    # OpenAI's replacement for `user`: a stable id of the end user (hashed by the caller).
    safety_identifier: str | None | UnsetType = UNSET
    logprobs: bool | None | UnsetType = UNSET
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None | UnsetType = UNSET
    logit_bias: dict[str, float] | None | UnsetType = UNSET
    reasoning_effort: str | None | UnsetType = UNSET
    metadata: dict[str, str] | None | UnsetType = UNSET
    # OpenAI-only hints (the Responses dialect maps its own to them, issue 21); other
    # provider kinds have no equivalent and never read them.
    prompt_cache_key: str | None | UnsetType = UNSET
    prompt_cache_retention: str | None | UnsetType = UNSET
    service_tier: str | None | UnsetType = UNSET
    verbosity: str | None | UnsetType = UNSET
    # OpenAI's field for its search models; on Claude and Gemini routes it offers the
    # upstream's own web search (the Responses dialect sets it for a `web_search` tool).
    web_search_options: dict[str, Any] | None | UnsetType = UNSET

    def is_stream(self) -> bool:
        """True when the caller asked for SSE."""
        return bool(self.stream)

    def wants_usage_chunk(self) -> bool:
        """True when a stream must end with a `choices: []` usage chunk."""
        opts = self.stream_options
        return bool(self.stream) and isinstance(opts, StreamOptions) and bool(opts.include_usage)

    def choice_count(self) -> int:
        """`n`, with OpenAI's default of 1."""
        return self.n if isinstance(self.n, int) else 1

    def output_limit(self) -> int | None:
        """`max_completion_tokens`, else its older alias `max_tokens`, else None."""
        for value in (self.max_completion_tokens, self.max_tokens):
            if isinstance(value, int):
                return value
        return None


EmbeddingItem = str | TokenId | list[TokenId]


class EmbeddingRequest(Struct, kw_only=True):
    """`POST /v1/embeddings` body; `input` shape is checked by `embedding_inputs`."""

    model: str
    input: str | list[EmbeddingItem]
    # null means absent for each of these (SDKs and `model_dump()` write nulls).
    encoding_format: Literal["float", "base64"] | None | UnsetType = UNSET
    dimensions: PositiveInt | None | UnsetType = UNSET
    user: str | None | UnsetType = UNSET

    def wants_base64(self) -> bool:
        """True when vectors go back as base64 of little-endian float32."""
        return self.encoding_format == "base64"

    def output_dimensions(self) -> int | None:
        """`dimensions` when the caller set one, else None (absent or null)."""
        return self.dimensions if isinstance(self.dimensions, int) else None


# ---------------------------------------------------------------- responses


class PromptTokensDetails(Struct):
    """Breakdown of prompt tokens (UNSET fields are never encoded)."""

    cached_tokens: int = 0
    # Prompt tokens written to a provider's cache (Anthropic prices them above input).
    cache_write_tokens: int | UnsetType = UNSET


class CompletionTokensDetails(Struct):
    """Breakdown of completion tokens."""

    reasoning_tokens: int = 0


class Usage(Struct, kw_only=True):
    """Token counts of one request."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | UnsetType = UNSET
    completion_tokens_details: CompletionTokensDetails | UnsetType = UNSET

    def cached_tokens(self) -> int:
        """Cached prompt tokens, 0 when not reported."""
        details = self.prompt_tokens_details
        return details.cached_tokens if isinstance(details, PromptTokensDetails) else 0

    def cache_write_tokens(self) -> int:
        """Prompt tokens written to the provider's cache, 0 when not reported."""
        details = self.prompt_tokens_details
        if isinstance(details, PromptTokensDetails) and isinstance(details.cache_write_tokens, int):
            return details.cache_write_tokens
        return 0

    def plus(self, other: Usage) -> Usage:
        """The sum of two usages (for n > 1 fan-out)."""
        cached = self.cached_tokens() + other.cached_tokens()
        written = self.cache_write_tokens() + other.cache_write_tokens()
        reasoning = sum(
            u.completion_tokens_details.reasoning_tokens
            for u in (self, other)
            if isinstance(u.completion_tokens_details, CompletionTokensDetails)
        )
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            prompt_tokens_details=(
                PromptTokensDetails(cached, written if written else UNSET) if cached or written else UNSET
            ),
            completion_tokens_details=(
                CompletionTokensDetails(reasoning) if reasoning else UNSET
            ),
        )


class WebSource(Struct, omit_defaults=True):
    """One page a web search found."""

    url: str
    title: str | UnsetType = UNSET


class WebSearch(Struct, omit_defaults=True):
    """A web search the upstream ran itself (Claude's server tool, Gemini's grounding) for
    a request with `web_search_options`: the gateway's own extension of chat answers,
    which the Responses dialect turns into `web_search_call` items (issue 21)."""

    id: str
    query: str = ""
    sources: list[WebSource] = []


class UrlCitation(Struct):
    """Where the answer cites a web page: `[start_index, end_index)` of the message's content."""

    url: str
    title: str
    start_index: int
    end_index: int


class UrlCitationAnnotation(Struct, tag_field="type", tag="url_citation"):
    """A citation in a message's `annotations` (OpenAI's chat field for its search models)."""

    url_citation: UrlCitation


class ResponseMessage(Struct, kw_only=True):
    """The assistant message of a choice; `content` is always present (maybe null)."""

    role: str = "assistant"
    content: str | None
    tool_calls: list[ToolCall] | UnsetType = UNSET
    refusal: str | None = None
    reasoning_content: str | UnsetType = UNSET
    web_searches: list[WebSearch] | UnsetType = UNSET  # WebSearch: before the content, in order
    annotations: list[UrlCitationAnnotation] | UnsetType = UNSET


class Choice(Struct, kw_only=True):
    """One choice of a completion."""

    index: int
    message: ResponseMessage
    finish_reason: str | None
    logprobs: Any = None


class ChatCompletion(Struct, kw_only=True):
    """A whole non-stream chat completion."""

    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | UnsetType = UNSET
    system_fingerprint: str | UnsetType = UNSET


class FunctionCallDelta(Struct):
    """A fragment of a streamed function call."""

    name: str | UnsetType = UNSET
    arguments: str | UnsetType = UNSET


class ToolCallDelta(Struct, kw_only=True):
    """A fragment of a streamed tool call; id, type and name only on its first one."""

    index: int
    id: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    function: FunctionCallDelta | UnsetType = UNSET


class Delta(Struct, kw_only=True):
    """What one chunk adds to a choice."""

    role: str | UnsetType = UNSET
    content: str | None | UnsetType = UNSET
    tool_calls: list[ToolCallDelta] | UnsetType = UNSET
    refusal: str | None | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET
    web_searches: list[WebSearch] | UnsetType = UNSET  # WebSearch: each once, when it finished
    annotations: list[UrlCitationAnnotation] | UnsetType = UNSET  # indices in the whole content


class ChunkChoice(Struct, kw_only=True):
    """One choice's part of a chunk; `finish_reason` is null until the last."""

    index: int
    delta: Delta
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletionChunk(Struct, kw_only=True):
    """One streamed chunk; the usage chunk has `choices: []`."""

    id: str
    object: str = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | UnsetType = UNSET
    system_fingerprint: str | UnsetType = UNSET


class Embedding(Struct):
    """One vector: floats, or base64 of little-endian float32."""

    index: int
    embedding: list[float] | str
    object: str = "embedding"


class EmbeddingUsage(Struct):
    """Usage of an embeddings call."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(Struct):
    """`/v1/embeddings` response."""

    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
    object: str = "list"


class Model(Struct):
    """One entry of `/v1/models`."""

    id: str
    created: int
    owned_by: str
    object: str = "model"


class ModelList(Struct):
    """`/v1/models` response."""

    data: list[Model]
    object: str = "list"


CHAT_REQUEST_DECODER = msgspec.json.Decoder(ChatRequest)
EMBEDDING_REQUEST_DECODER = msgspec.json.Decoder(EmbeddingRequest)
JSON_ENCODER = msgspec.json.Encoder()


MAX_EMBEDDING_INPUTS = 2048


def embedding_inputs(req: EmbeddingRequest) -> list[str] | list[list[int]]:
    """The inputs as a list of strings or of token arrays; 400 naming `input` otherwise.

    OpenAI accepts a string, an array of strings, an array of tokens (one input) or an
    array of token arrays; an empty input and a mixed array are errors.
    """
    from gateway.contracts.errors import invalid_request

    value = req.input
    if isinstance(value, str):
        items: list[EmbeddingItem] = [value]
    else:
        items = value
    if not items:
        raise invalid_request("'input' must not be empty.", "input")
    if len(items) > MAX_EMBEDDING_INPUTS:
        raise invalid_request(
            f"'input' has {len(items)} items; at most {MAX_EMBEDDING_INPUTS} are allowed.", "input"
        )
    if all(isinstance(x, str) for x in items):
        texts = [x for x in items if isinstance(x, str)]
        for i, text in enumerate(texts):
            if not text:
                raise invalid_request(f"'input[{i}]' must not be an empty string.", f"input[{i}]")
        return texts
    if all(isinstance(x, int) for x in items):
        return [[x for x in items if isinstance(x, int)]]
    if all(isinstance(x, list) for x in items):
        arrays = [x for x in items if isinstance(x, list)]
        for i, tokens in enumerate(arrays):
            if not tokens:
                raise invalid_request(f"'input[{i}]' must not be empty.", f"input[{i}]")
        return arrays
    raise invalid_request(
        "'input' must be a string, an array of strings, an array of tokens "
        "or an array of token arrays, not a mix.",
        "input",
    )

"""Gemini API v1beta wire Structs (generateContent, streamGenerateContent, batchEmbedContents).

Field names are snake_case here and camelCase on the wire (`rename="camel"`); outbound
Structs omit every field left at its default, so we send only what the caller set.
Inbound Structs declare only the fields we read; the rest of Google's payload is skipped.
Reference: https://ai.google.dev/api/generate-content and
the Gemini v1beta OpenAPI description (generated from Google's discovery document).

The last section holds the few OpenAI-side extensions that carry Gemini data through an
OpenAI conversation (`extra_content.google.thought_signature` on tool calls, the shape
Google's own OpenAI-compatible endpoint uses).
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType, field

from gateway.contracts.openai import ToolCall, ToolCallDelta


class GeminiStruct(Struct, rename="camel", omit_defaults=True, kw_only=True):
    """Base of every Gemini payload: camelCase on the wire, defaults never sent."""


# ---------------------------------------------------------------- contents and parts


class Blob(GeminiStruct):
    """Inline bytes (`inlineData`), base64 as Google wants them."""

    mime_type: str
    data: str


class FileData(GeminiStruct):
    """A URI the API can read itself (Files API, YouTube)."""

    file_uri: str
    mime_type: str | UnsetType = UNSET


class FunctionCall(GeminiStruct):
    """A call the model made; `args` may be absent in responses."""

    name: str = ""
    args: dict[str, Any] | None = None
    id: str | UnsetType = UNSET


class FunctionResponse(GeminiStruct):
    """A tool's result sent back; `response` must be a JSON object."""

    name: str
    response: dict[str, Any]


class Part(GeminiStruct):
    """One part of a turn; exactly one data field is set."""

    text: str | UnsetType = UNSET
    thought: bool | UnsetType = UNSET
    thought_signature: str | UnsetType = UNSET
    inline_data: Blob | UnsetType = UNSET
    file_data: FileData | UnsetType = UNSET
    function_call: FunctionCall | UnsetType = UNSET
    function_response: FunctionResponse | UnsetType = UNSET


class Content(GeminiStruct):
    """A turn: `role` is `user` or `model` (unset for systemInstruction)."""

    parts: list[Part] = []
    role: str | UnsetType = UNSET


# ---------------------------------------------------------------- tools


class Schema(GeminiStruct):
    """Gemini's OpenAPI 3.0 subset `Schema` (only the keys the API accepts)."""

    type: str | UnsetType = UNSET
    format: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    nullable: bool | UnsetType = UNSET
    enum: list[str] | UnsetType = UNSET
    items: Schema | UnsetType = UNSET
    properties: dict[str, Schema] | UnsetType = UNSET
    required: list[str] | UnsetType = UNSET
    property_ordering: list[str] | UnsetType = UNSET
    any_of: list[Schema] | UnsetType = UNSET
    min_items: int | UnsetType = UNSET
    max_items: int | UnsetType = UNSET
    min_length: int | UnsetType = UNSET
    max_length: int | UnsetType = UNSET
    min_properties: int | UnsetType = UNSET
    max_properties: int | UnsetType = UNSET
    pattern: str | UnsetType = UNSET
    minimum: float | UnsetType = UNSET
    maximum: float | UnsetType = UNSET


class FunctionDeclaration(GeminiStruct):
    """A function the model may call; no `parameters` for a parameterless tool."""

    name: str
    description: str | UnsetType = UNSET
    parameters: Schema | UnsetType = UNSET
    # Plain JSON Schema, for parameters outside the `Schema` subset (exclusive with `parameters`).
    parameters_json_schema: dict[str, Any] | UnsetType = UNSET


class Tool(GeminiStruct):
    """One tool entry: all function declarations, or Google Search grounding (`{}`)."""

    function_declarations: list[FunctionDeclaration] | UnsetType = UNSET
    google_search: dict[str, Any] | UnsetType = UNSET


class FunctionCallingConfig(GeminiStruct):
    """`mode` is AUTO, ANY or NONE; `allowedFunctionNames` only with ANY."""

    mode: str
    allowed_function_names: list[str] | UnsetType = UNSET


class ToolConfig(GeminiStruct):
    """`toolConfig` of a request."""

    function_calling_config: FunctionCallingConfig


# ---------------------------------------------------------------- request


class ThinkingConfig(GeminiStruct):
    """Thinking budget in tokens (0 turns thinking off where the model allows it)."""

    thinking_budget: int | UnsetType = UNSET


class GenerationConfig(GeminiStruct):
    """`generationConfig`: sampling, limits and output format."""

    stop_sequences: list[str] | UnsetType = UNSET
    response_mime_type: str | UnsetType = UNSET
    response_schema: Schema | UnsetType = UNSET
    # Plain JSON Schema, for a response schema outside the subset (exclusive with responseSchema).
    response_json_schema: dict[str, Any] | UnsetType = UNSET
    candidate_count: int | UnsetType = UNSET
    max_output_tokens: int | UnsetType = UNSET
    temperature: float | UnsetType = UNSET
    top_p: float | UnsetType = UNSET
    presence_penalty: float | UnsetType = UNSET
    frequency_penalty: float | UnsetType = UNSET
    seed: int | UnsetType = UNSET
    response_logprobs: bool | UnsetType = UNSET
    logprobs: int | UnsetType = UNSET
    thinking_config: ThinkingConfig | UnsetType = UNSET


class GenerateContentRequest(GeminiStruct):
    """The body of `:generateContent` and `:streamGenerateContent` (model is in the URL)."""

    contents: list[Content]
    system_instruction: Content | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    tool_config: ToolConfig | UnsetType = UNSET
    generation_config: GenerationConfig | UnsetType = UNSET


# ---------------------------------------------------------------- response


class LogprobsCandidate(GeminiStruct):
    """One token and its log probability."""

    token: str = ""
    log_probability: float = 0.0


class TopCandidates(GeminiStruct):
    """The most likely tokens of one decoding step."""

    candidates: list[LogprobsCandidate] = []


class LogprobsResult(GeminiStruct):
    """Per-step chosen tokens and top alternatives (with `responseLogprobs`)."""

    top_candidates: list[TopCandidates] = []
    chosen_candidates: list[LogprobsCandidate] = []


class Web(GeminiStruct):
    """A web page a grounded answer drew on."""

    uri: str = ""
    title: str = ""


class GroundingChunk(GeminiStruct):
    """One source of a grounded answer (`web` for Google Search)."""

    web: Web | None = None


class GroundingMetadata(GeminiStruct):
    """What Google Search grounding did: its queries and the pages found."""

    web_search_queries: list[str] = []
    grounding_chunks: list[GroundingChunk] = []


class Candidate(GeminiStruct):
    """One generated response; `index` may be absent (then 0)."""

    content: Content | None = None
    finish_reason: str = ""
    finish_message: str = ""
    index: int | None = None
    logprobs_result: LogprobsResult | None = None
    grounding_metadata: GroundingMetadata | None = None


class PromptFeedback(GeminiStruct):
    """Set when the prompt itself was blocked (then there are no candidates)."""

    block_reason: str = ""
    block_reason_message: str = ""


class UsageMetadata(GeminiStruct):
    """Token counts; on streams cumulative, so the last one is the total."""

    prompt_token_count: int = 0
    cached_content_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    total_token_count: int = 0


class ErrorDetail(GeminiStruct):
    """One `google.rpc` detail; we read ErrorInfo.reason and RetryInfo.retryDelay."""

    type: str = field(default="", name="@type")
    reason: str = ""
    retry_delay: str = ""


class ErrorStatus(GeminiStruct):
    """A `google.rpc.Status`: HTTP code, message, canonical status name, details."""

    code: int = 0
    message: str = ""
    status: str = ""
    details: list[ErrorDetail] = []


class ErrorBody(GeminiStruct):
    """`{"error": {...}}`, Google's error body."""

    error: ErrorStatus


class GenerateContentResponse(GeminiStruct):
    """A whole response, or one stream chunk (then `error` may replace it)."""

    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str = ""
    error: ErrorStatus | None = None


# ---------------------------------------------------------------- embeddings


class EmbedContentRequest(GeminiStruct):
    """One input of a batch; `model` repeats the path's `models/<id>`."""

    model: str
    content: Content
    output_dimensionality: int | UnsetType = UNSET


class BatchEmbedContentsRequest(GeminiStruct):
    """The body of `:batchEmbedContents`."""

    requests: list[EmbedContentRequest]


class ContentEmbedding(GeminiStruct):
    """One vector."""

    values: list[float] = []


class EmbeddingUsageMetadata(GeminiStruct):
    """Token count of an embeddings call (not always sent)."""

    prompt_token_count: int = 0


class BatchEmbedContentsResponse(GeminiStruct):
    """Vectors in request order."""

    embeddings: list[ContentEmbedding] = []
    usage_metadata: EmbeddingUsageMetadata | None = None


# ---------------------------------------------------------------- OpenAI-side extensions


class GoogleExtra(Struct, omit_defaults=True):
    """`extra_content.google` of a tool call."""

    thought_signature: str | None = None


class ExtraContent(Struct, omit_defaults=True):
    """`extra_content` of a tool call (Google's OpenAI-compatible endpoint's shape)."""

    google: GoogleExtra | None = None


class SignedToolCall(ToolCall, kw_only=True):
    """A response tool call that carries Gemini's thought signature back to the caller."""

    extra_content: ExtraContent | UnsetType = UNSET


class SignedToolCallDelta(ToolCallDelta, kw_only=True):
    """A streamed tool call that carries Gemini's thought signature."""

    extra_content: ExtraContent | UnsetType = UNSET


class RawToolCall(Struct):
    """What we read of an assistant tool call in the caller's raw body."""

    extra_content: ExtraContent | None = None


class RawMessage(Struct):
    """What we read of a message in the caller's raw body."""

    tool_calls: list[RawToolCall] | None = None


class RawChatBody(Struct):
    """The caller's body, read only for tool-call `extra_content` (ChatRequest drops it)."""

    messages: list[RawMessage] = []


REQUEST_ENCODER = msgspec.json.Encoder()
RESPONSE_DECODER = msgspec.json.Decoder(GenerateContentResponse)
ERROR_DECODER = msgspec.json.Decoder(ErrorBody | list[ErrorBody])
EMBED_RESPONSE_DECODER = msgspec.json.Decoder(BatchEmbedContentsResponse)
RAW_CHAT_DECODER = msgspec.json.Decoder(RawChatBody)

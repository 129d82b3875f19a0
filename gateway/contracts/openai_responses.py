"""OpenAI Responses wire schema (`POST /v1/responses`): requests, the response object, events.

The gateway validates a request with `RESPONSES_REQUEST_DECODER`, then each `input` item
and each tool with `input_item()` / `tool()`, so a malformed item is a 400 naming
`input[i]...` before anything is published. Items and tools are kept as `msgspec.Raw` on
the request itself: a pass-through route forwards them untouched, and a stored response
keeps the caller's items byte for byte. A message item may leave out `type` (the API's
"easy" message), which is why items are dispatched on a peeked `type` rather than a
tagged union.

Unknown fields are accepted and ignored, as in `openai.py`; optional fields default to
UNSET so "not sent" and "null" stay apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from gateway.contracts.openai import PositiveInt, Temperature, TopP

# ---------------------------------------------------------------- request: content parts


class InputText(Struct, tag_field="type", tag="input_text"):
    """Text the caller gives."""

    text: str


class InputImage(Struct, tag_field="type", tag="input_image", kw_only=True):
    """An image by URL (https or data URL); `file_id` only reaches OpenAI upstreams."""

    image_url: str | None | UnsetType = UNSET
    file_id: str | None | UnsetType = UNSET
    detail: Literal["auto", "low", "high", "original"] | None | UnsetType = UNSET


class InputFile(Struct, tag_field="type", tag="input_file", kw_only=True):
    """A file (e.g. a PDF as a data URL)."""

    file_data: str | UnsetType = UNSET
    file_id: str | None | UnsetType = UNSET
    filename: str | UnsetType = UNSET
    file_url: str | UnsetType = UNSET


class OutputText(Struct, tag_field="type", tag="output_text", kw_only=True):
    """Text the model wrote (an assistant message, in output or in history)."""

    text: str
    annotations: list[Any] = []
    logprobs: list[Any] = []


class RefusalContent(Struct, tag_field="type", tag="refusal"):
    """A refusal the model wrote."""

    refusal: str


ContentPart = InputText | InputImage | InputFile | OutputText | RefusalContent

# ---------------------------------------------------------------- request: items


class MessageItem(Struct, kw_only=True):
    """A message: the caller's (user/system/developer) or the model's (assistant)."""

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]
    id: str | UnsetType = UNSET
    status: str | UnsetType = UNSET


class FunctionCallItem(Struct, kw_only=True):
    """A function call the model made (`namespace` when its tool came from a namespace)."""

    type: Literal["function_call"] = "function_call"
    call_id: str
    name: str
    arguments: str
    id: str | UnsetType = UNSET
    namespace: str | UnsetType = UNSET
    status: str | UnsetType = UNSET


class FunctionCallOutputItem(Struct, kw_only=True):
    """The caller's result of one function call: text, or a list of content parts."""

    type: Literal["function_call_output"] = "function_call_output"
    call_id: str
    output: str | list[ContentPart]
    id: str | UnsetType = UNSET
    status: str | UnsetType = UNSET


class SummaryText(Struct, tag_field="type", tag="summary_text"):
    """One part of a reasoning summary."""

    text: str


class ReasoningText(Struct, tag_field="type", tag="reasoning_text"):
    """Reasoning text itself (where a provider shows it)."""

    text: str


class ReasoningItem(Struct, kw_only=True):
    """The model's reasoning: a summary, maybe its text, maybe an opaque encrypted form."""

    type: Literal["reasoning"] = "reasoning"
    id: str | UnsetType = UNSET
    summary: list[SummaryText] = []
    content: list[ReasoningText] | None | UnsetType = UNSET
    encrypted_content: str | None | UnsetType = UNSET
    status: str | UnsetType = UNSET


InputItem = MessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem

# ---------------------------------------------------------------- request: tools, formats


class FunctionTool(Struct, kw_only=True):
    """A function the model may call (Responses spells it flat, without `function: {}`)."""

    type: Literal["function"] = "function"
    name: str
    description: str | None | UnsetType = UNSET
    parameters: dict[str, Any] | None | UnsetType = UNSET
    strict: bool | None | UnsetType = UNSET


class NamespaceTool(Struct, kw_only=True):
    """A named group of function tools (Codex sends its sub-agent tools this way)."""

    type: Literal["namespace"] = "namespace"
    name: str
    description: str | None | UnsetType = UNSET
    tools: list[FunctionTool]


class FunctionChoice(Struct, kw_only=True):
    """`tool_choice` forcing one function."""

    type: Literal["function"]
    name: str


ToolChoice = Literal["none", "auto", "required"] | dict[str, Any]


class TextFormatText(Struct, tag_field="type", tag="text"):
    """Plain text output (the default)."""


class TextFormatJsonObject(Struct, tag_field="type", tag="json_object"):
    """Any JSON object."""


class TextFormatJsonSchema(Struct, tag_field="type", tag="json_schema", kw_only=True):
    """JSON matching a schema (Responses spells it flat: name and schema beside `type`)."""

    name: str
    schema: dict[str, Any]
    description: str | None | UnsetType = UNSET
    strict: bool | None | UnsetType = UNSET


TextFormat = TextFormatText | TextFormatJsonObject | TextFormatJsonSchema


class TextConfig(Struct, kw_only=True):
    """`text`: the output format (and verbosity, which only OpenAI upstreams take)."""

    format: TextFormat | UnsetType = UNSET
    verbosity: str | None | UnsetType = UNSET


class ReasoningConfig(Struct, kw_only=True):
    """`reasoning`: effort and whether to summarise."""

    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None | UnsetType = UNSET
    summary: str | None | UnsetType = UNSET
    generate_summary: str | None | UnsetType = UNSET


class ResponsesRequest(Struct, kw_only=True):
    """`POST /v1/responses` body. `input` items and `tools` stay raw (see the module doc)."""

    model: str
    input: str | list[msgspec.Raw] | UnsetType = UNSET
    instructions: str | None | UnsetType = UNSET
    previous_response_id: str | None | UnsetType = UNSET
    store: bool | None | UnsetType = UNSET
    stream: bool | None | UnsetType = UNSET
    tools: list[msgspec.Raw] | None | UnsetType = UNSET
    tool_choice: ToolChoice | None | UnsetType = UNSET
    parallel_tool_calls: bool | None | UnsetType = UNSET
    text: TextConfig | None | UnsetType = UNSET
    reasoning: ReasoningConfig | None | UnsetType = UNSET
    max_output_tokens: PositiveInt | None | UnsetType = UNSET
    temperature: Temperature | None | UnsetType = UNSET
    top_p: TopP | None | UnsetType = UNSET
    metadata: Annotated[dict[str, str], Meta(max_length=16)] | None | UnsetType = UNSET
    user: str | None | UnsetType = UNSET
    safety_identifier: str | None | UnsetType = UNSET
    background: bool | None | UnsetType = UNSET
    conversation: Any = UNSET
    truncation: str | None | UnsetType = UNSET
    # Sent on as chat's own fields to OpenAI-kind converted routes (request.py says which).
    prompt_cache_key: str | None | UnsetType = UNSET
    prompt_cache_retention: str | None | UnsetType = UNSET
    service_tier: str | None | UnsetType = UNSET
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None | UnsetType = UNSET
    max_tool_calls: PositiveInt | None | UnsetType = UNSET
    include: list[str] | None | UnsetType = UNSET

    def wants_logprobs(self) -> bool:
        """`top_logprobs`, or `include` asking for the output text's logprobs."""
        return isinstance(self.top_logprobs, int) or (
            isinstance(self.include, list) and "message.output_text.logprobs" in self.include)

    def is_stream(self) -> bool:
        """True when the caller asked for SSE."""
        return bool(self.stream)

    def is_stored(self) -> bool:
        """`store`, whose default is true."""
        return self.store is not False

    def previous_id(self) -> str | None:
        """`previous_response_id`, or None."""
        return self.previous_response_id if isinstance(self.previous_response_id, str) else None

    def output_limit(self) -> int | None:
        """`max_output_tokens`, or None."""
        return self.max_output_tokens if isinstance(self.max_output_tokens, int) else None


class _Peek(Struct):
    type: str = "message"


_PEEK = msgspec.json.Decoder(_Peek)
_ITEM_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "message": msgspec.json.Decoder(MessageItem),
    "function_call": msgspec.json.Decoder(FunctionCallItem),
    "function_call_output": msgspec.json.Decoder(FunctionCallOutputItem),
    "reasoning": msgspec.json.Decoder(ReasoningItem),
}
_TOOL_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "function": msgspec.json.Decoder(FunctionTool),
    "namespace": msgspec.json.Decoder(NamespaceTool),
}
FUNCTION_CHOICE_DECODER = msgspec.json.Decoder(FunctionChoice)


def item_type(raw: msgspec.Raw) -> str:
    """The `type` of one raw item or tool ("message" when absent)."""
    return _PEEK.decode(raw).type


def input_item(raw: msgspec.Raw) -> InputItem | None:
    """One input item, typed; None for a type the converting routes do not model.

    Raises msgspec.ValidationError (path relative to the item) when a known type is malformed.
    """
    decoder = _ITEM_DECODERS.get(item_type(raw))
    if decoder is None:
        return None
    item: InputItem = decoder.decode(raw)
    return item


def tool(raw: msgspec.Raw) -> FunctionTool | NamespaceTool | None:
    """One tool, typed; None for a built-in tool (web_search, file_search, ...)."""
    decoder = _TOOL_DECODERS.get(item_type(raw))
    if decoder is None:
        return None
    value: FunctionTool | NamespaceTool = decoder.decode(raw)
    return value


# ---------------------------------------------------------------- response object


class InputTokensDetails(Struct):
    """Cached part of the input."""

    cached_tokens: int = 0


class OutputTokensDetails(Struct):
    """Reasoning part of the output."""

    reasoning_tokens: int = 0


class ResponseUsage(Struct, kw_only=True):
    """Usage in Responses' names."""

    input_tokens: int = 0
    input_tokens_details: InputTokensDetails = msgspec.field(default_factory=InputTokensDetails)
    output_tokens: int = 0
    output_tokens_details: OutputTokensDetails = msgspec.field(default_factory=OutputTokensDetails)
    total_tokens: int = 0


class OutputMessage(Struct, tag_field="type", tag="message", kw_only=True):
    """An assistant message in `output`."""

    id: str
    status: str = "completed"
    role: str = "assistant"
    content: list[OutputText | RefusalContent] = []


class OutputFunctionCall(Struct, tag_field="type", tag="function_call", kw_only=True):
    """A function call in `output`."""

    id: str
    call_id: str
    name: str
    arguments: str
    status: str = "completed"
    namespace: str | UnsetType = UNSET


class OutputReasoning(Struct, tag_field="type", tag="reasoning", kw_only=True):
    """Reasoning in `output`: its text as a summary (converted routes)."""

    id: str
    summary: list[SummaryText] = []


class WebSearchSource(Struct, tag_field="type", tag="url"):
    """A page a web search found."""

    url: str


class WebSearchAction(Struct, tag_field="type", tag="search", kw_only=True):
    """What a web search did: its query and the pages it found."""

    query: str
    sources: list[WebSearchSource] = []


class OutputWebSearch(Struct, tag_field="type", tag="web_search_call", kw_only=True):
    """A web search the upstream ran (converted routes: Claude's server tool, Gemini's grounding)."""

    id: str
    status: str = "completed"
    action: WebSearchAction | UnsetType = UNSET


OutputItem = OutputMessage | OutputFunctionCall | OutputReasoning | OutputWebSearch


class ResponseError(Struct):
    """Why a response failed."""

    code: str
    message: str


class IncompleteDetails(Struct):
    """Why a response stopped early: `max_output_tokens` or `content_filter`."""

    reason: str


class Response(Struct, kw_only=True):
    """The response object (also inside the `response.*` lifecycle events)."""

    id: str
    object: str = "response"
    created_at: int
    status: str
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    model: str
    output: list[OutputItem] = []
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    reasoning: dict[str, Any] = {}
    store: bool = True
    temperature: float | None = None
    text: dict[str, Any] = {}
    tool_choice: Any = "auto"
    tools: list[Any] = []
    top_p: float | None = None
    truncation: str = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    metadata: dict[str, str] = {}


class DeletedResponse(Struct):
    """`DELETE /v1/responses/{id}` answer."""

    id: str
    object: str = "response"
    deleted: bool = True


RESPONSES_REQUEST_DECODER = msgspec.json.Decoder(ResponsesRequest)
RESPONSE_DECODER = msgspec.json.Decoder(Response)


# ---------------------------------------------------------------- stream events
# `type` is a plain field: one shape serves every event type that carries the same fields.


class ResponseEvent(Struct, kw_only=True):
    """response.created / in_progress / completed / incomplete / failed."""

    type: str
    sequence_number: int
    response: Response


class ItemEvent(Struct, kw_only=True):
    """response.output_item.added / done."""

    type: str
    sequence_number: int
    output_index: int
    item: OutputItem


class PartEvent(Struct, kw_only=True):
    """response.content_part.added / done."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    part: OutputText | RefusalContent


class TextDeltaEvent(Struct, kw_only=True):
    """response.output_text.delta (and refusal.delta, whose logprobs stay empty)."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[Any] = []


class TextDoneEvent(Struct, kw_only=True):
    """response.output_text.done."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[Any] = []


class ArgumentsDeltaEvent(Struct, kw_only=True):
    """response.function_call_arguments.delta."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    delta: str


class ArgumentsDoneEvent(Struct, kw_only=True):
    """response.function_call_arguments.done."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    arguments: str
    name: str


class SummaryPartEvent(Struct, kw_only=True):
    """response.reasoning_summary_part.added / done."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    summary_index: int
    part: SummaryText


class SummaryDeltaEvent(Struct, kw_only=True):
    """response.reasoning_summary_text.delta."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    summary_index: int
    delta: str


class SummaryDoneEvent(Struct, kw_only=True):
    """response.reasoning_summary_text.done."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    summary_index: int
    text: str


class ErrorEvent(Struct, kw_only=True):
    """error: a failure mid-stream (response.failed follows)."""

    type: str = "error"
    sequence_number: int
    code: str | None
    message: str
    param: str | None = None


class AnnotationEvent(Struct, kw_only=True):
    """response.output_text.annotation.added: an annotation (a `url_citation`) of an output text."""

    type: str = "response.output_text.annotation.added"
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    annotation_index: int
    annotation: Any


class WebSearchEvent(Struct, kw_only=True):
    """response.web_search_call.in_progress / searching / completed."""

    type: str
    sequence_number: int
    output_index: int
    item_id: str


StreamEvent = (
    ResponseEvent | ItemEvent | PartEvent | TextDeltaEvent | TextDoneEvent | ArgumentsDeltaEvent
    | ArgumentsDoneEvent | SummaryPartEvent | SummaryDeltaEvent | SummaryDoneEvent | ErrorEvent | WebSearchEvent
    | AnnotationEvent
)


class StoredResponse(Struct, kw_only=True):
    """A stored response (`store: true`) in the `responses` bucket, written by the worker.

    `items` is the whole conversation's input up to this response (the history it
    continued plus its own input), so `previous_response_id` continues from
    `items + response.output` on any provider.
    """

    key_id: str
    response: msgspec.Raw
    items: list[msgspec.Raw] = []


STORED_ENCODER = msgspec.json.Encoder()
STORED_DECODER = msgspec.json.Decoder(StoredResponse)


def _check(raw: msgspec.Raw, where: str, decode: Any) -> Any:
    from gateway.contracts.errors import invalid_request, param_from_validation_error

    try:
        return decode(raw)
    except msgspec.ValidationError as ex:
        text = str(ex)
        inner = param_from_validation_error(text)
        param = f"{where}.{inner}" if inner else where
        raise invalid_request(f"Invalid {where}: {text}", param) from ex


def check_request(body: ResponsesRequest) -> None:
    """400 naming the parameter for what the schema alone cannot say: each input item and
    tool well formed, an input present, and the features this gateway does not serve."""
    from gateway.contracts.errors import invalid_request

    if isinstance(body.input, list):
        for i, raw in enumerate(body.input):
            _check(raw, f"input[{i}]", input_item)
    elif isinstance(body.input, UnsetType) and body.previous_id() is None:
        raise invalid_request("'input' is required.", "input")
    if isinstance(body.tools, list):
        for i, raw in enumerate(body.tools):
            _check(raw, f"tools[{i}]", tool)
    if body.background is True:
        raise invalid_request("'background' responses are not supported by this gateway.", "background")
    if not isinstance(body.conversation, UnsetType) and body.conversation is not None:
        raise invalid_request(
            "'conversation' is not supported by this gateway; use previous_response_id.", "conversation"
        )

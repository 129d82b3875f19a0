"""A Responses request -> the chat request every provider converts from.

Items map to chat messages in order: `instructions` first as a system message; user,
system and developer messages as themselves; assistant messages, the `function_call`s
that follow them and a `reasoning` item before them make one assistant turn; each
`function_call_output` is a tool message. A tool output's images and files (Codex
`view_image`, MCP image results) cannot sit in a chat tool message (OpenAI: "Image URLs
are only allowed for messages with role 'user'"), so its text stays in the tool message
and its other parts follow the run of tool messages as one user message (Claude and
Gemini then read them in the same user turn as the results). Function tools keep their
name and schema; a `namespace` tool's functions are offered flat, and a call of one
comes back with its `namespace` (see `namespaces`). Built-in tools (web_search,
file_search, ...) cannot be converted: a 400 naming the tool (they pass through on
`responses = true` routes). An image's `detail: "original"` is chat's `"high"`.

Per route kind (`to_chat_request`'s `kind`):
- openai: `prompt_cache_key`, `prompt_cache_retention`, `service_tier` and
  `text.verbosity` (as `verbosity`) go on as chat's own fields. Reasoning items are not
  sent back (`reasoning_content` is no chat field; strict servers refuse it).
- anthropic, gemini: those hints have no equivalent and are not sent. Reasoning goes
  back as `reasoning_content`, which those providers never send upstream (Claude's
  thinking returns signed through its call ids).
- every kind: `metadata` is echoed, not sent (chat takes it only with upstream `store`);
  `truncation`, `max_tool_calls`, `top_logprobs` and `reasoning.summary` have no chat
  equivalent and are not sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
from msgspec import UNSET, UnsetType

from gateway.contracts.openai import (
    AnyTool,
    AssistantMessage,
    AssistantPart,
    ChatRequest,
    DeveloperMessage,
    FileRef,
    FilePart,
    FunctionCall,
    FunctionDefinition,
    ImagePart,
    ImageURL,
    JsonObjectFormat,
    JsonSchemaFormat,
    JsonSchemaSpec,
    Message,
    NamedToolChoice,
    RefusalPart,
    ResponseFormat,
    SystemMessage,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceFunction,
    ToolMessage,
    UserMessage,
    UserPart,
)
from gateway.contracts.openai_responses import (
    FUNCTION_CHOICE_DECODER,
    ContentPart,
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    InputFile,
    InputImage,
    InputText,
    MessageItem,
    NamespaceTool,
    OutputText,
    ReasoningItem,
    RefusalContent,
    ResponsesRequest,
    TextFormatJsonObject,
    TextFormatJsonSchema,
    input_item,
    item_type,
    tool,
)
from workers.providers.base import ConversionError

_ENCODER = msgspec.json.Encoder()


@dataclass(slots=True)
class Converted:
    """The chat request and what the answer's conversion needs to know about the tools."""

    chat: ChatRequest
    namespaces: dict[str, str] = field(default_factory=dict)  # function name -> its namespace

    def body(self) -> bytes:
        """The chat request as JSON (what an openai-kind provider forwards)."""
        return _ENCODER.encode(self.chat)


def request_items(req: ResponsesRequest) -> list[msgspec.Raw]:
    """This request's own input as items (a string input is one user message)."""
    if isinstance(req.input, str):
        return [msgspec.Raw(_ENCODER.encode({"type": "message", "role": "user", "content": req.input}))]
    if isinstance(req.input, list):
        return list(req.input)
    return []


def to_chat_request(req: ResponsesRequest, items: list[msgspec.Raw], stream: bool, kind: str) -> Converted:
    """The chat request for `req` whose whole input (history first) is `items`, for a
    provider of `kind` (see the module doc).

    `items[offset:]` is where the caller's own items start, for `param` in errors.
    """
    messages: list[Message] = []
    if isinstance(req.instructions, str) and req.instructions:
        messages.append(SystemMessage(content=req.instructions))
    openai = kind == "openai"
    _Turns(messages, reasoning=not openai).add_all(items, len(items) - len(request_items(req)))
    if not messages:
        raise ConversionError("'input' must hold at least one item (or give instructions).", "input")
    tools, namespaces = _tools(req)
    chat = ChatRequest(
        model=req.model,
        messages=messages,
        stream=True if stream else UNSET,
        temperature=req.temperature,
        top_p=req.top_p,
        max_completion_tokens=req.max_output_tokens,
        tools=tools,
        tool_choice=_tool_choice(req),
        parallel_tool_calls=req.parallel_tool_calls,
        response_format=_format(req),
        reasoning_effort=req.reasoning.effort if req.reasoning and not isinstance(req.reasoning, UnsetType) else UNSET,
        user=req.user,
        safety_identifier=req.safety_identifier,
    )
    if openai:
        verbosity = req.text.verbosity if req.text and not isinstance(req.text, UnsetType) else UNSET
        chat = msgspec.structs.replace(
            chat, prompt_cache_key=req.prompt_cache_key, prompt_cache_retention=req.prompt_cache_retention,
            service_tier=req.service_tier, verbosity=verbosity)
    return Converted(chat, namespaces)


class _Turns:
    """Builds chat messages from items, merging an assistant turn's pieces."""

    def __init__(self, messages: list[Message], reasoning: bool) -> None:
        self._messages = messages
        self._keep_reasoning = reasoning
        self._reasoning: list[str] = []
        self._open: AssistantMessage | None = None  # the assistant turn calls may join
        self._attached: list[UserPart] = []  # tool outputs' images, after the run of tool messages

    def add_all(self, items: list[msgspec.Raw], offset: int) -> None:
        self._add_items(items, offset)
        self._attach()

    def _add_items(self, items: list[msgspec.Raw], offset: int) -> None:
        for i, raw in enumerate(items):
            where = f"input[{i - offset}]" if i >= offset else "previous_response_id"
            try:
                item = input_item(raw)
            except msgspec.ValidationError as ex:
                raise ConversionError(f"Invalid {where}: {ex}", where) from ex
            if item is None:
                raise ConversionError(
                    f"{where} is a '{item_type(raw)}' item, which this model's route cannot take "
                    "(only message, function_call, function_call_output and reasoning items convert).",
                    f"{where}.type",
                )
            self._add(item, where)

    def _add(self, item: MessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem, where: str) -> None:
        if not isinstance(item, FunctionCallOutputItem):
            self._attach()
        match item:
            case ReasoningItem():
                texts = [p.text for p in item.content] if isinstance(item.content, list) and item.content else []
                self._reasoning.extend(texts or [p.text for p in item.summary])
                self._open = None
            case MessageItem(role="assistant"):
                content = _assistant_content(item.content, where)
                self._open = self._assistant(content)
            case MessageItem():
                self._open = None
                self._messages.append(_caller_message(item, where))
            case FunctionCallItem():
                call = ToolCall(id=item.call_id, function=FunctionCall(item.name, item.arguments))
                turn = self._open or self._assistant(None)
                calls = turn.tool_calls if isinstance(turn.tool_calls, list) else []
                turn.tool_calls = [*calls, call]
                self._open = turn
            case FunctionCallOutputItem():
                self._open = None
                text, attached = _tool_output(item.output, where)
                self._messages.append(ToolMessage(content=text, tool_call_id=item.call_id))
                self._attached += attached

    def _attach(self) -> None:
        """The images and files of the tool outputs just added, as one user message."""
        if self._attached:
            self._messages.append(UserMessage(content=self._attached))
            self._attached = []

    def _assistant(self, content: str | list[AssistantPart] | None) -> AssistantMessage:
        message = AssistantMessage(content=content)
        if self._reasoning and self._keep_reasoning:
            message.reasoning_content = "\n\n".join(self._reasoning)
        self._reasoning = []
        self._messages.append(message)
        return message


def _assistant_content(content: str | list[ContentPart], where: str) -> str | list[AssistantPart]:
    if isinstance(content, str):
        return content
    parts: list[AssistantPart] = []
    for j, part in enumerate(content):
        match part:
            case OutputText(text=text) | InputText(text=text):
                parts.append(TextPart(text=text))
            case RefusalContent(refusal=refusal):
                parts.append(RefusalPart(refusal=refusal))
            case _:
                raise ConversionError(f"An assistant message cannot hold '{type(part).__name__}'.",
                                      f"{where}.content[{j}]")
    return parts


def _caller_message(item: MessageItem, where: str) -> Message:
    if item.role == "user":
        return UserMessage(content=item.content if isinstance(item.content, str) else
                           [_user_part(p, f"{where}.content[{j}]") for j, p in enumerate(item.content)])
    text: str | list[TextPart] = item.content if isinstance(item.content, str) else [
        _text_part(p, f"{where}.content[{j}]") for j, p in enumerate(item.content)
    ]
    return SystemMessage(content=text) if item.role == "system" else DeveloperMessage(content=text)


def _text_part(part: ContentPart, where: str) -> TextPart:
    if isinstance(part, InputText | OutputText):
        return TextPart(text=part.text)
    raise ConversionError("Only text parts are allowed here.", where)


def _user_part(part: ContentPart, where: str) -> UserPart:
    match part:
        case InputText(text=text) | OutputText(text=text):
            return TextPart(text=text)
        case InputImage(image_url=str(url)):
            # NOTE: chat has no "original" detail; "high" is its full-resolution level.
            detail = "high" if part.detail == "original" else part.detail
            return ImagePart(ImageURL(url=url, detail=UNSET if detail is None else detail))
        case InputImage():
            raise ConversionError("An input_image needs an image_url (an https or data URL) on this route.",
                                  f"{where}.image_url")
        case InputFile(file_url=str()):
            raise ConversionError("input_file by file_url is not supported; send file_data.", f"{where}.file_url")
        case InputFile():
            file_id = part.file_id if isinstance(part.file_id, str) else UNSET
            return FilePart(FileRef(file_data=part.file_data, file_id=file_id, filename=part.filename))
        case RefusalContent():
            raise ConversionError("A refusal part belongs to an assistant message.", where)
    raise ConversionError("Unsupported content part.", where)  # pragma: no cover - exhaustive above


def _tool_output(output: str | list[ContentPart], where: str) -> tuple[str | list[TextPart], list[UserPart]]:
    """A tool output's text for the tool message, and its other parts (images, files)."""
    if isinstance(output, str):
        return output, []
    texts: list[TextPart] = []
    attached: list[UserPart] = []
    for j, part in enumerate(output):
        converted = _user_part(part, f"{where}.output[{j}]")
        if isinstance(converted, TextPart):
            texts.append(converted)
        else:
            attached.append(converted)
    return (texts if texts or not attached else ""), attached


def _function(spec: FunctionTool) -> Tool:
    return Tool(FunctionDefinition(
        name=spec.name,
        description=spec.description if isinstance(spec.description, str) else UNSET,
        parameters=spec.parameters if isinstance(spec.parameters, dict) else UNSET,
        strict=spec.strict,
    ))


def _tools(req: ResponsesRequest) -> tuple[list[AnyTool] | UnsetType, dict[str, str]]:
    if not isinstance(req.tools, list):
        return UNSET, {}
    tools: list[AnyTool] = []
    namespaces: dict[str, str] = {}
    for i, raw in enumerate(req.tools):
        spec = tool(raw)
        match spec:
            case FunctionTool():
                tools.append(_function(spec))
            case NamespaceTool():
                for inner in spec.tools:
                    tools.append(_function(inner))
                    namespaces[inner.name] = spec.name
            case None:
                raise ConversionError(
                    f"tools[{i}] is the built-in tool '{item_type(raw)}', which only OpenAI upstreams "
                    "serving /responses (a provider with `responses = true`) run; this model's route "
                    "takes function tools.",
                    f"tools[{i}]",
                    "unsupported_tool",
                )
    return (tools or UNSET), namespaces


def _tool_choice(req: ResponsesRequest) -> ToolChoice | None | UnsetType:
    choice = req.tool_choice
    if isinstance(choice, dict):
        try:
            named = FUNCTION_CHOICE_DECODER.decode(_ENCODER.encode(choice))
        except msgspec.ValidationError as ex:
            raise ConversionError(
                f"tool_choice can be 'none', 'auto', 'required' or a function on this route: {ex}", "tool_choice"
            ) from ex
        return NamedToolChoice(ToolChoiceFunction(named.name))
    return choice


def _format(req: ResponsesRequest) -> ResponseFormat | UnsetType:
    text = req.text
    if text is None or isinstance(text, UnsetType):
        return UNSET
    match text.format:
        case TextFormatJsonSchema():
            spec = text.format
            return JsonSchemaFormat(JsonSchemaSpec(
                name=spec.name, schema=spec.schema, strict=spec.strict,
                description=spec.description if isinstance(spec.description, str) else UNSET,
            ))
        case TextFormatJsonObject():
            return JsonObjectFormat()
    return UNSET

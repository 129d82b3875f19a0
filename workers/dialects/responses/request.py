"""A Responses request -> the chat request every provider converts from.

Items map to chat messages in order: `instructions` first as a system message; user,
system and developer messages as themselves; assistant messages, the `function_call`s
that follow them and a `reasoning` item before them make one assistant turn (reasoning
as `reasoning_content`, which the Claude provider signs back through the call ids);
each `function_call_output` is a tool message. Function tools keep their name and
schema; a `namespace` tool's functions are offered flat, and a call of one comes back
with its `namespace` (see `namespaces`). Built-in tools (web_search, file_search, ...)
cannot be converted: a 400 naming the tool (they pass through on `responses = true`
routes). `text.verbosity` and `reasoning.summary` have no chat equivalent and are not sent;
an image's `detail: "original"` is chat's `"high"` (its full-resolution level).
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


def to_chat_request(req: ResponsesRequest, items: list[msgspec.Raw], stream: bool) -> Converted:
    """The chat request for `req` whose whole input (history first) is `items`.

    `items[offset:]` is where the caller's own items start, for `param` in errors.
    """
    messages: list[Message] = []
    if isinstance(req.instructions, str) and req.instructions:
        messages.append(SystemMessage(content=req.instructions))
    _Turns(messages).add_all(items, len(items) - len(request_items(req)))
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
    return Converted(chat, namespaces)


class _Turns:
    """Builds chat messages from items, merging an assistant turn's pieces."""

    def __init__(self, messages: list[Message]) -> None:
        self._messages = messages
        self._reasoning: list[str] = []
        self._open: AssistantMessage | None = None  # the assistant turn calls may join

    def add_all(self, items: list[msgspec.Raw], offset: int) -> None:
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
                self._messages.append(ToolMessage(content=_tool_output(item.output, where), tool_call_id=item.call_id))

    def _assistant(self, content: str | list[AssistantPart] | None) -> AssistantMessage:
        message = AssistantMessage(content=content)
        if self._reasoning:
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


def _tool_output(output: str | list[ContentPart], where: str) -> str | list[TextPart]:
    if isinstance(output, str):
        return output
    return [_text_part(p, f"{where}.output[{j}]") for j, p in enumerate(output)]


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

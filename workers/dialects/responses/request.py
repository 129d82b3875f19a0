"""A Responses request -> the chat request every provider converts from.

Items map to chat messages in order: `instructions` first as a system message; user,
system and developer messages as themselves; assistant messages, the `function_call`s
that follow them and a `reasoning` item before them make one assistant turn; each
`function_call_output` is a tool message. A tool output's images and files (Codex
`view_image`, MCP image results) stay in it for Claude (blocks of its `tool_result`) and
Gemini (parts after its `functionResponse`); an OpenAI-kind tool message takes text only
("Image URLs are only allowed for messages with role 'user'"), so there its text stays
and its other parts follow the run of tool messages as one user message. Function tools keep their
name and schema; a `namespace` tool's functions are offered flat, and a call of one
comes back with its `namespace` (see `namespaces`). Built-in tools (web_search,
file_search, ...) cannot be converted: a 400 naming the tool (they pass through on
`responses = true` routes), except web search, which Codex sends by default: chat's
`web_search_options` where the upstream searches itself, else left out by the drop
policy (web_search.py). Earlier `web_search_call` items in the input are not sent (the
search happened; the answer after it carries what it found). Content parts convert in parts.py. Where each chat message
and tool came from is kept (`Converted.places`, params.py) so a 400 names the caller's field.

Per route kind (`to_chat_request`'s `kind`):
- openai: `prompt_cache_key`, `prompt_cache_retention`, `service_tier`,
  `text.verbosity` (as `verbosity`) and `top_logprobs` go on as chat's own fields (with
  `logprobs: true` for `top_logprobs` or `include: ["message.output_text.logprobs"]`;
  the answer's logprobs come back on its output text). Reasoning items are not
  sent back (`reasoning_content` is no chat field; strict servers refuse it). Call ids
  over OpenAI's 40 characters (other providers' packed ids) become a digest (call_ids.py).
- anthropic, gemini: those hints have no equivalent and are not sent. Reasoning goes
  back as `reasoning_content`, which those providers never send upstream (Claude's
  thinking returns signed through its call ids).
- every kind: `metadata` is echoed, not sent (chat takes it only with upstream `store`);
  `truncation`, `max_tool_calls` and `reasoning.summary` have no chat equivalent and are
  not sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import msgspec
from msgspec import UNSET, UnsetType

from gateway.contracts.openai import (
    AnyTool,
    AssistantMessage,
    AssistantPart,
    ChatRequest,
    FunctionCall,
    FunctionDefinition,
    JsonObjectFormat,
    JsonSchemaFormat,
    JsonSchemaSpec,
    Message,
    NamedToolChoice,
    ResponseFormat,
    SystemMessage,
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
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    MessageItem,
    NamespaceTool,
    ReasoningItem,
    ResponsesRequest,
    TextFormatJsonObject,
    TextFormatJsonSchema,
    input_item,
    item_type,
    tool,
)
from workers.dialects.call_ids import CHAT_MAX, fitted
from workers.dialects.responses.params import Places
from workers.dialects.responses.parts import assistant_content, caller_message, tool_output
from workers.dialects.responses.web_search import built_in_refusal, is_web_search, searched
from workers.providers.base import ConversionError

_ENCODER = msgspec.json.Encoder()


@dataclass(slots=True)
class Converted:
    """The chat request and what the answer's conversion needs to know about the tools."""

    chat: ChatRequest
    namespaces: dict[str, str] = field(default_factory=dict)  # function name -> its namespace
    places: Places = field(default_factory=Places)  # for errors: chat names -> the caller's fields
    dropped: list[str] = field(default_factory=list)  # caller fields left out (x-gateway-dropped-params)

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


def to_chat_request(req: ResponsesRequest, items: list[msgspec.Raw], stream: bool, kind: str,
                    drop: bool = True) -> Converted:
    """The chat request for `req` whose whole input (history first) is `items`, for a
    provider of `kind` (see the module doc); `drop` is the model's `drop_params` rule.

    `items[offset:]` is where the caller's own items start, for `param` in errors.
    """
    messages: list[Message] = []
    places = Places()
    if isinstance(req.instructions, str) and req.instructions:
        messages.append(SystemMessage(content=req.instructions))
        places.message("instructions")
    openai = kind == "openai"
    turns = _Turns(messages, places, openai)
    turns.add_all(items, len(items) - len(request_items(req)))
    if not messages:
        raise ConversionError("'input' must hold at least one item (or give instructions).", "input")
    tools, namespaces, web = _tools(req, places)
    search, dropped = searched(web, kind, bool(tools), drop)
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
        web_search_options={} if search else UNSET,
    )
    if openai:
        verbosity = req.text.verbosity if req.text and not isinstance(req.text, UnsetType) else UNSET
        chat = msgspec.structs.replace(
            chat, prompt_cache_key=req.prompt_cache_key, prompt_cache_retention=req.prompt_cache_retention,
            service_tier=req.service_tier, verbosity=verbosity, top_logprobs=req.top_logprobs,
            logprobs=True if req.wants_logprobs() else UNSET)
    return Converted(chat, namespaces, places, dropped)


class _Turns:
    """Builds chat messages from items, merging an assistant turn's pieces."""

    def __init__(self, messages: list[Message], places: Places, openai: bool) -> None:
        self._messages = messages
        self._places = places
        self._split = openai  # a tool output's images follow its tool message as a user message
        self._id: Callable[[str], str] = partial(fitted, limit=CHAT_MAX) if openai else str
        self._keep_reasoning = not openai
        self._reasoning: list[str] = []
        self._open: AssistantMessage | None = None  # the assistant turn calls may join
        self._attached: list[tuple[UserPart, str]] = []  # tool outputs' images (and where), after the tool messages

    def add_all(self, items: list[msgspec.Raw], offset: int) -> None:
        self._add_items(items, offset)
        self._attach()

    def _add_items(self, items: list[msgspec.Raw], offset: int) -> None:
        for i, raw in enumerate(items):
            where = f"input[{i - offset}]" if i >= offset else "previous_response_id"
            if item_type(raw) == "web_search_call":
                continue  # see the module doc
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
                content = assistant_content(item.content, where)
                self._open = self._assistant(content, where)
            case MessageItem():
                self._open = None
                self._push(caller_message(item, where), where)
            case FunctionCallItem():
                call = ToolCall(id=self._id(item.call_id), function=FunctionCall(item.name, item.arguments))
                turn = self._open or self._assistant(None, where)
                calls = turn.tool_calls if isinstance(turn.tool_calls, list) else []
                turn.tool_calls = [*calls, call]
                self._places.call(where)
                self._open = turn
            case FunctionCallOutputItem():
                self._open = None
                text, attached = tool_output(item.output, where, split=self._split)
                self._push(ToolMessage(content=text, tool_call_id=self._id(item.call_id)), where, tool_output=True)
                self._attached += attached

    def _push(self, message: Message, where: str, tool_output: bool = False) -> None:
        self._messages.append(message)
        self._places.message(where, tool_output)

    def _attach(self) -> None:
        """The images and files of the tool outputs just added, as one user message."""
        if self._attached:
            self._messages.append(UserMessage(content=[part for part, _ in self._attached]))
            self._places.attached([where for _, where in self._attached])
            self._attached = []

    def _assistant(self, content: str | list[AssistantPart] | None, where: str) -> AssistantMessage:
        message = AssistantMessage(content=content)
        if self._reasoning and self._keep_reasoning:
            message.reasoning_content = "\n\n".join(self._reasoning)
        self._reasoning = []
        self._push(message, where)
        return message


def _function(spec: FunctionTool) -> Tool:
    return Tool(FunctionDefinition(
        name=spec.name,
        description=spec.description if isinstance(spec.description, str) else UNSET,
        parameters=spec.parameters if isinstance(spec.parameters, dict) else UNSET,
        strict=spec.strict,
    ))


def _tools(req: ResponsesRequest, places: Places) -> tuple[list[AnyTool] | UnsetType, dict[str, str], list[tuple[int, str]]]:
    """The function tools, the namespaces of their names, and the web search tools ((index, type))."""
    if not isinstance(req.tools, list):
        return UNSET, {}, []
    tools: list[AnyTool] = []
    namespaces: dict[str, str] = {}
    web: list[tuple[int, str]] = []
    for i, raw in enumerate(req.tools):
        spec = tool(raw)
        match spec:
            case FunctionTool():
                tools.append(_function(spec))
                places.tools.append(f"tools[{i}]")
            case NamespaceTool():
                for u, inner in enumerate(spec.tools):
                    tools.append(_function(inner))
                    places.tools.append(f"tools[{i}].tools[{u}]")
                    namespaces[inner.name] = spec.name
            case None if is_web_search(item_type(raw)):
                web.append((i, item_type(raw)))
            case None:
                raise built_in_refusal(i, item_type(raw))
    return (tools or UNSET), namespaces, web


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

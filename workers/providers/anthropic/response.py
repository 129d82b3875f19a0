"""Anthropic Message -> OpenAI ChatCompletion with one choice (pure).

Content blocks (https://docs.claude.com/en/api/messages, response `content`):
- `text` blocks, in order, joined into `message.content` (null when the reply is only
  tool calls);
- `tool_use` -> `tool_calls[k]` with Anthropic's id (plus the thinking before it, see
  tools.py) and `arguments` = the input as JSON; the JSON-mode tool's input is the content;
- `thinking` text -> `message.reasoning_content`, never `content`; `redacted_thinking`
  only travels in tool-call ids; a web search (`server_tool_use` + `web_search_tool_result`)
  -> one of `message.web_searches` (web_search.py); other server tools are skipped.
The choice index, id, created and model come from the ReplyContext (n > 1 fans out).
"""

from __future__ import annotations

from typing import assert_never

import msgspec
from msgspec import UNSET

from gateway.contracts.openai import (
    ChatCompletion,
    Choice,
    FunctionCall,
    ResponseMessage,
    ToolCall,
    UrlCitationAnnotation,
    WebSearch,
)
from workers.providers.anthropic.errors import malformed
from workers.providers.anthropic.finish import to_openai_finish_reason
from workers.providers.anthropic.schema import (
    ENCODER,
    MESSAGE_DECODER,
    Message,
    RedactedThinkingBlock,
    ReplyBlock,
    TextBlock,
    ThinkingBlock,
    ThinkingPart,
    ToolUseBlock,
    decode_block,
)
from workers.providers.anthropic.tools import JSON_TOOL_NAME, encode_call_id
from workers.providers.anthropic.usage import to_openai_usage
from workers.providers.anthropic.web_search import (
    ServerToolUseBlock,
    WebSearchToolResultBlock,
    query_of,
    to_web_search,
    url_citations,
)
from workers.providers.base import ChatResult, ReplyContext


def decode_message(body: bytes) -> tuple[Message, list[ReplyBlock]]:
    """The reply and its content blocks we convert; 502 if the body is not a Message."""
    try:
        message = MESSAGE_DECODER.decode(body)
        blocks = [decode_block(raw) for raw in message.content]
    except (msgspec.DecodeError, msgspec.ValidationError) as ex:
        raise malformed(f"a malformed message: {ex}") from ex
    return message, [b for b in blocks if b is not None]


def to_response_message(blocks: list[ReplyBlock]) -> ResponseMessage:
    """The assistant message of one reply's content blocks."""
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[ThinkingPart] = []
    queries: dict[str, str] = {}  # server tool call id -> its query
    searches: list[WebSearch] = []
    cited: list[UrlCitationAnnotation] = []
    for block in blocks:
        match block:
            case TextBlock():
                start = sum(len(t) for t in texts)
                cited += url_citations(block.citations, start, start + len(block.text))
                texts.append(block.text)
            case ThinkingBlock():
                reasoning.append(block.thinking)
                thinking.append(block)
            case RedactedThinkingBlock():
                thinking.append(block)
            case ToolUseBlock():
                arguments = ENCODER.encode(block.input).decode()
                if block.name == JSON_TOOL_NAME:
                    texts.append(arguments)
                    continue
                call_id = encode_call_id(block.id, thinking)
                calls.append(ToolCall(call_id, FunctionCall(block.name, arguments)))
                thinking = []
            case ServerToolUseBlock():
                queries[block.id] = query_of(block.input)
            case WebSearchToolResultBlock():
                searches.append(to_web_search(block, queries.get(block.tool_use_id, "")))
            case _:
                assert_never(block)
    text = "".join(texts)
    return ResponseMessage(
        content=None if calls and not text else text,
        tool_calls=calls or UNSET,
        reasoning_content="".join(reasoning) or UNSET,
        web_searches=searches or UNSET,
        annotations=cited or UNSET,
    )


def to_chat_result(body: bytes, ctx: ReplyContext) -> ChatResult:
    """The ChatCompletion (one choice at `ctx.choice_index`) and usage of a reply body."""
    message, blocks = decode_message(body)
    reply = to_response_message(blocks)
    finish = to_openai_finish_reason(message.stop_reason, reply.tool_calls is not UNSET)
    usage = to_openai_usage(message.usage)
    completion = ChatCompletion(
        id=ctx.completion_id,
        created=ctx.created,
        model=ctx.model,
        choices=[Choice(index=ctx.choice_index, message=reply, finish_reason=finish)],
        usage=usage,
    )
    return ChatResult(body=completion, usage=usage)

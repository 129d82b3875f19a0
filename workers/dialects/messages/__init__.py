"""The `messages` dialect: Anthropic's Messages API (`/v1/messages`) in, any provider out.

`request.py` converts a Messages request to the chat shape, `response.py` and
`stream.py` convert chat output back (whole Message, or the event sequence), and
`passthrough.py` forwards a request unchanged to an anthropic-kind upstream (and its
`count_tokens`). What each Messages parameter becomes is in docs/compat-anthropic.md.
"""

from __future__ import annotations

import functools

import msgspec
from msgspec import UNSET

from gateway.contracts.anthropic_messages import (
    COUNT_TOKENS_DECODER,
    MESSAGES_REQUEST_DECODER,
    CountTokensRequest,
    CountTokensResponse,
    MessagesRequest,
)
from gateway.contracts.bus import Job
from gateway.contracts.errors import from_validation_error
from gateway.contracts.openai import AssistantMessage, ChatRequest, Tool, ToolMessage
from gateway.runtime.estimate import tokens_from_chars
from workers.dialects import Converted, Direct
from workers.dialects.messages.params import caller_param
from workers.dialects.call_ids import CHAT_MAX, fitted
from workers.dialects.messages.passthrough import MessagesPassThrough, upstream_request
from workers.dialects.messages.request import to_chat_messages, to_chat_request, to_chat_tools
from workers.dialects.messages.response import message_id
from workers.dialects.messages.stream import MessagesOutput
from workers.job import Route
from workers.providers.base import Target, UpstreamRequest
from workers.providers.token_estimate import estimate_chat_prompt, estimate_text_tokens

NATIVE_KIND = "anthropic"


def for_openai(chat: ChatRequest) -> ChatRequest:
    """`chat` for an OpenAI-kind upstream: without the thinking of earlier turns, and with
    tool-call ids it takes.

    NOTE: `reasoning_content` is no Chat Completions field and strict OpenAI-compatible
    servers refuse it (audit 2026-12-03, finding 7); only Claude takes thinking back, and
    it is passed through there. Ids another provider packed (a Gemini signature) may be
    longer than OpenAI's 40 characters (workers/dialects/call_ids.py).
    """
    for message in chat.messages:
        if isinstance(message, AssistantMessage):
            message.reasoning_content = UNSET
            for call in message.tool_calls if isinstance(message.tool_calls, list) else []:
                call.id = fitted(call.id, CHAT_MAX)
        elif isinstance(message, ToolMessage):
            message.tool_call_id = fitted(message.tool_call_id, CHAT_MAX)
    return chat


_CHAT_ENCODER = msgspec.json.Encoder()


def _decode(job: Job) -> MessagesRequest:
    """The Messages body, as far as conversion reads it (a 400 naming the field if not)."""
    try:
        return MESSAGES_REQUEST_DECODER.decode(job.body)
    except msgspec.ValidationError as ex:
        raise from_validation_error(ex) from ex


class MessagesDialect:
    """Conversion rules of the Anthropic Messages dialect."""

    async def prepare(self, job: Job, route: Route, target: Target, created: int) -> Direct | Converted:
        """As sent to an anthropic-kind upstream; converted to chat for every other kind."""
        direct = self.pass_through(route.config.kind, job, target)
        if direct is not None:
            return direct
        req = _decode(job)
        chat = msgspec.structs.replace(to_chat_request(req), model=job.model)
        if route.config.kind == "openai":
            chat = for_openai(chat)
        output = MessagesOutput(message_id(job.request_id), job.model, functools.partial(caller_param, req=req))
        return Converted(chat, _CHAT_ENCODER.encode(chat), output)

    def pass_through(self, kind: str, job: Job, target: Target) -> Direct | None:
        """Forward as sent to an anthropic-kind upstream."""
        if kind != NATIVE_KIND:
            return None
        request = upstream_request(job, target, "/v1/messages", job.stream)
        # Billed only if the upstream reports nothing: the body's size.
        return Direct(request, MessagesPassThrough(job.model), tokens_from_chars(len(job.body)))

    def to_chat(self, job: Job, target: Target) -> ChatRequest:
        """The Messages body as a chat request (model: the public id)."""
        return msgspec.structs.replace(to_chat_request(_decode(job)), model=job.model)

    def count_tokens(self, kind: str, job: Job, target: Target) -> UpstreamRequest | None:
        """Anthropic's own `count_tokens` on an anthropic-kind upstream."""
        if kind != NATIVE_KIND:
            return None
        return upstream_request(job, target, "/v1/messages/count_tokens", False)

    def estimate_tokens(self, job: Job, target: Target) -> CountTokensResponse:
        """About four characters a token over the system, turns and tool definitions."""
        try:
            req: CountTokensRequest = COUNT_TOKENS_DECODER.decode(job.body)
        except msgspec.ValidationError as ex:
            raise from_validation_error(ex) from ex
        chat = ChatRequest(model=job.model, messages=to_chat_messages(req))
        count = estimate_chat_prompt(chat)
        tools = to_chat_tools(req.tools)
        for tool in tools if isinstance(tools, list) else []:
            if isinstance(tool, Tool):
                count += estimate_text_tokens(msgspec.json.encode(tool.function).decode())
        return CountTokensResponse(input_tokens=max(1, count))


DIALECT = MessagesDialect()

__all__ = ["DIALECT", "MessagesDialect"]

"""OpenAI ChatRequest -> Anthropic Messages request (pure; `docs/compat-anthropic.md` is the table).

Parameters Claude cannot honour are refused with a 400 naming them, never dropped or
clamped, except where the model's parameter rules say so (`top_p` beside `temperature`,
gateway/contracts/model_rules.py). Messages are converted by `messages.py`, tools and JSON
mode by `tools.py`. `max_tokens` is the caller's `max_completion_tokens` (or `max_tokens`; capped at the
model's configured `max_output_tokens` when converted from another dialect), else that maximum;
`reasoning_effort` becomes thinking as `thinking.py` says.
"""

from __future__ import annotations

import hashlib

from msgspec import UNSET, UnsetType

from gateway.contracts.errors import upstream_config_error
from gateway.contracts.openai import ChatRequest
from workers.providers.anthropic.cache import check_breakpoints, with_auto_breakpoints
from workers.providers.anthropic.messages import Conversation, to_conversation
from workers.providers.anthropic.schema import (
    ENCODER,
    MessagesRequest,
    RequestMetadata,
    ToolChoiceNone,
    ToolChoiceTool,
    ToolSpec,
)
from workers.providers.anthropic.thinking import to_thinking
from workers.providers.anthropic.tools import (
    json_mode_tool,
    stand_in_tools,
    to_tool_choice,
    to_tool_specs,
)
from workers.providers.anthropic.web_search import WebSearchTool, wants_search
from workers.providers.base import ConversionError, Target, UpstreamError, UpstreamRequest
from workers.providers.openai_only import function_tools
from workers.providers.param_rules import capped, top_p_left_out

ANTHROPIC_VERSION = "2023-06-01"
MAX_TEMPERATURE = 1.0
# Anthropic's limit on metadata.user_id (maxLength in its OpenAPI spec).
MAX_USER_ID = 256


def _refuse(param: str, why: str) -> ConversionError:
    return ConversionError(f"'{param}' is not supported by Claude models: {why}", param)


def _check_unsupported(req: ChatRequest) -> None:
    """400 for parameters Claude has no equivalent of, when set to a value that matters."""
    if req.logprobs is True:
        raise _refuse("logprobs", "Claude does not return token log probabilities.")
    if req.top_logprobs not in (UNSET, None):
        raise _refuse("top_logprobs", "Claude does not return token log probabilities.")
    if req.logit_bias not in (UNSET, None) and req.logit_bias:
        raise _refuse("logit_bias", "Claude has no token biasing.")
    for name in ("presence_penalty", "frequency_penalty"):
        value = getattr(req, name)
        if value not in (UNSET, None) and value != 0:
            raise _refuse(name, "Claude has no repetition penalties; send 0 or omit it.")
    if req.seed not in (UNSET, None):
        raise _refuse("seed", "Claude has no seeded sampling; omit it.")


def _max_tokens(req: ChatRequest, target: Target) -> int:
    limit, cap = capped(req.output_limit(), target), target.options.max_output_tokens
    if limit is not None:
        return limit
    if cap is None:
        raise UpstreamError.of(upstream_config_error(
            f"The model '{target.public_model}' is misconfigured: Anthropic requires "
            "max_tokens and the model entry sets no max_output_tokens."))
    return cap


def _stop_sequences(req: ChatRequest) -> list[str] | UnsetType:
    stop = req.stop
    if stop in (UNSET, None):
        return UNSET
    sequences = [stop] if isinstance(stop, str) else list(stop)
    for i, seq in enumerate(sequences):
        if not seq.strip():
            param = "stop" if isinstance(stop, str) else f"stop[{i}]"
            raise ConversionError(
                f"'{param}' is {seq!r}: Claude models accept only stop sequences that contain "
                "a non-whitespace character.",
                param,
            )
    return sequences or UNSET


def _temperature(req: ChatRequest) -> float | UnsetType:
    value = req.temperature
    if value in (UNSET, None):
        return UNSET
    assert isinstance(value, float | int)
    if value > MAX_TEMPERATURE:
        raise ConversionError(
            f"'temperature' is {value}: Claude models accept 0 to {MAX_TEMPERATURE:g} "
            "(the gateway does not clamp it).",
            "temperature",
        )
    return float(value)


def _metadata(req: ChatRequest) -> RequestMetadata | UnsetType:
    """`metadata.user_id` from `safety_identifier` (preferred: OpenAI's newer field) or `user`.

    An id longer than Anthropic's 256 characters is sent as `sha256:<hex>` of it: stable,
    so the same end user keeps one id upstream, and opaque, as Anthropic asks.
    """
    for value in (req.safety_identifier, req.user):
        if isinstance(value, str) and value:
            if len(value) > MAX_USER_ID:
                value = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
            return RequestMetadata(user_id=value)
    return UNSET


def top_p_dropped(req: ChatRequest, target: Target) -> bool:
    """Whether `top_p` is left out beside `temperature` (`param_rules.top_p_left_out`).

    Newer Claude models (Sonnet 4.5+, Opus 4.1+) refuse the pair ("cannot both be
    specified"), and chat UIs send both by default; temperature is the one every Claude
    model takes (docs/compat-anthropic.md).
    """
    temperature = req.temperature if isinstance(req.temperature, float | int) else None
    return top_p_left_out(temperature, req.top_p if isinstance(req.top_p, float | int) else None, target)


def _top_p(req: ChatRequest, target: Target) -> float | UnsetType:
    """`top_p`, unless it is left out (`top_p_dropped`)."""
    value = req.top_p
    if not isinstance(value, float | int) or top_p_dropped(req, target):
        return UNSET
    return float(value)


def to_messages_request(req: ChatRequest, target: Target, stream: bool) -> MessagesRequest:
    """The Messages API request for `req`; raises ConversionError (400) or UpstreamError."""
    _check_unsupported(req)
    check_breakpoints(req)
    max_tokens = _max_tokens(req, target)
    thinking, output_config = to_thinking(req, target, max_tokens)
    tools = to_tool_specs(function_tools(req.tools, "Claude"))
    names = [t.name for t in tools]
    tool_choice = to_tool_choice(req, names, thinking is not None)
    json_tool = json_mode_tool(req, bool(tools), thinking is not None)
    if json_tool is not None:
        tools = [json_tool]
        tool_choice = ToolChoiceTool(name=json_tool.name)
    conv: Conversation = to_conversation(req.messages, keep_thinking=thinking is not None)
    if thinking is not None and not conv.thinking_allowed:
        # NOTE: a tool loop started without thinking cannot switch it on mid-turn
        # (Anthropic needs the turn to start with a thinking block): it resumes at the
        # next user turn. Documented in docs/compat-anthropic.md.
        thinking, output_config = None, UNSET
    if thinking is not None and conv.messages[-1].role == "assistant":
        # Anthropic's docs: prefilling is not supported with extended thinking.
        raise ConversionError(
            "'reasoning_effort' cannot be combined with a conversation whose last message is "
            "from the assistant (a prefilled answer) on Claude models: Claude does not continue "
            "a prefill while thinking. Omit reasoning_effort (or send 'none'), or end with a "
            "user message.",
            "reasoning_effort",
        )
    if conv.tool_names and not tools:
        tools = stand_in_tools(conv.tool_names)
        tool_choice = ToolChoiceNone()
    # The server tool goes first: the auto cache breakpoint marks the last tool (cache.py).
    offered: list[ToolSpec | WebSearchTool] = [*([WebSearchTool()] if wants_search(req) else []), *tools]
    request = MessagesRequest(
        model=target.upstream_model,
        max_tokens=max_tokens,
        messages=conv.messages,
        system=conv.system or UNSET,
        temperature=_temperature(req),
        top_p=_top_p(req, target),
        stop_sequences=_stop_sequences(req),
        metadata=_metadata(req),
        tools=offered or UNSET,
        tool_choice=tool_choice,
        thinking=thinking or UNSET,
        output_config=output_config,
        stream=True if stream else UNSET,
    )
    return with_auto_breakpoints(request) if target.options.prompt_cache == "auto" else request


def to_upstream_request(req: ChatRequest, target: Target, stream: bool) -> UpstreamRequest:
    """The HTTP request: `<base_url>/v1/messages` with Anthropic's headers."""
    body = ENCODER.encode(to_messages_request(req, target, stream))
    headers = {
        "anthropic-version": ANTHROPIC_VERSION,
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
    }
    if target.api_key:
        headers["x-api-key"] = target.api_key
    url = f"{target.base_url.rstrip('/')}/v1/messages"
    return UpstreamRequest(url=url, headers=headers, body=body, stream=stream,
                           dropped=("top_p",) if top_p_dropped(req, target) else ())

"""ChatRequest -> Messages request: parameters (PITFALLS 2, 6, 8, 15) and the HTTP request."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from gateway.contracts.openai import CHAT_REQUEST_DECODER
from workers.providers.anthropic.request import to_messages_request, to_upstream_request
from workers.providers.anthropic.schema import ENCODER, ThinkingBlock
from workers.providers.anthropic.tools import encode_call_id
from gateway.contracts.config import ModelOptions
from gateway.contracts.model_rules import ParamRules, family_rules
from workers.providers.base import ConversionError, Target, UpstreamError

TARGET = Target(
    base_url="https://api.anthropic.com/",
    api_key="sk-ant-test",
    upstream_model="claude-sonnet-4-5-20250929",
    public_model="claude-sonnet",
    options=ModelOptions(max_output_tokens=8192, rules=family_rules("claude-sonnet-4-5-20250929")),
)
HELLO = [{"role": "user", "content": "Hello"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def _wire(target: Target = TARGET, stream: bool = False, **fields: Any) -> dict[str, Any]:
    body = {"model": "claude-sonnet", "messages": HELLO, **fields}
    req = CHAT_REQUEST_DECODER.decode(json.dumps(body).encode())
    return json.loads(ENCODER.encode(to_messages_request(req, target, stream)))


def _error(**fields: Any) -> ConversionError:
    with pytest.raises(ConversionError) as info:
        _wire(**fields)
    assert info.value.status == 400
    assert info.value.error.type == "invalid_request_error"
    return info.value


def test_minimal_request_sends_model_max_tokens_and_messages_only() -> None:
    assert _wire() == {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 8192,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
    }


def test_upstream_request_has_anthropic_url_headers_and_stream_flag() -> None:
    req = CHAT_REQUEST_DECODER.decode(b'{"model":"claude-sonnet","messages":[{"role":"user","content":"Hi"}],"stream":true}')
    up = to_upstream_request(req, TARGET, stream=True)
    assert up.url == "https://api.anthropic.com/v1/messages"
    assert dict(up.headers) == {
        "x-api-key": "sk-ant-test",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "accept": "text/event-stream",
    }
    assert up.stream is True
    assert json.loads(up.body)["stream"] is True


# ---------------------------------------------------------------- max_tokens (PITFALLS 8)


def test_missing_max_tokens_uses_the_models_configured_maximum() -> None:
    assert _wire()["max_tokens"] == 8192


@pytest.mark.parametrize(
    ("fields", "expected"),
    [({"max_tokens": 300}, 300), ({"max_completion_tokens": 500}, 500), ({"max_tokens": 300, "max_completion_tokens": 500}, 500)],
)
def test_max_completion_tokens_is_an_alias_and_wins(fields: dict[str, Any], expected: int) -> None:
    assert _wire(**fields)["max_tokens"] == expected


def test_model_without_configured_maximum_is_a_502_config_error() -> None:
    target = Target(TARGET.base_url, TARGET.api_key, TARGET.upstream_model, "claude-sonnet", ModelOptions())
    with pytest.raises(UpstreamError) as info:
        _wire(target=target)
    assert info.value.status == 502
    assert info.value.error.code == "upstream_config_error"
    assert "max_output_tokens" in info.value.error.message


# ---------------------------------------------------------------- sampling parameters


def test_temperature_up_to_one_and_top_p_pass_through_alone() -> None:
    assert _wire(temperature=1)["temperature"] == 1.0
    assert _wire(top_p=0.9)["top_p"] == 0.9
    assert "top_p" not in _wire(temperature=0.5) and "temperature" not in _wire(top_p=0.9)


@pytest.mark.parametrize("top_p", [0.9, 1])
def test_temperature_and_top_p_together_send_temperature_only(top_p: float) -> None:
    # Issue 11 item 4: Sonnet 4.5+, Opus 4.1+ refuse the pair; chat UIs send both by default.
    wire = _wire(temperature=0.7, top_p=top_p)
    assert wire["temperature"] == 0.7 and "top_p" not in wire


def test_temperature_and_top_p_left_out_is_reported_for_the_dropped_params_header() -> None:
    req = CHAT_REQUEST_DECODER.decode(json.dumps({"model": "claude-sonnet", "messages": HELLO,
                                                  "temperature": 0.7, "top_p": 0.9}).encode())
    assert to_upstream_request(req, TARGET, False).dropped == ("top_p",)
    alone = CHAT_REQUEST_DECODER.decode(json.dumps({"model": "c", "messages": HELLO, "top_p": 0.9}).encode())
    assert to_upstream_request(alone, TARGET, False).dropped == ()


def test_model_taking_temperature_with_top_p_gets_both() -> None:
    # Issue 20: the rule is the model family's; Claude 3 models take the pair.
    claude3 = Target(TARGET.base_url, None, "claude-3-5-haiku-20241022", "old",
                     ModelOptions(max_output_tokens=8192, rules=family_rules("claude-3-5-haiku-20241022")))
    wire = _wire(claude3, temperature=0.7, top_p=0.9)
    assert (wire["temperature"], wire["top_p"]) == (0.7, 0.9)


def test_drop_params_false_refuses_top_p_beside_temperature_naming_it() -> None:
    strict = Target(TARGET.base_url, None, TARGET.upstream_model, "claude-sonnet", ModelOptions(
        max_output_tokens=8192, rules=ParamRules(temperature_with_top_p=False, drop_params=False)))
    with pytest.raises(ConversionError) as info:
        _wire(strict, temperature=0.7, top_p=0.9)
    assert (info.value.status, info.value.error.param, info.value.error.code) == (400, "top_p", "unsupported_parameter")


def test_output_limit_over_the_models_largest_is_capped_when_converted_from_another_dialect() -> None:
    # Issue 20: a client naming one model's limit to another (Codex's, through Responses) gets the
    # largest; a chat caller's own limit goes as sent (the upstream answers for it).
    converted = Target(TARGET.base_url, None, TARGET.upstream_model, "claude-sonnet", TARGET.options, "responses")
    assert _wire(converted, max_completion_tokens=32000)["max_tokens"] == 8192
    assert _wire(converted, max_completion_tokens=100)["max_tokens"] == 100
    assert _wire(max_tokens=32000)["max_tokens"] == 32000


def test_null_temperature_keeps_top_p() -> None:
    assert _wire(temperature=None, top_p=0.9)["top_p"] == 0.9


def test_temperature_above_one_is_400_naming_temperature_not_clamped() -> None:
    err = _error(temperature=1.3)
    assert err.error.param == "temperature"
    assert "1.3" in err.error.message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"frequency_penalty": -1}, "frequency_penalty"),
        ({"seed": 42}, "seed"),
    ],
)
def test_parameters_claude_cannot_honour_are_400_naming_them(fields: dict[str, Any], param: str) -> None:
    assert _error(**fields).error.param == param


def test_neutral_values_of_unsupported_parameters_are_accepted() -> None:
    wire = _wire(logprobs=False, logit_bias={}, presence_penalty=0, frequency_penalty=0, seed=None, top_logprobs=None)
    assert set(wire) == {"model", "max_tokens", "messages"}


# ---------------------------------------------------------------- stop sequences (PITFALLS 6)


def test_stop_string_and_list_become_stop_sequences() -> None:
    assert _wire(stop="END")["stop_sequences"] == ["END"]
    assert _wire(stop=["END", "\n\nHuman:"])["stop_sequences"] == ["END", "\n\nHuman:"]
    assert "stop_sequences" not in _wire(stop=[])


@pytest.mark.parametrize(("stop", "param"), [("\n", "stop"), (["END", " \t"], "stop[1]"), ([""], "stop[0]")])
def test_whitespace_only_stop_sequence_is_400_naming_it(stop: object, param: str) -> None:
    err = _error(stop=stop)
    assert err.error.param == param
    assert "non-whitespace" in err.error.message


# ---------------------------------------------------------------- user, tools, formats


def test_user_over_256_characters_becomes_a_stable_hash() -> None:
    # Issue 11 item 6: Anthropic's metadata.user_id takes at most 256 characters.
    long_id = "u" * 300
    first = _wire(user=long_id)["metadata"]["user_id"]
    assert first == "sha256:" + hashlib.sha256(long_id.encode()).hexdigest()
    assert len(first) <= 256 and _wire(user=long_id)["metadata"]["user_id"] == first
    assert _wire(user="u" * 256)["metadata"]["user_id"] == "u" * 256  # at the limit: as is


def test_safety_identifier_maps_like_user_and_wins_over_it() -> None:
    assert _wire(safety_identifier="sid-1")["metadata"] == {"user_id": "sid-1"}
    assert _wire(safety_identifier="sid-1", user="user-7")["metadata"] == {"user_id": "sid-1"}
    assert _wire(safety_identifier=None, user="user-7")["metadata"] == {"user_id": "user-7"}
    hashed = _wire(safety_identifier="s" * 257)["metadata"]["user_id"]
    assert hashed == "sha256:" + hashlib.sha256(b"s" * 257).hexdigest()


def test_user_becomes_metadata_user_id_and_openai_metadata_is_not_sent() -> None:
    wire = _wire(user="user-7f3a", metadata={"team": "x"})
    assert wire["metadata"] == {"user_id": "user-7f3a"}


def test_tools_and_choice_reach_the_request() -> None:
    wire = _wire(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)
    assert wire["tools"] == [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    assert wire["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_response_format_json_schema_forces_the_json_tool() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    wire = _wire(response_format={"type": "json_schema", "json_schema": {"name": "num", "schema": schema}})
    assert wire["tools"] == [
        {"name": "json_response", "input_schema": schema, "description": "Respond with a JSON object. Its input is the whole answer."}
    ]
    assert wire["tool_choice"] == {"type": "tool", "name": "json_response"}


def test_history_with_tool_calls_but_no_tools_gets_stand_in_tools_and_choice_none() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "42"},
    ]
    wire = _wire(messages=messages)
    assert wire["tools"] == [{"name": "lookup", "input_schema": {"type": "object"}}]
    assert wire["tool_choice"] == {"type": "none"}


# ---------------------------------------------------------------- reasoning_effort (PITFALLS 15)


@pytest.mark.parametrize(("effort", "budget"), [("minimal", 1024), ("low", 2048), ("medium", 7168), ("high", 7168)])
def test_reasoning_effort_becomes_a_thinking_budget_below_max_tokens(effort: str, budget: int) -> None:
    wire = _wire(reasoning_effort=effort)
    assert wire["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert wire["max_tokens"] == 8192 > budget


def test_reasoning_effort_high_with_a_large_limit_gets_the_full_budget() -> None:
    assert _wire(reasoning_effort="high", max_completion_tokens=32000)["thinking"]["budget_tokens"] == 16384


def test_reasoning_effort_none_sends_no_thinking() -> None:
    assert "thinking" not in _wire(reasoning_effort="none")


def test_reasoning_effort_with_too_small_a_limit_is_400_naming_the_limit_given() -> None:
    err = _error(reasoning_effort="low", max_completion_tokens=1500)
    assert err.error.param == "max_completion_tokens"
    assert err.error.message == (
        "'reasoning_effort' needs at least 2048 output tokens on Claude models (a thinking "
        "budget of 1024 plus the answer); the limit is 1500."
    )
    assert _error(reasoning_effort="low", max_tokens=2000).error.param == "max_tokens"


def test_unknown_reasoning_effort_is_400() -> None:
    assert _error(reasoning_effort="extreme").error.param == "reasoning_effort"


@pytest.mark.parametrize(("fields", "param"), [({"temperature": 0.2}, "temperature"), ({"top_p": 0.5}, "top_p")])
def test_reasoning_effort_with_changed_sampling_is_400(fields: dict[str, Any], param: str) -> None:
    assert _error(reasoning_effort="low", **fields).error.param == param


PREFILL = [{"role": "user", "content": "List three colours as JSON"}, {"role": "assistant", "content": "["}]


def test_prefill_with_reasoning_effort_is_400_naming_reasoning_effort() -> None:
    # Issue 11 item 7: Anthropic refuses a prefilled answer when thinking is on.
    err = _error(messages=PREFILL, reasoning_effort="low")
    assert err.error.param == "reasoning_effort"
    assert "assistant" in err.error.message


def test_prefill_without_thinking_is_sent() -> None:
    for fields in ({}, {"reasoning_effort": "none"}, {"reasoning_effort": None}):
        wire = _wire(messages=PREFILL, **fields)
        assert wire["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "["}]}
        assert "thinking" not in wire


def test_open_tool_loop_begun_without_thinking_is_sent_without_thinking() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
    ]
    assert "thinking" not in _wire(messages=messages, tools=[WEATHER], reasoning_effort="low")


def test_open_tool_loop_with_carried_thinking_keeps_thinking_and_sends_the_signed_block() -> None:
    call_id = encode_call_id("toolu_1", [ThinkingBlock("Need weather.", "sig-123")])
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "sunny"},
    ]
    wire = _wire(messages=messages, tools=[WEATHER], reasoning_effort="low")
    assert wire["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert wire["messages"][1]["content"][0] == {"type": "thinking", "thinking": "Need weather.", "signature": "sig-123"}


"""The model rules applied by the openai provider and the Responses pass-through (issue 20)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.contracts.config import ModelOptions
from gateway.contracts.model_rules import ParamRules, family_rules
from gateway.contracts.openai import CHAT_REQUEST_DECODER
from workers.dialects.responses.passthrough import without_refused
from workers.providers.base import ConversionError, Target
from workers.providers.openai import PROVIDER

# The API document's example body.
DOCUMENT = {"model": "gpt-5.5", "messages": [{"role": "system", "content": "You are a helpful assistant."},
                                             {"role": "user", "content": "Hello!"}],
            "temperature": 0.7, "max_tokens": 1024}


def target(upstream: str, dialect: str = "chat", cap: int | None = 128000, **rules: Any) -> Target:
    resolved = family_rules(upstream)
    options = ModelOptions(max_output_tokens=cap, rules=ParamRules(**{
        **{f: getattr(resolved, f) for f in resolved.__struct_fields__}, **rules}))
    return Target("https://up/v1", "k", upstream, upstream, options, dialect)


def send(body: dict[str, Any], to: Target) -> tuple[dict[str, Any], tuple[str, ...]]:
    raw = json.dumps(body).encode()
    request = PROVIDER.chat_request(CHAT_REQUEST_DECODER.decode(raw), raw, to, False)
    return json.loads(request.body), request.dropped


def test_the_documents_body_to_gpt55_renames_max_tokens_and_leaves_out_temperature() -> None:
    sent, dropped = send(DOCUMENT, target("gpt-5.5"))
    assert sent["max_completion_tokens"] == 1024 and "max_tokens" not in sent and "temperature" not in sent
    assert dropped == ("temperature",)
    assert sent["messages"] == DOCUMENT["messages"]


def test_every_refused_sampler_is_left_out_and_neutral_values_go_unreported() -> None:
    body = {**DOCUMENT, "temperature": 1, "top_p": 0.9, "presence_penalty": 0.5, "frequency_penalty": 0,
            "logprobs": True, "top_logprobs": 3}
    sent, dropped = send(body, target("o3"))
    assert not {"temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs"} & set(sent)
    assert dropped == ("top_p", "presence_penalty", "logprobs", "top_logprobs")


def test_converted_max_completion_tokens_becomes_max_tokens_for_models_that_want_it() -> None:
    body = {**DOCUMENT, "model": "x", "max_tokens": None, "max_completion_tokens": 500}
    sent, dropped = send(body, target("my-vllm-model"))
    assert sent["max_tokens"] == 500 and "max_completion_tokens" not in sent
    assert sent["temperature"] == 0.7 and dropped == ()


def test_reasoning_effort_is_left_out_for_a_model_that_does_not_reason() -> None:
    sent, dropped = send({**DOCUMENT, "model": "gpt-4o-mini", "reasoning_effort": "high"}, target("gpt-4o-mini"))
    assert "reasoning_effort" not in sent and sent["temperature"] == 0.7 and sent["max_tokens"] == 1024
    assert dropped == ("reasoning_effort",)
    kept, _ = send({**DOCUMENT, "reasoning_effort": "high"}, target("gpt-5.5"))
    assert kept["reasoning_effort"] == "high"


def test_a_converted_request_over_the_models_largest_output_is_capped_a_chat_one_is_not() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 32000}
    sent, _ = send(body, target("gpt-4o-mini", dialect="messages", cap=16384))
    assert sent["max_tokens"] == 16384
    sent, _ = send(body, target("gpt-4o-mini", dialect="chat", cap=16384))
    assert sent["max_tokens"] == 32000


def test_developer_messages_go_as_system_to_a_model_taking_only_system() -> None:
    body = {"model": "m", "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}]}
    sent, _ = send(body, target("my-vllm-model", roles="system"))
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    sent, _ = send(body, target("gpt-5.5"))
    assert [m["role"] for m in sent["messages"]] == ["developer", "user"]


@pytest.mark.parametrize(("dialect", "param", "field"), [("chat", "temperature", "temperature"),
                                                        ("messages", "temperature", "temperature"),
                                                        ("messages", "reasoning_effort", "thinking"),
                                                        ("responses", "reasoning_effort", "reasoning.effort")])
def test_drop_params_false_refuses_with_a_400_naming_the_callers_own_field(dialect: str, param: str, field: str) -> None:
    model = "gpt-5.5" if param == "temperature" else "gpt-4o"
    body = {**DOCUMENT, "model": model, param: 0.7 if param == "temperature" else "high"}
    with pytest.raises(ConversionError) as info:
        send(body, target(model, dialect=dialect, drop_params=False))
    error = info.value.error
    assert (info.value.status, error.type, error.param, error.code) == (
        400, "invalid_request_error", field, "unsupported_parameter")
    assert f"'{field}'" in error.message and f"'{model}'" in error.message


def test_responses_pass_through_leaves_out_what_the_model_refuses() -> None:
    body = json.dumps({"model": "gpt-5.5", "input": "Hello!", "temperature": 0.7, "top_p": 1,
                       "max_output_tokens": 1024}).encode()
    out, dropped = without_refused(body, target("gpt-5.5", dialect="responses"))
    sent = json.loads(out)
    assert "temperature" not in sent and "top_p" not in sent and sent["max_output_tokens"] == 1024
    assert dropped == ("temperature",)
    plain = json.dumps({"model": "gpt-4o", "input": "x", "temperature": 0.7}).encode()
    assert without_refused(plain, target("gpt-4o", dialect="responses")) == (plain, ())
    reasoning = json.dumps({"model": "gpt-4o", "input": "x", "reasoning": {"effort": "low"}}).encode()
    assert without_refused(reasoning, target("gpt-4o", dialect="responses"))[1] == ("reasoning",)
    with pytest.raises(ConversionError) as info:
        without_refused(body, target("gpt-5.5", dialect="responses", drop_params=False))
    assert info.value.error.param == "temperature"


def test_gemini_caps_a_converted_limit_and_keeps_a_chat_callers_own() -> None:
    from workers.providers.gemini import PROVIDER as GEMINI

    raw = json.dumps({"model": "g", "messages": [{"role": "user", "content": "hi"}],
                      "max_completion_tokens": 100000}).encode()
    req = CHAT_REQUEST_DECODER.decode(raw)

    def limit(dialect: str) -> int:
        body = json.loads(GEMINI.chat_request(req, raw, target("gemini-2.5-pro", dialect, cap=65536), False).body)
        return int(body["generationConfig"]["maxOutputTokens"])

    assert (limit("messages"), limit("chat")) == (65536, 100000)


def test_gemini_25_pro_sends_no_budget_for_reasoning_effort_none_by_the_table() -> None:
    from workers.providers.gemini import PROVIDER as GEMINI

    raw = json.dumps({"model": "g", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "none"}).encode()
    req = CHAT_REQUEST_DECODER.decode(raw)
    pro = json.loads(GEMINI.chat_request(req, raw, target("gemini-2.5-pro"), False).body)
    flash = json.loads(GEMINI.chat_request(req, raw, target("gemini-2.5-flash"), False).body)
    assert "thinkingConfig" not in pro.get("generationConfig", {})
    assert flash["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}

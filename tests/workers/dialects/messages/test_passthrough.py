"""Messages to an anthropic-kind upstream: the body forwarded as sent, the answer relayed."""

from __future__ import annotations

import json

import pytest

from gateway.contracts.bus import Job
from workers.dialects.messages.passthrough import (
    MessagesPassThrough,
    upstream_request,
    with_model,
    without_unsigned_thinking,
)
from workers.providers.base import SseEvent, Target, UpstreamError

BODY = (b'{"model":"claude-opus-4-8","max_tokens":10,"thinking":{"type":"enabled","budget_tokens":2000},'
        b'"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],'
        b'"messages":[{"role":"user","content":"hi"}],"context_management":{"edits":[]}}')


def job(beta: str = "") -> Job:
    return Job(request_id="r", key_id="k", op="chat", model="msg-claude", provider="claude",
               upstream_model="claude-upstream-1", body=BODY, deadline=0.0, dialect="messages", anthropic_beta=beta)


TARGET = Target(base_url="https://upstream/", api_key="sk-ant", upstream_model="claude-upstream-1",
                public_model="msg-claude")


def test_the_body_goes_as_sent_with_the_upstream_model_and_the_callers_beta_header() -> None:
    request = upstream_request(job("claude-code-20250219,interleaved-thinking-2025-05-14"), TARGET, "/v1/messages", True)
    assert request.url == "https://upstream/v1/messages" and request.stream
    sent = json.loads(request.body)
    assert sent == {**json.loads(BODY), "model": "claude-upstream-1"}
    assert request.headers["anthropic-beta"] == "claude-code-20250219,interleaved-thinking-2025-05-14"
    assert request.headers["x-api-key"] == "sk-ant" and request.headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in upstream_request(job(), TARGET, "/v1/messages", False).headers


def test_with_model_keeps_every_other_member_byte_for_byte() -> None:
    out = with_model(BODY, "x")
    assert b'"thinking":{"type":"enabled","budget_tokens":2000}' in out and b'"model":"x"' in out


def test_a_whole_answer_is_relayed_with_our_model_and_billed_from_its_usage() -> None:
    body = (b'{"id":"msg_1","type":"message","model":"claude-upstream-1","content":[],"stop_reason":"end_turn",'
            b'"usage":{"input_tokens":5,"output_tokens":7,"cache_read_input_tokens":100,"cache_creation_input_tokens":20}}')
    raw, usage = MessagesPassThrough("msg-claude").result(body)
    assert json.loads(bytes(raw))["model"] == "msg-claude"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens(), usage.cache_write_tokens()) == (125, 7, 100, 20)


def event(kind: str, data: dict[str, object]) -> SseEvent:
    return SseEvent(data=json.dumps({"type": kind, **data}), event=kind)


def test_a_stream_is_relayed_event_by_event_and_tallied() -> None:
    relay = MessagesPassThrough("msg-claude")
    start = relay.feed(event("message_start", {"message": {"id": "m", "model": "claude-upstream-1",
                                                          "usage": {"input_tokens": 9, "output_tokens": 1}}}))
    assert json.loads(bytes(start[0]))["message"]["model"] == "msg-claude"
    delta = event("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": "abc"}})
    assert bytes(relay.feed(delta)[0]) == delta.data.encode()
    assert relay.usage().completion_tokens == 0
    relay.feed(event("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}}))
    relay.feed(event("message_stop", {}))
    relay.close()
    assert (relay.usage().prompt_tokens, relay.usage().completion_tokens) == (9, 12)


def test_an_error_event_raises_and_a_stream_cut_before_message_stop_is_a_502() -> None:
    relay = MessagesPassThrough("m")
    with pytest.raises(UpstreamError) as ex:
        relay.feed(event("error", {"error": {"type": "rate_limit_error", "message": "slow"}}))
    assert ex.value.status == 429
    with pytest.raises(UpstreamError) as cut:
        MessagesPassThrough("m").close()
    assert cut.value.status == 502


def test_top_p_beside_temperature_is_left_out_for_claude_4_and_named() -> None:
    # Issue 20: Claude 4.x refuses the pair; the model rules keep temperature.
    from gateway.contracts.config import ModelOptions
    from gateway.contracts.model_rules import ParamRules, family_rules
    from workers.providers.base import ConversionError

    both = json.loads(BODY) | {"temperature": 0.7, "top_p": 0.9}
    sent_job = Job(request_id="r", key_id="k", op="chat", model="m", provider="claude", upstream_model="claude-sonnet-4-6",
                   body=json.dumps(both).encode(), deadline=0.0, dialect="messages")

    def target(rules: ParamRules) -> Target:
        return Target("https://upstream/", "k", "claude-sonnet-4-6", "m", ModelOptions(rules=rules), "messages")

    request = upstream_request(sent_job, target(family_rules("claude-sonnet-4-6")), "/v1/messages", False)
    assert request.dropped == ("top_p",)
    sent = json.loads(request.body)
    assert sent["temperature"] == 0.7 and "top_p" not in sent and sent["model"] == "claude-sonnet-4-6"
    kept = upstream_request(sent_job, target(family_rules("claude-3-5-haiku-20241022")), "/v1/messages", False)
    assert json.loads(kept.body)["top_p"] == 0.9 and kept.dropped == ()
    with pytest.raises(ConversionError) as info:
        upstream_request(sent_job, target(ParamRules(temperature_with_top_p=False, drop_params=False)), "/v1/messages", False)
    assert (info.value.error.param, info.value.error.code) == ("top_p", "unsupported_parameter")


def test_a_stream_cut_before_message_delta_leaves_its_streamed_output_unreported() -> None:
    # Issue 21: a cut stream (client gone, upstream dropped, `error` event) was billed
    # 0 output tokens, marked exact; the text, thinking and tool input streamed are counted.
    relay = MessagesPassThrough("m")
    relay.feed(event("message_start", {"message": {"id": "m", "usage": {"input_tokens": 5000, "output_tokens": 1}}}))
    relay.feed(event("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": ""}}))
    relay.feed(event("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "t" * 40}}))
    relay.feed(event("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}))
    for _ in range(80):
        relay.feed(event("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "x" * 100}}))
    relay.feed(event("content_block_start", {"index": 2, "content_block": {"type": "tool_use", "id": "t",
                                                                          "name": "Read", "input": {}}}))
    relay.feed(event("content_block_delta", {"index": 2, "delta": {"type": "input_json_delta",
                                                                  "partial_json": '{"a":1}'}}))
    assert relay.usage().completion_tokens == 0
    assert relay.unreported_chars() == 40 + 8000 + len("Read") + 7
    with pytest.raises(UpstreamError):
        relay.feed(event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}))
    assert relay.unreported_chars() == 40 + 8000 + len("Read") + 7


def test_the_upstreams_output_count_replaces_the_estimate() -> None:
    relay = MessagesPassThrough("m")
    relay.feed(event("message_start", {"message": {"id": "m", "usage": {"input_tokens": 5, "output_tokens": 1}}}))
    relay.feed(event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "x" * 100}}))
    relay.feed(event("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 30}}))
    assert (relay.unreported_chars(), relay.usage().completion_tokens) == (0, 30)
    # a message_delta without an output count (never seen, but the field is optional) replaces nothing
    other = MessagesPassThrough("m")
    other.feed(event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "abcd"}}))
    other.feed(event("message_delta", {"delta": {"stop_reason": None}, "usage": {"input_tokens": 3}}))
    assert other.unreported_chars() == 4


def test_unsigned_thinking_from_another_model_is_dropped_before_claude() -> None:
    # Issue 21: a session switched (/model) from a converted route to Claude sends
    # back the converted replies' thinking with `signature: ""`, which Anthropic refuses.
    body = json.dumps({"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "other model", "signature": ""},
                                          {"type": "text", "text": "Hello"}]},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "only this", "signature": ""}]},
        {"role": "user", "content": "and"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "claude's", "signature": "c2ln"},
                                          {"type": "text", "text": "Signed"}]},
        {"role": "user", "content": [{"type": "text", "text": "bye"}]}]}).encode()
    sent = json.loads(upstream_request(Job(request_id="r", key_id="k", op="chat", model="msg-claude",
                                           provider="claude", upstream_model="u", body=body, deadline=0.0,
                                           dialect="messages"), TARGET, "/v1/messages", False).body)
    turns = sent["messages"]
    assert turns[1]["content"] == [{"type": "text", "text": "Hello"}]
    assert turns[3]["content"] == [{"type": "text", "text": "only this"}]  # never an empty turn
    assert turns[5] == json.loads(body)["messages"][5] and turns[6] == json.loads(body)["messages"][6]


def test_a_body_without_unsigned_thinking_goes_byte_for_byte() -> None:
    request = upstream_request(job(), TARGET, "/v1/messages", False)
    assert request.body == with_model(BODY, "claude-upstream-1")
    odd = b'{"model":"m","messages":[{"role":"assistant","content":[{"type":"thinking","thinking":5,"signature":""}]}]}'
    assert without_unsigned_thinking(odd) == odd  # Anthropic's to judge

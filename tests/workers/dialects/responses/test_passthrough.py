"""Responses as sent to an upstream that serves them (workers/dialects/responses/passthrough.py)."""

from __future__ import annotations

import asyncio
import json

import msgspec
import pytest

from gateway.contracts.errors import APIError, OpenAIError
from workers.dialects.responses.passthrough import (
    RelayOutput,
    ResponsesRelay,
    request,
    upstream_body,
    with_public_model,
)
from workers.providers.base import SseEvent, Target


def test_the_body_goes_as_sent_with_the_upstream_model() -> None:
    raw = b'{"model":"ours","input":"hi","tools":[{"type":"web_search"}],"include":["x"],"store":false}'
    assert json.loads(upstream_body(raw, "theirs", None)) == {
        "model": "theirs", "input": "hi", "tools": [{"type": "web_search"}], "include": ["x"], "store": False}


def test_a_previous_response_of_ours_is_inlined() -> None:
    raw = b'{"model":"ours","input":"again","previous_response_id":"resp_1"}'
    items = [msgspec.Raw(b'{"role":"user","content":"first"}'), msgspec.Raw(b'{"role":"user","content":"again"}')]
    out = json.loads(upstream_body(raw, "theirs", items))
    assert "previous_response_id" not in out
    assert out["input"] == [{"role": "user", "content": "first"}, {"role": "user", "content": "again"}]


def test_the_response_shows_our_model_and_the_request_goes_to_responses() -> None:
    assert json.loads(with_public_model(b'{"id":"r","model":"theirs","output":[]}', "ours"))["model"] == "ours"
    target = Target(base_url="http://up/v1/", api_key="sk", upstream_model="theirs", public_model="ours")
    req = request(target, b"{}", stream=True)
    assert req.url == "http://up/v1/responses" and req.stream
    assert req.headers["authorization"] == "Bearer sk" and req.headers["accept"] == "text/event-stream"


def relay_events(relay: ResponsesRelay, *events: dict[str, object]) -> list[bytes]:
    return [bytes(item) for e in events for item in relay.feed(SseEvent(data=json.dumps(e)))]


def test_the_relay_frames_events_with_our_model_and_stores_the_final_response_before_it_leaves() -> None:
    stored: list[tuple[str, bytes]] = []

    async def store(response_id: str, response: bytes) -> None:
        stored.append((response_id, response))

    relay = ResponsesRelay("ours", None, store)
    output = RelayOutput(relay)
    framed = relay_events(
        relay,
        {"type": "response.created", "sequence_number": 0, "response": {"id": "r1", "model": "theirs"}},
        {"type": "response.output_text.delta", "sequence_number": 1, "delta": "four"},
    )
    assert framed[0].startswith(b"event: response.created\ndata: ") and b'"model":"ours"' in framed[0]
    assert relay.unreported_chars() == 4 and stored == []
    with pytest.raises(APIError):
        relay.close()  # no final event yet
    final = relay_events(relay, {"type": "response.completed", "sequence_number": 2, "response": {
        "id": "r1", "model": "theirs", "usage": {"input_tokens": 3, "output_tokens": 1}}})
    asyncio.run(output.settle())
    assert [r for r, _ in stored] == ["r1"] and json.loads(stored[0][1])["model"] == "ours"
    assert final[0].startswith(b"event: response.completed\n")
    relay.close()
    assert relay.usage().total_tokens == 4 and relay.unreported_chars() == 0 and relay.failure() is None


def test_the_upstreams_own_failure_is_relayed_and_our_error_is_numbered_after_its_events() -> None:
    relay = ResponsesRelay("ours", None, None)
    relay_events(relay, {"type": "response.output_text.delta", "sequence_number": 6, "delta": "x"},
                 {"type": "error", "sequence_number": 7, "code": "server_error", "message": "boom"})
    relay.close()
    assert relay.failure() == "upstream_error"
    [event] = RelayOutput(relay).failed(OpenAIError("cut", "upstream_error", None, "upstream_error"))
    head, data = bytes(event).split(b"\n", 1)
    assert head == b"event: error" and json.loads(data.removeprefix(b"data: "))["sequence_number"] == 8


MADE_HERE = [  # a converted route's output (ids `<prefix>_gw_...`, response.py MINTED), then OpenAI's own
    {"type": "reasoning", "id": "rs_gw_1", "summary": [{"type": "summary_text", "text": "t"}]},
    {"type": "reasoning", "id": "rs_gw_2", "summary": [], "encrypted_content": "opaque"},
    {"type": "message", "id": "msg_gw_3", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
    {"type": "function_call", "id": "fc_gw_4", "call_id": "call_1", "name": "f", "arguments": "{}"},
    {"type": "reasoning", "id": "rs_68af4030baa48193", "summary": []},
    {"type": "message", "id": "msg_gwx", "role": "assistant", "content": "b"},
    # Claude's or Gemini's search (issue 21): OpenAI stored none, and its input item needs an id.
    {"type": "web_search_call", "id": "ws_gw_5", "status": "completed",
     "action": {"type": "search", "query": "q", "sources": [{"type": "url", "url": "https://example.com/"}]}},
]
PORTABLE = [
    {"type": "reasoning", "summary": [], "encrypted_content": "opaque"},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
    {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
    {"type": "reasoning", "id": "rs_68af4030baa48193", "summary": []},
    {"type": "message", "id": "msg_gwx", "role": "assistant", "content": "b"},
]


def test_items_a_converted_route_made_lose_the_ids_no_upstream_stored() -> None:
    # Finding 13: OpenAI looks these ids up ("Item with id 'rs_...' not found").
    history = [msgspec.Raw(json.dumps(item).encode()) for item in MADE_HERE]
    raw = json.dumps({"model": "m", "input": "next", "previous_response_id": "resp_1"}).encode()
    assert json.loads(upstream_body(raw, "theirs", history))["input"] == PORTABLE
    raw = json.dumps({"model": "m", "input": MADE_HERE}).encode()  # a client resending them (Codex)
    assert json.loads(upstream_body(raw, "theirs", None))["input"] == PORTABLE


def test_an_error_before_any_upstream_event_is_an_http_error() -> None:
    relay = ResponsesRelay("m", None, None)
    output = RelayOutput(relay)
    broke = OpenAIError("broke", "upstream_error", None, "upstream_error")
    assert output.failed(broke) is None
    relay.feed(SseEvent(json.dumps({"type": "response.created", "sequence_number": 0, "response": {"id": "r"}})))
    assert output.failed(broke) is not None


def test_call_ids_over_openais_64_characters_become_one_digest_for_the_call_and_its_output() -> None:
    long_id = "call_0a1b2c_ts_" + "A" * 80  # a Gemini-signed id (workers/providers/gemini/signatures.py)
    items = [{"type": "function_call", "call_id": long_id, "name": "f", "arguments": "{}"},
             {"type": "function_call_output", "call_id": long_id, "output": "ok"},
             {"type": "function_call", "call_id": "call_short", "name": "f", "arguments": "{}"}]
    raw = json.dumps({"model": "m", "input": items}).encode()
    call, output, short = json.loads(upstream_body(raw, "theirs", None))["input"]
    assert len(call["call_id"]) <= 64 and output["call_id"] == call["call_id"] != long_id
    assert short["call_id"] == "call_short"

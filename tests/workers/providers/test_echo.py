"""The offline echo upstream: text, tool calls (whole and streamed), errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from workers.providers.base import UpstreamRequest
from workers.providers.echo import EchoUpstream

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"]}}}
USER = [{"role": "user", "content": "Paris please"}]


def respond(**fields: Any) -> tuple[int, bytes]:
    body = json.dumps({"model": "echo", "messages": USER, **fields}).encode()
    request = UpstreamRequest(url="local:/chat/completions", headers={}, body=body, stream=bool(fields.get("stream")))

    async def run() -> tuple[int, bytes]:
        response = await EchoUpstream().respond(request)
        return response.status, b"".join([part async for part in response.body])

    return asyncio.run(run())


def chunks(raw: bytes) -> list[dict[str, Any]]:
    events = [e.removeprefix(b"data: ") for e in raw.split(b"\n\n") if e]
    assert events[-1] == b"[DONE]"
    return [json.loads(e) for e in events[:-1]]


REMINDER = "<system-reminder>\nAs you answer the user's questions, you can use the following context:\n</system-reminder>"


def test_claude_codes_system_reminders_are_not_echoed() -> None:
    # Claude Code's shape: reminders as text parts around the prompt, and as a whole user message.
    messages = [{"role": "user", "content": [{"type": "text", "text": REMINDER},
                                             {"type": "text", "text": "say hi"},
                                             {"type": "text", "text": "\n" + REMINDER}]},
                {"role": "user", "content": REMINDER}]
    status, body = respond(messages=messages)
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "say hi"


def test_text_is_echoed_without_tools() -> None:
    status, body = respond(tools=[WEATHER], tool_choice="auto")
    reply = json.loads(body)
    assert status == 200 and reply["choices"][0]["message"]["content"] == "Paris please"
    assert reply["choices"][0]["finish_reason"] == "stop" and "tool_calls" not in reply["choices"][0]["message"]


def test_required_tool_choice_answers_with_one_well_formed_call() -> None:
    status, body = respond(tools=[WEATHER], tool_choice="required", n=2)
    reply = json.loads(body)
    assert status == 200
    first, second = (c["message"] for c in reply["choices"])
    assert [c["finish_reason"] for c in reply["choices"]] == ["tool_calls", "tool_calls"]
    assert first["content"] is None and len(first["tool_calls"]) == 1
    call = first["tool_calls"][0]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris please", "days": 0}
    assert second["tool_calls"][0]["id"] != call["id"]
    usage = reply["usage"]
    assert usage["completion_tokens"] > 0 and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streamed_tool_call_is_shaped_as_openai_sends_it() -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    status, body = respond(tools=[WEATHER], tool_choice=named, stream=True, stream_options={"include_usage": True})
    assert status == 200
    events = chunks(body)
    first = events[0]["choices"][0]["delta"]
    assert first["role"] == "assistant" and first["content"] is None
    [head] = first["tool_calls"]
    assert head["index"] == 0 and head["id"].startswith("call_") and head["type"] == "function"
    assert head["function"] == {"name": "get_weather", "arguments": ""}
    fragments = [e["choices"][0]["delta"]["tool_calls"][0] for e in events[1:-2]]
    assert len(fragments) > 1
    assert all(f["index"] == 0 and set(f) == {"index", "function"} and set(f["function"]) == {"arguments"} for f in fragments)
    assert json.loads("".join(f["function"]["arguments"] for f in fragments)) == {"city": "Paris please", "days": 0}
    assert events[-2]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls", "logprobs": None}
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] > 0


def test_a_named_function_not_in_tools_is_a_400_naming_tool_choice() -> None:
    status, body = respond(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}})
    assert status == 400
    error = json.loads(body)["error"]
    assert error["param"] == "tool_choice" and "'nope'" in error["message"]


def test_after_a_tool_result_the_echo_is_the_result_text() -> None:
    messages = USER + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
    ]
    status, body = respond(messages=messages, tools=[WEATHER], tool_choice="required")
    reply = json.loads(body)
    assert status == 200 and reply["choices"][0]["message"]["content"] == "sunny, 21 C"
    assert reply["choices"][0]["finish_reason"] == "stop" and reply["usage"]["completion_tokens"] == 3

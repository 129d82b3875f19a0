"""Whole chat completions -> the response object (workers/dialects/responses/response.py)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec

from gateway.contracts.openai import (
    ChatCompletion,
    Choice,
    FunctionCall,
    ResponseMessage,
    ToolCall,
    Usage,
    UrlCitation,
    UrlCitationAnnotation,
    WebSearch,
    WebSource,
)
from gateway.contracts.openai_responses import RESPONSES_REQUEST_DECODER
from workers.dialects.responses.response import from_completion, response_shell


def ids() -> Any:
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}_{next(counter)}"


def shell(**body: Any) -> Any:
    req = RESPONSES_REQUEST_DECODER.decode(json.dumps({"model": "m", "input": "x", **body}))
    return response_shell(req, "resp_1", 1700, "public-model")


def completion(message: ResponseMessage, finish: str = "stop") -> ChatCompletion:
    return ChatCompletion(id="c", created=1, model="m", choices=[Choice(index=0, message=message, finish_reason=finish)])


def test_the_shell_echoes_the_request() -> None:
    out = json.loads(msgspec.json.encode(shell(
        instructions="be brief", max_output_tokens=50, temperature=0.3, store=False, metadata={"a": "b"},
        previous_response_id="resp_0", tools=[{"type": "function", "name": "f"}], tool_choice="required",
        text={"format": {"type": "json_object"}}, reasoning={"effort": "high"}, parallel_tool_calls=False)))
    assert out["id"] == "resp_1" and out["object"] == "response" and out["created_at"] == 1700
    assert out["model"] == "public-model" and out["status"] == "in_progress"
    assert (out["instructions"], out["max_output_tokens"], out["temperature"]) == ("be brief", 50, 0.3)
    assert out["store"] is False and out["metadata"] == {"a": "b"} and out["previous_response_id"] == "resp_0"
    assert out["tools"] == [{"type": "function", "name": "f"}] and out["tool_choice"] == "required"
    assert out["text"] == {"format": {"type": "json_object"}} and out["reasoning"] == {"effort": "high"}
    assert out["parallel_tool_calls"] is False
    defaults = json.loads(msgspec.json.encode(shell()))
    assert defaults["store"] is True and defaults["text"] == {"format": {"type": "text"}}
    assert defaults["tool_choice"] == "auto" and defaults["parallel_tool_calls"] is True


def test_text_reasoning_and_calls_become_output_items_in_order() -> None:
    message = ResponseMessage(
        content="Let me check.", reasoning_content="thinking",
        tool_calls=[ToolCall(id="call_1", function=FunctionCall("get_weather", '{"city":"Paris"}'))])
    usage = Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10)
    out = json.loads(msgspec.json.encode(from_completion(completion(message, "tool_calls"), shell(), ids(), {}, usage)))
    assert out["status"] == "completed"
    assert out["output"] == [
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thinking"}]},
        {"type": "message", "id": "msg_2", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "Let me check.", "annotations": [], "logprobs": []}]},
        {"type": "function_call", "id": "fc_3", "call_id": "call_1", "name": "get_weather",
         "arguments": '{"city":"Paris"}', "status": "completed"},
    ]
    assert out["usage"]["input_tokens"] == 7 and out["usage"]["output_tokens"] == 3 and out["usage"]["total_tokens"] == 10


def test_content_filter_is_incomplete_and_a_refusal_is_a_refusal_part() -> None:
    message = ResponseMessage(content=None, refusal="I can't.")
    out = from_completion(completion(message, "content_filter"), shell(), ids(), {}, Usage())
    assert out.status == "incomplete" and out.incomplete_details is not None
    assert out.incomplete_details.reason == "content_filter"
    assert json.loads(msgspec.json.encode(out.output[0]))["content"] == [{"type": "refusal", "refusal": "I can't."}]


def test_logprobs_of_a_whole_completion_are_the_output_texts() -> None:
    entry = {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}
    whole = completion(ResponseMessage(content="Hi"))
    whole.choices[0].logprobs = {"content": [entry], "refusal": None}
    out = json.loads(msgspec.json.encode(from_completion(whole, shell(), ids(), {}, Usage())))
    assert out["output"][0]["content"][0]["logprobs"] == [entry]


def test_web_searches_become_web_search_call_items_before_the_message() -> None:
    search = WebSearch(id="srvtoolu_1", query="gateway news",
                       sources=[WebSource("https://example.com/a", "A"), WebSource("https://example.com/b")])
    cited = UrlCitationAnnotation(UrlCitation("https://example.com/a", "A", 0, 5))
    message = ResponseMessage(content="Found it.", web_searches=[search], annotations=[cited])
    usage = Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10)
    out = json.loads(msgspec.json.encode(from_completion(completion(message), shell(), ids(), {}, usage)))
    assert out["output"][0] == {
        "type": "web_search_call", "id": "ws_1", "status": "completed",
        "action": {"type": "search", "query": "gateway news",
                   "sources": [{"type": "url", "url": "https://example.com/a"}, {"type": "url", "url": "https://example.com/b"}]}}
    assert out["output"][1]["type"] == "message" and out["output"][1]["content"][0]["text"] == "Found it."
    assert out["output"][1]["content"][0]["annotations"] == [
        {"type": "url_citation", "url": "https://example.com/a", "title": "A", "start_index": 0, "end_index": 5}]

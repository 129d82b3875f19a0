"""Chat chunks -> Responses events (workers/dialects/responses/stream.py)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec

from gateway.contracts.errors import OpenAIError
from gateway.contracts.openai import (
    ChatCompletionChunk,
    ChunkChoice,
    CompletionTokensDetails,
    Delta,
    FunctionCallDelta,
    PromptTokensDetails,
    ToolCallDelta,
    Usage,
    UrlCitation,
    UrlCitationAnnotation,
    WebSearch,
    WebSource,
)
from gateway.contracts.openai_responses import RESPONSES_REQUEST_DECODER
from workers.dialects.responses.response import response_shell
from workers.dialects.responses.stream import EventStream


def ids() -> Any:
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}_{next(counter)}"


def stream(namespaces: dict[str, str] | None = None) -> EventStream:
    req = RESPONSES_REQUEST_DECODER.decode(b'{"model": "m", "input": "x", "stream": true}')
    return EventStream(response_shell(req, "resp_1", 1700, "m"), ids(), namespaces or {})


def chunk(finish: str | None = None, **delta: Any) -> ChatCompletionChunk:
    return ChatCompletionChunk(id="c", created=1, model="m",
                               choices=[ChunkChoice(index=0, delta=Delta(**delta), finish_reason=finish)])


def plain(events: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(msgspec.json.encode(e)) for e in events]


USAGE = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15,
              prompt_tokens_details=PromptTokensDetails(cached_tokens=4),
              completion_tokens_details=CompletionTokensDetails(reasoning_tokens=2))


def test_reasoning_then_text_makes_the_full_event_sequence_numbered_from_zero() -> None:
    s = stream()
    events = s.feed(chunk(role="assistant", reasoning_content="Hm"))
    events += s.feed(chunk(reasoning_content="m."))
    events += s.feed(chunk(content="Hel"))
    events += s.feed(chunk(content="lo", finish="stop"))
    closing, response = s.close(USAGE)
    out = plain(events + closing)
    assert [e["type"] for e in out] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    assert out[0]["response"]["status"] == "in_progress" and out[0]["response"]["output"] == []
    assert out[6]["text"] == "Hmm." and out[8]["item"] == {
        "type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Hmm."}]}
    assert out[13]["text"] == "Hello" and out[13]["item_id"] == "msg_2" and out[13]["output_index"] == 1
    final = out[-1]["response"]
    assert final["status"] == "completed"
    assert [o["type"] for o in final["output"]] == ["reasoning", "message"]
    assert final["output"][1]["content"][0]["text"] == "Hello"
    assert final["usage"] == {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 5,
                              "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 15}
    assert response.status == "completed"


def test_tool_calls_stream_their_arguments_and_close_at_the_end_with_their_namespace() -> None:
    s = stream({"spawn": "agents"})
    events = s.feed(chunk(content="Calling."))
    events += s.feed(chunk(tool_calls=[ToolCallDelta(index=0, id="call_a", type="function",
                                                     function=FunctionCallDelta(name="get_weather", arguments=""))]))
    events += s.feed(chunk(tool_calls=[ToolCallDelta(index=1, id="call_b", type="function",
                                                     function=FunctionCallDelta(name="spawn", arguments="{}"))]))
    events += s.feed(chunk(tool_calls=[ToolCallDelta(index=0, function=FunctionCallDelta(arguments='{"city":'))]))
    events += s.feed(chunk(tool_calls=[ToolCallDelta(index=0, function=FunctionCallDelta(arguments='"Paris"}'))],
                           finish="tool_calls"))
    closing, response = s.close(USAGE)
    out = plain(events + closing)
    added = [e for e in out if e["type"] == "response.output_item.added"]
    assert [a["item"]["type"] for a in added] == ["message", "function_call", "function_call"]
    assert added[1]["item"]["status"] == "in_progress" and added[1]["item"]["call_id"] == "call_a"
    deltas = [e["delta"] for e in out if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == ["{}", '{"city":', '"Paris"}']
    done = [e for e in out if e["type"] == "response.function_call_arguments.done"]
    assert [(d["name"], d["arguments"], d["output_index"]) for d in done] == [
        ("get_weather", '{"city":"Paris"}', 1), ("spawn", "{}", 2)]
    # the message closed before the first call opened
    types = [e["type"] for e in out]
    assert types.index("response.output_text.done") < types.index("response.function_call_arguments.delta")
    calls = [o for o in response.output if o.__class__.__name__ == "OutputFunctionCall"]
    assert [json.loads(msgspec.json.encode(c)) for c in calls] == [
        {"type": "function_call", "id": "fc_2", "call_id": "call_a", "name": "get_weather",
         "arguments": '{"city":"Paris"}', "status": "completed"},
        {"type": "function_call", "id": "fc_3", "call_id": "call_b", "name": "spawn", "arguments": "{}",
         "status": "completed", "namespace": "agents"},
    ]
    assert out[-1]["type"] == "response.completed"


def test_length_ends_incomplete_with_the_reason() -> None:
    s = stream()
    s.feed(chunk(content="cut", finish="length"))
    closing, response = s.close(USAGE)
    assert closing[-1].type == "response.incomplete"
    assert response.status == "incomplete" and response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


def test_an_empty_stream_still_makes_created_in_progress_and_completed() -> None:
    closing, response = stream().close(None)
    assert [e.type for e in closing] == ["response.created", "response.in_progress", "response.completed"]
    assert response.output == [] and response.usage is None


def test_a_failure_mid_stream_is_an_error_event_then_response_failed() -> None:
    s = stream()
    s.feed(chunk(content="partial"))
    out = plain(s.fail(OpenAIError("upstream broke", "upstream_error", None, "upstream_error")))
    assert [e["type"] for e in out] == ["error", "response.failed"]
    assert out[0]["code"] == "upstream_error" and out[0]["message"] == "upstream broke"
    assert out[1]["response"]["status"] == "failed"
    assert out[1]["response"]["error"] == {"code": "upstream_error", "message": "upstream broke"}
    assert out[0]["sequence_number"] + 1 == out[1]["sequence_number"]


def lp(token: str) -> dict[str, Any]:
    """One token's logprobs as Chat Completions streams them (and Responses writes them)."""
    return {"token": token, "logprob": -0.25, "bytes": list(token.encode()),
            "top_logprobs": [{"token": token, "logprob": -0.25, "bytes": list(token.encode())}]}


def test_logprobs_of_chat_chunks_ride_on_the_text_deltas_and_the_done_part() -> None:
    # Audit finding 9: top_logprobs reaches OpenAI-kind routes; the answer's logprobs come back.
    events = stream()
    out = []
    for token in ("Hel", "lo"):
        step = chunk(content=token)
        step.choices[0].logprobs = {"content": [lp(token)], "refusal": None}
        out += events.feed(step)
    out += events.close(None)[0]
    got = plain(out)
    assert [e["logprobs"] for e in got if e["type"] == "response.output_text.delta"] == [[lp("Hel")], [lp("lo")]]
    done = next(e for e in got if e["type"] == "response.output_text.done")
    assert done["logprobs"] == [lp("Hel"), lp("lo")]
    final = got[-1]["response"]["output"][0]["content"][0]
    assert final["text"] == "Hello" and final["logprobs"] == [lp("Hel"), lp("lo")]


def test_a_web_search_is_a_whole_web_search_call_item_in_its_place() -> None:
    s = stream()
    search = WebSearch(id="srvtoolu_1", query="q", sources=[WebSource("https://example.com/a", "A")])
    events = s.feed(chunk(role="assistant", content="Let me search."))
    events += s.feed(chunk(web_searches=[search]))
    events += s.feed(chunk(content="Found it.", finish="stop"))
    closing, response = s.close(USAGE)
    out = plain(events + closing)
    assert [e["type"] for e in out][2:] == [
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.web_search_call.in_progress", "response.web_search_call.searching",
        "response.web_search_call.completed", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed"]
    added, done = out[8], out[12]
    assert added["item"] == {"type": "web_search_call", "id": "ws_2", "status": "in_progress",
                             "action": {"type": "search", "query": "q", "sources": [{"type": "url", "url": "https://example.com/a"}]}}
    assert done["item"]["status"] == "completed" and done["output_index"] == 1 and out[10]["item_id"] == "ws_2"
    assert [type(item).__name__ for item in response.output] == ["OutputMessage", "OutputWebSearch", "OutputMessage"]


def test_citations_of_the_open_message_are_annotation_added_events_and_in_its_done_part() -> None:
    s = stream()
    cited = UrlCitationAnnotation(UrlCitation("https://example.com/a", "A", 0, 5))
    events = s.feed(chunk(role="assistant", content="Found"))
    events += s.feed(chunk(annotations=[cited], finish="stop"))
    closing, response = s.close(USAGE)
    out = plain(events + closing)
    annotation = {"type": "url_citation", "url": "https://example.com/a", "title": "A", "start_index": 0, "end_index": 5}
    added = [e for e in out if e["type"] == "response.output_text.annotation.added"]
    assert added == [{"type": "response.output_text.annotation.added", "sequence_number": 5, "item_id": "msg_1",
                      "output_index": 0, "content_index": 0, "annotation_index": 0, "annotation": annotation}]
    done = next(e for e in out if e["type"] == "response.content_part.done")
    assert done["part"]["annotations"] == [annotation]
    assert out[-1]["response"]["output"][0]["content"][0]["annotations"] == [annotation]

"""The official openai SDK's Responses API against every kind of route, end to end.

Routes (tests/e2e/responses/conftest.py): converted to chat for an OpenAI, a Claude and
a Gemini upstream, and passed through to an OpenAI upstream that serves /responses.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.e2e.responses.conftest import ROUTES
from tests.fakes.anthropic import SEARCH_INTRO, SEARCH_RESULTS, FakeAnthropic
from tests.fakes.gemini import GROUNDING_PAGES, FakeGemini
from tests.fakes.openai import PROMPT_TOKENS
from tests.fakes.openai_responses import RESPONSES_INPUT_TOKENS, FakeOpenAIResponses
from tests.harness.procs import wait_until
from tests.harness.stack import Stack

PROVIDER = {"gpt-conv": "oai", "claude-r": "claude", "gemini-r": "gemini", "gpt-native": "oai-native"}
WEATHER = {
    "type": "function", "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False},
    "strict": True,
}


# (input, cached) tokens the OpenAI fakes report on every answer: chat, and /responses
FIXED_USAGE = {"gpt-conv": (PROMPT_TOKENS, 3), "gpt-native": (RESPONSES_INPUT_TOKENS, 2)}


class Reply(BaseModel):
    reply: str


def upstream_bodies(model: str, fakes: dict[str, Any], marker: str) -> list[bytes]:
    """Bodies the route's upstream received that contain `marker`."""
    fake = fakes["gemini" if model == "gemini-r" else "claude" if model == "claude-r" else "openai"]
    return [r.body for r in fake.received if marker.encode() in r.body]


@pytest.fixture
def fakes(fake_responses: FakeOpenAIResponses, fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini) -> dict[str, Any]:
    return {"openai": fake_responses, "claude": fake_anthropic, "gemini": fake_gemini}


@pytest.mark.parametrize("model", ROUTES)
def test_create_answers_text_with_usage_billed_once(rclient: openai.OpenAI, responses_stack: Stack, model: str) -> None:
    raw = rclient.responses.with_raw_response.create(model=model, input="hello there", instructions="Be brief.")
    response = raw.parse()
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.status == "completed" and response.model == model
    assert "hello there" in response.output_text
    assert response.output[-1].type == "message"
    usage = response.usage
    assert usage is not None and usage.output_tokens >= len(response.output_text.split())
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    if model in FIXED_USAGE:
        assert (usage.input_tokens, usage.input_tokens_details.cached_tokens) == FIXED_USAGE[model]
    request_id = raw.headers["x-request-id"]
    event = responses_stack.usage_for(request_id)
    assert (event.model, event.provider, event.status) == (model, PROVIDER[model], "ok")
    assert (event.prompt_tokens, event.completion_tokens) == (usage.input_tokens, usage.output_tokens)
    assert event.cached_tokens == usage.input_tokens_details.cached_tokens and not event.estimated
    assert [e.request_id for e in responses_stack.usage_events()].count(request_id) == 1


@pytest.mark.parametrize("model", ROUTES)
def test_stream_events_parse_in_order_and_end_completed(rclient: openai.OpenAI, responses_stack: Stack, model: str) -> None:
    billed_before = {e.request_id for e in responses_stack.usage_events()}
    with rclient.responses.stream(model=model, input="stream me please") as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
    for kind in ("response.output_item.added", "response.content_part.added", "response.output_text.done",
                 "response.content_part.done", "response.output_item.done"):
        assert kind in types
    assert [e.sequence_number for e in events] == sorted({e.sequence_number for e in events})
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.output_text and "stream me please" in deltas
    assert final.status == "completed" and final.usage is not None
    assert events[0].response.id == final.id
    # the usage the stream ended with is the one billed (this test's is the only new event)
    usage = final.usage
    assert usage.output_tokens >= len(deltas.split()) and usage.total_tokens == usage.input_tokens + usage.output_tokens
    if model in FIXED_USAGE:
        assert (usage.input_tokens, usage.input_tokens_details.cached_tokens) == FIXED_USAGE[model]
    new: list[Any] = []

    def billed() -> bool:
        new[:] = [e for e in responses_stack.usage_events() if e.request_id not in billed_before]
        return bool(new)

    wait_until(billed, 10, "the stream's usage event")
    [event] = new
    assert (event.model, event.status, event.stream, event.estimated) == (model, "ok", True, False)
    assert (event.prompt_tokens, event.cached_tokens, event.completion_tokens) == (
        usage.input_tokens, usage.input_tokens_details.cached_tokens, usage.output_tokens)


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("model", ROUTES)
def test_a_function_call_loop_with_function_call_output(rclient: openai.OpenAI, model: str, stream: bool) -> None:
    history: list[Any] = [{"role": "user", "content": "#scenario tools what is the weather in Paris?"}]
    if stream:
        with rclient.responses.stream(model=model, input=history, tools=[WEATHER], store=False) as s:
            events = list(s)
            first = s.get_final_response()
        types = [e.type for e in events]
        assert "response.function_call_arguments.done" in types
        done = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert done.arguments == next(e for e in events if e.type == "response.output_item.done").item.arguments
    else:
        first = rclient.responses.create(model=model, input=history, tools=[WEATHER], store=False)
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert set(json.loads(calls[0].arguments)) == {"city"}  # each fake picks its own sample city
    assert calls[0].call_id and calls[0].status == "completed"
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny and 21C"})
    second = rclient.responses.create(model=model, input=history, tools=[WEATHER], store=False)
    assert second.status == "completed" and "sunny" in second.output_text
    assert not [o for o in second.output if o.type == "function_call"]


@pytest.mark.parametrize("model", ROUTES)
def test_structured_output_parses(rclient: openai.OpenAI, fakes: dict[str, Any], model: str) -> None:
    parsed = rclient.responses.parse(model=model, input="structured please", text_format=Reply)
    assert isinstance(parsed.output_parsed, Reply) and parsed.output_parsed.reply
    assert parsed.text.format.type == "json_schema"  # type: ignore[union-attr]
    assert upstream_bodies(model, fakes, "structured please")


@pytest.mark.parametrize("model", ROUTES)
def test_previous_response_id_continues_and_the_store_answers_only_its_key(
    rclient: openai.OpenAI, responses_stack: Stack, fakes: dict[str, Any], model: str,
) -> None:
    first = rclient.responses.create(model=model, input=f"remember marker-one-{model}")
    assert first.store is True
    second = rclient.responses.create(model=model, input=f"marker-two-{model}", previous_response_id=first.id)
    assert second.previous_response_id == first.id and f"marker-two-{model}" in second.output_text
    sent = upstream_bodies(model, fakes, f"marker-two-{model}")
    assert sent and f"marker-one-{model}".encode() in sent[-1]  # the first turn went up again
    assert first.output_text.encode() in sent[-1] or model == "gemini-r"  # so did its answer
    assert b"previous_response_id" not in sent[-1]
    # a third turn continues the chain: both earlier turns go up
    third = rclient.responses.create(model=model, input=f"marker-three-{model}", previous_response_id=second.id)
    sent = upstream_bodies(model, fakes, f"marker-three-{model}")
    assert f"marker-one-{model}".encode() in sent[-1] and f"marker-two-{model}".encode() in sent[-1]

    fetched = rclient.responses.retrieve(third.id)
    assert fetched.id == third.id and fetched.output_text == third.output_text and fetched.model == model
    other = openai.OpenAI(base_url=responses_stack.base_url, api_key=responses_stack.create_key(f"other-{model}"),
                          max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        other.responses.retrieve(third.id)
    assert caught.value.code == "response_not_found"
    with pytest.raises(openai.NotFoundError) as caught:
        other.responses.create(model=model, input="steal", previous_response_id=third.id)
    assert caught.value.code == "previous_response_not_found" and caught.value.param == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(third.id)

    rclient.responses.delete(third.id)
    with pytest.raises(openai.NotFoundError):
        rclient.responses.retrieve(third.id)
    with pytest.raises(openai.NotFoundError):
        rclient.responses.create(model=model, input="again", previous_response_id=third.id)
    assert rclient.responses.retrieve(second.id).id == second.id  # the others stay


@pytest.mark.parametrize("model", ROUTES)
def test_store_false_keeps_nothing(rclient: openai.OpenAI, model: str) -> None:
    response = rclient.responses.create(model=model, input="forget me", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        rclient.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        rclient.responses.create(model=model, input="x", previous_response_id=response.id)


@pytest.mark.parametrize("model", ["gpt-conv", "claude-r", "gemini-r"])
def test_built_in_tools_are_a_400_on_converted_routes(rclient: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        rclient.responses.create(model=model, input="search", tools=[WEATHER, {"type": "file_search"}])
    assert caught.value.param == "tools[1]" and caught.value.code == "unsupported_tool"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("search", ["web_search", "web_search_preview"])
def test_web_search_on_an_openai_chat_route_is_left_out_and_named(
    rclient: openai.OpenAI, fakes: dict[str, Any], search: str, stream: bool,
) -> None:
    # Codex's default tool (issue 21): the route has no search, the drop policy leaves it out.
    marker = f"search {search} {stream}"
    raw = rclient.responses.with_raw_response.create(
        model="gpt-conv", input=marker, tools=[WEATHER, {"type": search, "external_web_access": False}],
        stream=stream, store=False)
    assert raw.headers.get("x-gateway-dropped-params") == "tools[1]"
    if stream:
        events = list(raw.parse())  # type: ignore[call-overload]
        assert events[-1].type == "response.completed" and events[-1].response.status == "completed"
    else:
        assert raw.parse().status == "completed"  # type: ignore[union-attr]
    sent = json.loads(upstream_bodies("gpt-conv", fakes, marker)[-1])
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]
    with pytest.raises(openai.BadRequestError) as caught:  # drop_params = false: the clear 400
        rclient.responses.create(model="gpt-strict", input="x", tools=[WEATHER, {"type": search}])
    assert caught.value.param == "tools[1]" and caught.value.code == "unsupported_tool"
    assert search in caught.value.message


@pytest.mark.parametrize("search", ["web_search", "web_search_preview"])
def test_web_search_on_a_claude_route_is_claudes_server_search_with_its_sources_in_order(
    rclient: openai.OpenAI, fakes: dict[str, Any], search: str,
) -> None:
    marker = f"#scenario web_search\nnews of {search}"
    tools = [WEATHER, {"type": search, "external_web_access": True}]
    raw = rclient.responses.with_raw_response.create(model="claude-r", input=marker, tools=tools, store=False)
    response = raw.parse()
    assert "x-gateway-dropped-params" not in raw.headers
    sent = json.loads(upstream_bodies("claude-r", fakes, f"news of {search}")[-1])
    assert sent["tools"][0] == {"type": "web_search_20250305", "name": "web_search"}
    assert [t.get("name") for t in sent["tools"]] == ["web_search", "get_weather"]
    sources = [{"type": "url", "url": r["url"]} for r in SEARCH_RESULTS]
    call, message = response.output
    assert call.type == "web_search_call" and call.status == "completed" and call.id.startswith("ws_")
    assert call.action.model_dump(exclude_none=True) == {"type": "search", "query": f"news of {search}", "sources": sources}
    assert message.type == "message" and response.output_text == f"{SEARCH_INTRO}Searched: news of {search}"
    # the cited text block as a url_citation over its place in the text
    start = len(SEARCH_INTRO)
    citation = {"type": "url_citation", "url": SEARCH_RESULTS[0]["url"], "title": SEARCH_RESULTS[0]["title"],
                "start_index": start, "end_index": len(response.output_text)}
    assert [a.model_dump() for a in message.content[0].annotations] == [citation]  # type: ignore[union-attr]
    with rclient.responses.stream(model="claude-r", input=marker, tools=tools, store=False) as events:
        seen = [(e.type, getattr(e, "output_index", None)) for e in events]
        final = events.get_final_response()
    assert [t for t, i in seen if i == 1] == [
        "response.output_item.added", "response.web_search_call.in_progress", "response.web_search_call.searching",
        "response.web_search_call.completed", "response.output_item.done"]
    assert [item.type for item in final.output] == ["message", "web_search_call", "message"]
    streamed = final.output[1]
    assert streamed.type == "web_search_call" and streamed.action.model_dump(exclude_none=True)["sources"] == sources
    assert final.output_text == f"{SEARCH_INTRO}Searched: news of {search}"
    cited = final.output[2]
    assert cited.type == "message" and [a.model_dump() for a in cited.content[0].annotations] == [  # type: ignore[union-attr]
        {**citation, "start_index": 0, "end_index": len(f"Searched: news of {search}")}]
    assert ("response.output_text.annotation.added", 2) in seen


@pytest.mark.parametrize("stream", [False, True])
def test_web_search_on_a_gemini_route_is_google_search_grounding_unless_functions_come_with_it(
    rclient: openai.OpenAI, fakes: dict[str, Any], stream: bool,
) -> None:
    query = f"grounded news {stream}"
    if stream:
        with rclient.responses.stream(model="gemini-r", input=query, tools=[{"type": "web_search"}], store=False) as events:
            seen = [(e.type, getattr(e, "output_index", None)) for e in events]
            response = events.get_final_response()
        assert [t for t, i in seen if i == 1] == [
            "response.output_item.added", "response.web_search_call.in_progress",
            "response.web_search_call.searching", "response.web_search_call.completed", "response.output_item.done"]
        message, call = response.output
    else:
        response = rclient.responses.create(model="gemini-r", input=query, tools=[{"type": "web_search"}], store=False)
        call, message = response.output
    assert json.loads(upstream_bodies("gemini-r", fakes, query)[-1])["tools"] == [{"googleSearch": {}}]
    assert message.type == "message" and response.output_text == query
    assert call.type == "web_search_call" and call.status == "completed"
    assert call.action.model_dump(exclude_none=True) == {
        "type": "search", "query": query, "sources": [{"type": "url", "url": url} for url, _ in GROUNDING_PAGES]}
    # Codex sends function tools too, which generateContent refuses beside googleSearch: the drop policy decides.
    raw = rclient.responses.with_raw_response.create(
        model="gemini-r", input=f"with functions {stream}", tools=[WEATHER, {"type": "web_search"}], store=False)
    assert raw.headers.get("x-gateway-dropped-params") == "tools[1]" and raw.parse().status == "completed"
    sent = json.loads(upstream_bodies("gemini-r", fakes, f"with functions {stream}")[-1])
    assert [list(t) for t in sent["tools"]] == [["functionDeclarations"]]


def test_built_in_tools_pass_through_to_an_upstream_that_serves_responses(
    rclient: openai.OpenAI, fakes: dict[str, Any],
) -> None:
    raw = rclient.responses.with_raw_response.create(
        model="gpt-native", input="search natively", tools=[{"type": "web_search"}],
        include=["reasoning.encrypted_content"], store=False)
    assert raw.parse().status == "completed" and "x-gateway-dropped-params" not in raw.headers
    sent = json.loads(upstream_bodies("gpt-native", fakes, "search natively")[-1])
    assert sent["tools"] == [{"type": "web_search"}] and sent["include"] == ["reasoning.encrypted_content"]
    assert sent["model"] == "gpt-native-upstream" and sent["store"] is False


def test_bad_input_is_a_400_naming_the_item(rclient: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        rclient.responses.create(model="gpt-conv", input=[{"role": "user"}])  # type: ignore[list-item]
    assert caught.value.param == "input[0].content"
    with pytest.raises(openai.NotFoundError):
        rclient.responses.create(model="no-such-model", input="x")


def test_claude_thinking_streams_as_reasoning_summary_and_goes_back_signed_in_a_tool_loop(
    rclient: openai.OpenAI, fakes: dict[str, Any],
) -> None:
    history: list[Any] = [{"role": "user", "content": "#scenario tools thinking-loop weather?"}]
    with rclient.responses.stream(model="claude-r", input=history, tools=[WEATHER], reasoning={"effort": "low"},
                                  store=False) as stream:
        events = list(stream)
        first = stream.get_final_response()
    types = [e.type for e in events]
    for kind in ("response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
                 "response.reasoning_summary_text.done", "response.reasoning_summary_part.done"):
        assert kind in types
    assert [o.type for o in first.output] == ["reasoning", "function_call"]
    summary = first.output[0].summary[0].text  # type: ignore[union-attr]
    assert summary and summary == next(e.text for e in events if e.type == "response.reasoning_summary_text.done")
    call = first.output[1]
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny"})  # type: ignore[union-attr]
    second = rclient.responses.create(model="claude-r", input=history, tools=[WEATHER], reasoning={"effort": "low"},
                                      store=False)
    assert "sunny" in second.output_text
    sent = json.loads(upstream_bodies("claude-r", fakes, "thinking-loop")[-1])
    blocks = sent["messages"][1]["content"]
    assert blocks[0]["type"] == "thinking" and blocks[0]["thinking"] == summary and blocks[0]["signature"]
    assert blocks[-1]["type"] == "tool_use"

"""Chat's `web_search_options` -> Google Search grounding, and its search back (issue 21)."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from gateway.contracts.openai import ChatCompletion
from tests.workers.providers.gemini.conftest import as_json, chat_request, make_ctx
from workers.providers.base import SseEvent
from workers.providers.gemini.response import to_chat_result
from workers.providers.gemini.stream import GeminiStream
from workers.providers.gemini.tools import to_gemini_tools

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
# As Gemini reports a grounded answer (GroundingMetadata in the v1beta spec).
GROUNDING = {
    "searchEntryPoint": {"renderedContent": "<style>...</style>"},
    "groundingChunks": [{"web": {"uri": "https://example.com/a", "title": "example.com"}},
                        {"web": {"uri": "https://example.org/b", "title": "example.org"}}],
    "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": 9, "text": "Found it."}, "groundingChunkIndices": [0]}],
    "webSearchQueries": ["gateway news", "gateway release"],
}
SEARCH = {"id": "ws_1", "query": "gateway news",
          "sources": [{"url": "https://example.com/a", "title": "example.com"},
                      {"url": "https://example.org/b", "title": "example.org"}]}


def _tools(**body: Any) -> Any:
    return as_json(to_gemini_tools(chat_request({"messages": [{"role": "user", "content": "hi"}], **body})[0]))


def test_web_search_options_ask_for_google_search() -> None:
    assert _tools(web_search_options={}) == [{"googleSearch": {}}]
    assert _tools(web_search_options={}, tools=[WEATHER])[1] == {"googleSearch": {}}
    assert to_gemini_tools(chat_request({"messages": [{"role": "user", "content": "hi"}]})[0]) is msgspec.UNSET


def _candidate(text: str, finish: str | None, grounding: dict[str, Any] | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    if grounding:
        candidate["groundingMetadata"] = grounding
    return candidate


def test_a_grounded_answer_carries_its_search() -> None:
    body = {"candidates": [_candidate("Found it.", "STOP", GROUNDING)],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}}
    result = to_chat_result(json.dumps(body).encode(), make_ctx())
    assert isinstance(result.body, ChatCompletion)
    message = as_json(result.body)["choices"][0]["message"]
    assert message["content"] == "Found it." and message["web_searches"] == [SEARCH]
    plain = {"candidates": [_candidate("No search.", "STOP", None)]}
    assert "web_searches" not in as_json(to_chat_result(json.dumps(plain).encode(), make_ctx()).body)["choices"][0]["message"]


def test_a_stream_sends_the_search_once_when_grounding_reports_it() -> None:
    stream = GeminiStream(make_ctx())
    chunks = []
    for payload in ({"candidates": [_candidate("Found ", None, None)]},
                    {"candidates": [_candidate("it.", "STOP", GROUNDING)]}):
        chunks += [as_json(c) for c in stream.feed(SseEvent(data=json.dumps(payload)))]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [{"role": "assistant", "content": "Found "}, {"content": "it."}, {"web_searches": [SEARCH]}, {}]

"""Chat's `web_search_options` -> Claude's server web search tool, and its searches back (issue 21)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from gateway.contracts.config import ModelOptions
from gateway.contracts.openai import JSON_ENCODER, ChatCompletion
from tests.workers.providers.anthropic.test_request import TARGET, WEATHER, _wire
from tests.workers.providers.anthropic.test_stream import _ctx, _event, _feed
from workers.providers.anthropic.response import to_chat_result
from workers.providers.anthropic.stream import AnthropicStream

SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search"}
# A reply with a web search, as Claude writes it: text, the search, its results, cited text.
RESULTS = [
    {"type": "web_search_result", "url": "https://example.com/a", "title": "A", "encrypted_content": "EqA", "page_age": None},
    {"type": "web_search_result", "url": "https://example.com/b", "title": "B", "encrypted_content": "EqB"},
]
CONTENT: list[dict[str, Any]] = [
    {"type": "text", "text": "Let me search."},
    {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "gateway news"}},
    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": RESULTS},
    {"type": "text", "text": "Found it.", "citations": [{"type": "web_search_result_location", "url": "https://example.com/a",
                                                         "title": "A", "encrypted_index": "Eo", "cited_text": "x"}]},
]
CITED = [{"type": "url_citation", "url_citation": {"url": "https://example.com/a", "title": "A", "start_index": 14,
                                                   "end_index": 23}}]  # "Found it." after "Let me search."
SEARCH = {"id": "srvtoolu_01", "query": "gateway news",
          "sources": [{"url": "https://example.com/a", "title": "A"}, {"url": "https://example.com/b", "title": "B"}]}


def test_web_search_options_offer_the_server_tool_first() -> None:
    assert _wire(web_search_options={}, tools=[WEATHER])["tools"][0] == SEARCH_TOOL
    assert _wire(web_search_options={})["tools"] == [SEARCH_TOOL]
    assert "tools" not in _wire()
    auto = replace(TARGET, options=ModelOptions(max_output_tokens=8192, prompt_cache="auto"))
    tools = _wire(auto, web_search_options={}, tools=[WEATHER])["tools"]
    assert tools[0] == SEARCH_TOOL and tools[1]["cache_control"] == {"type": "ephemeral"}
    assert _wire(auto, web_search_options={})["tools"] == [SEARCH_TOOL]  # a server tool gets no breakpoint


def test_a_whole_reply_carries_its_searches_in_order() -> None:
    body = json.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                       "content": CONTENT, "stop_reason": "end_turn", "stop_sequence": None,
                       "usage": {"input_tokens": 10, "output_tokens": 5,
                                 "server_tool_use": {"web_search_requests": 1}}}).encode()
    result = to_chat_result(body, _ctx())
    assert isinstance(result.body, ChatCompletion)
    message = json.loads(JSON_ENCODER.encode(result.body))["choices"][0]["message"]
    assert message["content"] == "Let me search.Found it." and message["web_searches"] == [SEARCH]
    assert message["annotations"] == CITED


def test_a_failed_search_has_no_sources() -> None:
    content = [CONTENT[1], {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01",
                            "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}}]
    body = json.dumps({"content": content, "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}})
    result = to_chat_result(body.encode(), _ctx())
    assert isinstance(result.body, ChatCompletion)
    assert result.body.choices[0].message.web_searches[0].sources == []  # type: ignore[index]


def test_a_stream_sends_each_search_when_its_result_comes_and_citations_after_their_text() -> None:
    search_start = {**CONTENT[1], "input": {}}
    chunks = _feed(AnthropicStream(_ctx()), [
        _event({"type": "message_start", "message": {"content": [], "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        _event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        _event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me search."}}),
        _event({"type": "content_block_stop", "index": 0}),
        _event({"type": "content_block_start", "index": 1, "content_block": search_start}),
        _event({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        _event({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"query": "gat'}}),
        _event({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": 'eway news"}'}}),
        _event({"type": "content_block_stop", "index": 1}),
        _event({"type": "content_block_start", "index": 2, "content_block": CONTENT[2]}),
        _event({"type": "content_block_stop", "index": 2}),
        _event({"type": "content_block_start", "index": 3, "content_block": {"type": "text", "text": "", "citations": []}}),
        _event({"type": "content_block_delta", "index": 3, "delta": {"type": "citations_delta", "citation": CONTENT[3]["citations"][0]}}),
        _event({"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "Found it."}}),
        _event({"type": "content_block_stop", "index": 3}),
    ])
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "Let me search."},
                      {"web_searches": [SEARCH]}, {"content": "Found it."}, {"annotations": CITED}]

"""A captured Codex turn replayed byte for byte: the history after a `view_image` call.

Codex 0.171.0 resends the whole conversation every turn (`store: false`), so an item the
gateway cannot take kills the session (audit 2026-12-03, finding 3). The body below is
the shape Codex POSTs (its `codex exec` trace, as the audit describes it): its base
prompt as a `developer` item, the user turn, the reasoning item it echoes, the
`view_image` call and its output, which is only an image
(codex-rs/core/src/tools/handlers/view_image.rs: `FunctionCallOutputBody::ContentItems`
with one `input_image`), its tools (function tools and the `multi_agent_v1` namespace),
and `prompt_cache_key` (its thread id) on every request.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.responses.conftest import ROUTES
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_responses import FakeOpenAIResponses
from tests.harness.stack import Stack

PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
       "awAAAABJRU5ErkJggg==")
THREAD = "019a7c2e-5b1d-7f30-9e2a-6c1f0d8b4e11"
SCHEMA: dict[str, Any] = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"],
                          "additionalProperties": False}


def codex_body(model: str, marker: str) -> dict[str, Any]:
    """What Codex sends for the turn after `view_image` returned."""
    return {
        "model": model,
        "input": [
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "You are Codex, a coding agent. (base prompt)"}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text",
                          "text": "<environment_context>\n  <cwd>/w</cwd>\n</environment_context>"}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": f"what is in shot.png? {marker}"}]},
            {"type": "reasoning", "id": "rs_gw_0a1b2c3d4e5f60718293a4b5", "summary": [
                {"type": "summary_text", "text": "I should look at the image."}],
             "content": None, "encrypted_content": None},
            {"type": "function_call", "name": "view_image", "arguments": "{\"path\":\"shot.png\"}",
             "call_id": "call_view_1"},
            {"type": "function_call_output", "call_id": "call_view_1",
             "output": [{"type": "input_image", "image_url": PNG}]},
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "description": "Runs a command.", "strict": False,
             "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"],
                            "additionalProperties": False}},
            {"type": "function", "name": "view_image", "description": "Attach a local image.", "strict": False,
             "parameters": SCHEMA},
            {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.", "tools": [
                {"type": "function", "name": "spawn_agent", "description": "Spawn.", "strict": False,
                 "parameters": {"type": "object", "properties": {"message": {"type": "string"}}}}]},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": THREAD,
    }


def sent_upstream(model: str, fakes: dict[str, Any], marker: str) -> dict[str, Any]:
    fake = fakes.get(model, fakes["openai"])
    bodies = [json.loads(r.body) for r in fake.received if marker.encode() in r.body]
    assert len(bodies) == 1
    return bodies[0]


@pytest.fixture
def fakes(fake_responses: FakeOpenAIResponses, fake_anthropic: FakeAnthropic,
          fake_gemini: FakeGemini) -> dict[str, Any]:
    return {"openai": fake_responses, "claude-r": fake_anthropic, "gemini-r": fake_gemini}


def check_upstream(model: str, sent: dict[str, Any]) -> None:
    """The image reaches each upstream in its own protocol's place for a tool's image."""
    if model == "gpt-conv":
        messages = sent["messages"]
        tool = next(i for i, m in enumerate(messages) if m["role"] == "tool")
        assert messages[tool] == {"role": "tool", "content": "", "tool_call_id": "call_view_1"}
        assert messages[tool + 1] == {"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}
        assert "reasoning_content" not in json.dumps(messages)  # finding 7
        assert sent["prompt_cache_key"] == THREAD  # finding 9
    elif model == "claude-r":
        turn = sent["messages"][-1]
        assert turn["role"] == "user" and [b["type"] for b in turn["content"]] == ["tool_result"]
        result = turn["content"][0]
        assert result["tool_use_id"] == "call_view_1" and [b["type"] for b in result["content"]] == ["image"]
        assert result["content"][0]["source"]["data"] == PNG.split(",", 1)[1]
    elif model == "gemini-r":
        turn = sent["contents"][-1]
        assert turn["role"] == "user"
        assert [next(iter(p)) for p in turn["parts"]] == ["functionResponse", "inlineData"]
        assert turn["parts"][0]["functionResponse"]["name"] == "view_image"
        assert turn["parts"][1]["inlineData"] == {"mimeType": "image/png", "data": PNG.split(",", 1)[1]}
    else:
        assert sent["input"][-1] == codex_body(model, "")["input"][-1]  # as sent


@pytest.mark.parametrize("model", ROUTES)
def test_codex_history_with_a_view_image_result_continues_on_every_route(
    responses_stack: Stack, responses_key: str, fakes: dict[str, Any], model: str,
) -> None:
    marker = f"codex-replay-{model}"
    with httpx.Client(base_url=responses_stack.base_url, timeout=20) as http, http.stream(
        "POST", "/responses", json=codex_body(model, marker), headers={"authorization": f"Bearer {responses_key}"},
    ) as reply:
        text = reply.read().decode()
    assert reply.status_code == 200, text
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert events[-1]["type"] == "response.completed", events[-1]
    assert events[-1]["response"]["output"][-1]["type"] == "message"
    check_upstream(model, sent_upstream(model, fakes, marker))


def test_a_chain_from_a_converted_route_continues_on_a_pass_through_route(
    responses_stack: Stack, responses_key: str, fake_responses: FakeOpenAIResponses,
) -> None:
    # Finding 13: the README says a chain may cross providers; OpenAI looks up item ids.
    client = openai.OpenAI(base_url=responses_stack.base_url, api_key=responses_key, max_retries=0, timeout=20)
    first = client.responses.create(model="claude-r", input="#scenario thinking chain-cross",
                                    reasoning={"effort": "low"})
    assert [o.type for o in first.output] == ["reasoning", "message"]
    second = client.responses.create(model="gpt-native", input="and now? chain-cross-2", previous_response_id=first.id)
    assert second.status == "completed" and second.previous_response_id == first.id
    sent = json.loads(next(r.body for r in fake_responses.received if b"chain-cross-2" in r.body))
    assert [i.get("type", "message") for i in sent["input"]] == ["message", "message", "message"]
    assert sent["input"][1]["content"][0]["text"] == first.output_text and "id" not in sent["input"][1]

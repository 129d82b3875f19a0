"""A Messages tool loop on a Gemini route keeps Gemini's thought signature (audit
2026-12-03, note 13): Claude Code echoes a call back as its `tool_use` block, whose id
carries the signature (workers/providers/gemini/signatures.py)."""

from __future__ import annotations

import json
from typing import Any

import anthropic

from tests.fakes.gemini import FakeGemini
from tests.harness.stack import Stack

WEATHER = {"name": "get_weather", "description": "The weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def test_a_gemini_tool_use_goes_back_with_its_signature(stack: Stack, api_key: str, fake_gemini: FakeGemini) -> None:
    claude = anthropic.Anthropic(base_url=stack.base_url.removesuffix("/v1"), api_key=api_key, max_retries=0,
                                 timeout=20)
    messages: list[Any] = [{"role": "user", "content": "#scenario tools msg-sig-loop"}]
    with claude.messages.stream(model="msg-gemini", max_tokens=300, tools=[WEATHER], messages=messages) as stream:
        first = stream.get_final_message()
    call = next(b for b in first.content if b.type == "tool_use")
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]}]
    second = claude.messages.create(model="msg-gemini", max_tokens=300, tools=[WEATHER], messages=messages)
    assert second.stop_reason == "end_turn"
    sent = json.loads([r.body for r in fake_gemini.received if b"msg-sig-loop" in r.body][-1])
    (model_turn,) = [c for c in sent["contents"] if c["role"] == "model"]
    call_part = next(p for p in model_turn["parts"] if "functionCall" in p)
    assert call_part["thoughtSignature"] in fake_gemini.issued_signatures  # not the placeholder

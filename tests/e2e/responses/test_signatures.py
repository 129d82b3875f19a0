"""Gemini's thought signatures survive a Responses tool loop, and a session that then
moves to an OpenAI-kind route (audit 2026-12-03, note 13).

Codex echoes a call back as `{type, name, arguments, call_id}` only: the signature must
ride in `call_id` (workers/providers/gemini/signatures.py), and an id that long must be
shortened for OpenAI, which refuses tool call ids over 40 characters in chat and `call_id`s
over 64 in Responses.
"""

from __future__ import annotations

import json
from typing import Any

import openai

from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_responses import FakeOpenAIResponses

WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def test_a_gemini_call_keeps_its_signature_through_codex_and_crosses_to_openai(
    rclient: openai.OpenAI, fake_gemini: FakeGemini, fake_responses: FakeOpenAIResponses,
) -> None:
    history: list[Any] = [{"role": "user", "content": "#scenario tools sig-loop weather?"}]
    with rclient.responses.stream(model="gemini-r", input=history, tools=[WEATHER], store=False) as stream:
        first = stream.get_final_response()
    (call,) = [o for o in first.output if o.type == "function_call"]
    history += [{"type": "function_call", "name": call.name, "arguments": call.arguments, "call_id": call.call_id},
                {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]
    second = rclient.responses.create(model="gemini-r", input=history, tools=[WEATHER], store=False)
    assert second.status == "completed"
    sent = json.loads([r.body for r in fake_gemini.received if b"sig-loop" in r.body][-1])
    (model_turn,) = [c for c in sent["contents"] if c["role"] == "model"]
    assert model_turn["parts"][0]["thoughtSignature"] in fake_gemini.issued_signatures  # not the placeholder

    history[0] = {"role": "user", "content": "#scenario tools sig-cross weather?"}
    third = rclient.responses.create(model="gpt-conv", input=history, tools=[WEATHER], store=False)
    assert third.status == "completed" and "sunny" in third.output_text
    chat = json.loads([r.body for r in fake_responses.received if b"sig-cross" in r.body][-1])
    assistant, tool = chat["messages"][1], chat["messages"][2]
    assert len(assistant["tool_calls"][0]["id"]) <= 40 and tool["tool_call_id"] == assistant["tool_calls"][0]["id"]

    history[0] = {"role": "user", "content": "#scenario tools sig-native weather?"}  # OpenAI's own /responses
    fourth = rclient.responses.create(model="gpt-native", input=history, tools=[WEATHER], store=False)
    assert fourth.status == "completed" and "sunny" in fourth.output_text
    sent = json.loads([r.body for r in fake_responses.received if b"sig-native" in r.body][-1])
    call_item, output_item = sent["input"][1], sent["input"][2]
    assert len(call_item["call_id"]) <= 64 and output_item["call_id"] == call_item["call_id"]

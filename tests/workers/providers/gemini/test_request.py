"""ChatRequest -> GenerateContentRequest (PITFALLS 4, 5, 13, 15, 17)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from msgspec import UnsetType

from gateway.contracts.config import GeminiModelFlags
from gateway.contracts.openai import CHAT_REQUEST_DECODER
from tests.workers.providers.gemini.conftest import as_json, chat_request
from workers.providers.base import ConversionError
from workers.providers.gemini.signatures import call_signature, signed_call_id
from workers.providers.gemini.request import (
    DUMMY_THOUGHT_SIGNATURE,
    to_generate_content_request,
)

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def convert(flags: GeminiModelFlags = GeminiModelFlags(), **body: Any) -> Any:
    req, raw = chat_request(body)
    return as_json(to_generate_content_request(req, raw, flags))


def refused(flags: GeminiModelFlags = GeminiModelFlags(), **body: Any) -> ConversionError:
    req, raw = chat_request(body)
    with pytest.raises(ConversionError) as info:
        to_generate_content_request(req, raw, flags)
    assert info.value.status == 400
    return info.value


def call(call_id: str, name: str, arguments: str, signature: str | None = None) -> dict[str, Any]:
    tool_call: dict[str, Any] = {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    if signature:
        tool_call["extra_content"] = {"google": {"thought_signature": signature}}
    return tool_call


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


# ---------------------------------------------------------------- whole body


def test_request_body_is_camel_case_wire_json_with_only_what_was_set() -> None:
    req, raw = chat_request(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
            "temperature": 0.2,
            "max_completion_tokens": 50,
        }
    )
    from workers.providers.gemini.schema import REQUEST_ENCODER

    assert REQUEST_ENCODER.encode(to_generate_content_request(req, raw)) == (
        b'{"contents":[{"parts":[{"text":"Hi"}],"role":"user"}],'
        b'"systemInstruction":{"parts":[{"text":"Be brief."}]},'
        b'"generationConfig":{"maxOutputTokens":50,"temperature":0.2}}'
    )


def test_plain_request_sends_no_generation_config() -> None:
    assert convert(messages=[{"role": "user", "content": "Hi"}]) == {"contents": [user("Hi")]}


# ---------------------------------------------------------------- issue 11, item 9


def test_issue_11_a_history_starting_with_a_tool_call_gets_a_placeholder_user_turn() -> None:
    # agents that trim old turns send a conversation whose first message is a tool call
    body = convert(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "assistant", "content": None, "tool_calls": [call("c1", "lookup", '{"q": "x"}')]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
            {"role": "user", "content": "And now?"},
        ]
    )
    assert body["contents"] == [
        user("."),
        {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"q": "x"}},
                                     "thoughtSignature": DUMMY_THOUGHT_SIGNATURE}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {"result": "42"}}},
                                   {"text": "And now?"}]},
    ]


def test_a_history_starting_with_assistant_text_gets_the_placeholder_too() -> None:
    body = convert(messages=[{"role": "assistant", "content": "Hello, how can I help?"},
                             {"role": "user", "content": "Hi"}])
    assert body["contents"] == [
        user("."), {"role": "model", "parts": [{"text": "Hello, how can I help?"}]}, user("Hi")
    ]


# ---------------------------------------------------------------- system prompts (PITFALLS 5)


# PITFALLS 5
def test_system_and_developer_messages_anywhere_join_system_instruction_in_order() -> None:
    body = convert(
        messages=[
            {"role": "system", "content": "Rule one."},
            {"role": "user", "content": "Hi"},
            {"role": "developer", "content": [{"type": "text", "text": "Rule two."}]},
            {"role": "assistant", "content": "Hello"},
            {"role": "system", "content": "Rule three."},
            {"role": "user", "content": "Bye"},
        ]
    )
    assert body == {
        "contents": [user("Hi"), {"role": "model", "parts": [{"text": "Hello"}]}, user("Bye")],
        "systemInstruction": {
            "parts": [{"text": "Rule one."}, {"text": "Rule two."}, {"text": "Rule three."}]
        },
    }


# PITFALLS 5
def test_system_only_request_sends_the_system_text_as_the_user_turn() -> None:
    body = convert(
        messages=[
            {"role": "system", "content": "Say hello."},
            {"role": "developer", "content": "Politely."},
        ]
    )
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "Say hello."}, {"text": "Politely."}]}]
    }


def test_empty_system_messages_add_nothing() -> None:
    body = convert(
        messages=[{"role": "system", "content": "  "}, {"role": "user", "content": "Hi"}]
    )
    assert body == {"contents": [user("Hi")]}


# ---------------------------------------------------------------- roles and merging


def test_consecutive_same_role_messages_merge_into_one_turn() -> None:
    body = convert(
        messages=[
            {"role": "user", "content": "one"},
            {"role": "user", "content": [{"type": "text", "text": "two"}]},
            {"role": "assistant", "content": "three"},
            {"role": "assistant", "content": [{"type": "text", "text": "four"}]},
        ]
    )
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
        {"role": "model", "parts": [{"text": "three"}, {"text": "four"}]},
    ]


def test_assistant_refusal_in_history_is_sent_as_model_text() -> None:
    body = convert(
        messages=[
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
            {"role": "assistant", "content": None, "refusal": "Still no."},
            {"role": "user", "content": "y"},
        ]
    )
    assert body["contents"][1] == {
        "role": "model",
        "parts": [{"text": "I can't."}, {"text": "Still no."}],
    }


# ---------------------------------------------------------------- empty content (PITFALLS 4)


# PITFALLS 4
def test_empty_and_whitespace_content_never_becomes_a_part() -> None:
    body = convert(
        messages=[
            {"role": "user", "content": ""},
            {"role": "user", "content": "   \n"},
            {"role": "user", "content": []},
            {
                "role": "user",
                "content": [{"type": "text", "text": ""}, {"type": "text", "text": "real"}],
            },
            {"role": "assistant", "content": "", "tool_calls": [call("c1", "f", "{}")]},
            {"role": "tool", "tool_call_id": "c1", "content": ""},
            {"role": "assistant", "content": None},
            {"role": "assistant", "content": []},
            {"role": "assistant", "content": " "},
            {"role": "user", "content": [{"type": "text", "text": " "}]},
        ]
    )
    assert body["contents"] == [
        user("real"),
        {
            "role": "model",
            "parts": [
                {
                    "thoughtSignature": DUMMY_THOUGHT_SIGNATURE,
                    "functionCall": {"name": "f", "args": {}},
                }
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "f", "response": {"result": ""}}}],
        },
    ]


def test_messages_with_no_content_at_all_are_refused() -> None:
    err = refused(messages=[{"role": "user", "content": " "}, {"role": "system", "content": ""}])
    assert err.error.param == "messages"


# ---------------------------------------------------------------- tool calls and results


def test_tool_calls_become_function_calls_after_the_text() -> None:
    body = convert(
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": "Let me look.",
                "tool_calls": [
                    call("c1", "get_weather", '{"city": "Paris", "days": 2}'),
                    call("c2", "now", ""),
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 21}'},
            {"role": "tool", "tool_call_id": "c2", "content": "12:00"},
        ]
    )
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"text": "Let me look."},
                {
                    "thoughtSignature": DUMMY_THOUGHT_SIGNATURE,
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris", "days": 2}},
                },
                {"functionCall": {"name": "now", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "now", "response": {"result": "12:00"}}},
            ],
        },
    ]


# PITFALLS 13
def test_parallel_results_in_another_order_are_paired_by_id_in_call_order() -> None:
    calls = [call("a", "f1", '{"i": 1}'), call("b", "f2", '{"i": 2}'), call("c", "f3", '{"i": 3}')]
    body = convert(
        messages=[
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "c", "content": "three"},
            {"role": "tool", "tool_call_id": "a", "content": "one"},
            {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "two"}]},
        ]
    )
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "f1", "response": {"result": "one"}}},
            {"functionResponse": {"name": "f2", "response": {"result": "two"}}},
            {"functionResponse": {"name": "f3", "response": {"result": "three"}}},
        ],
    }


def test_tool_result_that_is_not_a_json_object_is_wrapped_as_text() -> None:
    calls = [call("a", "f", "{}"), call("b", "f", "{}"), call("c", "f", "{}")]
    body = convert(
        messages=[
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "a", "content": "[1, 2]"},
            {"role": "tool", "tool_call_id": "b", "content": "42"},
            {"role": "tool", "tool_call_id": "c", "content": '{"ok": true, "items": [1]}'},
        ]
    )
    assert [p["functionResponse"]["response"] for p in body["contents"][2]["parts"]] == [
        {"result": "[1, 2]"},
        {"result": "42"},
        {"ok": True, "items": [1]},
    ]


def test_user_text_after_tool_results_joins_the_same_user_turn() -> None:
    body = convert(
        messages=[
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [call("a", "f", "{}")]},
            {"role": "tool", "tool_call_id": "a", "content": "done"},
            {"role": "user", "content": "thanks, now summarise"},
        ]
    )
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "f", "response": {"result": "done"}}},
            {"text": "thanks, now summarise"},
        ],
    }


def test_invalid_tool_call_arguments_are_400_naming_them() -> None:
    err = refused(
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("a", "f", "{}"), call("b", "g", "{not json")],
            },
            {"role": "tool", "tool_call_id": "a", "content": "x"},
            {"role": "tool", "tool_call_id": "b", "content": "y"},
        ]
    )
    assert err.error.param == "messages[1].tool_calls[1].function.arguments"


def test_tool_message_for_an_unknown_call_is_refused() -> None:
    err = refused(
        messages=[
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [call("a", "f", "{}")]},
            {"role": "tool", "tool_call_id": "a", "content": "x"},
            {"role": "tool", "tool_call_id": "zzz", "content": "y"},
        ]
    )
    assert err.error.param == "messages[3].tool_call_id"


def test_tool_message_after_a_user_message_is_refused() -> None:
    err = refused(
        messages=[
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [call("a", "f", "{}")]},
            {"role": "tool", "tool_call_id": "a", "content": "x"},
            {"role": "user", "content": "more"},
            {"role": "tool", "tool_call_id": "a", "content": "again"},
        ]
    )
    assert err.error.param == "messages[4].tool_call_id"


def test_tool_call_without_a_result_is_refused() -> None:
    err = refused(
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("a", "f", "{}"), call("b", "g", "{}")],
            },
            {"role": "tool", "tool_call_id": "a", "content": "x"},
            {"role": "user", "content": "next"},
        ]
    )
    assert err.error.param == "messages[1].tool_calls[1]"
    assert (
        err.error.message
        == "'messages[1].tool_calls[1]' (id 'b') has no tool message answering it."
    )


def test_a_call_answered_twice_is_refused() -> None:
    err = refused(
        messages=[
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [call("a", "f", "{}")]},
            {"role": "tool", "tool_call_id": "a", "content": "x"},
            {"role": "tool", "tool_call_id": "a", "content": "y"},
        ]
    )
    assert err.error.param == "messages[3].tool_call_id"


def test_repeated_tool_call_ids_in_one_message_are_refused() -> None:
    err = refused(
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("a", "f", "{}"), call("a", "g", "{}")],
            },
            {"role": "tool", "tool_call_id": "a", "content": "x"},
        ]
    )
    assert err.error.param == "messages[1].tool_calls[1].id"


def test_same_call_id_in_a_later_turn_pairs_with_the_latest_assistant_message() -> None:
    body = convert(
        messages=[
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [call("call_0", "first", "{}")]},
            {"role": "tool", "tool_call_id": "call_0", "content": "1"},
            {"role": "assistant", "content": None, "tool_calls": [call("call_0", "second", "{}")]},
            {"role": "tool", "tool_call_id": "call_0", "content": "2"},
        ]
    )
    assert body["contents"][4]["parts"] == [
        {"functionResponse": {"name": "second", "response": {"result": "2"}}}
    ]


# ---------------------------------------------------------------- thought signatures (PITFALLS 15)


# PITFALLS 15
def test_echoed_thought_signatures_go_back_on_their_parts() -> None:
    body = convert(
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("a", "f", "{}", signature="U0lHLUE="), call("b", "f", "{}")],
            },
            {"role": "tool", "tool_call_id": "a", "content": "x"},
            {"role": "tool", "tool_call_id": "b", "content": "y"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("c", "g", "{}", signature="U0lHLUM=")],
            },
            {"role": "tool", "tool_call_id": "c", "content": "z"},
        ]
    )
    assert body["contents"][1]["parts"] == [
        {"thoughtSignature": "U0lHLUE=", "functionCall": {"name": "f", "args": {}}},
        {"functionCall": {"name": "f", "args": {}}},
    ]
    assert body["contents"][3]["parts"] == [
        {"thoughtSignature": "U0lHLUM=", "functionCall": {"name": "g", "args": {}}}
    ]


def test_signatures_follow_their_turn_when_clients_reuse_call_ids() -> None:
    body = convert(
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("call_0", "f", "{}", signature="T05F")],
            },
            {"role": "tool", "tool_call_id": "call_0", "content": "1"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("call_0", "f", "{}", signature="VFdP")],
            },
            {"role": "tool", "tool_call_id": "call_0", "content": "2"},
        ]
    )
    assert [body["contents"][k]["parts"][0]["thoughtSignature"] for k in (1, 3)] == ["T05F", "VFdP"]


# PITFALLS 15
def test_calls_without_signatures_get_the_placeholder_on_the_first_call_only() -> None:
    body = convert(
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": "ok",
                "tool_calls": [call("a", "f", "{}"), call("b", "g", "{}")],
            },
            {"role": "tool", "tool_call_id": "a", "content": "x"},
            {"role": "tool", "tool_call_id": "b", "content": "y"},
        ]
    )
    assert body["contents"][1]["parts"] == [
        {"text": "ok"},
        {
            "thoughtSignature": "skip_thought_signature_validator",
            "functionCall": {"name": "f", "args": {}},
        },
        {"functionCall": {"name": "g", "args": {}}},
    ]


def test_reasoning_content_in_history_is_not_sent_as_text() -> None:
    body = convert(
        messages=[
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "reasoning_content": "secret thoughts"},
            {"role": "user", "content": "q2"},
        ]
    )
    assert body["contents"][1] == {"role": "model", "parts": [{"text": "a"}]}


# ---------------------------------------------------------------- images, audio, files (PITFALLS 17)


# PITFALLS 17
def test_image_data_url_becomes_inline_data() -> None:
    body = convert(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
                    },
                ],
            }
        ]
    )
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "What is this?"},
                {"inlineData": {"mimeType": "image/png", "data": PNG}},
            ],
        }
    ]


# PITFALLS 17
def test_https_image_url_is_a_clear_400_naming_the_part() -> None:
    err = refused(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            }
        ]
    )
    assert err.error.param == "messages[0].content[1].image_url.url"
    assert err.error.message == (
        "'messages[0].content[1].image_url.url' cannot be fetched by Gemini: send the image "
        "inline as a base64 data URL (data:image/png;base64,...) or as a Gemini Files API URI."
    )


def test_files_api_and_youtube_urls_become_file_data() -> None:
    files_uri = "https://generativelanguage.googleapis.com/v1beta/files/abc123"
    video = "https://www.youtube.com/watch?v=9hE5-98ZeCg"
    body = convert(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": files_uri}},
                    {"type": "image_url", "image_url": {"url": video}},
                ],
            }
        ]
    )
    assert body["contents"][0]["parts"] == [
        {"fileData": {"fileUri": files_uri}},
        {"fileData": {"fileUri": video}},
    ]


@pytest.mark.parametrize(
    "url", ["data:image/png;base64,%%%", "data:text/plain;base64,aGk=", "data:image/png,raw"]
)
def test_bad_image_data_urls_are_refused(url: str) -> None:
    err = refused(
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]
    )
    assert err.error.param == "messages[0].content[0].image_url.url"


def test_input_audio_becomes_inline_audio() -> None:
    body = convert(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
                ],
            }
        ]
    )
    assert body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}
    ]


def test_pdf_file_data_becomes_inline_data() -> None:
    body = convert(
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "file",
                        "file": {
                            "filename": "a.pdf",
                            "file_data": "data:application/pdf;base64,JVBERi0=",
                        },
                    }
                ],
            }
        ]
    )
    assert body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
    ]


def test_uploaded_file_ids_are_refused() -> None:
    err = refused(
        messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}]
    )
    assert err.error.param == "messages[0].content[0].file.file_id"


# ---------------------------------------------------------------- generationConfig


def test_sampling_and_limit_parameters_map_to_generation_config() -> None:
    body = convert(
        messages=[{"role": "user", "content": "Hi"}],
        temperature=1.5,
        top_p=0.9,
        n=3,
        max_tokens=100,
        max_completion_tokens=200,
        stop=["END", "\n\n"],
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        seed=7,
        user="u-1",
        metadata={"k": "v"},
    )
    assert body["generationConfig"] == {
        "stopSequences": ["END", "\n\n"],
        "candidateCount": 3,
        "maxOutputTokens": 200,
        "temperature": 1.5,
        "topP": 0.9,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
        "seed": 7,
    }


# PITFALLS 6
def test_max_tokens_alone_is_max_output_tokens_and_stop_string_is_a_list() -> None:
    body = convert(messages=[{"role": "user", "content": "Hi"}], max_tokens=64, stop="\n")
    assert body["generationConfig"] == {"stopSequences": ["\n"], "maxOutputTokens": 64}


def test_null_parameters_are_not_sent() -> None:
    body = convert(
        messages=[{"role": "user", "content": "Hi"}], temperature=None, stop=None, n=None, seed=None
    )
    assert "generationConfig" not in body


def test_empty_stop_sequence_is_refused() -> None:
    assert (
        refused(messages=[{"role": "user", "content": "Hi"}], stop=["ok", ""]).error.param == "stop"
    )


def test_json_object_format_asks_for_json() -> None:
    body = convert(
        messages=[{"role": "user", "content": "Hi"}], response_format={"type": "json_object"}
    )
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


def test_text_format_changes_nothing() -> None:
    body = convert(messages=[{"role": "user", "content": "Hi"}], response_format={"type": "text"})
    assert "generationConfig" not in body


def test_json_schema_format_sends_a_converted_schema_keeping_property_order() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": ["integer", "null"]}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    body = convert(
        messages=[{"role": "user", "content": "Hi"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema, "strict": True},
        },
    )
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {
                "name": {"type": "STRING"},
                "age": {"type": "INTEGER", "nullable": True},
            },
            "required": ["name", "age"],
            "propertyOrdering": ["name", "age"],
        },
    }


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"value": {}}},
    {"type": "object", "properties": {"values": {"type": "array", "items": {}}}},
    {"type": "object", "properties": {"anything": True}},
    {"not": {}},
])
def test_issue_11_a_response_schema_outside_geminis_subset_goes_as_response_json_schema(schema: Any) -> None:
    body = convert(
        messages=[{"role": "user", "content": "Hi"}],
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    )
    assert body["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": schema}


# PITFALLS 15
@pytest.mark.parametrize(
    ("effort", "budget"),
    [("none", 0), ("minimal", 512), ("low", 1024), ("medium", 8192), ("high", 24576)],
)
def test_reasoning_effort_maps_to_a_thinking_budget(effort: str, budget: int) -> None:
    body = convert(messages=[{"role": "user", "content": "Hi"}], reasoning_effort=effort)
    assert body["generationConfig"] == {"thinkingConfig": {"thinkingBudget": budget}}


def test_issue_11_reasoning_effort_none_sends_no_budget_where_thinking_cannot_be_off() -> None:
    # Gemini 2.5 Pro rejects thinkingBudget 0: its thinking is always on
    always_thinks = GeminiModelFlags(thinking_can_be_off=False)
    body = convert(always_thinks, messages=[{"role": "user", "content": "Hi"}], reasoning_effort="none")
    assert "generationConfig" not in body
    body = convert(always_thinks, messages=[{"role": "user", "content": "Hi"}], reasoning_effort="low")
    assert body["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 1024}}


JSON_FORMATS = [
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}},
]
LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}


@pytest.mark.parametrize("fmt", JSON_FORMATS)
@pytest.mark.parametrize("choice", [None, "required", {"type": "function", "function": {"name": "lookup"}}])
def test_issue_11_tools_with_a_json_response_are_refused_where_the_model_cannot_combine_them(
    fmt: dict[str, Any], choice: Any
) -> None:
    extra = {"tool_choice": choice} if choice else {}
    err = refused(messages=[{"role": "user", "content": "Hi"}], tools=[LOOKUP], response_format=fmt, **extra)
    assert (err.error.param, err.error.type) == ("response_format", "invalid_request_error")
    assert "'tools'" in err.error.message and "this model" in err.error.message


@pytest.mark.parametrize("fmt", JSON_FORMATS)
def test_issue_11_tools_with_a_json_response_pass_where_the_model_combines_them(fmt: dict[str, Any]) -> None:
    body = convert(GeminiModelFlags(tools_with_json_response=True), messages=[{"role": "user", "content": "Hi"}],
                   tools=[LOOKUP], tool_choice="required", response_format=fmt)
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "lookup"
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_a_text_response_format_with_tools_is_fine_everywhere() -> None:
    body = convert(messages=[{"role": "user", "content": "Hi"}], tools=[LOOKUP], response_format={"type": "text"})
    assert "generationConfig" not in body


def test_unknown_reasoning_effort_is_refused() -> None:
    err = refused(messages=[{"role": "user", "content": "Hi"}], reasoning_effort="extreme")
    assert err.error.param == "reasoning_effort"


def test_logprobs_map_to_response_logprobs() -> None:
    body = convert(messages=[{"role": "user", "content": "Hi"}], logprobs=True, top_logprobs=3)
    assert body["generationConfig"] == {"responseLogprobs": True, "logprobs": 3}
    body = convert(messages=[{"role": "user", "content": "Hi"}], logprobs=True)
    assert body["generationConfig"] == {"responseLogprobs": True}
    assert "generationConfig" not in convert(
        messages=[{"role": "user", "content": "Hi"}], logprobs=False
    )


def test_top_logprobs_without_logprobs_is_refused() -> None:
    assert (
        refused(messages=[{"role": "user", "content": "Hi"}], top_logprobs=2).error.param
        == "top_logprobs"
    )


def test_logit_bias_is_refused_unless_empty() -> None:
    assert (
        refused(
            messages=[{"role": "user", "content": "Hi"}], logit_bias={"50256": -100}
        ).error.param
        == "logit_bias"
    )
    assert "generationConfig" not in convert(
        messages=[{"role": "user", "content": "Hi"}], logit_bias={}
    )


def test_tools_and_tool_choice_are_part_of_the_body() -> None:
    body = convert(
        messages=[{"role": "user", "content": "Hi"}],
        tools=[{"type": "function", "function": {"name": "now"}}],
        tool_choice="required",
    )
    assert body["tools"] == [{"functionDeclarations": [{"name": "now"}]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_raw_body_that_is_not_json_only_loses_signatures() -> None:
    req, _ = chat_request(
        {
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [call("a", "f", "{}", signature="U0lH")],
                },
                {"role": "tool", "tool_call_id": "a", "content": "x"},
            ]
        }
    )
    body = as_json(to_generate_content_request(req, b"not json"))
    assert body["contents"][1]["parts"][0]["thoughtSignature"] == DUMMY_THOUGHT_SIGNATURE
    assert json.dumps(body)  # still a complete request


def test_a_signature_carried_in_the_call_id_goes_back_on_its_part() -> None:
    # Audit 2026-12-03, note 13: the Responses and Messages dialects echo only the call id.
    signature = base64.b64encode(b"\xfb\xff sig-bytes").decode()  # "+" and "/" in base64
    call_id = signed_call_id("call_0a1f", signature)
    assert "+" not in call_id and "/" not in call_id and call_signature(call_id) == signature
    body = {"model": "g", "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
            {"id": "call_plain", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_plain", "content": "noon"},
    ]}
    raw = json.dumps(body).encode()
    out = to_generate_content_request(CHAT_REQUEST_DECODER.decode(raw), raw)
    first, second = out.contents[1].parts
    assert first.thought_signature == signature and isinstance(second.thought_signature, UnsetType)
    for other in ("toolu_01.c2lnbmF0dXJl", "call_Xy_ts_AAAA", "call_0a1f_ts_", "call_0a1f"):
        assert call_signature(other) is None


def test_a_tool_messages_images_follow_the_function_responses_in_their_turn() -> None:
    body = {"model": "g", "messages": [
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "view_image", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "grab", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "grabbed"}]},
    ]}
    raw = json.dumps(body).encode()
    turn = to_generate_content_request(CHAT_REQUEST_DECODER.decode(raw), raw).contents[-1]
    assert turn.role == "user"
    first, second, image = turn.parts
    assert first.function_response.response == {"result": ""}  # type: ignore[union-attr]
    assert second.function_response.response == {"result": "grabbed"}  # type: ignore[union-attr]
    assert image.inline_data.mime_type == "image/png" and image.inline_data.data == PNG  # type: ignore[union-attr]

"""OpenAI messages -> Anthropic system + turns (PITFALLS 4, 5, 15, 17)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.contracts.openai import CHAT_REQUEST_DECODER
from workers.providers.anthropic.messages import Conversation, to_conversation
from workers.providers.anthropic.schema import ENCODER, ThinkingBlock
from workers.providers.anthropic.tools import encode_call_id
from workers.providers.base import ConversionError

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcfsj6IK"


def _convert(messages: list[dict[str, Any]], keep_thinking: bool = False) -> Conversation:
    body = {"model": "claude", "messages": messages}
    return to_conversation(CHAT_REQUEST_DECODER.decode(json.dumps(body).encode()).messages, keep_thinking)


def _wire(messages: list[dict[str, Any]], keep_thinking: bool = False) -> dict[str, Any]:
    conv = _convert(messages, keep_thinking)
    return {
        "system": json.loads(ENCODER.encode(conv.system)),
        "messages": json.loads(ENCODER.encode(conv.messages)),
    }


def _error(messages: list[dict[str, Any]]) -> ConversionError:
    with pytest.raises(ConversionError) as info:
        _convert(messages)
    assert info.value.status == 400
    return info.value


def _call(call_id: str, name: str = "get_weather", arguments: str = '{"city":"Paris"}') -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def text(t: str) -> dict[str, str]:
    return {"type": "text", "text": t}


# ---------------------------------------------------------------- system prompts (PITFALLS 5)


def test_several_system_and_developer_messages_go_to_system_in_order_even_mid_conversation() -> None:
    wire = _wire([
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Salut"},
        {"role": "system", "content": "Now answer in German."},
        {"role": "user", "content": "Again"},
    ])
    assert wire == {
        "system": [text("You are terse."), text("Answer in French."), text("Now answer in German.")],
        "messages": [
            {"role": "user", "content": [text("Hi")]},
            {"role": "assistant", "content": [text("Salut")]},
            {"role": "user", "content": [text("Again")]},
        ],
    }


def test_system_only_request_sends_the_system_text_as_the_user_turn() -> None:
    assert _wire([{"role": "system", "content": "Say hello."}]) == {
        "system": [],
        "messages": [{"role": "user", "content": [text("Say hello.")]}],
    }


def test_empty_system_message_is_not_sent() -> None:
    assert _wire([{"role": "system", "content": "  "}, {"role": "user", "content": "Hi"}])["system"] == []


# ---------------------------------------------------------------- empty content (PITFALLS 4)


@pytest.mark.parametrize("empty", ["", "   \n", [], [{"type": "text", "text": ""}], [{"type": "text", "text": " "}]])
def test_empty_user_content_never_becomes_an_empty_text_block(empty: object) -> None:
    wire = _wire([{"role": "user", "content": "First"}, {"role": "user", "content": empty}, {"role": "user", "content": "Last"}])
    assert wire["messages"] == [{"role": "user", "content": [text("First"), text("Last")]}]


@pytest.mark.parametrize("empty", [None, "", " ", [], [{"type": "text", "text": ""}]])
def test_assistant_with_tool_calls_and_empty_content_sends_only_tool_use(empty: object) -> None:
    wire = _wire([
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": empty, "tool_calls": [_call("toolu_01")]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"},
    ])
    assert wire["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}],
    }


@pytest.mark.parametrize("empty", ["", "  ", [], [{"type": "text", "text": ""}]])
def test_empty_tool_result_is_sent_without_content(empty: object) -> None:
    wire = _wire([
        {"role": "user", "content": "Do it"},
        {"role": "assistant", "content": None, "tool_calls": [_call("toolu_01")]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": empty},
    ])
    assert wire["messages"][2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01"}]}


def test_empty_assistant_message_without_tool_calls_is_skipped_and_turns_merge() -> None:
    wire = _wire([
        {"role": "user", "content": "One"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "Two"},
    ])
    assert wire["messages"] == [{"role": "user", "content": [text("One"), text("Two")]}]


def test_request_with_no_content_at_all_is_400_naming_messages() -> None:
    assert _error([{"role": "user", "content": "  "}]).error.param == "messages"


# ---------------------------------------------------------------- roles and tools


def test_consecutive_same_role_messages_merge_into_one_turn() -> None:
    wire = _wire([
        {"role": "user", "content": "a"},
        {"role": "user", "content": [{"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "d"}]},
        {"role": "user", "content": "e"},
    ])
    assert wire["messages"] == [
        {"role": "user", "content": [text("a"), text("b")]},
        {"role": "assistant", "content": [text("c"), text("d")]},
        {"role": "user", "content": [text("e")]},
    ]


def test_parallel_tool_results_go_into_one_user_turn_before_any_user_text() -> None:
    wire = _wire([
        {"role": "user", "content": "Weather and time?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [_call("toolu_01"), _call("toolu_02", "get_time", "")]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"},
        {"role": "user", "content": "Also, be brief."},
        {"role": "tool", "tool_call_id": "toolu_02", "content": [{"type": "text", "text": "12:00"}]},
    ])
    assert wire["messages"] == [
        {"role": "user", "content": [text("Weather and time?")]},
        {
            "role": "assistant",
            "content": [
                text("Checking."),
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_02", "content": [text("12:00")]},
                text("Also, be brief."),
            ],
        },
    ]
    assert _convert([
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [_call("toolu_01"), _call("toolu_02", "get_time")]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "x"},
        {"role": "tool", "tool_call_id": "toolu_02", "content": "y"},
    ]).tool_names == ["get_weather", "get_time"]


def test_invalid_json_arguments_are_400_naming_the_call() -> None:
    err = _error([
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [_call("toolu_01"), _call("toolu_02", arguments="{not json")]},
    ])
    assert err.error.param == "messages[1].tool_calls[1].function.arguments"


def test_arguments_that_are_not_an_object_are_400() -> None:
    err = _error([{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [_call("toolu_01", arguments="[1, 2]")]}])
    assert err.error.param == "messages[1].tool_calls[0].function.arguments"


def test_tool_message_answering_no_call_of_the_previous_assistant_is_400() -> None:
    err = _error([
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [_call("toolu_01")]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "ok"},
        {"role": "tool", "tool_call_id": "toolu_99", "content": "stray"},
    ])
    assert err.error.param == "messages[3].tool_call_id"


def test_tool_message_without_any_assistant_call_is_400() -> None:
    assert _error([{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "x", "content": "y"}]).error.param == (
        "messages[1].tool_call_id"
    )


def test_tool_call_left_unanswered_is_400_naming_it() -> None:
    err = _error([
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [_call("toolu_01"), _call("toolu_02")]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "ok"},
        {"role": "user", "content": "next"},
    ])
    assert err.error.param == "messages[1].tool_calls[1]"


def test_foreign_tool_call_ids_are_mapped_the_same_way_in_call_and_result() -> None:
    wire = _wire([
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [_call("call:abc/1")]},
        {"role": "tool", "tool_call_id": "call:abc/1", "content": "ok"},
    ])
    assert wire["messages"][1]["content"][0]["id"] == "call_abc_1"
    assert wire["messages"][2]["content"][0]["tool_use_id"] == "call_abc_1"


def test_conversation_starting_with_the_assistant_gets_a_placeholder_user_turn() -> None:
    wire = _wire([{"role": "assistant", "content": "How can I help?"}, {"role": "user", "content": "Hi"}])
    assert wire["messages"] == [
        {"role": "user", "content": [text(".")]},
        {"role": "assistant", "content": [text("How can I help?")]},
        {"role": "user", "content": [text("Hi")]},
    ]


def test_final_assistant_prefill_loses_trailing_whitespace() -> None:
    wire = _wire([{"role": "user", "content": "Pick"}, {"role": "assistant", "content": "The answer is "}])
    assert wire["messages"][-1] == {"role": "assistant", "content": [text("The answer is")]}


# ---------------------------------------------------------------- content parts (PITFALLS 17)


def test_https_image_becomes_url_source_and_data_url_becomes_base64() -> None:
    wire = _wire([{
        "role": "user",
        "content": [
            {"type": "text", "text": "Compare"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}"}},
        ],
    }])
    assert wire["messages"][0]["content"] == [
        text("Compare"),
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG}},
    ]


@pytest.mark.parametrize(
    "url",
    [f"data:image/bmp;base64,{PNG}", "data:image/png;base64,%%%not-base64", "ftp://example.com/a.png", "data:image/png,raw"],
)
def test_image_claude_cannot_take_is_400_naming_the_part(url: str) -> None:
    err = _error([{"role": "user", "content": [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": url}}]}])
    assert err.error.param == "messages[0].content[1]"


def test_pdf_data_url_becomes_a_document_block() -> None:
    wire = _wire([{"role": "user", "content": [{"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "a.pdf"}}]}])
    assert wire["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}}
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-abc"}},
        {"type": "file", "file": {"file_data": "data:text/plain;base64,aGVsbG8="}},
    ],
)
def test_audio_and_non_pdf_files_are_400_naming_the_part(part: dict[str, Any]) -> None:
    err = _error([{"role": "user", "content": "first"}, {"role": "user", "content": [{"type": "text", "text": "x"}, part]}])
    assert err.error.param == "messages[1].content[1]"


# ---------------------------------------------------------------- thinking in history (PITFALLS 15)

THINKING = ThinkingBlock("I need the weather.", "EqQBCgIYAhIM")


def _loop(first_id: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Weather and time?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [_call(first_id), _call("toolu_02", "get_time", "{}")]},
        {"role": "tool", "tool_call_id": first_id, "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_02", "content": "noon"},
    ]


def test_thinking_carried_in_the_call_id_starts_the_assistant_turn_when_thinking_is_on() -> None:
    conv_wire = _wire(_loop(encode_call_id("toolu_01", [THINKING])), keep_thinking=True)
    assert conv_wire["messages"][1]["content"][:3] == [
        {"type": "thinking", "thinking": "I need the weather.", "signature": "EqQBCgIYAhIM"},
        text("Checking."),
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert conv_wire["messages"][2]["content"][0]["tool_use_id"] == "toolu_01"


def test_thinking_is_not_sent_back_when_thinking_is_off() -> None:
    conv = _wire(_loop(encode_call_id("toolu_01", [THINKING])), keep_thinking=False)
    assert [b["type"] for b in conv["messages"][1]["content"]] == ["text", "tool_use", "tool_use"]


def test_open_tool_loop_without_thinking_does_not_allow_thinking() -> None:
    assert _convert(_loop("toolu_01"), keep_thinking=True).thinking_allowed is False
    assert _convert(_loop(encode_call_id("toolu_01", [THINKING])), keep_thinking=True).thinking_allowed is True


def test_finished_tool_loop_allows_thinking_again() -> None:
    messages = _loop("toolu_01") + [{"role": "assistant", "content": "Sunny, noon."}, {"role": "user", "content": "Thanks"}]
    assert _convert(messages, keep_thinking=True).thinking_allowed is True

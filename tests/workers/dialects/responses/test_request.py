"""Responses request -> chat request, item by item (workers/dialects/responses/request.py)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from gateway.contracts.openai import (
    AssistantMessage,
    DeveloperMessage,
    ImagePart,
    JsonObjectFormat,
    JsonSchemaFormat,
    NamedToolChoice,
    SystemMessage,
    TextPart,
    Tool,
    ToolMessage,
    UserMessage,
)
from gateway.contracts.openai_responses import RESPONSES_REQUEST_DECODER, ResponsesRequest
from workers.dialects.responses.request import request_items, to_chat_request
from workers.providers.base import ConversionError


def req(**body: Any) -> ResponsesRequest:
    return RESPONSES_REQUEST_DECODER.decode(json.dumps({"model": "m", **body}))


def convert(stream: bool = False, history: list[dict[str, Any]] | None = None, kind: str = "openai",
            drop: bool = True, **body: Any) -> Any:
    request = req(**body)
    items = [msgspec.Raw(json.dumps(h).encode()) for h in history or []] + request_items(request)
    return to_chat_request(request, items, stream, kind, drop)


def test_a_string_input_is_one_user_message_after_the_instructions() -> None:
    out = convert(input="hi", instructions="be brief")
    assert out.chat.messages == [SystemMessage(content="be brief"), UserMessage(content="hi")]
    assert json.loads(out.body())["messages"][1] == {"role": "user", "content": "hi"}


def test_message_items_keep_roles_and_parts_and_an_easy_message_needs_no_type() -> None:
    out = convert(input=[
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}]},
        {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "sys"}]},
    ])
    developer, user, system = out.chat.messages
    assert developer == DeveloperMessage(content="rules")
    assert isinstance(user, UserMessage) and isinstance(user.content, list)
    assert user.content[0] == TextPart(text="look")
    assert isinstance(user.content[1], ImagePart) and user.content[1].image_url.url.startswith("data:image/png")
    assert user.content[1].image_url.detail == "low"
    assert system == SystemMessage(content=[TextPart(text="sys")])


def test_a_function_call_loop_becomes_an_assistant_turn_and_a_tool_message() -> None:
    out = convert(kind="anthropic", input=[
        {"role": "user", "content": "weather?"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "think"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "noon"}]},
    ])
    user, assistant, tool1, tool2 = out.chat.messages
    assert isinstance(assistant, AssistantMessage)
    assert assistant.reasoning_content == "think"
    assert assistant.content == [TextPart(text="Checking.")]
    assert isinstance(assistant.tool_calls, list)
    assert [(c.id, c.function.name, c.function.arguments) for c in assistant.tool_calls] == [
        ("call_1", "get_weather", "{\"city\":\"Paris\"}"), ("call_2", "get_time", "{}")]
    assert tool1 == ToolMessage(content="sunny", tool_call_id="call_1")
    assert tool2 == ToolMessage(content=[TextPart(text="noon")], tool_call_id="call_2")


def test_a_call_without_a_message_before_it_opens_its_own_assistant_turn() -> None:
    out = convert(input=[
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
    ])
    assistant = out.chat.messages[1]
    assert isinstance(assistant, AssistantMessage) and assistant.content is None
    assert isinstance(assistant.tool_calls, list) and assistant.tool_calls[0].id == "c"


def test_parameters_map_to_their_chat_names() -> None:
    out = convert(input="x", max_output_tokens=99, temperature=0.5, top_p=0.9, parallel_tool_calls=False,
                  reasoning={"effort": "low", "summary": "auto"}, user="u1", stream=True,
                  tools=[{"type": "function", "name": "f", "description": "d",
                          "parameters": {"type": "object", "properties": {}}, "strict": True}],
                  tool_choice={"type": "function", "name": "f"},
                  text={"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": True}})
    chat = out.chat
    assert (chat.max_completion_tokens, chat.temperature, chat.top_p) == (99, 0.5, 0.9)
    assert chat.parallel_tool_calls is False and chat.reasoning_effort == "low" and chat.user == "u1"
    assert isinstance(chat.tools, list) and isinstance(chat.tools[0], Tool)
    assert chat.tools[0].function.name == "f" and chat.tools[0].function.strict is True
    assert isinstance(chat.tool_choice, NamedToolChoice) and chat.tool_choice.function.name == "f"
    assert isinstance(chat.response_format, JsonSchemaFormat)
    assert chat.response_format.json_schema.name == "s" and chat.response_format.json_schema.schema == {"type": "object"}
    assert convert(input="x", text={"format": {"type": "json_object"}}).chat.response_format == JsonObjectFormat()
    body = json.loads(convert(stream=True, input="x").body())
    assert body["stream"] is True and "max_completion_tokens" not in body


def test_namespace_tools_are_offered_flat_and_remembered() -> None:
    out = convert(input="x", tools=[{"type": "namespace", "name": "agents", "description": "d", "tools": [
        {"type": "function", "name": "spawn", "parameters": {"type": "object", "properties": {}}}]}])
    assert isinstance(out.chat.tools, list) and out.chat.tools[0].function.name == "spawn"
    assert out.namespaces == {"spawn": "agents"}


def test_a_built_in_tool_is_a_400_naming_it() -> None:
    with pytest.raises(ConversionError) as caught:
        convert(input="x", tools=[{"type": "function", "name": "f"}, {"type": "file_search"}])
    assert caught.value.status == 400
    assert caught.value.error.param == "tools[1]" and caught.value.error.code == "unsupported_tool"
    assert "file_search" in caught.value.error.message


@pytest.mark.parametrize("search", ["web_search", "web_search_preview", "web_search_2025_08_26"])
def test_web_search_on_an_openai_kind_route_is_left_out_and_named_by_the_drop_policy(search: str) -> None:
    # Codex sends `web_search` (or `web_search_preview`) unless told not to (issue 21).
    out = convert(input="x", tools=[{"type": "function", "name": "f"}, {"type": search, "external_web_access": False}])
    assert isinstance(out.chat.tools, list) and [t.function.name for t in out.chat.tools] == ["f"]
    assert out.dropped == ["tools[1]"] and "web_search" not in out.body().decode()
    alone = convert(input="x", tools=[{"type": search}])
    assert alone.chat.tools is msgspec.UNSET and alone.dropped == ["tools[0]"]
    with pytest.raises(ConversionError) as caught:
        convert(input="x", drop=False, tools=[{"type": "function", "name": "f"}, {"type": search}])
    assert caught.value.error.param == "tools[1]" and caught.value.error.code == "unsupported_tool"
    assert search in caught.value.error.message


def test_an_item_type_that_does_not_convert_is_a_400_naming_its_type() -> None:
    with pytest.raises(ConversionError) as caught:
        convert(input=[{"role": "user", "content": "x"}, {"type": "item_reference", "id": "msg_1"}])
    assert caught.value.error.param == "input[1].type"


def test_history_items_come_first_and_errors_in_them_name_previous_response_id() -> None:
    out = convert(history=[{"role": "user", "content": "first"},
                           {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "one"}]}],
                  input="second")
    assert [type(m).__name__ for m in out.chat.messages] == ["UserMessage", "AssistantMessage", "UserMessage"]
    with pytest.raises(ConversionError) as caught:
        convert(history=[{"type": "item_reference", "id": "ws"}], input="x")
    assert caught.value.error.param == "previous_response_id.type"


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
def test_earlier_web_search_calls_are_not_sent(kind: str) -> None:
    # Codex sends its earlier turns' web_search_call items back; the answer after them holds what they found.
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed",
              "action": {"type": "search", "query": "q", "sources": [{"type": "url", "url": "https://example.com/"}]}}
    out = convert(kind=kind, input=[{"role": "user", "content": "a"}, search,
                                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "b"}]},
                                    {"role": "user", "content": "c"}])
    assert [type(m).__name__ for m in out.chat.messages] == ["UserMessage", "AssistantMessage", "UserMessage"]


@pytest.mark.parametrize("search", ["web_search", "web_search_preview"])
def test_web_search_on_a_claude_route_asks_chat_for_the_upstreams_own_search(search: str) -> None:
    out = convert(kind="anthropic", drop=False, input="x", tools=[{"type": "function", "name": "f"}, {"type": search}])
    assert out.chat.web_search_options == {} and out.dropped == []
    assert isinstance(out.chat.tools, list) and [t.function.name for t in out.chat.tools] == ["f"]
    assert convert(kind="anthropic", input="x").chat.web_search_options is msgspec.UNSET


def test_image_by_file_id_and_file_by_url_are_400s_on_converted_routes() -> None:
    with pytest.raises(ConversionError) as caught:
        convert(input=[{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}])
    assert caught.value.error.param == "input[0].content[0].image_url"
    with pytest.raises(ConversionError) as caught:
        convert(input=[{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/y.pdf"}]}])
    assert caught.value.error.param == "input[0].content[0].file_url"


def test_an_empty_input_without_instructions_is_a_400() -> None:
    with pytest.raises(ConversionError) as caught:
        convert(input=[])
    assert caught.value.error.param == "input"


def test_image_detail_original_is_chats_high() -> None:
    out = convert(input=[{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://x/a.png", "detail": "original"},
        {"type": "input_image", "image_url": "https://x/b.png", "detail": None}]}])
    user = out.chat.messages[0]
    assert isinstance(user, UserMessage) and isinstance(user.content, list)
    first, second = user.content
    assert isinstance(first, ImagePart) and first.image_url.detail == "high"
    assert isinstance(second, ImagePart) and "detail" not in json.loads(msgspec.json.encode(second.image_url))


PNG = "data:image/png;base64,iVBORw0KGgo="
VIEW_IMAGE_LOOP = [
    {"role": "user", "content": "what is in shot.png?"},
    {"type": "function_call", "call_id": "call_v", "name": "view_image", "arguments": "{\"path\":\"shot.png\"}"},
    {"type": "function_call", "call_id": "call_m", "name": "mcp__shots__grab", "arguments": "{}"},
    # Codex view_image: the output is only an image (codex-rs view_image.rs, ContentItems)
    {"type": "function_call_output", "call_id": "call_v", "output": [{"type": "input_image", "image_url": PNG}]},
    # an MCP image result: text and an image
    {"type": "function_call_output", "call_id": "call_m", "output": [
        {"type": "input_text", "text": "grabbed"}, {"type": "input_image", "image_url": PNG, "detail": "original"}]},
    {"role": "user", "content": "and now?"},
]


def test_images_in_tool_outputs_follow_openai_tool_messages_as_one_user_message() -> None:
    # Finding 3: these were a 400 ("Only text parts are allowed here.") for every kind.
    out = convert(kind="openai", input=VIEW_IMAGE_LOOP)
    roles = [type(m).__name__ for m in out.chat.messages]
    assert roles == ["UserMessage", "AssistantMessage", "ToolMessage", "ToolMessage", "UserMessage", "UserMessage"]
    _, _, view, mcp, attached, last = out.chat.messages
    assert view == ToolMessage(content="", tool_call_id="call_v")
    assert mcp == ToolMessage(content=[TextPart(text="grabbed")], tool_call_id="call_m")
    assert isinstance(attached, UserMessage) and isinstance(attached.content, list)
    assert [(p.image_url.url, p.image_url.detail) for p in attached.content if isinstance(p, ImagePart)] == [
        (PNG, msgspec.UNSET), (PNG, "high")]
    assert last == UserMessage(content="and now?")
    tool_bodies = [m for m in json.loads(out.body())["messages"] if m["role"] == "tool"]
    assert all("image_url" not in json.dumps(m) for m in tool_bodies)


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_images_in_tool_outputs_stay_in_the_tool_message_where_the_provider_takes_them(kind: str) -> None:
    out = convert(kind=kind, input=VIEW_IMAGE_LOOP)
    roles = [type(m).__name__ for m in out.chat.messages]
    assert roles == ["UserMessage", "AssistantMessage", "ToolMessage", "ToolMessage", "UserMessage"]
    _, _, view, mcp, last = out.chat.messages
    assert isinstance(view, ToolMessage) and isinstance(view.content, list) and view.tool_call_id == "call_v"
    (image,) = view.content
    assert isinstance(image, ImagePart) and image.image_url.url == PNG
    assert isinstance(mcp, ToolMessage) and isinstance(mcp.content, list)
    text, hd = mcp.content
    assert text == TextPart(text="grabbed") and isinstance(hd, ImagePart) and hd.image_url.detail == "high"
    assert last == UserMessage(content="and now?")


def test_images_of_the_last_tool_outputs_are_sent_too() -> None:
    out = convert(input=VIEW_IMAGE_LOOP[:4])
    assert isinstance(out.chat.messages[-1], UserMessage) and isinstance(out.chat.messages[-2], ToolMessage)


def test_a_bad_part_in_a_tool_output_is_a_400_naming_it() -> None:
    with pytest.raises(ConversionError) as caught:
        convert(input=[*VIEW_IMAGE_LOOP[:3], {"type": "function_call_output", "call_id": "call_v", "output": [
            {"type": "input_text", "text": "x"}, {"type": "input_image", "file_id": "file_1"}]}])
    assert caught.value.error.param == "input[3].output[1].image_url"


REASONING_LOOP = [
    {"role": "user", "content": "go"},
    {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "plan"}]},
    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "c1", "output": "ok"},
]


def test_reasoning_is_not_sent_back_to_openai_kind_routes() -> None:
    # Finding 7: `reasoning_content` is no chat field; strict OpenAI-compatible servers refuse it.
    assistant = convert(kind="openai", input=REASONING_LOOP).chat.messages[1]
    assert isinstance(assistant, AssistantMessage) and isinstance(assistant.tool_calls, list)
    assert "reasoning_content" not in json.loads(convert(kind="openai", input=REASONING_LOOP).body())["messages"][1]
    for kind in ("anthropic", "gemini"):
        kept = convert(kind=kind, input=REASONING_LOOP).chat.messages[1]
        assert isinstance(kept, AssistantMessage) and kept.reasoning_content == "plan"


HINTS = {"prompt_cache_key": "thread-1", "prompt_cache_retention": "24h", "service_tier": "flex",
         "text": {"verbosity": "low"}, "safety_identifier": "sid", "parallel_tool_calls": True,
         "metadata": {"k": "v"}, "truncation": "auto", "top_logprobs": 3, "max_tool_calls": 5}


def test_openai_kind_routes_get_the_chat_fields_responses_hints_map_to() -> None:
    # Finding 9: these were dropped; Codex sends prompt_cache_key on every request.
    body = json.loads(convert(kind="openai", input="x", **HINTS).body())
    assert {k: body.get(k) for k in ("prompt_cache_key", "prompt_cache_retention", "service_tier", "verbosity",
                                     "safety_identifier", "parallel_tool_calls")} == {
        "prompt_cache_key": "thread-1", "prompt_cache_retention": "24h", "service_tier": "flex",
        "verbosity": "low", "safety_identifier": "sid", "parallel_tool_calls": True}
    assert (body["logprobs"], body["top_logprobs"]) == (True, 3)
    # no chat equivalent (metadata needs upstream `store`)
    for absent in ("metadata", "truncation", "max_tool_calls", "store"):
        assert absent not in body
    asked = json.loads(convert(kind="openai", input="x", include=["message.output_text.logprobs"]).body())
    assert asked["logprobs"] is True and "top_logprobs" not in asked
    assert "logprobs" not in json.loads(convert(kind="openai", input="x").body())


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_other_routes_do_not_get_openai_only_hints(kind: str) -> None:
    chat = convert(kind=kind, input="x", **HINTS).chat
    assert (chat.prompt_cache_key, chat.service_tier, chat.verbosity, chat.logprobs) == (msgspec.UNSET,) * 4
    assert chat.safety_identifier == "sid"


def test_web_search_on_a_gemini_route_is_grounding_only_without_function_tools() -> None:
    alone = convert(kind="gemini", drop=False, input="x", tools=[{"type": "web_search"}])
    assert alone.chat.web_search_options == {} and alone.dropped == []
    # generateContent refuses googleSearch beside functionDeclarations: the drop policy decides.
    both = convert(kind="gemini", input="x", tools=[{"type": "function", "name": "f"}, {"type": "web_search"}])
    assert both.chat.web_search_options is msgspec.UNSET and both.dropped == ["tools[1]"]
    with pytest.raises(ConversionError) as caught:
        convert(kind="gemini", drop=False, input="x", tools=[{"type": "function", "name": "f"}, {"type": "web_search"}])
    assert caught.value.error.param == "tools[1]" and caught.value.error.code == "unsupported_tool"
    assert "without function tools" in caught.value.error.message

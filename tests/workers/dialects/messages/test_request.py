"""Messages request -> chat request, case by case."""

from __future__ import annotations

import msgspec
import pytest
from msgspec import UNSET

from gateway.contracts import openai as oa
from gateway.contracts.anthropic_messages import MESSAGES_REQUEST_DECODER
from workers.dialects.messages.request import to_chat_request
from workers.providers.base import ConversionError


def convert(**body: object) -> oa.ChatRequest:
    base: dict[str, object] = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    return to_chat_request(MESSAGES_REQUEST_DECODER.decode(msgspec.json.encode({**base, **body})))


def test_system_blocks_keep_their_cache_marks_and_max_tokens_is_the_output_limit() -> None:
    req = convert(system=[{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}])
    system = req.messages[0]
    assert isinstance(system, oa.SystemMessage) and isinstance(system.content, list)
    assert system.content[0].text == "rules" and system.content[0].cache_control == oa.CacheControl(type="ephemeral")
    assert req.output_limit() == 100 and req.stream is UNSET


def test_a_tool_loop_becomes_tool_calls_then_tool_messages_before_the_users_text() -> None:
    req = convert(messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "boom", "is_error": True},
            {"type": "text", "text": "thanks"}]},
    ])
    _, assistant, tool1, tool2, user = req.messages
    assert isinstance(assistant, oa.AssistantMessage)
    assert assistant.content == "Checking." and assistant.reasoning_content == "hmm"
    assert isinstance(assistant.tool_calls, list)
    call = assistant.tool_calls[0]
    assert isinstance(call, oa.ToolCall) and call.id == "toolu_1"
    assert call.function.name == "get_weather" and call.function.arguments == '{"city":"Paris"}'
    assert tool1 == oa.ToolMessage(content="sunny", tool_call_id="toolu_1")
    assert tool2 == oa.ToolMessage(content="Error: boom", tool_call_id="toolu_2")
    assert isinstance(user, oa.UserMessage) and isinstance(user.content, list) and user.content[0].text == "thanks"


def test_images_and_pdfs_become_data_urls() -> None:
    req = convert(messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain"}}]}])
    parts = req.messages[0].content
    assert isinstance(parts, list)
    assert parts[0] == oa.ImagePart(oa.ImageURL("data:image/png;base64,iVBO"))
    assert parts[1] == oa.ImagePart(oa.ImageURL("https://example.com/a.png"))
    assert isinstance(parts[2], oa.FilePart) and parts[2].file.file_data == "data:application/pdf;base64,JVBE"
    assert parts[2].file.filename == "document.pdf"  # OpenAI requires one with file_data (issue 21)
    assert parts[3] == oa.TextPart("plain")


@pytest.mark.parametrize(("choice", "expected", "parallel"), [
    ({"type": "auto"}, "auto", UNSET),
    ({"type": "any", "disable_parallel_tool_use": True}, "required", False),
    ({"type": "tool", "name": "get_weather"}, oa.NamedToolChoice(oa.ToolChoiceFunction("get_weather")), UNSET),
    ({"type": "none"}, "none", UNSET),
])
def test_tool_choice(choice: dict[str, object], expected: object, parallel: object) -> None:
    tool = {"name": "get_weather", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}
    req = convert(tools=[tool], tool_choice=choice)
    assert req.tool_choice == expected and req.parallel_tool_calls == parallel
    assert isinstance(req.tools, list)
    only = req.tools[0]
    assert isinstance(only, oa.Tool) and only.function.name == "get_weather" and only.cache_control != UNSET


@pytest.mark.parametrize(("thinking", "effort"), [
    ({"type": "enabled", "budget_tokens": 1024}, "low"), ({"type": "enabled", "budget_tokens": 8000}, "medium"),
    ({"type": "enabled", "budget_tokens": 31999}, "high"), ({"type": "adaptive"}, "medium"),
    ({"type": "disabled"}, UNSET),
])
def test_thinking_becomes_reasoning_effort_by_budget(thinking: dict[str, object], effort: object) -> None:
    assert convert(thinking=thinking).reasoning_effort == effort


def test_sampling_stop_sequences_and_stream() -> None:
    req = convert(temperature=0.5, top_p=0.9, stop_sequences=["END"], stream=True)
    assert (req.temperature, req.top_p, req.stop, req.stream) == (0.5, 0.9, ["END"], True)
    assert req.stream_options == oa.StreamOptions(include_usage=True)


@pytest.mark.parametrize(("body", "param"), [
    ({"top_k": 5}, "top_k"),
    ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "file", "file_id": "file_1"}}]}]}, "messages[0].content[0].source"),
])
def test_what_chat_cannot_carry_is_a_400_naming_the_parameter(body: dict[str, object], param: str) -> None:
    with pytest.raises(ConversionError) as ex:
        convert(**body)
    assert ex.value.status == 400 and ex.value.error.param == param


def test_a_server_tool_block_is_refused_off_claude_naming_it() -> None:
    with pytest.raises(ConversionError) as ex:
        convert(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}}]}])
    assert ex.value.error.param == "messages[1].content[0].type"
    assert "'server_tool_use' blocks are served by Claude models only" in ex.value.error.message


def test_system_turns_between_messages_stay_where_they_are() -> None:
    req = convert(messages=[{"role": "user", "content": "a"}, {"role": "system", "content": "mind the rules"},
                            {"role": "user", "content": [{"type": "text", "text": "b"}]}])
    assert [type(m).__name__ for m in req.messages] == ["UserMessage", "SystemMessage", "UserMessage"]
    assert req.messages[1].content == "mind the rules"


def test_output_config_sets_the_effort_of_thinking_and_the_json_schema_format() -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    req = convert(thinking={"type": "adaptive"}, output_config={"effort": "max", "format": {"type": "json_schema", "schema": schema}})
    assert req.reasoning_effort == "high"
    assert req.response_format == oa.JsonSchemaFormat(oa.JsonSchemaSpec(name="output", schema=schema, strict=True))
    # effort alone does not turn thinking on
    assert convert(thinking={"type": "disabled"}, output_config={"effort": "high"}).reasoning_effort is UNSET


def refused(**body: object) -> ConversionError:
    with pytest.raises(ConversionError) as caught:
        convert(**body)
    return caught.value


def test_claude_only_blocks_inside_tool_results_and_nameless_tools_are_refused_naming_their_path() -> None:
    # Issue 21: valid for Claude (they pass through there), not convertible here.
    call = {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}]}
    for kind in ("search_result", "tool_reference"):
        error = refused(messages=[{"role": "user", "content": "go"}, call, {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a"},
                                                                          {"type": kind}]}]}])
        assert error.error.param == "messages[2].content[0].content[1].type" and "Claude" in error.error.message
    compaction = refused(messages=[{"role": "user", "content": "go"},
                                   {"role": "assistant", "content": [{"type": "compaction", "content": "s"}]}])
    assert compaction.error.param == "messages[1].content[0].type" and "'compaction'" in compaction.error.message
    nameless = refused(tools=[{"input_schema": {"type": "object"}}])
    assert nameless.error.param == "tools[0].name"
    toolset = refused(tools=[{"type": "mcp_toolset", "mcp_server_name": "docs"}])
    assert toolset.error.param == "tools[0].type"


def test_metadata_user_id_becomes_the_safety_identifier_within_openais_64_characters() -> None:
    # Issue 21: the end-user id was dropped on converted routes.
    assert convert(metadata={"user_id": "user-42"}).safety_identifier == "user-42"
    # Claude Code's ids are longer than OpenAI's limit: a stable digest of them
    long_id = "user_" + "a" * 64 + "_account__session_0f0e0d0c-0b0a-0908-0706-050403020100"
    first, again = convert(metadata={"user_id": long_id}), convert(metadata={"user_id": long_id})
    assert isinstance(first.safety_identifier, str) and len(first.safety_identifier) == 64
    assert first.safety_identifier == again.safety_identifier != long_id[:64]
    assert convert().safety_identifier is UNSET and convert(metadata={}).safety_identifier is UNSET

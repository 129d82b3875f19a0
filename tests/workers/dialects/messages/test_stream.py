"""Chat chunks -> Anthropic Messages events, and whole completions -> Message."""

from __future__ import annotations

import msgspec

from gateway.contracts import anthropic_messages as am
from gateway.contracts.openai import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    FunctionCallDelta,
    PromptTokensDetails,
    ResponseMessage,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from workers.dialects.messages.stream import MessagesOutput

USAGE = Usage(prompt_tokens=100, completion_tokens=20, total_tokens=120,
              prompt_tokens_details=PromptTokensDetails(cached_tokens=30, cache_write_tokens=10))


def chunk(delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk(id="c", created=1, model="m", choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)])


def call(index: int, args: str, call_id: str | None = None, name: str | None = None) -> Delta:
    function = FunctionCallDelta(name=name, arguments=args) if name else FunctionCallDelta(arguments=args)
    first = ToolCallDelta(index=index, id=call_id, type="function", function=function) if call_id else (
        ToolCallDelta(index=index, function=function))
    return Delta(tool_calls=[first])


def test_a_stream_of_thinking_text_and_two_tool_calls_is_the_full_event_sequence() -> None:
    out = MessagesOutput("msg_1", "model-a")
    events: list[msgspec.Struct] = []
    for c in [chunk(Delta(role="assistant", content="")), chunk(Delta(reasoning_content="Let me")),
              chunk(Delta(reasoning_content=" think")), chunk(Delta(content="Hi")), chunk(Delta(content="!")),
              chunk(call(0, "", "call_a", "get_weather")), chunk(call(0, '{"city":')), chunk(call(0, '"Paris"}')),
              chunk(call(1, "{}", "call_b", "get_time")), chunk(Delta(), "tool_calls"),
              ChatCompletionChunk(id="c", created=1, model="m", choices=[], usage=USAGE)]:
        events += out.chunk(c)
    events += out.done(USAGE)
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "MessageStart", "Ping",
        "ContentBlockStart", "ContentBlockDelta", "ContentBlockDelta",
        "ContentBlockStop", "ContentBlockStart", "ContentBlockDelta", "ContentBlockDelta",
        "ContentBlockStop", "ContentBlockStart", "ContentBlockDelta", "ContentBlockDelta",
        "ContentBlockStop", "ContentBlockStart", "ContentBlockDelta",
        "ContentBlockStop", "MessageDelta", "MessageStop",
    ]
    starts = [e for e in events if isinstance(e, am.ContentBlockStart)]
    assert [s.index for s in starts] == [0, 1, 2, 3]
    assert starts[0].content_block == am.OutThinking(thinking="")
    assert starts[2].content_block == am.OutToolUse(id="call_a", name="get_weather", input={})
    assert starts[3].content_block == am.OutToolUse(id="call_b", name="get_time", input={})
    json_parts = [e.delta.partial_json for e in events
                  if isinstance(e, am.ContentBlockDelta) and isinstance(e.delta, am.InputJsonDelta) and e.index == 2]
    assert "".join(json_parts) == '{"city":"Paris"}'
    delta = events[-2]
    assert isinstance(delta, am.MessageDelta) and delta.delta.stop_reason == "tool_use"
    assert delta.usage == am.MessageUsage(input_tokens=60, output_tokens=20,
                                          cache_creation_input_tokens=10, cache_read_input_tokens=30)


def test_an_empty_stream_still_starts_and_stops() -> None:
    events = MessagesOutput("msg_1", "m").done(Usage())
    assert [type(e).__name__ for e in events] == ["MessageStart", "Ping", "MessageDelta", "MessageStop"]


def test_a_length_finish_is_max_tokens() -> None:
    out = MessagesOutput("msg_1", "m")
    out.chunk(chunk(Delta(content="cut"), "length"))
    delta = out.done(Usage())[-2]
    assert isinstance(delta, am.MessageDelta) and delta.delta.stop_reason == "max_tokens"


def test_a_raw_openai_chunk_is_read_too() -> None:
    raw = msgspec.Raw(b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
                      b'"choices":[{"index":0,"delta":{"content":"hey"},"finish_reason":null}]}')
    events = MessagesOutput("msg_1", "m").chunk(raw)
    assert isinstance(events[-1], am.ContentBlockDelta) and events[-1].delta == am.TextDelta("hey")


def test_a_whole_completion_becomes_a_message() -> None:
    completion = ChatCompletion(id="c", created=1, model="m", choices=[Choice(
        index=0, finish_reason="tool_calls", message=ResponseMessage(
            content="Checking.", reasoning_content="hmm",
            tool_calls=[ToolCall(id="call_1", function=FunctionCall("get_weather", '{"city":"Paris"}'))]))])
    message = MessagesOutput("msg_1", "model-a").result(completion, USAGE)
    assert isinstance(message, am.Message)
    assert message.id == "msg_1" and message.model == "model-a" and message.stop_reason == "tool_use"
    assert message.content == [am.OutThinking(thinking="hmm"), am.OutText(text="Checking."),
                               am.OutToolUse(id="call_1", name="get_weather", input={"city": "Paris"})]
    assert message.usage.input_tokens == 60 and message.usage.cache_read_input_tokens == 30


def test_arguments_that_are_not_json_are_kept_as_text() -> None:
    completion = ChatCompletion(id="c", created=1, model="m", choices=[Choice(
        index=0, finish_reason="tool_calls", message=ResponseMessage(
            content=None, tool_calls=[ToolCall(id="call_1", function=FunctionCall("f", "not json"))]))])
    message = MessagesOutput("msg_1", "m").result(completion, Usage())
    assert isinstance(message, am.Message)
    assert message.content == [am.OutToolUse(id="call_1", name="f", input={"arguments": "not json"})]


def test_an_unreadable_upstream_chunk_is_a_502() -> None:
    import pytest

    from workers.providers.base import UpstreamError

    with pytest.raises(UpstreamError) as ex:
        MessagesOutput("msg_1", "m").chunk(msgspec.Raw(b'{"choices":[]}'))
    assert ex.value.status == 502


def blocks_of(events: list[msgspec.Struct]) -> list[tuple[am.OutBlock, str]]:
    """Each block and its deltas' text, checking Anthropic's order: a block starts, gets
    its deltas and stops before the next one starts."""
    out: list[tuple[am.OutBlock, str]] = []
    open_index: int | None = None
    for e in events:
        if isinstance(e, am.ContentBlockStart):
            assert open_index is None and e.index == len(out)
            open_index = e.index
            out.append((e.content_block, ""))
        elif isinstance(e, am.ContentBlockDelta):
            assert e.index == open_index and isinstance(e.delta, am.InputJsonDelta | am.TextDelta)
            text = e.delta.partial_json if isinstance(e.delta, am.InputJsonDelta) else e.delta.text
            out[-1] = (out[-1][0], out[-1][1] + text)
        elif isinstance(e, am.ContentBlockStop):
            assert e.index == open_index
            open_index = None
    assert open_index is None
    return out


def test_interleaved_tool_call_fragments_become_one_whole_block_per_call() -> None:
    # Issue 21: fragments of calls 0, 1, 0, 1 made four blocks, two nameless.
    out = MessagesOutput("msg_1", "m")
    events: list[msgspec.Struct] = []
    for delta in [call(0, "", "call_a", "get_weather"), call(1, "", "call_b", "get_time"),
                  call(0, '{"city":'), call(1, '{"tz":'), call(0, '"Paris"}'), call(1, '"UTC"}')]:
        events += out.chunk(chunk(delta))
    events += out.chunk(chunk(Delta(), "tool_calls"))
    events += out.done(USAGE)
    blocks = blocks_of(events)
    assert [(b.id, b.name, text) for b, text in blocks if isinstance(b, am.OutToolUse)] == [
        ("call_a", "get_weather", '{"city":"Paris"}'), ("call_b", "get_time", '{"tz":"UTC"}')]
    assert len(blocks) == 2


def test_calls_in_turn_still_stream_live_and_text_after_a_pending_call_keeps_it_whole() -> None:
    out = MessagesOutput("msg_1", "m")
    first = out.chunk(chunk(call(0, '{"a":', "call_a", "f")))
    assert any(isinstance(e, am.ContentBlockDelta) for e in first)  # live, not held back
    events = first + out.chunk(chunk(call(1, '{"b":', "call_b", "g")))  # 0 unfinished: 1 waits
    events += out.chunk(chunk(call(0, "1}")))
    events += out.chunk(chunk(Delta(content="done")))
    events += out.chunk(chunk(call(1, "2}")))
    events += out.done(USAGE)
    got = [(getattr(b, "name", "text"), text) for b, text in blocks_of(events)]
    assert sorted(got) == sorted([("f", '{"a":1}'), ("g", '{"b":2}'), ("text", "done")])


def test_a_refusal_is_text_with_stop_reason_refusal_whole_and_streamed() -> None:
    # Issue 21: the refusal text was dropped and the reply was an empty end_turn.
    completion = ChatCompletion(id="c", created=1, model="m", choices=[Choice(
        index=0, finish_reason="stop", message=ResponseMessage(content=None, refusal="I can't help with that."))])
    message = MessagesOutput("msg_1", "m").result(completion, USAGE)
    assert isinstance(message, am.Message)
    assert (message.content, message.stop_reason) == ([am.OutText(text="I can't help with that.")], "refusal")
    out = MessagesOutput("msg_2", "m")
    events = out.chunk(chunk(Delta(refusal="I can't"))) + out.chunk(chunk(Delta(refusal=" help."), "stop"))
    events += out.done(USAGE)
    assert [text for _, text in blocks_of(events)] == ["I can't help."]
    last = [e for e in events if isinstance(e, am.MessageDelta)][0]
    assert last.delta.stop_reason == "refusal"


def test_a_stop_sequence_the_upstream_names_is_reported_as_anthropic_reports_it() -> None:
    # Issue 21: vLLM-style servers name the stop string that ended the choice
    # (`stop_reason`); OpenAI itself does not, and the reply stays end_turn there.
    whole = (b'{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,'
             b'"message":{"role":"assistant","content":"1, 2, 3"},"finish_reason":"stop","stop_reason":"\\n\\n"}]}')
    message = MessagesOutput("msg_1", "m").result(msgspec.Raw(whole), USAGE)
    assert isinstance(message, am.Message)
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "\n\n")
    out = MessagesOutput("msg_2", "m")
    events = out.chunk(msgspec.Raw(b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
                                   b'"choices":[{"index":0,"delta":{"content":"1, 2"},"finish_reason":null}]}'))
    events += out.chunk(msgspec.Raw(b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
                                    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop","stop_reason":"STOP"}]}'))
    delta = [e for e in events + out.done(USAGE) if isinstance(e, am.MessageDelta)][0].delta
    assert (delta.stop_reason, delta.stop_sequence) == ("stop_sequence", "STOP")
    plain = MessagesOutput("msg_3", "m")
    plain.chunk(chunk(Delta(content="hi"), "stop"))
    last = [e for e in plain.done(USAGE) if isinstance(e, am.MessageDelta)][0].delta
    assert (last.stop_reason, last.stop_sequence) == ("end_turn", None)

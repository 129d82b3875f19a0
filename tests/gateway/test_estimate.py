"""gateway/runtime/estimate.py: one characters-a-token rule and one output count, on every
frame kind a stream takes (issue 19)."""

from __future__ import annotations

import msgspec

from gateway.contracts.openai import ChatCompletionChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta
from gateway.runtime.estimate import (
    chunk_chars,
    messages_event_chars,
    prompt_from_bytes,
    responses_event_chars,
    tokens_from_chars,
)

CALL = ToolCallDelta(index=0, id="call_1", type="function", function=FunctionCallDelta("get_weather", '{"city":'))
CHUNK = ChatCompletionChunk(id="c", created=1, model="m", choices=[ChunkChoice(index=0, delta=Delta(
    content="Hello", refusal="No", reasoning_content="Think", tool_calls=[CALL]))])
CHUNK_CHARS = len("Hello") + len("No") + len("Think") + len("get_weather") + len('{"city":')


def test_four_characters_a_token() -> None:
    assert [tokens_from_chars(n) for n in (0, 1, 4, 5, 400)] == [0, 1, 1, 2, 100]
    assert [prompt_from_bytes(n) for n in (0, 3, 4, 401)] == [1, 1, 1, 100]


def test_a_chat_chunk_counts_content_refusal_reasoning_and_tool_calls() -> None:
    assert chunk_chars(CHUNK) == CHUNK_CHARS


def test_a_raw_chat_chunk_counts_the_same_as_its_struct() -> None:
    raw = msgspec.Raw(msgspec.json.encode(CHUNK))
    assert chunk_chars(raw) == chunk_chars(bytes(raw)) == CHUNK_CHARS
    other = b'{"choices":[{"index":0,"delta":{"content":null,"reasoning":"abc","tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}'
    assert chunk_chars(other) == 5  # `reasoning`, as some OpenAI-compatible servers name it
    assert chunk_chars(b'{"choices":[],"usage":{"prompt_tokens":3}}') == 0
    assert chunk_chars(b'{"choices":[{"delta":null}]}') == 0
    assert chunk_chars(b"not json") == 0


def test_messages_events_count_text_thinking_tool_input_and_tool_names() -> None:
    assert messages_event_chars(b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"abc"}}') == 3
    assert messages_event_chars(b'{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}') == 2
    assert messages_event_chars(
        b'{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"a\\":"}}') == 5
    assert messages_event_chars(b'{"type":"content_block_start","index":1,"content_block":'
                                b'{"type":"tool_use","id":"t","name":"get_weather","input":{}}}') == len("get_weather")
    assert messages_event_chars(b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}') == 0
    assert messages_event_chars(b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{}}') == 0
    assert messages_event_chars(b"{") == 0


def test_responses_events_count_deltas_and_function_call_names() -> None:
    assert responses_event_chars(b'{"type":"response.output_text.delta","delta":"four","sequence_number":3}') == 4
    assert responses_event_chars(b'{"type":"response.refusal.delta","delta":"no"}') == 2
    assert responses_event_chars(b'{"type":"response.reasoning_summary_text.delta","delta":"why"}') == 3
    assert responses_event_chars(b'{"type":"response.function_call_arguments.delta","delta":"{\\"q\\":1}"}') == 7
    assert responses_event_chars(b'{"type":"response.output_item.added","output_index":0,"item":'
                                 b'{"type":"function_call","id":"fc","call_id":"c","name":"search","arguments":""}}') == 6
    assert responses_event_chars(b'{"type":"response.output_item.added","item":{"type":"message","id":"m"}}') == 0
    assert responses_event_chars(b'{"type":"response.created","response":{}}') == 0
    assert responses_event_chars(b'{"type":"x.delta","delta":{"not":"text"}}') == 0

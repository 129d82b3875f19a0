"""The SSE decoder against the event-stream rules."""

from __future__ import annotations

from workers.providers.base import SseEvent
from workers.sse import SseDecoder


def feed_all(*chunks: bytes) -> list[SseEvent]:
    decoder = SseDecoder()
    events = [e for c in chunks for e in decoder.feed(c)]
    return events + decoder.close()


def test_events_split_across_chunks_and_line_endings() -> None:
    events = feed_all(b"event: a\r\ndata: 1\r", b"\n\r\ndata: 2\n", b"\ndata: 3\r\r")
    assert events == [SseEvent("1", "a"), SseEvent("2"), SseEvent("3")]


def test_multi_line_data_comments_and_id() -> None:
    events = feed_all(b": keep-alive\n\nid: 7\ndata: x\ndata:y\n\n")
    assert events == [SseEvent("x\ny", "message", "7")]


def test_last_event_without_blank_line_is_kept_at_eof() -> None:
    assert feed_all(b"data: [DONE]") == [SseEvent("[DONE]")]


def test_utf8_split_inside_a_character() -> None:
    raw = "data: héllo\n\n".encode()
    assert feed_all(raw[:8], raw[8:]) == [SseEvent("héllo")]


def test_bare_json_error_lines_become_one_raw_event() -> None:
    body = b'data: {"candidates": []}\r\n\r\n{\n  "error": {\n    "code": 500,\n    "status": "INTERNAL"\n  }\n}\n'
    events = feed_all(body)
    assert events[0] == SseEvent('{"candidates": []}')
    assert events[1].event == "raw"
    assert '"status": "INTERNAL"' in events[1].data and events[1].data.startswith("{")


def test_unknown_field_lines_alone_are_ignored() -> None:
    assert feed_all(b"retry: 100\nfoo: bar\n\n") == []

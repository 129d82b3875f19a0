"""Incremental server-sent-events decoder: bytes in, `SseEvent`s out.

Follows the WHATWG event-stream rules: lines end in CRLF, LF or CR; `data` lines of one
event join with LF; lines starting with `:` are comments; an event is dispatched at a
blank line; a trailing event without the final blank line is dispatched at EOF by
`close()` (some upstreams end that way).

One tolerance beyond the spec: Google may write a mid-stream error as bare JSON lines
with no `data:` prefix. Lines that are no SSE field are kept, and if they form text
starting with `{` or `[` and no `data` came with them, they are dispatched as one event
named `raw`, so the provider sees the error instead of a silently cut stream.
"""

from __future__ import annotations

from workers.providers.base import SseEvent

_FIELDS = frozenset({"data", "event", "id", "retry"})


class SseDecoder:
    """Feed byte chunks as they arrive; get complete events back."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._raw: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Events completed by this chunk."""
        self._buffer += chunk
        events: list[SseEvent] = []
        while True:
            line, found = self._next_line()
            if not found:
                return events
            event = self._process(line)
            if event is not None:
                events.append(event)

    def close(self) -> list[SseEvent]:
        """Events left at EOF (a last line or event without its terminator)."""
        events: list[SseEvent] = []
        if self._buffer:
            line, self._buffer = self._buffer, b""
            event = self._process(line.rstrip(b"\r"))
            if event is not None:
                events.append(event)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _next_line(self) -> tuple[bytes, bool]:
        buf = self._buffer
        lf = buf.find(b"\n")
        cr = buf.find(b"\r")
        if lf < 0 and cr < 0:
            return b"", False
        if cr >= 0 and (lf < 0 or cr < lf):
            if cr == len(buf) - 1:
                return b"", False  # NOTE: wait: this CR may be the first half of a CRLF
            end = cr + 2 if buf[cr + 1 : cr + 2] == b"\n" else cr + 1
            line = buf[:cr]
        else:
            end = lf + 1
            line = buf[:lf]
        self._buffer = buf[end:]
        return line, True

    def _process(self, raw: bytes) -> SseEvent | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", "replace")
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        elif name not in _FIELDS:
            self._raw.append(line)
        return None

    def _dispatch(self) -> SseEvent | None:
        raw, self._raw = "\n".join(self._raw).strip(), []
        if not self._data and raw[:1] in ("{", "["):
            self._event = ""
            return SseEvent(data=raw, event="raw")
        if not self._data and not self._event:
            return None
        event = SseEvent(data="\n".join(self._data), event=self._event or "message", id=self._id)
        self._data = []
        self._event = ""
        return event

"""Structured logs: one JSON object per line on stderr, carrying the request id.

Never log prompts, message bodies or secrets: only ids, names, counts and codes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import msgspec

_ENCODER = msgspec.json.Encoder()


class Logger:
    """A tiny JSON-lines logger bound to one process kind."""

    def __init__(self, process: str, stream: TextIO | None = None) -> None:
        self.process = process
        self.stream = stream

    def _write(self, level: str, event: str, fields: dict[str, Any]) -> None:
        record = {"ts": round(time.time(), 6), "level": level, "process": self.process, "event": event}
        record.update(fields)
        line = _ENCODER.encode(record).decode("utf-8", "replace")
        out = self.stream or sys.stderr
        try:
            out.write(line + "\n")
            out.flush()
        except (OSError, ValueError):
            pass  # NOTE: a closed stderr at shutdown must not turn a log line into a crash

    def info(self, event: str, **fields: Any) -> None:
        """Log an informational event."""
        self._write("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log something an operator should look at."""
        self._write("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log a failure."""
        self._write("error", event, fields)

    def nats_error_callback(self) -> Callable[[Exception], Awaitable[None]]:
        """An `error_cb` for nats.connect: one JSON line instead of a printed traceback."""

        async def on_error(ex: Exception) -> None:
            self.warning("nats_error", error=f"{type(ex).__name__}: {ex}")

        return on_error

"""Structured logs: one JSON object per line on stderr, carrying the request id.

Never log prompts, message bodies or secrets: only ids, names, counts and codes. A
process that holds secrets (a worker: the provider keys) also gives its logger a
`Redactor`, which scrubs every text field, since an exception's text may quote an upstream.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import msgspec

from gateway.contracts.environment import environment
from gateway.contracts.redact import Redactor

_ENCODER = msgspec.json.Encoder()
# Names, ids and codes the processes write themselves: never scrubbed, so a provider named
# like its placeholder key stays readable (issue 22, item 3). Free text (errors, messages
# an upstream wrote) is scrubbed.
STRUCTURED_FIELDS = frozenset({"provider", "model", "upstream_model", "deployment", "type", "code", "error_code",
                               "op", "status", "request_id", "key_id", "key_name", "dialect", "variable"})
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def level_from_env() -> int:
    """`LOG_LEVEL` (debug, info, warning, error; default info) as a number."""
    return LEVELS.get(environment().log_level, LEVELS["info"])


class Logger:
    """A tiny JSON-lines logger bound to one process kind."""

    def __init__(self, process: str, stream: TextIO | None = None, redactor: Redactor | None = None,
                 level: int | None = None) -> None:
        self.process = process
        self.stream = stream
        self.redactor = redactor
        self.level = level_from_env() if level is None else level

    def _write(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if LEVELS[level] < self.level:
            return
        record = {"ts": round(time.time(), 6), "level": level, "process": self.process, "event": event}
        redactor = self.redactor
        if redactor is not None:
            fields = {k: redactor.text(v) if isinstance(v, str) and k not in STRUCTURED_FIELDS else v
                      for k, v in fields.items()}
        record.update(fields)
        line = _ENCODER.encode(record).decode("utf-8", "replace")
        out = self.stream or sys.stderr
        try:
            out.write(line + "\n")
            out.flush()
        except (OSError, ValueError):
            pass  # NOTE: a closed stderr at shutdown must not turn a log line into a crash

    def debug(self, event: str, **fields: Any) -> None:
        """Log detail only wanted while looking into something (`LOG_LEVEL=debug`)."""
        self._write("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log an informational event."""
        self._write("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log something an operator should look at."""
        self._write("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log a failure."""
        self._write("error", event, fields)

    def nats_error_callback(self, every_s: float = 10.0,
                            clock: Callable[[], float] = time.monotonic) -> Callable[[Exception], Awaitable[None]]:
        """An `error_cb` for nats.connect: one JSON line instead of a printed traceback.

        While NATS is down the client fails every reconnect attempt (twice a second): the
        same kind of error is logged at most once per `every_s`, with how many were held back.
        """
        last: dict[str, float] = {}
        held: dict[str, int] = {}

        async def on_error(ex: Exception) -> None:
            kind = type(ex).__name__
            now = clock()
            if kind in last and now - last[kind] < every_s:
                held[kind] = held.get(kind, 0) + 1
                return
            last[kind] = now
            self.warning("nats_error", error=f"{kind}: {ex}", repeated=held.pop(kind, 0))

        return on_error

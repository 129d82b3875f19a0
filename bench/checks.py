"""Response checks of the load driver: a cheap one on every response, a full one on samples.

Each returns None when the body is right, else a short reason. Kinds name the wire format
the client receives: `chat`, `stream`, `embed` (OpenAI) and `anthropic-chat`,
`anthropic-stream` (the fake upstream's native Anthropic answers, for direct baselines).
"""

from __future__ import annotations

import json
from typing import Any

from bench.payloads import EMBED_DIMS

KINDS = ("chat", "stream", "embed", "anthropic-chat", "anthropic-stream")


def quick(kind: str, body: bytes, expected: str) -> str | None:
    """A cheap check for every response."""
    if kind in ("stream", "anthropic-stream"):
        tail = b"[DONE]" if kind == "stream" else b"message_stop"
        if tail not in body[-200:]:
            return "stream did not end properly"
        if b'"error"' in body:
            return "error event in stream"
        return None
    if kind == "embed":
        return None if b'"embedding"' in body else "no embedding in body"
    return None if expected.encode() in body else "reply text missing"


def full(kind: str, body: bytes, expected: str) -> str | None:
    """Parse the whole body and compare its content with what the upstream said."""
    try:
        if kind == "chat":
            got = json.loads(body)["choices"][0]["message"]["content"]
            return None if got == expected else f"content {got!r} != {expected!r}"
        if kind == "embed":
            doc = json.loads(body)
            size = len(doc["data"][0]["embedding"])
            return None if size == EMBED_DIMS else f"embedding has {size} dims"
        if kind == "anthropic-chat":
            got = json.loads(body)["content"][0]["text"]
            return None if got == expected else f"content {got!r} != {expected!r}"
        if kind == "stream":
            return _openai_stream(body, expected)
        if kind == "anthropic-stream":
            return _anthropic_stream(body, expected)
    except (ValueError, KeyError, IndexError, TypeError) as ex:
        return f"malformed {kind} body: {type(ex).__name__}: {ex}"
    return f"unknown kind {kind}"


def _events(body: bytes) -> list[tuple[str, str]]:
    """(event name, data) of each SSE event (LF or CRLF framing)."""
    out = []
    for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        name, data = "message", []
        for line in block.decode().split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            out.append((name, "\n".join(data)))
    return out


def _openai_stream(body: bytes, expected: str) -> str | None:
    text, done = [], False
    for _, data in _events(body):
        if data == "[DONE]":
            done = True
            continue
        doc: dict[str, Any] = json.loads(data)
        if "error" in doc:
            return f"error event: {doc['error']}"
        for choice in doc.get("choices") or []:
            text.append((choice.get("delta") or {}).get("content") or "")
    if not done:
        return "no [DONE]"
    got = "".join(text)
    return None if got == expected else f"streamed {got!r} != {expected!r}"


def _anthropic_stream(body: bytes, expected: str) -> str | None:
    text, stopped = [], False
    for name, data in _events(body):
        doc = json.loads(data)
        if name == "content_block_delta":
            text.append(doc["delta"].get("text", ""))
        elif name == "message_stop":
            stopped = True
    if not stopped:
        return "no message_stop"
    got = "".join(text)
    return None if got == expected else f"streamed {got!r} != {expected!r}"

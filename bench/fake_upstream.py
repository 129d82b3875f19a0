"""A fast fake upstream in its own process: `python -m bench.fake_upstream [--chunks N]`.

A raw asyncio HTTP/1.1 server (uvloop when importable) with keep-alive and canned bytes,
so it costs far less per request than the gateway it feeds:
- OpenAI: `POST .../v1/chat/completions` (whole, or SSE with N content chunks, a usage
  chunk when `stream_options.include_usage` asks), `POST .../v1/embeddings`;
- Anthropic: `POST .../v1/messages` (whole, or the event stream with N text deltas);
- `GET /health`.
Path segments before `/v1/` change behaviour, so a provider's `base_url` picks it:
`/slow/<ms>` waits that long between stream chunks, `/chunks/<n>` sets the chunk count.
Responses echo the request's model, so an OpenAI-kind route passes bytes through untouched.
On start it prints one JSON line with its port, then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import signal
import sys
import time
from typing import Any

import msgspec

from bench import checks
from bench.tools import install_loop
from bench.payloads import (
    DEFAULT_CHUNKS,
    EMBED_DIMS,
    PROMPT_TOKENS,
    anthropic_body,
    openai_chat_body,
    openai_embed_body,
    reply_text,
    words,
)

MAX_HEAD = 64 * 1024
_JSON = msgspec.json.Encoder()


class _StreamOptions(msgspec.Struct):
    include_usage: bool = False


class _Request(msgspec.Struct):
    """The few request fields the fake reads."""

    model: str = ""
    stream: bool = False
    stream_options: _StreamOptions | None = None
    input: str | list[Any] = ""


_DECODE = msgspec.json.Decoder(_Request)

JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
LAST_CHUNK = b"0\r\n\r\n"
CREATED = 1_760_000_000


def _whole(doc: Any) -> bytes:
    body = _JSON.encode(doc)
    return JSON_HEAD % len(body) + body


def _chunked(event: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(event), event)


def _sse(doc: Any, name: str | None = None) -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return _chunked(head + b"data: " + _JSON.encode(doc) + b"\n\n")


def _usage(n: int) -> dict[str, int]:
    return {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": n, "total_tokens": PROMPT_TOKENS + n}


def openai_completion(model: str, n: int) -> bytes:
    """A whole chat completion response."""
    return _whole({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": CREATED, "model": model,
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply_text(n), "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(n),
    })


def openai_stream(model: str, n: int, include_usage: bool) -> list[bytes]:
    """The chunked SSE frames of a streamed chat completion (headers not included)."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        doc: dict[str, Any] = {
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED, "model": model,
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            doc["usage"] = None
        return _sse(doc)

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": word}) for word in words(n)]
    frames.append(chunk({}, "stop"))
    if include_usage:
        frames.append(_sse({
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED, "model": model,
            "system_fingerprint": "fp_bench", "choices": [], "usage": _usage(n),
        }))
    frames.append(_chunked(b"data: [DONE]\n\n"))
    return frames


def openai_embeddings(model: str, count: int) -> bytes:
    """An embeddings response with `count` vectors of EMBED_DIMS floats."""
    vector = [round(((i * 7919) % 2001 - 1000) / 31250.0, 6) for i in range(EMBED_DIMS)]
    return _whole({
        "object": "list", "model": model,
        "data": [{"object": "embedding", "index": i, "embedding": vector} for i in range(count)],
        "usage": {"prompt_tokens": PROMPT_TOKENS, "total_tokens": PROMPT_TOKENS},
    })


def _message(model: str, content: list[Any], stop: str | None, out: int) -> dict[str, Any]:
    return {
        "id": "msg_bench", "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop, "stop_sequence": None,
        "usage": {"input_tokens": PROMPT_TOKENS, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0, "output_tokens": out},
    }


def anthropic_message(model: str, n: int) -> bytes:
    """A whole Anthropic Messages response."""
    return _whole(_message(model, [{"type": "text", "text": reply_text(n)}], "end_turn", n))


def anthropic_stream(model: str, n: int) -> list[bytes]:
    """The chunked frames of an Anthropic message stream."""
    frames = [
        _sse({"type": "message_start", "message": _message(model, [], None, 1)}, "message_start"),
        _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
             "content_block_start"),
    ]
    frames += [
        _sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}},
             "content_block_delta")
        for word in words(n)
    ]
    frames += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
              "usage": {"output_tokens": n}}, "message_delta"),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    return frames


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 21\r\n\r\n{\"error\":\"not found\"}"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
HEALTH = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"


class Canned:
    """Responses built once per (kind, model, chunks) and reused as bytes."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._paths: dict[bytes, tuple[float, int, bytes]] = {}

    def route(self, path: bytes) -> tuple[float, int, bytes]:
        """(delay between chunks in s, chunk count, the path after the options)."""
        found = self._paths.get(path)
        if found is None:
            found = self._paths[path] = self._parse(path)
        return found

    def _parse(self, path: bytes) -> tuple[float, int, bytes]:
        delay, chunks = 0.0, self.chunks
        rest = path.split(b"?", 1)[0]
        while not rest.startswith(b"/v1/") and rest.count(b"/") >= 3:
            _, name, value, tail = rest.split(b"/", 3)
            if name == b"slow":
                delay = int(value) / 1000.0
            elif name == b"chunks":
                chunks = int(value)
            rest = b"/" + tail
        return delay, chunks, rest

    def get(self, key: tuple[Any, ...], build: Any) -> Any:
        """The cached response for `key`, built by `build()` the first time."""
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = build()
        return found


class UpstreamProtocol(asyncio.Protocol):
    """One client connection: parse requests, answer from the cache."""

    def __init__(self, canned: Canned) -> None:
        self._canned = canned
        self._buf = bytearray()
        self._busy = False  # a slow stream is being written
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Buffer and answer every complete request."""
        self._buf += data
        if not self._busy:
            self._serve()

    def _serve(self) -> None:
        transport = self._transport
        while transport is not None and not transport.is_closing():
            buf = self._buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    transport.write(BAD_REQUEST)
                    transport.close()
                return
            lines = bytes(buf[:end]).split(b"\r\n")
            parts = lines[0].split(b" ")
            length, chunked, close = 0, False, False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            start = end + 4
            if chunked:
                found = _dechunk(buf, start)
                if found is None:
                    return
                body, consumed = found
            else:
                if len(buf) < start + length:
                    return
                body, consumed = bytes(buf[start:start + length]), start + length
            del buf[:consumed]
            if len(parts) < 3:
                transport.write(BAD_REQUEST)
                transport.close()
                return
            self._answer(parts[0], parts[1], body, close)
            if self._busy:
                return

    def _answer(self, method: bytes, path: bytes, body: bytes, close: bool) -> None:
        transport = self._transport
        assert transport is not None
        if method == b"GET" and path == b"/health":
            transport.write(HEALTH)
            return
        delay, n, rest = self._canned.route(path)
        try:
            req = _DECODE.decode(body) if method == b"POST" else None
        except msgspec.DecodeError:
            req = None
        canned = self._canned
        if req is None:
            transport.write(BAD_REQUEST)
            transport.close()
            return
        frames: list[bytes] | None = None
        key: tuple[Any, ...] = ()
        if rest == b"/v1/chat/completions":
            usage = req.stream_options is not None and req.stream_options.include_usage
            if req.stream:
                key = ("oai-s", req.model, n, usage)
                frames = canned.get(key, lambda: openai_stream(req.model, n, usage))
            else:
                transport.write(canned.get(("oai", req.model, n), lambda: openai_completion(req.model, n)))
        elif rest == b"/v1/messages":
            if req.stream:
                key = ("ant-s", req.model, n)
                frames = canned.get(key, lambda: anthropic_stream(req.model, n))
            else:
                transport.write(canned.get(("ant", req.model, n), lambda: anthropic_message(req.model, n)))
        elif rest == b"/v1/embeddings":
            count = 1 if isinstance(req.input, str) else max(1, len(req.input))
            transport.write(canned.get(("emb", req.model, count), lambda: openai_embeddings(req.model, count)))
        else:
            transport.write(NOT_FOUND)
        if frames is not None:
            if delay > 0:
                self._busy = True
                asyncio.ensure_future(self._slow(frames, delay, close))
                return
            transport.write(canned.get((*key, "burst"), lambda: SSE_HEAD + b"".join(frames) + LAST_CHUNK))
        if close:
            transport.close()

    async def _slow(self, frames: list[bytes], delay: float, close: bool) -> None:
        transport = self._transport
        assert transport is not None
        transport.write(SSE_HEAD + frames[0])
        for frame in frames[1:]:
            await asyncio.sleep(delay)
            if transport.is_closing():
                return
            transport.write(frame)
        transport.write(LAST_CHUNK)
        self._busy = False
        if close:
            transport.close()
        elif self._buf:
            self._serve()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the transport."""
        self._transport = None


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """A chunked request body and the bytes consumed, or None while incomplete."""
    out = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n", pos)  # NOTE: trailers are not expected; skip to the blank line
            return (bytes(out), end + 2) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos:pos + size]
        pos += size + 2


async def serve(host: str, port: int, chunks: int, loop_name: str) -> None:
    """Serve until SIGTERM/SIGINT; prints `{"port": ..., "loop": ...}` once listening."""
    loop = asyncio.get_running_loop()
    canned = Canned(chunks)
    server = await loop.create_server(lambda: UpstreamProtocol(canned), host, port, backlog=4096, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": bound, "loop": loop_name, "chunks": chunks}), flush=True)
    async with server:
        await stop.wait()


# ---------------------------------------------------------------------- self-check


def _post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", path, body, {"content-type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def self_check(port: int, chunks: int = DEFAULT_CHUNKS) -> list[str]:
    """Send one request of each kind (and a chunked and a slow one); the problems found."""
    text = reply_text(chunks)
    cases: list[tuple[str, str, bytes]] = [
        ("chat", "/v1/chat/completions", openai_chat_body("m", False)),
        ("stream", "/v1/chat/completions", openai_chat_body("m", True)),
        ("embed", "/v1/embeddings", openai_embed_body("e")),
        ("anthropic-chat", "/v1/messages", anthropic_body("c", False)),
        ("anthropic-stream", "/v1/messages", anthropic_body("c", True)),
        ("stream", "/slow/1/v1/chat/completions", openai_chat_body("m", True)),
    ]
    problems = []
    for kind, path, body in cases:
        status, answer = _post(port, path, body)
        problem = f"HTTP {status}" if status != 200 else checks.full(kind, answer, text)
        if problem:
            problems.append(f"{kind} {path}: {problem}")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:  # a chunked request body, then a second request on the same connection
        conn.request("POST", "/v1/chat/completions", iter([openai_chat_body("m", False)]),
                     {"content-type": "application/json"}, encode_chunked=True)
        first = conn.getresponse().read()
        conn.request("POST", "/v1/embeddings", openai_embed_body("e"), {"content-type": "application/json"})
        second = conn.getresponse().read()
        for kind, answer in (("chat", first), ("embed", second)):
            problem = checks.full(kind, answer, text)
            if problem:
                problems.append(f"keep-alive {kind}: {problem}")
    finally:
        conn.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the fake upstream (or `--self-check PORT` against a running one)."""
    p = argparse.ArgumentParser(prog="python -m bench.fake_upstream")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS)
    p.add_argument("--self-check", type=int, metavar="PORT")
    args = p.parse_args(argv)
    if args.self_check:
        started = time.perf_counter()
        problems = self_check(args.self_check, args.chunks)
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"self-check: {'ok' if not problems else 'FAILED'} in {time.perf_counter() - started:.3f}s")
        return 1 if problems else 0
    loop_name = install_loop()
    asyncio.run(serve(args.host, args.port, args.chunks, loop_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())

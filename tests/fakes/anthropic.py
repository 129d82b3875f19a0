"""A fake Anthropic Messages API (`POST /v1/messages`) for end-to-end tests.

It speaks the real protocol byte for byte: JSON replies shaped like Anthropic's `Message`,
streams as named SSE events (`event: <type>\\ndata: <json>\\n\\n`: `message_start`,
`content_block_start`, `ping`, `content_block_delta`, `content_block_stop`,
`message_delta`, `message_stop`), and errors as
`{"type":"error","error":{"type":...,"message":...},"request_id":...}`.

Checks, answered like the real API:
- `x-api-key` must equal the constructor's key (401 `authentication_error`),
  `anthropic-version` must be `2023-06-01` (400); only `POST /v1/messages` exists (404);
- the body (see `validate`): `model`, `messages`, `max_tokens` required; unknown
  top-level fields; temperature/top_p outside 0..1 or both set (as newer models refuse the
  pair); whitespace-only stop sequences; system
  and text blocks empty or whitespace-only; first message not `user`; roles not
  alternating; a final assistant turn ending in whitespace; a `tool_result` that does not
  answer a `tool_use` of the previous assistant turn, or that follows other content; a
  `tool_use` left unanswered; tool blocks without `tools`; bad client tool names/schemas (typed tools and toolsets pass),
  tool_choice, images; thinking budget < 1024 or >= max_tokens, thinking with a forced
  tool or a temperature; adaptive thinking or `output_config.effort` on a model outside
  `ADAPTIVE_MODELS`, budget thinking on one of `ADAPTIVE_ONLY_MODELS`; thinking blocks whose signature this fake did not issue, and a
  tool loop continued with thinking on whose assistant turn does not start with one.

Behaviour, chosen by a directive line `#scenario <name> [arg]` in the text of the last
user turn (a request whose last user turn holds `tool_result`s instead gets a text reply
quoting them, so the OpenAI SDK tool loop runs end to end; a `tool_choice` that forces a
tool always gets a call of that tool, with input made from its schema):
- (none)            reply with the last user text (`end_turn`);
- `tools`           one `tool_use` of the first tool (input from its schema), `tool_use`;
- `call <json>`     one `tool_use` of the tool and input `{"Name": {...}}` names (compact JSON);
- `parallel_tools`  text, then two `tool_use`s (the second with input `{}`, streamed as a
                    single empty `input_json_delta`); one call if parallel use is disabled;
- `thinking`        a signed `thinking` block, then the text (also added to every reply
                    when the request enables `thinking`);
- `max_tokens`      a few words, `stop_reason: max_tokens`;
- `max_tokens_tool` a `tool_use` cut mid-JSON (stream: no `content_block_stop`), `max_tokens`;
- `stop_sequence`   text, then `stop_reason: stop_sequence` with the request's first sequence;
- `refusal`         a short text, `stop_reason: refusal`;
- `web_search`      (with the server tool `web_search_20250305` offered) a short text, one
                    search of the last user text (`server_tool_use`, then a
                    `web_search_tool_result` with `SEARCH_RESULTS`, streamed whole in its
                    `content_block_start`), then the text citing the first result
                    (`citations_delta` before its `text_delta`s); usage counts
                    `server_tool_use.web_search_requests`; without the tool, the default reply;
- `cached`          usage with cache writes (200) and reads (1000); the stream's
                    `message_delta` repeats the input fields, as newer streams do;
- (any request with `cache_control` breakpoints, at most 4) a prompt cache: the longest
                    prefix cached by an earlier request, ending at or before the last
                    breakpoint, is billed as cache reads, the rest up to that breakpoint as
                    cache writes (and cached); only the rest is `input_tokens`;
- `error_midstream` stream: some text, then an `error` event (`overloaded_error`) and the
                    end of the body; not streamed: 500 `api_error`;
- `echo_headers`    like `error_midstream`, but the error's message echoes the request
                    headers (`server.header_echo`);
- `drop_midstream`  stream: some text, then the connection is cut (no `message_stop`);
- `overloaded`      529 `overloaded_error`;  `rate_limited` 429 `rate_limit_error` with
                    `retry-after: 7`;  `server_error` 500 `api_error`;  `timeout` 504
                    `timeout_error`;  `not_found` 404 `not_found_error`;  `low_credit`
                    400 "credit balance is too low";  `bad_key` 401 `authentication_error`;
- `slow <seconds>`  wait, then the default reply (for timeout tests);
- `slow_stream`     (stream) up to 100 words, one `text_delta` every 0.2 s; stops writing
                    when the client goes away (for disconnect tests).
The other fakes' names work too: `midstream`/`cut_midstream` = `drop_midstream`,
`stream_error` = `error_midstream`, `error_401` = `bad_key`, `error_500` = `server_error`,
`error_400` = 400 `invalid_request_error` ("prompt is too long").
`chunk_delay` (seconds) spaces the stream's events.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from tests.fakes.server import Exchange, FakeServer, header_echo

VERSION = "2023-06-01"
SIGNING_SECRET = b"fake-anthropic-thinking"
THINKING_TEXT = "Let me think about this step by step."
_DIRECTIVE = re.compile(r"(?m)^\s*#scenario[ \t]+(\w+)(?:[ \t]+(\S+))?")


def sign_thinking(thinking: str) -> str:
    """The signature this fake issues for a thinking text (and accepts back)."""
    return base64.b64encode(hashlib.sha256(SIGNING_SECRET + thinking.encode()).digest()).decode()


def error_body(kind: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    """Anthropic's error body."""
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


@dataclass
class Reply:
    """What the fake answers: content blocks, stop reason and usage."""

    blocks: list[dict[str, Any]]
    stop_reason: str = "end_turn"
    stop_sequence: str | None = None
    cache_creation: int = 0
    cache_read: int = 0
    truncate_last_tool: bool = False
    web_searches: int = 0


SEARCH_TOOL = "web_search_20250305"
SEARCH_INTRO = "I'll search the web for that."
SEARCH_RESULTS = [
    {"type": "web_search_result", "title": "Gateway news", "url": "https://example.com/news",
     "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5LTQ1NGUtODgxNC1kNjNjNTk1ZWI3Y2Y", "page_age": "April 30, 2025"},
    {"type": "web_search_result", "title": "Gateway docs", "url": "https://example.org/docs",
     "encrypted_content": "EroECioIARgBIiRmYjJiODA1ZS0xNDc1LTRkNjEtOGY3Mi04YTQzNjAyNmRlOGU", "page_age": None},
]

ERRORS: dict[str, tuple[int, str, str]] = {
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "rate_limited": (
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit "
        "(https://docs.claude.com/en/api/rate-limits); see the response headers for current usage.",
    ),
    "server_error": (500, "api_error", "Internal server error"),
    "timeout": (504, "timeout_error", "Request timed out"),
    "not_found": (404, "not_found_error", "model: not found"),
    "low_credit": (
        400,
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. "
        "Please go to Plans & Billing to upgrade or purchase credits.",
    ),
    "bad_key": (401, "authentication_error", "invalid x-api-key"),
    "error_400": (400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"),
}
ALIASES = {
    "midstream": "drop_midstream",
    "cut_midstream": "drop_midstream",
    "stream_error": "error_midstream",
    "error_401": "bad_key",
    "error_500": "server_error",
}
SLOW_STREAM_WORDS = 100
SLOW_STREAM_DELAY = 0.2


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]


def _sample(schema: Any, name: str = "") -> Any:
    """A value that fits a (simple) JSON schema."""
    if not isinstance(schema, dict):
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties") or {}
        return {key: _sample(sub, key) for key, sub in props.items()}
    return {"string": "Paris", "integer": 42, "number": 1.5, "boolean": True, "array": []}.get(
        kind or "", None
    )


def _tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


class FakeAnthropic(FakeServer):
    """Serves `POST /v1/messages`; see the module docstring for checks and scenarios."""

    def __init__(self, api_key: str = "test-anthropic-key", chunk_delay: float = 0.0, max_output: int = 128000) -> None:
        super().__init__()
        self.api_key = api_key
        self.chunk_delay = chunk_delay
        self.max_output = max_output
        self._ids = itertools.count(1)
        self._cached: set[str] = set()  # prompt-cache: hashes of the prefixes cached so far
        self.beta_headers: list[str | None] = []  # `anthropic-beta` of each request, in order
        self.bodies: list[dict[str, Any]] = []  # each valid `/v1/messages` body, in order

    # ------------------------------------------------------------ request handling

    def handle(self, ex: Exchange) -> None:
        """Check, then answer one request."""
        request_id = f"req_fake{next(self._ids):06d}"
        headers = {"request-id": request_id}
        req = ex.request
        path = req.path.split("?")[0]
        if req.method == "POST" and path == "/v1/messages/count_tokens" and req.headers.get("x-api-key") == self.api_key:
            self._count_tokens(ex, headers)
            return
        if req.method != "POST" or path != "/v1/messages":
            _send_json(ex, 404, error_body("not_found_error", "Not found", request_id), headers)
            return
        key = req.headers.get("x-api-key")
        if key != self.api_key:
            message = "x-api-key header is required" if key is None else "invalid x-api-key"
            _send_json(ex, 401, error_body("authentication_error", message, request_id), headers)
            return
        version = req.headers.get("anthropic-version")
        if version != VERSION:
            message = "anthropic-version: header is required" if version is None else (
                f"anthropic-version: invalid version '{version}'"
            )
            _send_json(ex, 400, error_body("invalid_request_error", message, request_id), headers)
            return
        try:
            body = json.loads(req.body)
        except ValueError:
            _send_json(ex, 400, error_body("invalid_request_error", "There was an issue with the JSON body of your request.", request_id), headers)
            return
        self.beta_headers.append(req.headers.get("anthropic-beta"))
        problem = validate(body, self.max_output)
        if not problem:
            self.bodies.append(body)
        if problem:
            _send_json(ex, 400, error_body("invalid_request_error", problem, request_id), headers)
            return
        self._answer(ex, body, headers)

    def _count_tokens(self, ex: Exchange, headers: dict[str, str]) -> None:
        """`count_tokens`: the prompt's tokens as `_usage` counts them (system, turns, tools)."""
        self.beta_headers.append(ex.request.headers.get("anthropic-beta"))
        body = json.loads(ex.request.body)
        if "max_tokens" in body or not body.get("messages") or not body.get("model"):
            problem = "max_tokens: Extra inputs are not permitted" if "max_tokens" in body else "messages: Field required"
            _send_json(ex, 400, error_body("invalid_request_error", problem, headers["request-id"]), headers)
            return
        prompt = json.dumps(body.get("system", "")) + json.dumps(body["messages"]) + json.dumps(body.get("tools", []))
        _send_json(ex, 200, {"input_tokens": _tokens(prompt)}, headers)

    def _answer(self, ex: Exchange, body: dict[str, Any], headers: dict[str, str]) -> None:
        last_user = next((m for m in reversed(body["messages"]) if m["role"] == "user"), None)
        content = last_user["content"] if last_user else ""
        text = "\n".join(_texts(content))
        match = _DIRECTIVE.search(text)
        scenario, arg = (match.group(1), match.group(2)) if match else ("", None)
        scenario = ALIASES.get(scenario, scenario)
        stream = body.get("stream") is True
        if scenario in ERRORS:
            status, kind, message = ERRORS[scenario]
            extra = {"retry-after": "7", "anthropic-ratelimit-requests-remaining": "0"} if status == 429 else {}
            _send_json(ex, status, error_body(kind, message, headers["request-id"]), {**headers, **extra})
            return
        if scenario == "slow":
            time.sleep(float(arg) if arg and arg.replace(".", "", 1).isdigit() else 1.0)
        if scenario in ("error_midstream", "drop_midstream", "echo_headers") and not stream:
            if scenario == "drop_midstream":
                ex.drop()
                return
            message = header_echo(ex.request) if scenario == "echo_headers" else "Internal server error"
            _send_json(ex, 500, error_body("api_error", message, headers["request-id"]), headers)
            return
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"] if isinstance(content, list) else []
        reply = self._reply(body, scenario, text, results, arg)
        if stream:
            self._stream(ex, body, reply, scenario, headers)
        else:
            _send_json(ex, 200, self._message(body, reply), headers)

    # ------------------------------------------------------------ replies

    def _reply(self, body: dict[str, Any], scenario: str, text: str, results: list[dict[str, Any]],
               arg: str | None = None) -> Reply:
        echo = _DIRECTIVE.sub("", text).strip() or "Hello!"
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {}
        thinking_on = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
        blocks: list[dict[str, Any]] = []
        if thinking_on or scenario == "thinking":
            blocks.append({"type": "thinking", "thinking": THINKING_TEXT, "signature": sign_thinking(THINKING_TEXT)})
        forced = choice.get("type") in ("any", "tool") and tools
        if forced:
            name = choice.get("name") or tools[0]["name"]
            tool = next(t for t in tools if t["name"] == name)
            input_ = _sample(tool.get("input_schema")) or {}
            if not input_ and not (tool.get("input_schema") or {}).get("properties"):
                input_ = {"echo": echo}
            return Reply(blocks + [self._tool_use(name, input_)], "tool_use")
        call = next(iter(json.loads(arg).items())) if scenario == "call" and arg else None
        if call is not None and not results and any(t.get("name") == call[0] for t in tools):
            # `#scenario call {"Tool":{...input}}`: a call of that (declared) tool with that input.
            return Reply(blocks + [self._tool_use(call[0], call[1])], "tool_use")
        if results:
            quoted = " | ".join(" ".join(_texts(r.get("content") or "")) for r in results)
            return Reply(blocks + [{"type": "text", "text": f"Tool results: {quoted}"}])
        if scenario in ("tools", "parallel_tools", "max_tokens_tool") and tools and choice.get("type") != "none":
            first = tools[0]
            calls = [self._tool_use(first["name"], _sample(first.get("input_schema")) or {})]
            if scenario == "max_tokens_tool":
                return Reply(blocks + calls, "max_tokens", truncate_last_tool=True)
            if scenario == "parallel_tools":
                blocks.append({"type": "text", "text": "I'll call two tools."})
                if not choice.get("disable_parallel_tool_use"):
                    calls.append(self._tool_use(tools[min(1, len(tools) - 1)]["name"], {}))
            return Reply(blocks + calls, "tool_use")
        if scenario == "web_search" and any(t.get("type") == SEARCH_TOOL for t in tools):
            return self._searched(blocks, echo)
        if scenario == "max_tokens":
            words = "One two three four five six seven eight".split()[: body["max_tokens"]]
            return Reply(blocks + [{"type": "text", "text": " ".join(words)}], "max_tokens")
        if scenario == "stop_sequence" and body.get("stop_sequences"):
            return Reply(blocks + [{"type": "text", "text": "Counting: 1, 2, 3"}], "stop_sequence", body["stop_sequences"][0])
        if scenario == "slow_stream":
            words = " ".join(f"word{i}" for i in range(1, SLOW_STREAM_WORDS + 1))
            return Reply(blocks + [{"type": "text", "text": words}])
        if scenario == "refusal":
            return Reply(blocks + [{"type": "text", "text": "I can't help with that."}], "refusal")
        reply = Reply(blocks + [{"type": "text", "text": echo}])
        if scenario == "cached":
            reply.cache_creation, reply.cache_read = 200, 1000
        return reply

    def _searched(self, blocks: list[dict[str, Any]], query: str) -> Reply:
        """A reply that searched the web once, as Claude writes one (see the module doc)."""
        server_id = f"srvtoolu_fake{next(self._ids):06d}"
        first = SEARCH_RESULTS[0]
        citation = {"type": "web_search_result_location", "cited_text": "The gateway shipped.",
                    "url": first["url"], "title": first["title"], "encrypted_index": "Eo8BCioIAhgBIiQ"}
        return Reply(blocks + [
            {"type": "text", "text": SEARCH_INTRO},
            {"type": "server_tool_use", "id": server_id, "name": "web_search", "input": {"query": query}},
            {"type": "web_search_tool_result", "tool_use_id": server_id, "content": SEARCH_RESULTS},
            {"type": "text", "text": f"Searched: {query}", "citations": [citation]},
        ], web_searches=1)

    def _tool_use(self, name: str, input_: dict[str, Any]) -> dict[str, Any]:
        return {"type": "tool_use", "id": f"toolu_fake{next(self._ids):06d}", "name": name, "input": input_}

    def _usage(self, body: dict[str, Any], reply: Reply) -> tuple[dict[str, int], int]:
        output = sum(_tokens(json.dumps(b)) for b in reply.blocks)
        blocks = _prompt_blocks(body)
        if any(marked for _, marked in blocks):
            return self._cache_usage(blocks), output
        prompt = json.dumps(body.get("system", "")) + json.dumps(body["messages"])
        usage = {
            "input_tokens": _tokens(prompt),
            "cache_creation_input_tokens": reply.cache_creation,
            "cache_read_input_tokens": reply.cache_read,
        }
        return usage, output

    def _cache_usage(self, blocks: list[tuple[str, bool]]) -> dict[str, int]:
        """Usage as Anthropic's prompt cache reports it: the longest cached prefix ending at
        or before the last breakpoint is read, the rest up to that breakpoint is written
        (and every breakpoint's prefix is cached for later requests), the rest is input."""
        sizes = [_tokens(text) for text, _ in blocks]
        keys = [hashlib.sha256("\x00".join(t for t, _ in blocks[: k + 1]).encode()).hexdigest()
                for k in range(len(blocks))]
        last = max(k for k, (_, marked) in enumerate(blocks) if marked)
        hit = next((k for k in range(last, -1, -1) if keys[k] in self._cached), -1)
        read = sum(sizes[: hit + 1])
        written = sum(sizes[: last + 1]) - read
        self._cached.update(keys[k] for k, (_, marked) in enumerate(blocks) if marked)
        return {"input_tokens": sum(sizes) - read - written,
                "cache_creation_input_tokens": written, "cache_read_input_tokens": read}

    def _message(self, body: dict[str, Any], reply: Reply,
                 counted: tuple[dict[str, int], int] | None = None) -> dict[str, Any]:
        usage, output = counted or self._usage(body, reply)  # counted once: the cache changes
        searches = {"server_tool_use": {"web_search_requests": reply.web_searches}} if reply.web_searches else {}
        return {
            "id": f"msg_fake{next(self._ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": reply.blocks,
            "stop_reason": reply.stop_reason,
            "stop_sequence": reply.stop_sequence,
            "usage": {**usage, "output_tokens": output, **searches},
        }

    # ------------------------------------------------------------ streams

    def _send(self, ex: Exchange, payload: dict[str, Any], pad: int = 0) -> bool:
        data = json.dumps(payload, separators=(",", ":"))
        if pad:  # real streams pad some events with spaces before the closing brace
            data = data[:-1] + " " * pad + "}"
        return ex.event(data, payload["type"], self.chunk_delay)

    def _stream(self, ex: Exchange, body: dict[str, Any], reply: Reply, scenario: str, headers: dict[str, str]) -> None:
        usage, output = self._usage(body, reply)
        shell = self._message(body, reply, (usage, output))
        shell.update(content=[], stop_reason=None, stop_sequence=None, usage={**usage, "output_tokens": 1})
        ex.start_sse(200, headers)
        self._send(ex, {"type": "message_start", "message": shell})
        for index, block in enumerate(reply.blocks):
            last = index == len(reply.blocks) - 1
            slow = scenario == "slow_stream"
            if not self._block(ex, index, block, reply.truncate_last_tool and last, slow):
                return
            if scenario in ("error_midstream", "drop_midstream", "echo_headers"):
                break
        if scenario in ("error_midstream", "echo_headers"):
            message = header_echo(ex.request) if scenario == "echo_headers" else "Overloaded"
            ex.event(json.dumps(error_body("overloaded_error", message)), "error")
            return
        if scenario == "drop_midstream":
            ex.drop()
            return
        delta_usage: dict[str, Any] = {"output_tokens": output}
        if reply.web_searches:
            delta_usage["server_tool_use"] = {"web_search_requests": reply.web_searches}
        if scenario == "cached":
            delta_usage = {**usage, **delta_usage}
        self._send(ex, {
            "type": "message_delta",
            "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
            "usage": delta_usage,
        })
        self._send(ex, {"type": "message_stop"})

    def _block(self, ex: Exchange, index: int, block: dict[str, Any], truncate: bool, slow: bool = False) -> bool:
        kind = block["type"]
        start = {"text": {"type": "text", "text": ""}, "thinking": {"type": "thinking", "thinking": "", "signature": ""}}
        whole = kind == "web_search_tool_result"  # a server tool's result comes whole in its start
        first = block if whole else start.get(kind) or {**block, "input": {}}
        self._send(ex, {"type": "content_block_start", "index": index, "content_block": first})
        if index == 0:
            self._send(ex, {"type": "ping"})
        if whole:
            deltas = []
        elif kind == "text":
            pieces = re.findall(r"\S+\s*", block["text"]) if slow else _pieces(block["text"], 6)
            deltas = [{"type": "citations_delta", "citation": c} for c in block.get("citations", [])]
            deltas += [{"type": "text_delta", "text": p} for p in pieces]
        elif kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": p} for p in _pieces(block["thinking"], 12)]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            raw = json.dumps(block["input"]) if block["input"] else ""
            pieces = [""] + _pieces(raw, 7)
            if truncate:
                pieces = pieces[: max(2, len(pieces) // 2)]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        for delta in deltas:
            if slow:
                time.sleep(SLOW_STREAM_DELAY)
            if not self._send(ex, {"type": "content_block_delta", "index": index, "delta": delta}):
                return False
        if truncate:
            return True
        return self._send(ex, {"type": "content_block_stop", "index": index}, pad=3)


def _send_json(ex: Exchange, status: int, payload: Any, headers: dict[str, str]) -> None:
    """A whole JSON response, compact as Anthropic writes it."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    ex.send_bytes(status, body, "application/json", headers)


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# ---------------------------------------------------------------- validation

TOP_LEVEL = frozenset({
    "model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k",
    "stop_sequences", "stream", "metadata", "tools", "tool_choice", "thinking",
    "service_tier", "output_config", "container", "mcp_servers", "context_management",
})
# Blocks of Anthropic's server tools and context management, valid in an assistant turn
# (this fake answers them with text; it runs no server tools).
SERVER_BLOCKS = frozenset({
    "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
    "bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result",
    "mcp_tool_use", "mcp_tool_result", "container_upload", "compaction",
})
TOOL_RESULT_PARTS = ("text", "image", "document", "search_result", "tool_reference")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
THINKING_DOC = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
# Models taking thinking {type: adaptive} and output_config.effort; the -4-7 one takes
# nothing else (as Anthropic's thinking troubleshooting table says of Opus 4.7).
ADAPTIVE_MODELS = frozenset({"claude-opus-4-6", "claude-sonnet-4-6", "claude-opus-4-7"})
ADAPTIVE_ONLY_MODELS = frozenset({"claude-opus-4-7"})
EFFORTS = ("low", "medium", "high", "xhigh", "max")
MISSING_THINKING = (
    "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. "
    "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
    "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you "
    "include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. "
    f"Please consult our documentation at {THINKING_DOC}"
)


def _number(body: dict[str, Any], name: str, low: float, high: float) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"{name}: Input should be a valid number"
    if value > high:
        return f"{name}: Input should be less than or equal to {high:g}"
    if value < low:
        return f"{name}: Input should be greater than or equal to {low:g}"
    return None


def _text_problem(text: Any, where: str) -> str | None:
    if not isinstance(text, str):
        return f"{where}: Input should be a valid string"
    if not text:
        return f"{where}: text content blocks must be non-empty"
    if not text.strip():
        return f"{where}: text content blocks must contain non-whitespace text"
    return None


def _params_problem(body: dict[str, Any], max_output: int) -> str | None:
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            return f"{name}: Field required"
    extra = sorted(set(body) - TOP_LEVEL)
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return "max_tokens: Input should be a valid integer"
    if max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    if max_tokens > max_output:
        return (f"max_tokens: {max_tokens} > {max_output}, which is the maximum allowed number "
                f"of output tokens for {body['model']}")
    problem = _number(body, "temperature", 0, 1) or _number(body, "top_p", 0, 1)
    if problem:
        return problem
    if body.get("temperature") is not None and body.get("top_p") is not None:
        # as Sonnet 4.5+ and Opus 4.1+ answer
        return "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            return "stop_sequences: Input should be a valid list"
        if any(not s.strip() for s in stops):
            return "stop_sequences: each stop sequence must contain non-whitespace"
    system = body.get("system")
    if isinstance(system, list):
        for block in system:
            problem = _text_problem(block.get("text") if isinstance(block, dict) else None, "system")
            if problem:
                return problem
    elif system is not None and not isinstance(system, str):
        return "system: Input should be a valid string or list"
    user_id = (body.get("metadata") or {}).get("user_id")
    if user_id is not None and (not isinstance(user_id, str) or len(user_id) > 256):
        return "metadata.user_id: String should have at most 256 characters"
    return None


def _tools_problem(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    names = []
    for i, tool in enumerate(tools or []):
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool or toolset (typed; toolsets have no name)
        name = tool.get("name", "")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            return f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"tools.{i}.custom.input_schema.type: Input should be 'object'"
        names.append(name)
    choice = body.get("tool_choice")
    if choice is not None:
        kind = choice.get("type")
        if kind not in ("auto", "any", "tool", "none"):
            return (f"tool_choice: Input tag '{kind}' found using 'type' does not match any of "
                    "the expected tags: 'auto', 'any', 'tool', 'none'")
        if kind == "tool" and choice.get("name") not in names:
            return f"tool_choice.tool.name: Tool '{choice.get('name')}' not found in provided tools"
    return None


def _adaptive_problem(body: dict[str, Any]) -> str | None:
    model = body["model"]
    kind = (body.get("thinking") or {}).get("type")
    if kind == "adaptive" and model not in ADAPTIVE_MODELS:
        return f"thinking.type: 'adaptive' is not supported on {model}. Use 'enabled' with budget_tokens."
    if kind == "enabled" and model in ADAPTIVE_ONLY_MODELS:
        return (f"thinking.type.enabled is not supported for {model}. Use thinking.type.adaptive "
                "and output_config.effort to control thinking behavior.")
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and effort not in EFFORTS:
        return f"output_config.effort: Input should be {', '.join(repr(e) for e in EFFORTS)}"
    if effort is not None and model not in ADAPTIVE_MODELS:
        return f"output_config.effort: effort is not supported on {model}"
    return None


def _thinking_problem(body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking")
    problem = _adaptive_problem(body)
    if problem or thinking is None or thinking.get("type") == "disabled":
        return problem
    if thinking.get("type") not in ("enabled", "adaptive"):
        return "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'"
    budget = thinking.get("budget_tokens") if thinking["type"] == "enabled" else 1024
    if not isinstance(budget, int) or budget < 1024:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    if thinking["type"] == "enabled" and budget >= body["max_tokens"]:
        return ("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                f"documentation at {THINKING_DOC}#max-tokens-and-context-window-size")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    last = body["messages"][-1] if body.get("messages") else {}
    if last.get("role") == "assistant" and not any(
        isinstance(b, dict) and b.get("type") == "tool_use" for b in last.get("content") or []
    ):
        return "Prefilling the assistant response is not supported when thinking is enabled."
    if body.get("temperature") not in (None, 1):
        return f"`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at {THINKING_DOC}"
    if body.get("top_p") is not None and body["top_p"] < 0.95:
        return f"`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. Please consult our documentation at {THINKING_DOC}"
    return None


def _block_problem(block: Any, role: str, where: str) -> str | None:
    if not isinstance(block, dict):
        return f"{where}: Input should be a valid dictionary"
    kind = block.get("type")
    allowed = ("text", "image", "document", "tool_result", "search_result") if role == "user" else (
        "text", "tool_use", "thinking", "redacted_thinking", *SERVER_BLOCKS)
    if kind not in allowed:
        return f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags for {role} messages"
    if kind == "text":
        return _text_problem(block.get("text"), "messages")
    if kind == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            if source.get("media_type") not in IMAGE_TYPES:
                return (f"{where}.image.source.base64.media_type: Input should be "
                        "'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")
            return None if source.get("data") else f"{where}.image.source.base64.data: Field required"
        if source.get("type") == "url" and str(source.get("url", "")).startswith(("https://", "http://")):
            return None
        return f"{where}.image.source: Input should be a valid base64 or url source"
    if kind == "tool_use":
        if not TOOL_ID.match(str(block.get("id", ""))):
            return f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
        if not isinstance(block.get("input"), dict):
            return f"{where}.tool_use.input: Input should be a valid dictionary"
    if kind == "thinking" and block.get("signature") != sign_thinking(str(block.get("thinking"))):
        return f"{where}: Invalid `signature` in `thinking` block"
    if kind == "tool_result" and isinstance(block.get("content"), list):
        for k, inner in enumerate(block["content"]):
            if inner.get("type") not in TOOL_RESULT_PARTS:
                return f"{where}.tool_result.content.{k}: Input tag '{inner.get('type')}' found using 'type' does not match any of the expected tags"
            if inner.get("type") == "text":
                problem = _text_problem(inner.get("text"), "messages")
                if problem:
                    return problem
    return None


def _messages_problem(body: dict[str, Any]) -> str | None:
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: List should have at least 1 item after validation, not 0"
    if messages[0].get("role") != "user":
        return 'messages: first message must use the "user" role'
    uses_tools = False
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i and messages[i - 1].get("role") == role:
            return f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" roles in a row'
        content = msg.get("content")
        last = i == len(messages) - 1
        if content in ("", []) and not (last and role == "assistant"):
            return f"messages.{i}: all messages must have non-empty content except for the optional final assistant message"
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        seen_other = False
        for j, block in enumerate(blocks):
            problem = _block_problem(block, role, f"messages.{i}.content.{j}")
            if problem:
                return problem
            kind = block.get("type")
            uses_tools = uses_tools or kind in ("tool_use", "tool_result")
            if kind == "tool_result":
                prev = messages[i - 1] if i else {"content": []}
                ids = [b.get("id") for b in prev["content"] if isinstance(b, dict) and b.get("type") == "tool_use"] if isinstance(prev.get("content"), list) else []
                if block.get("tool_use_id") not in ids:
                    return (f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                            f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                            "`tool_use` block in the previous message.")
                if seen_other:
                    return f"messages.{i}.content.{j}: `tool_result` blocks must come before any other content in the user message"
            else:
                seen_other = True
        if role == "assistant" and not last and isinstance(content, list):
            nxt = messages[i + 1].get("content")
            answered = {b.get("tool_use_id") for b in nxt if isinstance(b, dict)} if isinstance(nxt, list) else set()
            missing = [b["id"] for b in content if b.get("type") == "tool_use" and b["id"] not in answered]
            if missing:
                return (f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                        f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.")
        if last and role == "assistant" and blocks and blocks[-1].get("type") == "text" and blocks[-1]["text"] != blocks[-1]["text"].rstrip():
            return "messages: final assistant content cannot end with trailing whitespace"
    if uses_tools and not body.get("tools"):
        return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    return None


def _open_loop_problem(body: dict[str, Any]) -> str | None:
    """With thinking on, a continued tool loop's assistant turn must start with thinking."""
    if (body.get("thinking") or {}).get("type") != "enabled":
        return None
    messages = body["messages"]
    last = messages[-1]
    has_results = isinstance(last.get("content"), list) and any(
        b.get("type") == "tool_result" for b in last["content"])
    if last.get("role") != "user" or not has_results or len(messages) < 2:
        return None
    first = messages[-2]["content"][0] if isinstance(messages[-2]["content"], list) else {"type": "text"}
    if first.get("type") in ("thinking", "redacted_thinking"):
        return None
    return MISSING_THINKING.format(i=len(messages) - 2, found=first.get("type"))


def _prompt_blocks(body: dict[str, Any]) -> list[tuple[str, bool]]:
    """The prompt in cache order (tools, system, messages) as (block text, has a breakpoint)."""
    def unmarked(block: Any) -> str:
        plain = {k: v for k, v in block.items() if k != "cache_control"} if isinstance(block, dict) else block
        return json.dumps(plain, sort_keys=True)

    def marked(block: Any) -> bool:
        if not isinstance(block, dict):
            return False
        nested = block.get("content") if block.get("type") == "tool_result" else None
        return "cache_control" in block or any(
            isinstance(b, dict) and "cache_control" in b for b in (nested if isinstance(nested, list) else []))

    system = body.get("system")
    out = [(unmarked(t), marked(t)) for t in body.get("tools") or []]
    out += [(unmarked(b), marked(b)) for b in (system if isinstance(system, list) else [])]
    for message in body.get("messages") or []:
        content = message.get("content")
        for block in content if isinstance(content, list) else [content]:
            out.append((message.get("role", "") + unmarked(block), marked(block)))
    return out


def _cache_problem(body: dict[str, Any]) -> str | None:
    count = sum(1 for _, marked in _prompt_blocks(body) if marked)
    if count > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {count}."
    return None


def validate(body: Any, max_output: int = 128000) -> str | None:
    """The message of the 400 the real API gives this body, or None if it is accepted."""
    if not isinstance(body, dict):
        return "Input should be a valid dictionary"
    if isinstance(body.get("messages"), list):
        # `system` turns between the others (as Claude Code sends them) hold instructions;
        # the turn rules apply to the user/assistant turns around them.
        for i, msg in enumerate(body["messages"]):
            if isinstance(msg, dict) and msg.get("role") == "system":
                blocks = [{"type": "text", "text": msg.get("content")}] if isinstance(msg.get("content"), str) else msg.get("content")
                if not isinstance(blocks, list) or any(not isinstance(b, dict) or _text_problem(b.get("text"), f"messages.{i}") for b in blocks):
                    return f"messages.{i}.content: a system message holds non-empty text"
        body = {**body, "messages": [m for m in body["messages"] if not (isinstance(m, dict) and m.get("role") == "system")]}
    return (
        _params_problem(body, max_output)
        or _cache_problem(body)
        or _tools_problem(body)
        or _thinking_problem(body)
        or _messages_problem(body)
        or _open_loop_problem(body)
    )

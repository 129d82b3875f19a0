"""A fake OpenAI server: `/v1/chat/completions` and `/v1/embeddings`, byte for byte.

It requires `Authorization: Bearer <api_key>` (else OpenAI's 401 body). Behaviour is
chosen by a directive line in the last user message, `#scenario <name> [arg]`:

- (none)        reply `fake: <last user text>`; usage prompt=PROMPT_TOKENS, completion=words
- tools         a `get_weather` tool call; once a tool result is in the history, a text
                answer quoting it
- call <json>   a call of the tool and arguments `{"Name": {...}}` names (compact JSON);
                once its result is in the history, `Tool results: <result>`
- error_400     400 invalid_request_error naming param `messages`
- error_401     401 (the upstream refusing our key)
- rate_limited  429 with `retry-after: 7`
- error_500     500 server_error
- interleaved_tools  two `get_weather` calls (Paris, London); streamed with their argument
                fragments interleaved (call 0, 1, 0, 1), as some compatible servers send them
- context_overflow  400 `context_length_exceeded` in OpenAI's words (250000 tokens > 128000)
- midstream     (stream) two chunks, then the connection drops
- stream_error  (stream) two chunks, then an SSE `{"error": ...}` event
- thinking      the answer with `reasoning_content` (streamed first), as reasoning servers send it
- slow <s>      wait <s> seconds before answering
- slow_stream   (stream) a chunk every 0.2 s, up to 100; stops when the client leaves
- stall <s>     (stream) two content chunks, then <s> seconds of silence, then the rest
- no_usage      answer without a usage object
- null_usage [inner]  usage with `prompt_tokens_details` / `completion_tokens_details`
                null (with `inner`: the objects present, `cached_tokens` /
                `reasoning_tokens` null), as the SDK's types allow and vLLM-style servers send
- echo_headers  500 whose message echoes the request headers (`server.header_echo`);
                (stream) two chunks, then an SSE error event with that message

Whatever the message says, a model refuses what today's OpenAI models refuse
(`model_refusal`, issue 20): a GPT-5-family or o-series model answers `max_tokens`,
`temperature` other than 1, `top_p`, penalties and log probabilities with OpenAI's 400
(`unsupported_parameter` / `unsupported_value`), a GPT-4-class model `reasoning_effort`,
gpt-4o* an output limit above 16384 (`invalid_value`), o1-mini/o1-preview a `developer`
message, and a model id containing `qwen` (a vLLM server's) a `developer` message with
vLLM's "Unexpected message role." (issue 21).

A `file` part with `file_data` and no `filename` is a 400 naming `...file.file_id`, as
OpenAI answers it.

Per instance, whatever the message says (several fakes as several accounts, issue 16):
`fail_next(status, headers, times)` answers the next chat requests with that error (429
gets OpenAI's rate-limit body, others a server_error body); `delay_s` waits before
every chat answer.

Streams end with `data: [DONE]`, send a `choices: []` usage chunk only when
`stream_options.include_usage` is set, exactly like OpenAI.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from typing import Any

from tests.fakes.server import Exchange, FakeServer, header_echo

PROMPT_TOKENS = 11
OVERFLOW = ("This model's maximum context length is 128000 tokens. However, your messages resulted in 250000 "
            "tokens. Please reduce the length of the messages.")
THINKING_TEXT = "Let me think it over."
# A line of the last user text (its first, or any other: clients add text around it).
_DIRECTIVE = re.compile(r"(?m)^#scenario[ \t]+(\w+)(?:[ \t]+(\S+))?")
CREATED = 1_700_000_000


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if p.get("type") == "text")
    return ""


def _file_problem(body: dict[str, Any]) -> str | None:
    """The path OpenAI names for a `file` part with `file_data` but no `filename`."""
    for i, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        for j, part in enumerate(content if isinstance(content, list) else []):
            file = part.get("file") if isinstance(part, dict) and part.get("type") == "file" else None
            if isinstance(file, dict) and "file_data" in file and not file.get("filename"):
                return f"messages[{i}].content[{j}].file.file_id"
    return None


def _error(status: int, message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# Per model family, what today's OpenAI models refuse (issue 20), worded as OpenAI does.
REASONING_MODELS = ("gpt-5", "o1", "o3", "o4")  # prefixes: GPT-5 family and o-series
CHAT_MODELS = ("gpt-4", "gpt-3.5", "chatgpt-")  # no reasoning_effort
OUTPUT_LIMITS = {"gpt-4o": 16384}  # prefix -> largest output (gpt-4o and gpt-4o-mini)
SYSTEM_ONLY_MODELS = ("o1-mini", "o1-preview")  # no `developer` role
_UNSUPPORTED = "Unsupported parameter: '{}' is not supported with this model."


def _unsupported(param: str, hint: str = "") -> dict[str, Any]:
    return _error(400, _UNSUPPORTED.format(param) + hint, "invalid_request_error", param, "unsupported_parameter")


def _too_large(body: dict[str, Any], model: str) -> dict[str, Any] | None:
    """OpenAI's 400 for an output limit above the model's largest (issue 21, item 2)."""
    limit = next((v for m, v in OUTPUT_LIMITS.items() if model.startswith(m)), None)
    for field in ("max_tokens", "max_completion_tokens"):
        asked = body.get(field)
        if limit is not None and isinstance(asked, int) and asked > limit:
            return _error(400, f"{field} is too large: {asked}. This model supports at most {limit} completion "
                          f"tokens, whereas you provided {asked}.", "invalid_request_error", field, "invalid_value")
    return None


def _role_refusal(body: dict[str, Any], model: str) -> dict[str, Any] | None:
    """A refused `developer` message: o1-mini/o1-preview as OpenAI words it, a vLLM-served
    Qwen model as vLLM relays its chat template's error (issue 21, item 4)."""
    roles = [m.get("role") for m in body.get("messages") or [] if isinstance(m, dict)]
    if "developer" not in roles:
        return None
    if model.startswith(SYSTEM_ONLY_MODELS):
        index = roles.index("developer")
        return _error(400, f"Unsupported value: 'messages[{index}].role' does not support 'developer' with this "
                      "model.", "invalid_request_error", f"messages[{index}].role", "unsupported_value")
    if "qwen" in model.lower():
        return {"error": {"message": "Unexpected message role.", "type": "BadRequestError", "param": None,
                          "code": 400}}
    return None


def model_refusal(body: dict[str, Any], limit_fields: tuple[str, ...] = ("max_tokens",),
                  reasoning: str = "reasoning_effort") -> dict[str, Any] | None:
    """OpenAI's 400 body for the first parameter `body`'s model refuses, or None."""
    model = str(body.get("model", ""))
    if model.startswith(CHAT_MODELS) and body.get(reasoning) is not None:
        return _unsupported(reasoning)
    refused = _too_large(body, model) or _role_refusal(body, model)
    if refused is not None:
        return refused
    if not model.startswith(REASONING_MODELS):
        return None
    if "max_tokens" in limit_fields and body.get("max_tokens") is not None:
        return _unsupported("max_tokens", " Use 'max_completion_tokens' instead.")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return _error(400, f"Unsupported value: 'temperature' does not support {temperature} with this model. "
                      "Only the default (1) value is supported.", "invalid_request_error", "temperature",
                      "unsupported_value")
    for param in ("top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs"):
        if body.get(param) is not None:
            return _unsupported(param)
    return None


class FakeOpenAI(FakeServer):
    """See the module docstring."""

    def __init__(self, api_key: str = "sk-fake-upstream") -> None:
        super().__init__()
        self.api_key = api_key
        self.disconnects = 0
        self.disconnected = threading.Event()
        self.delay_s = 0.0
        self.slow_finished = 0  # `#scenario slow` requests whose wait is over (answered or about to be)
        self._forced: list[tuple[int, dict[str, str]]] = []

    def fail_next(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next `times` chat requests with `status` (and these headers)."""
        with self._lock:
            self._forced.extend([(status, headers or {})] * times)

    def _take_forced(self) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            return self._forced.pop(0) if self._forced else None

    def chat_count(self) -> int:
        """Chat requests received so far."""
        return len(self.requests_to("/chat/completions"))

    def handle(self, ex: Exchange) -> None:
        """Route by path."""
        if ex.request.headers.get("authorization") != f"Bearer {self.api_key}":
            ex.send_json(401, _error(401, "Incorrect API key provided: sk-fa***.", "invalid_request_error", None, "invalid_api_key"))
            return
        if ex.request.path.endswith("/chat/completions"):
            self._chat(ex, ex.request.json())
        elif ex.request.path.endswith("/embeddings"):
            self._embeddings(ex, ex.request.json())
        else:
            ex.send_json(404, _error(404, f"Invalid URL (POST {ex.request.path})", "invalid_request_error"))

    # ------------------------------------------------------------------ chat

    def _chat(self, ex: Exchange, body: dict[str, Any]) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        forced = self._take_forced()
        if forced is not None:
            status, headers = forced
            payload = (_error(429, "Rate limit reached for requests.", "requests", None, "rate_limit_exceeded")
                       if status == 429 else _error(status, "The server had an error.", "server_error"))
            ex.send_json(status, payload, headers)
            return
        refusal = model_refusal(body)
        if refusal is not None:
            ex.send_json(400, refusal)
            return
        problem = _file_problem(body)
        if problem is not None:
            ex.send_json(400, _error(400, f"Missing required parameter: '{problem}'.", "invalid_request_error",
                                     problem, "missing_required_parameter"))
            return
        text = _last_user_text(body)
        directive = _DIRECTIVE.search(text)
        scenario, arg = (directive.group(1), directive.group(2) or "") if directive else ("", "")
        if scenario == "slow":
            time.sleep(float(arg or 5))
            with self._lock:
                self.slow_finished += 1
        failures = {
            "error_400": (400, _error(400, "Invalid 'messages': bad input from the caller.", "invalid_request_error", "messages")),
            "error_401": (401, _error(401, "Incorrect API key provided.", "invalid_request_error", None, "invalid_api_key")),
            "rate_limited": (429, _error(429, "Rate limit reached for requests.", "requests", None, "rate_limit_exceeded")),
            "error_500": (500, _error(500, "The server had an error while processing your request.", "server_error")),
            "context_overflow": (400, _error(400, OVERFLOW, "invalid_request_error", "messages", "context_length_exceeded")),
        }
        if scenario == "echo_headers" and not body.get("stream"):
            failures[scenario] = (500, _error(500, header_echo(ex.request), "server_error"))
        if scenario in failures:
            status, payload = failures[scenario]
            ex.send_json(status, payload, {"retry-after": "7"} if status == 429 else None)
            return
        message, finish = self._answer(body, scenario, text, arg)
        words = (message.get("content") or "").split(" ")
        completion = len(words) if message.get("content") else 5
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion,
                 "total_tokens": PROMPT_TOKENS + completion,
                 "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0}}
        if scenario == "null_usage" and arg == "inner":
            usage.update(prompt_tokens_details={"cached_tokens": None, "audio_tokens": None},
                         completion_tokens_details={"reasoning_tokens": None, "audio_tokens": None})
        elif scenario == "null_usage":
            usage.update(prompt_tokens_details=None, completion_tokens_details=None)
        # As OpenAI: a fresh id per response, the same on every chunk of a stream.
        completion_id = f"chatcmpl-fake{secrets.token_hex(8)}"
        if body.get("stream"):
            self._stream(ex, body, message, finish, usage, scenario, completion_id,
                         float(arg or 5) if scenario == "stall" else 0.0)
            return
        response = {
            "id": completion_id, "object": "chat.completion", "created": CREATED, "model": body["model"],
            "choices": [{"index": i, "message": {"role": "assistant", "refusal": None, **message},
                         "logprobs": None, "finish_reason": finish} for i in range(body.get("n") or 1)],
            "usage": usage, "service_tier": "default", "system_fingerprint": "fp_fake",
        }
        if scenario == "no_usage":
            del response["usage"]
        ex.send_json(200, response)

    def _answer(self, body: dict[str, Any], scenario: str, text: str, arg: str = "") -> tuple[dict[str, Any], str]:
        if scenario == "call":
            last = body["messages"][-1]
            if last.get("role") == "tool":
                return {"content": f"Tool results: {last['content']}"}, "stop"
            name, input_ = next(iter(json.loads(arg).items()))
            if any(t.get("function", {}).get("name") == name for t in body.get("tools") or []):
                call = {"id": "call_fake_1", "type": "function",
                        "function": {"name": name, "arguments": json.dumps(input_)}}
                return {"content": None, "tool_calls": [call]}, "tool_calls"
        if scenario == "tools":
            last = body["messages"][-1]
            if last.get("role") == "tool":
                return {"content": f"The weather is {last['content']}"}, "stop"
            call = {"id": "call_fake_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})}}
            return {"content": None, "tool_calls": [call]}, "tool_calls"
        if scenario == "interleaved_tools":
            calls = [{"id": f"call_fake_{k}", "type": "function",
                      "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}
                     for k, city in enumerate(("Paris", "London"))]
            return {"content": None, "tool_calls": calls}, "tool_calls"
        if scenario == "slow_stream":
            return {"content": " ".join(f"w{i}" for i in range(100))}, "stop"
        if scenario == "thinking":
            return {"content": f"fake: {text}", "reasoning_content": THINKING_TEXT}, "stop"
        return {"content": f"fake: {text}"}, "stop"

    def _stream(self, ex: Exchange, body: dict[str, Any], message: dict[str, Any], finish: str,
                usage: dict[str, Any], scenario: str, completion_id: str, stall_s: float = 0.0) -> None:
        def chunk(delta: dict[str, Any], finish_reason: str | None = None, index: int = 0) -> str:
            return json.dumps({"id": completion_id, "object": "chat.completion.chunk", "created": CREATED,
                               "model": body["model"], "system_fingerprint": "fp_fake",
                               "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]})

        ex.start_sse()
        ex.event(chunk({"role": "assistant", "content": "" if message.get("content") else None, "refusal": None}))
        if scenario == "interleaved_tools":  # as some OpenAI-compatible servers stream parallel calls
            calls = message["tool_calls"]
            for k, call in enumerate(calls):
                ex.event(chunk({"tool_calls": [{"index": k, "id": call["id"], "type": "function",
                                                "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            for half in (0, 1):
                for k, call in enumerate(calls):
                    args = call["function"]["arguments"]
                    part = args[: len(args) // 2] if half == 0 else args[len(args) // 2 :]
                    ex.event(chunk({"tool_calls": [{"index": k, "function": {"arguments": part}}]}))
        elif message.get("tool_calls"):
            call = message["tool_calls"][0]
            ex.event(chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                            "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            args = call["function"]["arguments"]
            for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                ex.event(chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
        else:
            if message.get("reasoning_content"):
                for piece in re.findall(r"\S+\s*", message["reasoning_content"]):
                    ex.event(chunk({"reasoning_content": piece}))
            words = message["content"].split(" ")
            delay = 0.2 if scenario == "slow_stream" else 0.0
            for i, word in enumerate(words):
                if scenario == "stall":
                    delay = stall_s if i == 2 else 0.0
                if i == 2 and scenario == "midstream":
                    ex.drop()
                    return
                if i == 2 and scenario in ("stream_error", "echo_headers"):
                    text = header_echo(ex.request) if scenario == "echo_headers" else "The upstream failed mid-stream."
                    ex.event(json.dumps(_error(500, text, "server_error")))
                    return
                if not ex.event(chunk({"content": word if i == 0 else f" {word}"}), delay=delay):
                    self.disconnects += 1
                    self.disconnected.set()
                    return
        ex.event(chunk({}, finish))
        options = body.get("stream_options") or {}
        if options.get("include_usage") and scenario != "no_usage":
            ex.event(json.dumps({"id": completion_id, "object": "chat.completion.chunk", "created": CREATED,
                                 "model": body["model"], "choices": [], "usage": usage}))
        ex.write(b"data: [DONE]\n\n")

    # ------------------------------------------------------------------ embeddings

    def _embeddings(self, ex: Exchange, body: dict[str, Any]) -> None:
        from workers.providers.embedding_format import encode_base64

        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dims = body.get("dimensions") or 8
        vectors = [[round((i + 1) * 0.125 + d * 0.001, 6) for d in range(dims)] for i in range(len(inputs))]
        as_b64 = body.get("encoding_format") == "base64"
        ex.send_json(200, {
            "object": "list", "model": body["model"],
            "data": [{"object": "embedding", "index": i, "embedding": encode_base64(v) if as_b64 else v}
                     for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": 4 * len(inputs), "total_tokens": 4 * len(inputs)},
        })

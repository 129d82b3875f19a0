"""A fake Gemini API (v1beta) for end-to-end tests: Google's status codes, bodies and SSE framing.

Endpoints (POST): `/v1beta/models/{model}:generateContent`,
`:streamGenerateContent?alt=sse` (SSE: `data: <json>\\r\\n\\r\\n` per event, as Google sends;
without `alt=sse` a JSON array, as Google does) and `:batchEmbedContents`.

Like the real API it
- requires the key given to the constructor in `x-goog-api-key` (or `?key=`): missing ->
  403 PERMISSION_DENIED, wrong -> 400 INVALID_ARGUMENT with ErrorInfo reason
  API_KEY_INVALID;
- rejects with 400 INVALID_ARGUMENT: malformed JSON, unknown field names, empty
  `contents`, roles other than user/model, empty `parts`, a part without data (`text: ""`),
  a functionCall/functionResponse without name, a non-object functionResponse.response,
  bad base64 in inlineData/thoughtSignature, a function call turn not right after a user
  (or function response) turn, function responses not right after the call
  turn or not one per call, schema keys Gemini does not know (`additionalProperties`,
  `$ref`, `default`, ...), `required` naming undeclared properties, non-string enums,
  allowedFunctionNames without mode ANY, and more than 100 embedding requests;
- by upstream model id (`validate_model_rules`): rejects `thinkingBudget: 0` on `-pro`
  models (2.5 Pro always thinks) and tools with a JSON response before `gemini-3`;
- with `require_thought_signatures` (default on, as Gemini 3), refuses a model turn of the
  current turn whose first functionCall lacks a thought signature it issued (Google's
  documented placeholder `skip_thought_signature_validator` is accepted);
- honours `candidateCount` (that many candidates, `index` 0..n-1), `maxOutputTokens`
  (counted in words -> MAX_TOKENS) and `responseMimeType: application/json`
  (the reply becomes `{"reply": <text>}`); usageMetadata counts words, cumulative on
  every stream event.

Scenarios: put `#scenario <name>` in the last user text.
- (none): the reply is the last user text, verbatim;
- a last turn of functionResponse parts (a tool loop coming back): the reply is
  `Tool results: name={json}; ...` whatever the scenario;
- `tools`: one functionCall to the first declared function, arguments built from its
  schema, with a thought signature; finishReason STOP;
- `call <json>`: one functionCall of the function and args `{"name": {...}}` names
  (compact JSON), with a thought signature;
- `parallel_tools`: three functionCalls (declared functions in turn, distinct
  arguments), the signature on the first only, in one stream event;
- `safety`: some text, then finishReason SAFETY with a blocked safetyRating;
- `blocked_prompt`: no candidates, `promptFeedback.blockReason: SAFETY` (HTTP 200);
- `max_tokens`: the first words of the reply, finishReason MAX_TOKENS;
- `thinking`: thoughtsTokenCount 12 (a `thought: true` part when includeThoughts);
- `cached`: cachedContentTokenCount of half the prompt;
- `malformed_function_call`, `unexpected_tool_call`, `too_many_tool_calls`,
  `malformed_response`: that finishReason (upper case) with a finishMessage and no
  content; usageMetadata reports FAILED_OUTPUT_TOKENS candidate tokens (spent, not shown);
- `error_midstream`: (stream) two text events, then `data: {"error": INTERNAL 500}` and
  the end of the body; (non-stream) 500 INTERNAL;
- `echo_headers`: like `error_midstream`, but the error's message echoes the request
  headers (`server.header_echo`);
- `cut_midstream`: (stream) two text events, then the connection drops; (non-stream) the
  connection drops before any response;
- `rate_limited`: 429 RESOURCE_EXHAUSTED with QuotaFailure, Help and RetryInfo
  (`retryDelay: "7s"`); also for embeddings when an input holds the directive;
- `overloaded`: 503 UNAVAILABLE "The model is overloaded. Please try again later.";
- `context_overflow`: 400 INVALID_ARGUMENT "The input token count (1048577) exceeds the
  maximum number of tokens allowed (1048576).";
- `slow`: a stream of `slow_chunks` events `slow_delay` seconds apart.

Google Search grounding (`tools: [{"googleSearch": {}}]`): beside `functionDeclarations`
400 INVALID_ARGUMENT "Tool use with function calling is unsupported", as generateContent
answers; otherwise the reply's last event carries `groundingMetadata` (`GROUNDING`:
`webSearchQueries` of the last user text, `groundingChunks` of `GROUNDING_PAGES`).

Batch embeddings return one deterministic vector per request, in order: a function of
the text, `embedding_dimensions` long (unit length), truncated to `outputDimensionality`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
from collections.abc import Collection
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import Exchange, FakeServer, header_echo

_PATH = re.compile(
    r"^/v1beta/models/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)$"
)
_SCENARIO = re.compile(r"#scenario[ \t]+(\w+)(?:[ \t]+(\S+))?")
FAILED_OUTPUT_TOKENS = 17
FAILURE_MESSAGES = {
    "malformed_function_call": "Malformed function call: print(default_api.f(",
    "unexpected_tool_call": "Unexpected tool call: default_api.lookup",
    "too_many_tool_calls": "Too many consecutive tool calls.",
    "malformed_response": "Malformed response.",
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,127}")
PLACEHOLDER_SIGNATURES = frozenset(
    {"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"}
)
GROUNDING_PAGES = [("https://example.com/news", "example.com"), ("https://example.org/docs", "example.org")]
_REQUEST_KEYS = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
    "model",
    "serviceTier",
    "store",
}
_PART_DATA = {
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
}
_PART_KEYS = _PART_DATA | {
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "mediaResolution",
    "partMetadata",
}
_GENERATION_KEYS = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
    "responseModalities",
    "mediaResolution",
    "speechConfig",
    "enableEnhancedCivicAnswers",
    "imageConfig",
}
_SCHEMA_KEYS = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "properties",
    "required",
    "propertyOrdering",
    "anyOf",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "pattern",
    "minimum",
    "maximum",
    "example",
}
_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL", "TYPE_UNSPECIFIED"}


class GeminiError(Exception):
    """An error answer: HTTP code, canonical status, message and optional details."""

    def __init__(
        self, code: int, status: str, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.details = code, status, message, details


def _invalid(message: str) -> GeminiError:
    return GeminiError(400, "INVALID_ARGUMENT", message)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def google_json(payload: Any, indent: int | None = None) -> bytes:
    """JSON the way Google writes it: `", "`-less separators on one line, <>& escaped."""
    text = json.dumps(payload, ensure_ascii=False, indent=indent, separators=(",", ": "))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def words(text: str) -> int:
    """The fake's token count: whitespace-separated words."""
    return len(text.split())


class FakeGemini(FakeServer):
    """Serves generateContent, streamGenerateContent and batchEmbedContents (see module doc)."""

    def __init__(
        self,
        api_key: str = "test-gemini-key",
        *,
        models: Collection[str] | None = None,
        embedding_dimensions: int = 768,
        embed_usage: bool = False,
        require_thought_signatures: bool = True,
        chunk_delay: float = 0.0,
        slow_chunks: int = 40,
        slow_delay: float = 0.1,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = set(models) if models is not None else None
        self.embedding_dimensions = embedding_dimensions
        self.embed_usage = embed_usage
        self.require_thought_signatures = require_thought_signatures
        self.chunk_delay = chunk_delay
        self.slow_chunks = slow_chunks
        self.slow_delay = slow_delay
        self.issued_signatures: set[str] = set()

    # ------------------------------------------------------------ dispatch

    def handle(self, ex: Exchange) -> None:
        """Route, authenticate, validate, then answer (errors as Google's bodies)."""
        url = urlsplit(ex.request.path)
        match = _PATH.match(url.path)
        try:
            if ex.request.method != "POST" or match is None:
                raise GeminiError(404, "NOT_FOUND", f"Method not found: {url.path}")
            query = parse_qs(url.query)
            self._authenticate(
                ex.request.headers.get("x-goog-api-key") or next(iter(query.get("key") or []), None)
            )
            model, method = match.group(1), match.group(2)
            if self.models is not None and model not in self.models:
                raise GeminiError(
                    404,
                    "NOT_FOUND",
                    f"models/{model} is not found for API version v1beta, "
                    f"or is not supported for {method}. Call ListModels to see the list of "
                    "available models and their supported methods.",
                )
            body = self._json(ex.request.body)
            if method == "batchEmbedContents":
                self._embed(ex, model, body)
            else:
                sse = (query.get("alt") or [""])[0] == "sse"
                validate_model_rules(model, body)
                self._generate(ex, body, stream=method == "streamGenerateContent", sse=sse)
        except GeminiError as err:
            self._send_error(ex, err)

    def _send_error(self, ex: Exchange, err: GeminiError) -> None:
        error: dict[str, Any] = {"code": err.code, "message": err.message, "status": err.status}
        if err.details:
            error["details"] = err.details
        ex.send_bytes(
            err.code, google_json({"error": error}, indent=2), "application/json; charset=UTF-8"
        )

    def _authenticate(self, key: str | None) -> None:
        if not key:
            raise GeminiError(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers "
                "without established identity). Please use API Key or other form of API "
                "consumer identity to call this API.",
            )
        if key != self.api_key:
            message = "API key not valid. Please pass a valid API key."
            raise GeminiError(
                400,
                "INVALID_ARGUMENT",
                message,
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": message,
                    },
                ],
            )

    @staticmethod
    def _json(raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise _invalid("Invalid JSON payload received. Unexpected token.") from None
        if not isinstance(body, dict):
            raise _invalid("Invalid JSON payload received. Expected an object.")
        return body

    # ------------------------------------------------------------ generateContent

    def _generate(self, ex: Exchange, body: dict[str, Any], *, stream: bool, sse: bool) -> None:
        validate_generate_request(body)
        self._check_signatures(body["contents"])
        config = {_camel(k): v for k, v in (body.get("generationConfig") or {}).items()}
        text = last_user_text(body["contents"])
        directive = _SCENARIO.search(text)
        scenario = directive[1] if directive else ""
        if scenario == "rate_limited":
            raise rate_limited_error()
        if scenario == "overloaded":
            raise GeminiError(
                503, "UNAVAILABLE", "The model is overloaded. Please try again later."
            )
        if scenario == "context_overflow":
            raise GeminiError(400, "INVALID_ARGUMENT", "The input token count (1048577) exceeds the maximum "
                              "number of tokens allowed (1048576).")
        if scenario in ("error_midstream", "cut_midstream", "echo_headers") and not stream:
            if scenario == "cut_midstream":
                ex.drop()
                return
            if scenario == "echo_headers":
                raise GeminiError(500, "INTERNAL", header_echo(ex.request))
            raise internal_error()
        events = self._events(body, config, text, scenario, stream)
        searched = any("googleSearch" in tool or "google_search" in tool for tool in body.get("tools") or [])
        if searched and events[-1].get("candidates"):
            events[-1]["candidates"][0]["groundingMetadata"] = grounding(_SCENARIO.sub("", text).strip())
        if not stream:
            ex.send_bytes(200, google_json(events[-1], indent=2), "application/json; charset=UTF-8")
        elif not sse:
            ex.send_bytes(
                200,
                b"[" + b",\r\n".join(google_json(e, indent=2) for e in events) + b"]",
                "application/json; charset=UTF-8",
            )
        else:
            self._stream(ex, events, scenario)

    def _stream(self, ex: Exchange, events: list[dict[str, Any]], scenario: str) -> None:
        ex.start_sse()
        delay = self.slow_delay if scenario == "slow" else self.chunk_delay
        for k, event in enumerate(events):
            if scenario in ("error_midstream", "cut_midstream", "echo_headers") and k == 2:
                if scenario == "echo_headers":
                    err = GeminiError(500, "INTERNAL", header_echo(ex.request))
                    payload = {
                        "error": {"code": err.code, "message": err.message, "status": err.status}
                    }
                    ex.write(b"data: " + google_json(payload) + b"\r\n\r\n")
                elif scenario == "error_midstream":
                    err = internal_error()
                    payload = {
                        "error": {"code": err.code, "message": err.message, "status": err.status}
                    }
                    ex.write(b"data: " + google_json(payload) + b"\r\n\r\n")
                else:
                    ex.drop()
                return
            if not ex.write(b"data: " + google_json(event) + b"\r\n\r\n", delay if k else 0.0):
                return

    def _events(
        self, body: dict[str, Any], config: dict[str, Any], text: str, scenario: str, stream: bool
    ) -> list[dict[str, Any]]:
        contents = body["contents"]
        prompt = prompt_words(body)
        n = int(config.get("candidateCount") or 1)
        usage_extra: dict[str, int] = {}
        if scenario == "thinking":
            usage_extra["thoughtsTokenCount"] = 12
        if scenario == "cached":
            usage_extra["cachedContentTokenCount"] = prompt // 2
        if scenario == "blocked_prompt":
            return [
                {
                    "promptFeedback": {
                        "blockReason": "SAFETY",
                        "safetyRatings": safety_ratings(True),
                    },
                    "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt},
                    "modelVersion": "gemini-fake",
                }
            ]
        results = contents[-1].get("parts", []) if contents[-1].get("role") == "user" else []
        if results and all("functionResponse" in p for p in results):
            return self._text_events(
                tool_results_text(results), n, prompt, "STOP", config, usage_extra, stream
            )
        call = _SCENARIO.search(text)
        wanted = next(iter(json.loads(call[2]).items())) if scenario == "call" and call and call[2] else None
        if wanted is not None and any(f.get("name") == wanted[0] for f in declared_functions(body)):
            name, args = wanted
            signature = base64.b64encode(f"sig-{len(self.issued_signatures)}-{name}".encode()).decode()
            self.issued_signatures.add(signature)
            part = {"functionCall": {"name": name, "args": args}, "thoughtSignature": signature}
            return [self._event(n, lambda i: [part], "STOP", prompt, 5 * n, usage_extra,
                                finish_message="Model generated function call(s).")]
        if scenario in ("tools", "parallel_tools") and declared_functions(body):
            parts = self._call_parts(
                declared_functions(body), 3 if scenario == "parallel_tools" else 1
            )
            return [
                self._event(
                    n,
                    lambda i: parts,
                    "STOP",
                    prompt,
                    5 * len(parts) * n,
                    usage_extra,
                    finish_message="Model generated function call(s).",
                )
            ]
        if scenario in FAILURE_MESSAGES:
            spent = FAILED_OUTPUT_TOKENS * n
            return [
                {
                    "candidates": [
                        {
                            "finishReason": scenario.upper(),
                            "index": i,
                            "finishMessage": FAILURE_MESSAGES[scenario],
                        }
                        for i in range(n)
                    ],
                    "usageMetadata": {
                        "promptTokenCount": prompt,
                        "candidatesTokenCount": spent,
                        "totalTokenCount": prompt + spent,
                    },
                    "modelVersion": "gemini-fake",
                }
            ]
        if config.get("responseMimeType") == "application/json":
            text = json.dumps({"reply": text})
        finish = {"safety": "SAFETY", "max_tokens": "MAX_TOKENS"}.get(scenario, "STOP")
        if scenario == "safety":
            text = " ".join(text.split()[:3])
        limit = config.get("maxOutputTokens")
        if scenario == "max_tokens":
            limit = min(int(limit or 4), 4)
        if isinstance(limit, int) and words(text) > limit:
            text, finish = " ".join(text.split()[:limit]), "MAX_TOKENS"
        if scenario == "thinking" and (config.get("thinkingConfig") or {}).get("includeThoughts"):
            usage_extra["thought"] = 1
        if scenario == "slow":
            text = " ".join(f"w{k}" for k in range(self.slow_chunks * 3))
        if scenario in ("error_midstream", "cut_midstream", "echo_headers"):
            text = "This reply is going to be interrupted after two events of text."
        return self._text_events(text, n, prompt, finish, config, usage_extra, stream)

    def _text_events(
        self,
        text: str,
        n: int,
        prompt: int,
        finish: str,
        config: dict[str, Any],
        usage_extra: dict[str, int],
        stream: bool,
    ) -> list[dict[str, Any]]:
        extra = dict(usage_extra)
        thought = extra.pop("thought", 0)
        pieces = re.findall(r"\S+\s*|\s+", text) or [""]
        groups = (
            ["".join(pieces[k : k + 3]) for k in range(0, len(pieces), 3)] if stream else [text]
        )
        events, emitted = [], 0
        for k, group in enumerate(groups):
            emitted += words(group)
            last = k == len(groups) - 1
            parts: list[dict[str, Any]] = [{"text": group}]
            if thought and k == 0:
                parts.insert(0, {"text": "Thinking about the question.", "thought": True})
            event = self._event(
                n,
                lambda i, parts=parts: parts,
                finish if last else None,
                prompt,
                emitted * n,
                extra,
            )
            if last and finish == "SAFETY":
                for candidate in event["candidates"]:
                    candidate["safetyRatings"] = safety_ratings(True)
            events.append(event)
        return events

    def _event(
        self,
        n: int,
        parts_of: Any,
        finish: str | None,
        prompt: int,
        completion: int,
        usage_extra: dict[str, int],
        finish_message: str | None = None,
    ) -> dict[str, Any]:
        candidates = []
        for i in range(n):
            candidate: dict[str, Any] = {"content": {"parts": parts_of(i), "role": "model"}}
            if finish:
                candidate["finishReason"] = finish
            candidate["index"] = i
            if finish and finish_message:
                candidate["finishMessage"] = finish_message
            candidates.append(candidate)
        thoughts = usage_extra.get("thoughtsTokenCount", 0)
        usage: dict[str, Any] = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": completion,
            "totalTokenCount": prompt + completion + thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        }
        usage.update(usage_extra)
        return {
            "candidates": candidates,
            "usageMetadata": usage,
            "modelVersion": "gemini-fake",
            "responseId": "fake-" + hashlib.sha1(str(prompt).encode()).hexdigest()[:12],
        }

    def _call_parts(self, functions: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
        parts = []
        for k in range(count):
            fn = functions[k % len(functions)]
            part: dict[str, Any] = {
                "functionCall": {
                    "name": fn["name"],
                    "args": example_args(fn.get("parameters") or fn.get("parametersJsonSchema"), k),
                }
            }
            if k == 0:
                signature = base64.b64encode(
                    f"sig-{len(self.issued_signatures)}-{fn['name']}".encode()
                ).decode()
                self.issued_signatures.add(signature)
                part["thoughtSignature"] = signature
            parts.append(part)
        return parts

    def _check_signatures(self, contents: list[dict[str, Any]]) -> None:
        if not self.require_thought_signatures:
            return
        start = 0
        for k, content in enumerate(contents):
            parts = content.get("parts", [])
            if content.get("role", "user") == "user" and any("text" in p for p in parts):
                start = k  # the current turn begins at the last user text
        for k in range(start, len(contents)):
            calls = [p for p in contents[k].get("parts", []) if "functionCall" in p]
            if contents[k].get("role") != "model" or not calls:
                continue
            signature = calls[0].get("thoughtSignature")
            if signature not in self.issued_signatures and signature not in PLACEHOLDER_SIGNATURES:
                name = calls[0]["functionCall"].get("name")
                raise _invalid(
                    "Function call is missing a thought_signature in functionCall parts. This is "
                    "required for tools to work correctly, and missing thought_signature may lead "
                    f"to degraded model performance. Additional data, function call `{name}` , "
                    f"position {k + 1}. Please refer to "
                    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                )

    # ------------------------------------------------------------ batchEmbedContents

    def _embed(self, ex: Exchange, model: str, body: dict[str, Any]) -> None:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise _invalid("* BatchEmbedContentsRequest.requests: requests is not specified\n")
        if len(requests) > 100:
            raise _invalid(
                "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"
            )
        embeddings, total = [], 0
        for k, request in enumerate(requests):
            where = f"BatchEmbedContentsRequest.requests[{k}]"
            if request.get("model") != f"models/{model}":
                raise _invalid(
                    f"* {where}.model: Model name in the request ({request.get('model')}) does "
                    f"not match the model name in the batch request (models/{model}).\n"
                )
            parts = (request.get("content") or {}).get("parts") or []
            texts = [p.get("text") for p in parts]
            if not parts or not all(isinstance(t, str) and t for t in texts):
                raise _invalid(f"* {where}.content.parts: contents.parts must not be empty.\n")
            text = "".join(texts)
            directive = _SCENARIO.search(text)
            if directive and directive[1] == "rate_limited":
                raise rate_limited_error()
            dims = request.get("outputDimensionality") or (
                request.get("embedContentConfig") or {}
            ).get("outputDimensionality")
            if dims is not None and (
                not isinstance(dims, int) or not 1 <= dims <= self.embedding_dimensions
            ):
                raise _invalid(
                    f"* {where}.output_dimensionality: must be between 1 and "
                    f"{self.embedding_dimensions}\n"
                )
            embeddings.append(
                {"values": fake_vector(text, self.embedding_dimensions)[: dims or None]}
            )
            total += words(text)
        response: dict[str, Any] = {"embeddings": embeddings}
        if self.embed_usage:
            response["usageMetadata"] = {"promptTokenCount": total}
        ex.send_bytes(200, google_json(response, indent=2), "application/json; charset=UTF-8")


# ---------------------------------------------------------------- request validation


def validate_model_rules(model: str, body: dict[str, Any]) -> None:
    """What only some Gemini versions reject, by the upstream model id: a `-pro` model (as
    2.5 Pro) always thinks, so `thinkingBudget: 0` is invalid; models before Gemini 3
    (ids not starting `gemini-3`) reject function calling with a JSON response."""
    config = body.get("generationConfig") or {}
    if "-pro" in model and (config.get("thinkingConfig") or {}).get("thinkingBudget") == 0:
        raise _invalid("Budget 0 is invalid. This model only works in thinking mode.")
    if (
        body.get("tools")
        and config.get("responseMimeType") == "application/json"
        and not model.startswith("gemini-3")
    ):
        raise _invalid("Function calling with a response mime type: 'application/json' is unsupported")


def validate_generate_request(body: dict[str, Any]) -> None:
    """Raise GeminiError 400 for what the real API rejects (see the module docstring)."""
    for key in body:
        if _camel(key) not in _REQUEST_KEYS:
            raise _invalid(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
            )
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _invalid("* GenerateContentRequest.contents: contents is not specified\n")
    for k, content in enumerate(contents):
        if content.get("role", "user") not in ("user", "model"):
            raise _invalid("Please use a valid role: user, model.")
        _validate_parts(content.get("parts"), f"contents[{k}]")
    _validate_function_turns(contents)
    system = body.get("systemInstruction") or body.get("system_instruction")
    if system is not None:
        _validate_parts(system.get("parts"), "system_instruction")
    declared = _validate_tools(body.get("tools") or [])
    _validate_tool_config(body.get("toolConfig") or {}, declared)
    _validate_generation_config(body.get("generationConfig") or {})


def _validate_parts(parts: Any, where: str) -> None:
    if not isinstance(parts, list) or not parts:
        raise _invalid(
            f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n"
        )
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        unknown = [key for key in part if _camel(key) not in _PART_KEYS]
        if unknown:
            raise _invalid(
                f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at '{at}': "
                "Cannot find field."
            )
        data = [key for key in part if _camel(key) in _PART_DATA and part[key] not in ("", None)]
        if len(data) != 1:
            raise _invalid(
                f"* GenerateContentRequest.{at}.data: required oneof field 'data' must have "
                "one initialized field\n"
            )
        if "thoughtSignature" in part and not _is_base64(part["thoughtSignature"]):
            raise _invalid(
                f"Invalid value at '{at}.thought_signature' (TYPE_BYTES), Base64 decoding failed "
                f'for "{part["thoughtSignature"]}"'
            )
        call, response = part.get("functionCall"), part.get("functionResponse")
        if call is not None and (
            not call.get("name") or not isinstance(call.get("args", {}), dict)
        ):
            raise _invalid(
                f"* GenerateContentRequest.{at}.function_call.name: Name cannot be empty.\n"
            )
        if response is not None:
            if not response.get("name"):
                raise _invalid(
                    f"* GenerateContentRequest.{at}.function_response.name: Name cannot be empty.\n"
                )
            if not isinstance(response.get("response"), dict):
                raise _invalid(
                    f"Invalid JSON payload received. Expected an object at '{at}.function_response"
                    ".response'."
                )
        blob = part.get("inlineData")
        if blob is not None and (not blob.get("mimeType") or not _is_base64(blob.get("data"))):
            raise _invalid(
                f"* GenerateContentRequest.{at}.inline_data: mime_type and base64 data are required\n"
            )


def _validate_function_turns(contents: list[dict[str, Any]]) -> None:
    for k, content in enumerate(contents):
        if any("functionCall" in p for p in content.get("parts", [])):
            before = contents[k - 1] if k else {}
            if before.get("role") != "user":
                raise _invalid(
                    "Please ensure that function call turn comes immediately after a user turn "
                    "or after a function response turn."
                )
        responses = [p for p in content.get("parts", []) if "functionResponse" in p]
        if not responses:
            continue
        before = contents[k - 1] if k else {}
        calls = [p for p in before.get("parts", []) if "functionCall" in p]
        if before.get("role") != "model" or not calls:
            raise _invalid(
                "Please ensure that function response turn comes immediately after a function "
                "call turn."
            )
        if len(calls) != len(responses):
            raise _invalid(
                "Please ensure that the number of function response parts is equal to the number "
                "of function call parts of the function call turn."
            )


def grounding(query: str) -> dict[str, Any]:
    """The `groundingMetadata` of an answer grounded with Google Search."""
    return {
        "searchEntryPoint": {"renderedContent": "<style>.container {}</style><div class=\"container\"></div>"},
        "groundingChunks": [{"web": {"uri": uri, "title": title}} for uri, title in GROUNDING_PAGES],
        "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": len(query), "text": query},
                               "groundingChunkIndices": [0]}],
        "webSearchQueries": [query],
    }


def _validate_tools(tools: list[dict[str, Any]]) -> set[str]:
    if any("googleSearch" in t or "google_search" in t for t in tools) and any(t.get("functionDeclarations") for t in tools):
        raise _invalid("Tool use with function calling is unsupported")
    declared: set[str] = set()
    for t, tool in enumerate(tools):
        for d, decl in enumerate(tool.get("functionDeclarations") or []):
            at = f"tools[{t}].function_declarations[{d}]"
            if not isinstance(decl.get("name"), str) or not _NAME.fullmatch(decl["name"]):
                raise _invalid(
                    f"* GenerateContentRequest.{at}.name: Invalid function name. Must start with a "
                    "letter or an underscore. Must be a-z, A-Z, 0-9, or contain underscores, "
                    "dots, colons and dashes, with a maximum length of 128.\n"
                )
            declared.add(decl["name"])
            if "parameters" in decl and "parametersJsonSchema" in decl:
                raise _invalid(
                    f"* GenerateContentRequest.{at}: parameters and parameters_json_schema are "
                    "mutually exclusive\n"
                )
            if "parameters" in decl:
                validate_schema(decl["parameters"], f"{at}.parameters")
            plain = decl.get("parametersJsonSchema")
            if "parametersJsonSchema" in decl and (
                not isinstance(plain, dict) or plain.get("type", "object") != "object"
            ):
                raise _invalid(
                    f"* GenerateContentRequest.{at}.parameters_json_schema: the schema must "
                    "describe an object\n"
                )
    return declared


def validate_schema(schema: Any, at: str) -> None:
    """Gemini's Schema subset: known keys, a known type, string enums, defined required names."""
    if not isinstance(schema, dict):
        raise _invalid(f"Invalid JSON payload received. Expected an object at '{at}'.")
    for key in schema:
        if key not in _SCHEMA_KEYS:
            raise _invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{at}': Cannot find field."
            )
    kind = schema.get("type")
    if kind is not None and str(kind).upper() not in _TYPES:
        raise _invalid(
            f"Invalid value at '{at}.type' (type.googleapis.com/google.ai.generativelanguage."
            f'v1beta.Type), "{kind}"'
        )
    if "enum" in schema and (
        str(kind).upper() != "STRING" or not all(isinstance(v, str) for v in schema["enum"])
    ):
        raise _invalid(f"* GenerateContentRequest.{at}.enum: only allowed for STRING type\n")
    properties = schema.get("properties")
    if properties is not None:
        if str(kind).upper() == "OBJECT" and not properties:
            raise _invalid(
                f"* GenerateContentRequest.{at}.properties: should be non-empty for OBJECT type\n"
            )
        for name, sub in properties.items():
            validate_schema(sub, f"{at}.properties[{name}].value")
    for k, name in enumerate(schema.get("required") or []):
        if name not in (properties or {}):
            raise _invalid(
                f"* GenerateContentRequest.{at}.required[{k}]: property is not defined\n"
            )
    if "items" in schema:
        validate_schema(schema["items"], f"{at}.items")
    for k, sub in enumerate(schema.get("anyOf") or []):
        validate_schema(sub, f"{at}.any_of[{k}]")


def _validate_tool_config(config: dict[str, Any], declared: set[str]) -> None:
    calling = config.get("functionCallingConfig") or {}
    mode = calling.get("mode", "AUTO")
    if mode not in ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"):
        raise _invalid(f"Invalid value at 'tool_config.function_calling_config.mode', \"{mode}\"")
    allowed = calling.get("allowedFunctionNames")
    if allowed:
        if mode not in ("ANY", "VALIDATED"):
            raise _invalid(
                "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names:"
                " allowed_function_names can only be set when mode is ANY.\n"
            )
        for name in allowed:
            if name not in declared:
                raise _invalid(
                    f"* GenerateContentRequest.tool_config.function_calling_config: function {name} "
                    "is not declared\n"
                )


def _validate_generation_config(config: dict[str, Any]) -> None:
    for key in config:
        if _camel(key) not in _GENERATION_KEYS:
            raise _invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at 'generation_config': "
                "Cannot find field."
            )
    config = {_camel(k): v for k, v in config.items()}
    count = config.get("candidateCount", 1)
    if not isinstance(count, int) or not 1 <= count <= 8:
        raise _invalid(
            "* GenerateContentRequest.generation_config.candidate_count: must be between 1 and 8\n"
        )
    if len(config.get("stopSequences") or []) > 5:
        raise _invalid(
            "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences\n"
        )
    temperature = config.get("temperature", 1.0)
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise _invalid(
            "* GenerateContentRequest.generation_config.temperature: must be between 0 and 2\n"
        )
    if "responseJsonSchema" in config:
        if "responseSchema" in config:
            raise _invalid(
                "* GenerateContentRequest.generation_config: response_schema and "
                "response_json_schema are mutually exclusive\n"
            )
        if config.get("responseMimeType") != "application/json":
            raise _invalid(
                "* GenerateContentRequest.generation_config.response_mime_type: "
                "`application/json` is required when response_json_schema is set.\n"
            )
    if "responseSchema" in config:
        if config.get("responseMimeType") not in ("application/json", "text/x.enum"):
            raise _invalid(
                "* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes "
                "are `application/json` and `text/x.enum` when response_schema is set.\n"
            )
        validate_schema(config["responseSchema"], "generation_config.response_schema")
    thinking = config.get("thinkingConfig") or {}
    if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
        raise _invalid("You can only set only one of thinking budget and thinking level.")


def _is_base64(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    text = value.replace("-", "+").replace("_", "/")
    try:
        base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


# ---------------------------------------------------------------- answers


def last_user_text(contents: list[dict[str, Any]]) -> str:
    """The text of the last user turn that has text (the scenario directive lives there)."""
    for content in reversed(contents):
        if content.get("role", "user") == "user":
            texts = [p["text"] for p in content.get("parts", []) if isinstance(p.get("text"), str)]
            if texts:
                return "".join(texts)
    return ""


def prompt_words(body: dict[str, Any]) -> int:
    """Prompt tokens: words of every text and function payload in the request (at least 1)."""
    total = 0
    system = body.get("systemInstruction") or {}
    for content in [system, *body["contents"]]:
        for part in content.get("parts", []):
            if isinstance(part.get("text"), str):
                total += words(part["text"])
            for key in ("functionCall", "functionResponse"):
                if key in part:
                    total += words(json.dumps(part[key]))
    return max(total, 1)


def declared_functions(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every functionDeclaration of the request, in order."""
    return [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]


def example_args(schema: Any, variant: int) -> dict[str, Any]:
    """Arguments that fit a declaration's parameters (distinct per `variant`)."""
    if not isinstance(schema, dict):
        return {}
    args: dict[str, Any] = {}
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):  # a JSON Schema `true`: anything goes
            args[name] = f"{name}-{variant}"
            continue
        kind = str(sub.get("type", "STRING")).upper()
        if sub.get("enum"):
            args[name] = sub["enum"][variant % len(sub["enum"])]
        elif kind in ("INTEGER", "NUMBER"):
            args[name] = variant + 1
        elif kind == "BOOLEAN":
            args[name] = variant % 2 == 0
        elif kind == "ARRAY":
            args[name] = []
        elif kind == "OBJECT":
            args[name] = example_args(sub, variant)
        else:
            args[name] = f"{name}-{variant}"
    return args


def tool_results_text(parts: list[dict[str, Any]]) -> str:
    """The reply to a turn of function responses: each name and its response, in order."""
    return "Tool results: " + "; ".join(
        f"{p['functionResponse']['name']}={json.dumps(p['functionResponse']['response'], sort_keys=True)}"
        for p in parts
    )


def safety_ratings(blocked: bool) -> list[dict[str, Any]]:
    """Ratings with HARM_CATEGORY_DANGEROUS_CONTENT high (and blocked) when `blocked`."""
    ratings: list[dict[str, Any]] = [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
        {
            "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
            "probability": "HIGH" if blocked else "NEGLIGIBLE",
        },
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
    ]
    if blocked:
        ratings[1]["blocked"] = True
    return ratings


def rate_limited_error() -> GeminiError:
    """Google's 429 RESOURCE_EXHAUSTED body with QuotaFailure, Help and RetryInfo."""
    return GeminiError(
        429,
        "RESOURCE_EXHAUSTED",
        (
            "You exceeded your current quota, please check your plan and billing details. For more "
            "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n"
            "* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, "
            "limit: 10\nPlease retry in 6.5s."
        ),
        [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": "gemini-fake"},
                        "quotaValue": "10",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
        ],
    )


def internal_error() -> GeminiError:
    """Google's 500 INTERNAL."""
    return GeminiError(
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    )


def fake_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for `text`."""
    rng = random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 8) for v in values]

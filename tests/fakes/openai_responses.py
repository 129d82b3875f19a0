"""A fake OpenAI that also serves `POST /v1/responses`, byte for byte (pass-through routes).

Chat completions and embeddings behave as in tests/fakes/openai.py, except that the
`tools` scenario calls the first declared function when no `get_weather` is declared (an
agent's own tools). On `/responses`:

- (none)        a message `fake: <last user text>`
- tools         a call of the first declared function tool (sample arguments from its
                schema; `get_weather` gets `{"city": "Paris"}`); once the input ends with a
                `function_call_output`, a message `Tool said: <output>`
- error_400     400 invalid_request_error naming `input`
- midstream     (stream) two text deltas, then the connection drops
- stream_error  (stream) two text deltas, then an `error` event
- `text.format` json_schema: the message is JSON with a sample value for each property
  (chat completions with `response_format` json_schema answer the same way)

Usage is input=RESPONSES_INPUT_TOKENS (cached 2), output=words of the text. Streams send
each event with its `event:` line and `sequence_number`, and no `[DONE]`, as OpenAI does.
A body with `previous_response_id` is answered 400: the gateway must inline its history.
A `reasoning` input item without `encrypted_content` whose id this fake never issued is
answered 404 "Item with id ... not found", as OpenAI answers ids it has not stored, and
a `call_id` over 64 characters is OpenAI's 400 `string_above_max_length`.

Chat completions are checked as strictly as OpenAI checks them: an image part in a
non-user message, a field OpenAI does not define on a message (`reasoning_content`) and
a tool call id over 40 characters are a 400 in OpenAI's words.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from tests.fakes.openai import CREATED, FakeOpenAI, _error, model_refusal
from tests.fakes.server import Exchange

RESPONSES_INPUT_TOKENS = 17


def _last_user_text(items: list[dict[str, Any]]) -> str:
    for item in reversed(items):
        if item.get("type", "message") == "message" and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content if p.get("type") == "input_text")
    return ""


def _sample(schema: dict[str, Any] | None) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name, sub in ((schema or {}).get("properties") or {}).items():
        kind = sub.get("type")
        args[name] = {"string": "Paris" if name == "city" else f"echo {name}", "integer": 1, "number": 1,
                      "boolean": False, "array": [], "object": {}}.get(kind, "x")
    return args


_MESSAGE_FIELDS = {"role", "content", "name", "tool_calls", "tool_call_id", "refusal", "audio", "function_call"}


def _strict_chat(body: dict[str, Any]) -> dict[str, Any] | None:
    """OpenAI's 400 for a message it refuses, or None."""
    for i, message in enumerate(body.get("messages") or []):
        role, content = message.get("role"), message.get("content")
        if role != "user" and isinstance(content, list) and any(p.get("type") == "image_url" for p in content):
            return _error(400, f"Invalid 'messages[{i}]'. Image URLs are only allowed for messages with role "
                               f"'user', but this message with role '{role}' contains an image URL.",
                          "invalid_request_error", f"messages[{i}]")
        for j, call in enumerate(message.get("tool_calls") or []):
            if len(call.get("id", "")) > 40:
                return _error(400, f"Invalid 'messages[{i}].tool_calls[{j}].id': string too long. Expected a "
                                   f"string with maximum length 40, but got a string with length "
                                   f"{len(call['id'])} instead.", "invalid_request_error",
                              f"messages[{i}].tool_calls[{j}].id", "string_above_max_length")
        for name in sorted(set(message) - _MESSAGE_FIELDS):
            return _error(400, f"Unknown parameter: 'messages[{i}].{name}'.", "invalid_request_error",
                          f"messages[{i}].{name}", "unknown_parameter")
    return None


def _too_long_call_id(body: dict[str, Any]) -> dict[str, Any] | None:
    """OpenAI's 400 for an input item whose `call_id` is over 64 characters, or None."""
    for i, item in enumerate(body.get("input") if isinstance(body.get("input"), list) else []):
        call_id = item.get("call_id") or ""
        if len(call_id) > 64:
            return _error(400, f"Invalid 'input[{i}].call_id': string too long. Expected a string with maximum "
                               f"length 64, but got a string with length {len(call_id)} instead.",
                          "invalid_request_error", f"input[{i}].call_id", "string_above_max_length")
    return None


def _unknown_item(body: dict[str, Any], issued: set[str]) -> str | None:
    """The id of a reasoning item OpenAI would look up and not find (store false, or another account)."""
    for item in body.get("input") if isinstance(body.get("input"), list) else []:
        if item.get("type") == "reasoning" and not item.get("encrypted_content") and item.get("id") not in issued:
            return str(item.get("id"))
    return None


class FakeOpenAIResponses(FakeOpenAI):
    """See the module docstring."""

    def __init__(self, api_key: str = "sk-fake-upstream") -> None:
        super().__init__(api_key)
        self.issued: set[str] = set()  # ids of the items this fake answered with

    def handle(self, ex: Exchange) -> None:
        """`/responses` here; everything else as the chat fake."""
        if ex.request.path.endswith("/responses") and ex.request.headers.get("authorization") == f"Bearer {self.api_key}":
            self._responses(ex, ex.request.json())
            return
        super().handle(ex)

    def _chat(self, ex: Exchange, body: dict[str, Any]) -> None:
        refusal = _strict_chat(body)
        if refusal is not None:
            ex.send_json(400, refusal)
            return
        super()._chat(ex, body)

    def _responses(self, ex: Exchange, body: dict[str, Any]) -> None:
        too_long = _too_long_call_id(body)
        if too_long is not None:
            ex.send_json(400, too_long)
            return
        unknown = _unknown_item(body, self.issued)
        if unknown is not None:
            ex.send_json(404, _error(404, f"Item with id '{unknown}' not found. Items are not persisted when "
                                          "`store` is set to false. Try again with `store` set to true, or "
                                          "remove this item from your input.", "invalid_request_error", "input"))
            return
        if body.get("previous_response_id"):
            ex.send_json(400, _error(400, "Previous response not found.", "invalid_request_error", "previous_response_id"))
            return
        refusal = model_refusal(body, limit_fields=(), reasoning="reasoning")
        if refusal is not None:
            ex.send_json(400, refusal)
            return
        items = body["input"] if isinstance(body["input"], list) else [{"role": "user", "content": body["input"]}]
        text = _last_user_text(items)
        if text.startswith("#scenario error_400"):
            ex.send_json(400, _error(400, "Invalid 'input': bad input from the caller.", "invalid_request_error", "input"))
            return
        response_id = f"resp_fake{secrets.token_hex(8)}"
        output = self._output(body, items, text)
        self.issued.update(str(item["id"]) for item in output)
        words = sum(len((p.get("text") or "").split()) for o in output for p in o.get("content", []))
        usage = {"input_tokens": RESPONSES_INPUT_TOKENS, "input_tokens_details": {"cached_tokens": 2},
                 "output_tokens": words or 5, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": RESPONSES_INPUT_TOKENS + (words or 5)}
        base = {"id": response_id, "object": "response", "created_at": CREATED, "model": body["model"],
                "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
                "tools": body.get("tools") or [], "tool_choice": body.get("tool_choice", "auto"),
                "parallel_tool_calls": True, "store": body.get("store", True), "metadata": {},
                "text": body.get("text") or {"format": {"type": "text"}},
                "previous_response_id": body.get("previous_response_id")}
        done = {**base, "status": "completed", "output": output, "usage": usage}
        if not body.get("stream"):
            ex.send_json(200, done)
            return
        ex.start_sse()
        seq = iter(range(10_000))

        def send(event: dict[str, Any]) -> None:
            event["sequence_number"] = next(seq)
            ex.event(json.dumps(event), event=event["type"])

        send({"type": "response.created", "response": {**base, "status": "in_progress", "output": [], "usage": None}})
        send({"type": "response.in_progress", "response": {**base, "status": "in_progress", "output": [], "usage": None}})
        for index, item in enumerate(output):
            if item["type"] == "message":
                send({"type": "response.output_item.added", "output_index": index,
                      "item": {**item, "status": "in_progress", "content": []}})
                part = item["content"][0]
                send({"type": "response.content_part.added", "item_id": item["id"], "output_index": index,
                      "content_index": 0, "part": {**part, "text": ""}})
                for k, word in enumerate(part["text"].split(" ")):
                    if k == 2 and text.startswith("#scenario midstream"):
                        ex.drop()
                        return
                    if k == 2 and text.startswith("#scenario stream_error"):
                        send({"type": "error", "code": "server_error", "message": "The upstream failed mid-stream.",
                              "param": None})
                        return
                    send({"type": "response.output_text.delta", "item_id": item["id"], "output_index": index,
                          "content_index": 0, "delta": word if k == 0 else f" {word}", "logprobs": []})
                send({"type": "response.output_text.done", "item_id": item["id"], "output_index": index,
                      "content_index": 0, "text": part["text"], "logprobs": []})
                send({"type": "response.content_part.done", "item_id": item["id"], "output_index": index,
                      "content_index": 0, "part": part})
            else:
                send({"type": "response.output_item.added", "output_index": index,
                      "item": {**item, "status": "in_progress", "arguments": ""}})
                send({"type": "response.function_call_arguments.delta", "item_id": item["id"],
                      "output_index": index, "delta": item["arguments"]})
                send({"type": "response.function_call_arguments.done", "item_id": item["id"],
                      "output_index": index, "arguments": item["arguments"], "name": item["name"]})
            send({"type": "response.output_item.done", "output_index": index, "item": item})
        send({"type": "response.completed", "response": done})

    def _answer(self, body: dict[str, Any], scenario: str, text: str, arg: str = "") -> tuple[dict[str, Any], str]:
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema" and scenario != "tools":
            return {"content": json.dumps(_sample(fmt["json_schema"].get("schema")))}, "stop"
        declared = [t["function"] for t in body.get("tools") or [] if t.get("type") == "function"]
        last = body["messages"][-1]
        if scenario == "tools" and declared and last.get("role") != "tool" and \
                "get_weather" not in [f["name"] for f in declared]:
            # an agent's own tools (Codex): call the first one, as the other fakes do
            call = {"id": f"call_fake{secrets.token_hex(4)}", "type": "function",
                    "function": {"name": declared[0]["name"], "arguments": json.dumps(_sample(declared[0].get("parameters")))}}
            return {"content": None, "tool_calls": [call]}, "tool_calls"
        return super()._answer(body, scenario, text, arg)

    def _output(self, body: dict[str, Any], items: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
        last = items[-1] if items else {}
        fmt = (body.get("text") or {}).get("format") or {}
        if fmt.get("type") == "json_schema":
            return [self._message(json.dumps(_sample(fmt.get("schema"))))]
        functions = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        if last.get("type") == "function_call_output":
            output = last["output"] if isinstance(last["output"], str) else json.dumps(last["output"])
            return [self._message(f"Tool said: {output}")]
        if "#scenario tools" in text and functions:
            first = functions[0]
            return [{"type": "function_call", "id": f"fc_fake{secrets.token_hex(4)}", "status": "completed",
                     "call_id": f"call_fake{secrets.token_hex(4)}", "name": first["name"],
                     "arguments": json.dumps(_sample(first.get("parameters")))}]
        return [self._message(f"fake: {text}")]

    @staticmethod
    def _message(text: str) -> dict[str, Any]:
        return {"type": "message", "id": f"msg_fake{secrets.token_hex(4)}", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}

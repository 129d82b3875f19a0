"""The API document's headline example on today's models (issue 20), end to end.

The document sends `gpt-5.5` a system and a user message with `"temperature": 0.7,
"max_tokens": 1024`; the fake OpenAI refuses both exactly as OpenAI does for GPT-5-class
models. This module's stack serves the shipped gateway.toml's own entries of the
document's three models (`gpt-5.5`, `claude-sonnet-4-6`, `gemini-2.5-pro`), their
providers pointed at the fakes, and checks that the document's curl body and SDK calls
pass through `/v1/chat/completions`, and the same bodies through `/v1/responses` and
`/v1/messages`, with `x-gateway-dropped-params` naming what was left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_responses import FakeOpenAIResponses
from tests.harness.procs import shipped_models, wait_until
from tests.harness.stack import Stack

OPENAI_KEY, ANTHROPIC_KEY, GEMINI_KEY = "sk-fake-upstream", "sk-ant-fake-upstream", "gemini-fake-upstream"
DOCUMENT_MODELS = ("gpt-5.5", "claude-sonnet-4-6", "gemini-2.5-pro")
SYSTEM, USER = "You are a helpful assistant.", "Hello!"
# The document's curl body, verbatim.
CURL_BODY = {"model": "gpt-5.5", "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
             "temperature": 0.7, "max_tokens": 1024}
HEADER = "x-gateway-dropped-params"

CONFIG = """
[gateway]
idle_timeout_s = 5

[workers]
heartbeat_s = 0.5

[routing]
retries = 0

[providers.openai]
kind = "openai"
base_url = "{openai}/v1"
api_key_env = "OPENAI_API_KEY"

[providers.openai-native]
kind = "openai"
base_url = "{openai}/v1"
api_key_env = "OPENAI_API_KEY"
responses = true

[providers.anthropic]
kind = "anthropic"
base_url = "{anthropic}"
api_key_env = "ANTHROPIC_API_KEY"

[providers.gemini]
kind = "gemini"
base_url = "{gemini}"
api_key_env = "GEMINI_API_KEY"

# gpt-5.5 on an upstream serving /responses (the pass-through).
[[models]]
id = "gpt-5.5-native"
provider = "openai-native"
upstream = "gpt-5.5"

# gpt-5.5 with the drop policy turned to refusals.
[[models]]
id = "gpt-5.5-strict"
provider = "openai"
upstream = "gpt-5.5"
rules = {{ drop_params = false }}

# gpt-5.5 told (wrongly) that it takes everything as sent: the upstream's own refusal shows.
[[models]]
id = "gpt-5.5-unruled"
provider = "openai"
upstream = "gpt-5.5"
rules = {{ output_limit_field = "max_tokens", refuses = [] }}

# An OpenAI-compatible server (vLLM serving Qwen) and o1-mini: neither takes `developer`.
[[models]]
id = "qwen-coder"
provider = "openai"
upstream = "Qwen/Qwen3-Coder-30B-A3B-Instruct"

[[models]]
id = "o1-mini"
provider = "openai"

# The same server, the rule overridden: the upstream's own refusal shows.
[[models]]
id = "qwen-unruled"
provider = "openai"
upstream = "Qwen/Qwen3-Coder-30B-A3B-Instruct"
rules = {{ roles = "developer" }}
"""


class Doc:
    """The module's stack, fakes and clients."""

    def __init__(self, stack: Stack, fake_openai: FakeOpenAIResponses, fake_anthropic: FakeAnthropic) -> None:
        self.stack, self.openai_fake, self.anthropic_fake = stack, fake_openai, fake_anthropic
        self.key = stack.create_key("doc")
        self.oai = openai.OpenAI(base_url=stack.base_url, api_key=self.key, max_retries=0, timeout=20)
        self.claude = anthropic.Anthropic(base_url=stack.base_url.removesuffix("/v1"), api_key=self.key,
                                          max_retries=0, timeout=20)

    def last_openai_body(self, path: str) -> dict[str, Any]:
        body: dict[str, Any] = self.openai_fake.requests_to(path)[-1].json()
        return body


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Doc]:
    fakes = (FakeOpenAIResponses(OPENAI_KEY).start(), FakeAnthropic(ANTHROPIC_KEY).start(),
             FakeGemini(GEMINI_KEY).start())
    stack = Stack(tmp_path_factory.mktemp("model-rules"))
    try:
        text = CONFIG.format(openai=fakes[0].url, anthropic=fakes[1].url, gemini=fakes[2].url)
        config = stack.write_config("gateway.toml", text + shipped_models(*DOCUMENT_MODELS, "gpt-4o-mini"))
        stack.start_nats()
        stack.start_worker(config, providers=["openai", "openai-native", "anthropic", "gemini"],
                           OPENAI_API_KEY=OPENAI_KEY, ANTHROPIC_API_KEY=ANTHROPIC_KEY, GEMINI_API_KEY=GEMINI_KEY)
        stack.start_gateway(config)
        yield Doc(stack, fakes[0], fakes[1])
    finally:
        stack.close()
        for fake in fakes:
            fake.stop()


def log_lines(stack: Stack, name: str, event: str) -> list[dict[str, Any]]:
    proc = next(p for p in stack.procs if p.name == name)
    lines = [json.loads(line) for line in proc.log_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def test_the_documents_curl_body_is_served_by_gpt55_with_temperature_left_out_and_named(doc: Doc) -> None:
    response = httpx.post(f"{doc.stack.base_url}/chat/completions", json=CURL_BODY, timeout=20,
                          headers={"authorization": f"Bearer {doc.key}"})
    assert response.status_code == 200, response.text
    assert response.headers[HEADER] == "temperature"
    assert response.json()["choices"][0]["message"]["content"] == f"fake: {USER}"
    sent = doc.last_openai_body("/chat/completions")
    assert sent["model"] == "gpt-5.5" and sent["max_completion_tokens"] == 1024
    assert "max_tokens" not in sent and "temperature" not in sent
    assert sent["messages"] == CURL_BODY["messages"]
    request_id = response.headers["x-request-id"]

    def logged() -> bool:
        access = [a for a in log_lines(doc.stack, "gateway", "access") if a.get("request_id") == request_id]
        job = [j for j in log_lines(doc.stack, "worker", "job") if j.get("request_id") == request_id]
        return bool(access and job and access[0].get("dropped_params") == job[0].get("dropped_params") == "temperature")

    wait_until(logged, 10, "the access and job lines naming dropped_params")


def test_without_the_rules_the_upstream_refuses_as_openai_words_it(doc: Doc) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        doc.oai.chat.completions.create(model="gpt-5.5-unruled", messages=CURL_BODY["messages"], temperature=0.7,
                                        max_tokens=1024)
    error = info.value.body
    assert isinstance(error, dict) and error["param"] == "max_tokens"
    assert "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' " \
           "instead." in error["message"]


@pytest.mark.parametrize("model", DOCUMENT_MODELS)
def test_the_documents_openai_sdk_call_passes_on_every_document_model(doc: Doc, model: str) -> None:
    raw = doc.oai.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        temperature=0.7, max_tokens=1024)
    completion = raw.parse()
    assert completion.model == model and USER in (completion.choices[0].message.content or "")
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert raw.headers.get(HEADER) == ("temperature" if model == "gpt-5.5" else None)


def test_a_stream_names_what_was_left_out_in_its_headers_too(doc: Doc) -> None:
    raw = doc.oai.chat.completions.with_raw_response.create(
        model="gpt-5.5", messages=CURL_BODY["messages"], temperature=0.7, top_p=0.9, max_tokens=1024, stream=True)
    assert raw.headers[HEADER] == "temperature,top_p"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
    assert text == f"fake: {USER}"
    sent = doc.last_openai_body("/chat/completions")
    assert sent["max_completion_tokens"] == 1024 and not {"temperature", "top_p", "max_tokens"} & set(sent)


@pytest.mark.parametrize("model", DOCUMENT_MODELS)
def test_the_same_body_through_messages_passes_on_every_document_model(doc: Doc, model: str) -> None:
    # NOTE: today's anthropic SDK has no `temperature` argument (newer Claude models refuse
    # sampling settings); the body is the document's all the same.
    raw = doc.claude.messages.with_raw_response.create(
        model=model, system=SYSTEM, messages=[{"role": "user", "content": USER}], max_tokens=1024,
        extra_body={"temperature": 0.7})
    message = raw.parse()
    assert message.model == model and message.stop_reason == "end_turn"
    assert any(USER in b.text for b in message.content if b.type == "text")
    assert raw.headers.get(HEADER) == ("temperature" if model == "gpt-5.5" else None)
    if model == "gpt-5.5":
        sent = doc.last_openai_body("/chat/completions")
        assert sent["max_completion_tokens"] == 1024 and "temperature" not in sent and "max_tokens" not in sent
    if model == "claude-sonnet-4-6":
        assert doc.anthropic_fake.bodies[-1]["temperature"] == 0.7


@pytest.mark.parametrize("model", [*DOCUMENT_MODELS, "gpt-5.5-native"])
def test_the_same_body_through_responses_passes_on_every_document_model(doc: Doc, model: str) -> None:
    raw = doc.oai.responses.with_raw_response.create(
        model=model, instructions=SYSTEM, input=USER, temperature=0.7, max_output_tokens=1024)
    response = raw.parse()
    assert response.status == "completed" and response.model == model and USER in response.output_text
    assert raw.headers.get(HEADER) == ("temperature" if model.startswith("gpt-5.5") else None)
    if model == "gpt-5.5-native":
        sent = doc.last_openai_body("/responses")
        assert sent["max_output_tokens"] == 1024 and "temperature" not in sent
    elif model == "gpt-5.5":
        sent = doc.last_openai_body("/chat/completions")
        assert sent["max_completion_tokens"] == 1024 and "temperature" not in sent


def test_drop_params_false_refuses_naming_the_callers_own_field(doc: Doc) -> None:
    with pytest.raises(openai.BadRequestError) as chat:
        doc.oai.chat.completions.create(model="gpt-5.5-strict", messages=CURL_BODY["messages"], temperature=0.7)
    assert isinstance(chat.value.body, dict)
    assert (chat.value.body["param"], chat.value.body["code"]) == ("temperature", "unsupported_parameter")
    with pytest.raises(anthropic.BadRequestError) as messages:
        doc.claude.messages.create(model="gpt-5.5-strict", system=SYSTEM, max_tokens=1024,
                                   messages=[{"role": "user", "content": USER}], extra_body={"temperature": 0.7})
    assert messages.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index, call-overload]
    assert "'temperature'" in messages.value.message


@pytest.mark.parametrize("route", ["messages", "chat"])
def test_claude_46_keeps_temperature_and_leaves_out_top_p_beside_it(doc: Doc, route: str) -> None:
    # The fake Anthropic refuses the pair as Claude 4.x does ("cannot both be specified").
    if route == "messages":
        raw: Any = doc.claude.messages.with_raw_response.create(
            model="claude-sonnet-4-6", system=SYSTEM, messages=[{"role": "user", "content": USER}], max_tokens=1024,
            extra_body={"temperature": 0.7, "top_p": 0.9})
    else:
        raw = doc.oai.chat.completions.with_raw_response.create(
            model="claude-sonnet-4-6", messages=CURL_BODY["messages"], temperature=0.7, top_p=0.9, max_tokens=1024)
    raw.parse()
    assert raw.headers[HEADER] == "top_p"
    sent = doc.anthropic_fake.bodies[-1]
    assert sent["temperature"] == 0.7 and "top_p" not in sent and sent["max_tokens"] == 1024


# What Claude Code 2.1.197 sends for a model id it does not know (audit finding 2): its
# default `max_tokens` 32000, thinking on, `output_config` and `context_management`.
CLAUDE_CODE_BODY: dict[str, Any] = {
    "model": "gpt-4o-mini", "max_tokens": 32000, "stream": True,
    "thinking": {"type": "enabled", "budget_tokens": 31999},
    "system": [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": [{"type": "text", "text": USER, "cache_control": {"type": "ephemeral"}}]}],
    "tools": [{"name": "Read", "description": "Reads a file.", "input_schema": {
        "type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}],
    "metadata": {"user_id": "user_0123_account__session_4567"},
    "output_config": {"effort": "high"}, "context_management": {"edits": [{"type": "clear_thinking_20251015",
                                                                          "keep": "all"}]},
}


def test_claude_codes_body_passes_on_gpt_4o_mini_with_thinking_left_out_and_the_limit_capped(doc: Doc) -> None:
    # Issue 21 item 2: gpt-4o-mini refuses `reasoning_effort` and any limit above 16384.
    response = httpx.post(f"{doc.stack.base_url.removesuffix('/v1')}/v1/messages", json=CLAUDE_CODE_BODY, timeout=20,
                          headers={"x-api-key": doc.key, "anthropic-version": "2023-06-01"})
    assert response.status_code == 200, response.text
    assert response.headers[HEADER] == "thinking"
    assert f"fake: {USER}" in "".join(json.loads(line[6:]).get("delta", {}).get("text", "")
                                        for line in response.text.splitlines() if line.startswith("data: "))
    sent = doc.last_openai_body("/chat/completions")
    assert sent["model"] == "gpt-4o-mini" and sent["max_tokens"] == 16384
    assert "reasoning_effort" not in sent and "max_completion_tokens" not in sent


def test_gpt_4o_mini_refuses_claude_codes_limit_as_openai_words_it(doc: Doc) -> None:
    # The fake's own refusal, which the cap above avoids: a chat caller's limit goes as sent.
    with pytest.raises(openai.BadRequestError) as info:
        doc.oai.chat.completions.create(model="gpt-4o-mini", messages=CURL_BODY["messages"], max_tokens=32000)
    error = info.value.body
    assert isinstance(error, dict) and error["param"] == "max_tokens"
    assert error["message"].endswith("max_tokens is too large: 32000. This model supports at most 16384 completion "
                                     "tokens, whereas you provided 32000.")


CODEX_INPUT: list[Any] = [
    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": SYSTEM}]},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": USER}]},
]


@pytest.mark.parametrize("model", ["qwen-coder", "o1-mini"])
def test_codexs_developer_instructions_go_as_system_to_a_model_without_the_developer_role(doc: Doc, model: str) -> None:
    # Issue 21 item 4: Codex sends its instructions as a `developer` item; a vLLM-served
    # Qwen model ("Unexpected message role.") and o1-mini refuse that role.
    response = doc.oai.responses.create(model=model, input=CODEX_INPUT, stream=False)
    assert response.status == "completed" and USER in response.output_text
    sent = doc.last_openai_body("/chat/completions")
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]


def test_openais_own_models_keep_the_developer_role(doc: Doc) -> None:
    doc.oai.responses.create(model="gpt-5.5", input=CODEX_INPUT)
    assert [m["role"] for m in doc.last_openai_body("/chat/completions")["messages"]] == ["developer", "user"]


def test_without_the_rule_vllm_refuses_the_developer_role(doc: Doc) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        doc.oai.chat.completions.create(model="qwen-unruled", messages=[{"role": "developer", "content": SYSTEM},
                                                                        {"role": "user", "content": USER}])
    assert "Unexpected message role." in info.value.message

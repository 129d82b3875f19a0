"""Issue 12, sections 4 and 5, through the real pipe: what reaches the upstream is what
was admitted, and bad input is a 400, never a 500.

The bodies are sent as raw bytes with httpx: the OpenAI SDK (like any JSON encoder) cannot
write a key twice or nest 1,000 levels deep, which is exactly why such bodies come from
hand-made or hostile clients.
"""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.harness.stack import Stack

MESSAGES = '"messages":[{"role":"user","content":"hi"}]'


def post(stack: Stack, api_key: str, path: str, body: str) -> httpx.Response:
    return httpx.post(f"{stack.base_url}{path}", content=body.encode(), timeout=20,
                      headers={"authorization": f"Bearer {api_key}", "content-type": "application/json"})


@pytest.mark.parametrize("first,second", [("nope", "gpt-test"), ("gpt-test", "nope")])
def test_a_model_given_twice_never_reaches_the_upstream(
    stack: Stack, api_key: str, fake_openai: FakeOpenAI, first: str, second: str
) -> None:
    before = len(fake_openai.received)
    response = post(stack, api_key, "/chat/completions", '{"model":"%s","model":"%s",%s}' % (first, second, MESSAGES))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", "model", None)
    assert len(fake_openai.received) == before


def test_embeddings_refuse_a_key_given_twice(stack: Stack, api_key: str) -> None:
    response = post(stack, api_key, "/embeddings", '{"model":"embed-test","input":"a","input":["b"]}')
    assert response.status_code == 400 and response.json()["error"]["param"] == "input"


def test_the_same_body_with_each_key_once_is_served(stack: Stack, api_key: str, fake_openai: FakeOpenAI) -> None:
    response = post(stack, api_key, "/chat/completions", '{"model": "gpt-test", %s, "service_tier": "auto"}' % MESSAGES)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "fake: hi"
    assert fake_openai.received[-1].json()["service_tier"] == "auto"


BIG = "9" * 400


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens", "n", "temperature", "seed", "top_logprobs"])
@pytest.mark.parametrize("model", ["claude-test", "gpt-test"])
def test_an_integer_of_hundreds_of_digits_is_a_400_naming_it(stack: Stack, api_key: str, model: str, param: str) -> None:
    response = post(stack, api_key, "/chat/completions", '{"model":"%s",%s,"%s":%s}' % (model, MESSAGES, param, BIG))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, None)


@pytest.mark.parametrize("field", ["dimensions", "input"])
def test_embeddings_integers_of_hundreds_of_digits_are_a_400(stack: Stack, api_key: str, field: str) -> None:
    body = '{"model":"embed-test","input":[[%s]]}' % BIG if field == "input" else (
        '{"model":"embed-test","input":"a","dimensions":%s}' % BIG)
    response = post(stack, api_key, "/embeddings", body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == ("input[0][0]" if field == "input" else "dimensions")


DEEP = "[" * 1200 + "]" * 1200


@pytest.mark.parametrize(
    "body",
    [
        '{"model":"gpt-test",%s,"future_param":%s}' % (MESSAGES, DEEP),
        '{"model":"claude-test",%s,"tools":[{"type":"function","function":{"name":"f","parameters":{"x":%s}}}]}'
        % (MESSAGES, DEEP),
        '{"model":"gemini-test","messages":[{"role":"user","content":"hi","extra":%s}]}' % DEEP,
        '{"model":"echo",%s,"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":%s}}}'
        % (MESSAGES, "{\"a\":" * 1100 + "1" + "}" * 1100),
    ],
    ids=["unknown-field", "tool-parameters", "unknown-field-in-a-message", "response-schema"],
)
def test_nesting_1000_levels_deep_anywhere_is_a_400(stack: Stack, api_key: str, body: str) -> None:
    response = post(stack, api_key, "/chat/completions", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", None)
    assert "nested too deeply" in error["message"]


def test_embeddings_nested_1000_levels_deep_are_a_400(stack: Stack, api_key: str) -> None:
    response = post(stack, api_key, "/embeddings", '{"model":"embed-test","input":"a","x":%s}' % DEEP)
    assert response.status_code == 400 and "nested too deeply" in response.json()["error"]["message"]


@pytest.mark.parametrize("model", ["echo", "gpt-test", "claude-test", "gemini-test"])
@pytest.mark.parametrize("stream", [False, True])
def test_nesting_at_the_promised_depth_is_served(stack: Stack, api_key: str, model: str, stream: bool) -> None:
    from gateway.body import NESTING_ACCEPTED

    depth = NESTING_ACCEPTED - 1
    body = '{"model":"%s",%s,"stream":%s,"future_param":%s}' % (
        model, MESSAGES, "true" if stream else "false", "[" * depth + "]" * depth)
    response = post(stack, api_key, "/chat/completions", body)
    assert response.status_code == 200, response.text
    assert "hi" in response.text

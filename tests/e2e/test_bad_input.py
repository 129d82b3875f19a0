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

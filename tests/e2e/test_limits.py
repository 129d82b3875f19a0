"""RPM/TPM limits hold across gateway processes (PITFALLS 19)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from tests.harness.stack import Stack

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def second_gateway(stack: Stack) -> Iterator[str]:
    """Another gateway process (its own gunicorn) on the same NATS; yields its base URL."""
    first_port = stack.gateway_port
    config = stack.workdir / "gateway.toml"
    proc = stack.start_gateway(config, name="gateway-2")
    url = stack.base_url
    stack.gateway_port = first_port
    yield url
    proc.stop()
    stack.procs.remove(proc)


def test_rpm_holds_across_two_gateway_processes(stack: Stack, second_gateway: str) -> None:
    secret = stack.create_key("e2e-rpm-60", rpm=60)
    clients = [openai.OpenAI(base_url=url, api_key=secret, max_retries=0, timeout=30)
               for url in (stack.base_url, second_gateway)]

    def one(i: int) -> tuple[int, str | None, str | None]:
        try:
            clients[i % 2].chat.completions.create(model="echo", messages=USER)
            return 200, None, None
        except openai.RateLimitError as ex:
            return 429, ex.code, ex.response.headers.get("retry-after")

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one, range(120)))
    ok = sum(1 for status, _, _ in results if status == 200)
    limited = [r for r in results if r[0] == 429]
    assert 54 <= ok <= 66, ok
    assert len(limited) == 120 - ok
    assert all(code == "rate_limit_exceeded" and retry and int(retry) >= 1 for _, code, retry in limited)


def test_rate_limit_headers_on_success(stack: Stack) -> None:
    secret = stack.create_key("e2e-rpm-headers", rpm=1000, tpm=100_000)
    client = openai.OpenAI(base_url=stack.base_url, api_key=secret, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="echo", messages=USER)
    assert raw.headers["x-ratelimit-limit-requests"] == "1000"
    assert raw.headers["x-ratelimit-remaining-requests"] == "999"
    assert raw.headers["x-ratelimit-limit-tokens"] == "100000"
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) < 100_000
    assert raw.headers["x-ratelimit-reset-requests"].endswith("s")


def test_tpm_refuses_a_prompt_over_the_limit_before_any_upstream_call(stack: Stack) -> None:
    secret = stack.create_key("e2e-tpm-50", tpm=50)
    client = openai.OpenAI(base_url=stack.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.RateLimitError) as ex:
        client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "word " * 100}])
    assert ex.value.code == "rate_limit_exceeded"
    assert ex.value.response.headers["x-ratelimit-limit-tokens"] == "50"
    assert "tokens" in ex.value.message
    # a refused request gives its charge back: a small one still fits
    assert client.chat.completions.create(model="echo", messages=USER).choices[0].message.content == "hi"


def test_unlimited_key_has_no_rate_limit_headers(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="echo", messages=USER)
    assert "x-ratelimit-limit-requests" not in raw.headers

"""Responses are billed like chat (one report row each) and fail and cancel like chat."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai_responses import FakeOpenAIResponses
from tests.harness.procs import wait_until
from tests.harness.stack import Stack

ROOT = Path(__file__).resolve().parents[3]


def report(stack: Stack, key_name: str) -> dict[str, Any]:
    env = {**os.environ, "GATEWAY_CONFIG": str(stack.workdir / "gateway.toml"), "NATS_URL": stack.nats_url,
           "GATEWAY_DATA_DIR": str(stack.workdir / "data")}
    out = subprocess.run([str(ROOT / "scripts" / "billing-report"), "--format", "json", "--key", key_name],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_every_responses_request_is_one_row_in_the_billing_report(responses_stack: Stack) -> None:
    client = openai.OpenAI(base_url=responses_stack.base_url, api_key=responses_stack.create_key("resp-bill"),
                           max_retries=0)
    served: dict[str, list[tuple[int, int]]] = {}
    for model in ("gpt-conv", "claude-r", "gemini-r", "gpt-native"):
        done = client.responses.create(model=model, input="bill me")
        with client.responses.stream(model=model, input="bill my stream", store=False) as stream:
            streamed = stream.get_final_response()
        for response in (done, streamed):
            assert response.usage is not None
            served.setdefault(model, []).append((response.usage.input_tokens, response.usage.output_tokens))
    made = sum(len(v) for v in served.values())
    found: dict[str, Any] = {}

    def billed() -> bool:
        found.update(report(responses_stack, "resp-bill"))
        seen = sum(r["requests"] for r in found["rows"])
        assert seen <= made, f"{seen} requests billed for {made} made"
        return bool(seen == made)

    wait_until(billed, 30, "every responses request in the billing report")
    by_model = {r["model"]: r for r in found["rows"]}
    for model, usages in served.items():
        row = by_model[model]
        assert row["requests"] == len(usages)
        assert row["prompt_tokens"] == sum(u[0] for u in usages)
        assert row["completion_tokens"] == sum(u[1] for u in usages)


def test_a_client_that_goes_away_cancels_the_upstream_and_is_billed_once(
    responses_stack: Stack, responses_key: str, fake_responses: FakeOpenAIResponses,
) -> None:
    fake_responses.disconnected.clear()
    headers = {"authorization": f"Bearer {responses_key}"}
    body = {"model": "gpt-conv", "input": "#scenario slow_stream", "stream": True, "store": False}
    with httpx.stream("POST", f"{responses_stack.base_url}/responses", json=body, headers=headers, timeout=20) as r:
        request_id = r.headers["x-request-id"]
        seen = 0
        for line in r.iter_lines():
            seen += line.startswith("event: response.output_text.delta")
            if seen == 2:
                break
    assert fake_responses.disconnected.wait(15), "the upstream stream was not closed"
    event = responses_stack.usage_for(request_id)
    assert event.status == "cancelled" and event.error_code == "client_disconnected"
    assert [e.request_id for e in responses_stack.usage_events()].count(request_id) == 1


def test_an_upstream_failure_mid_stream_ends_with_error_and_response_failed(
    responses_stack: Stack, responses_key: str,
) -> None:
    headers = {"authorization": f"Bearer {responses_key}"}
    body = {"model": "gpt-conv", "input": "#scenario stream_error", "stream": True}
    response = httpx.post(f"{responses_stack.base_url}/responses", json=body, headers=headers, timeout=20)
    assert response.status_code == 200
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert "[DONE]" not in response.text
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-2:] == ["error", "response.failed"]
    assert "failed mid-stream" in events[-2]["message"]
    assert events[-1]["response"]["status"] == "failed" and events[-1]["response"]["error"]["message"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    event = responses_stack.usage_for(response.headers["x-request-id"])
    assert event.status == "error"


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_refusal_before_output_is_a_plain_http_error(rclient: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        rclient.responses.create(model="gpt-conv", input="#scenario rate_limited", stream=stream)
    assert caught.value.status_code == 429 and caught.value.response.headers.get("retry-after") == "7"
    with pytest.raises(openai.BadRequestError) as bad:
        rclient.responses.create(model="gpt-native", input="#scenario error_400", stream=stream)
    assert bad.value.param == "input"


def _events(responses_stack: Stack, responses_key: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    headers = {"authorization": f"Bearer {responses_key}"}
    response = httpx.post(f"{responses_stack.base_url}/responses", json=body, headers=headers, timeout=20)
    assert response.status_code == 200 and "[DONE]" not in response.text
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    return events, response.headers["x-request-id"]


def test_a_pass_through_stream_cut_midway_ends_with_our_error_event_and_an_estimate(
    responses_stack: Stack, responses_key: str,
) -> None:
    events, request_id = _events(responses_stack, responses_key,
                                 {"model": "gpt-native", "input": "#scenario midstream one two three", "stream": True})
    assert [e["type"] for e in events][-1] == "error"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))  # ours continues theirs
    assert "before its final event" in events[-1]["message"]
    event = responses_stack.usage_for(request_id)
    assert event.status == "error" and event.estimated and event.prompt_tokens > 0 and event.completion_tokens > 0


def test_a_pass_through_upstream_error_event_ends_the_stream_once(responses_stack: Stack, responses_key: str) -> None:
    events, request_id = _events(responses_stack, responses_key,
                                 {"model": "gpt-native", "input": "#scenario stream_error one two three", "stream": True})
    types = [e["type"] for e in events]
    assert types.count("error") == 1 and types[-1] == "error"
    assert events[-1]["message"] == "The upstream failed mid-stream."
    assert responses_stack.usage_for(request_id).status == "error"

"""Metrics and JSON log lines of the real processes (issue 15): one request shows up in
the /metrics of the gateway (two gunicorn processes, summed), of the worker and of the
ledger, and in the JSON lines of all three under the id the client received."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import FAKE_KEY
from tests.fakes.openai import FakeOpenAI
from tests.harness.procs import ROOT, free_port, wait_until
from tests.harness.stack import Stack

CONFIG = """
[providers.echo]
kind = "echo"

[providers.fakeoai]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 5

[[models]]
id = "gpt-slow"
provider = "fakeoai"

[[models]]
id = "echo"
provider = "echo"
price = {{ input = 1.0, output = 2.0 }}
"""


class Observed:
    """The stack and where its metrics are served."""

    def __init__(self, stack: Stack, worker_port: int, ledger_port: int, secret: str) -> None:
        self.stack = stack
        self.worker_port = worker_port
        self.ledger_port = ledger_port
        self.secret = secret

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.stack.base_url, api_key=self.secret, max_retries=0, timeout=20)

    def log(self, name: str) -> list[dict[str, Any]]:
        """The JSON lines a process wrote (other output skipped)."""
        proc = next(p for p in self.stack.procs if p.name == name)
        lines = []
        for line in proc.log_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI) -> Iterator[Observed]:
    stack = Stack(tmp_path_factory.mktemp("observed"))
    try:
        config = stack.write_config("gateway.toml", CONFIG.format(fake=fake_openai.url))
        worker_port, ledger_port = free_port(), free_port()
        stack.start_nats()
        stack.start_worker(config, providers=["echo", "fakeoai"], WORKER_METRICS_PORT=str(worker_port),
                           FAKE_OPENAI_KEY=FAKE_KEY)
        stack.start_ledger(config, LEDGER_METRICS_PORT=str(ledger_port))
        stack.start_gateway(config, processes=2)
        yield Observed(stack, worker_port, ledger_port, stack.create_key("observer"))
    finally:
        stack.close()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """sample name and sorted labels -> value."""
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_request_appears_in_the_metrics_of_gateway_worker_and_ledger(observed: Observed) -> None:
    gateway_url = f"http://127.0.0.1:{observed.stack.gateway_port}/metrics"
    chat = {"route": "/v1/chat/completions", "model": "echo", "provider": "echo", "status": "200"}
    ledger_url = f"http://127.0.0.1:{observed.ledger_port}/metrics"
    gateway_before, ledger_before = scrape(gateway_url), scrape(ledger_url)
    before = value(gateway_before, "gateway_requests_total", **chat)
    output_before = value(gateway_before, "gateway_tokens_total", model="echo", direction="output")
    reply = observed.client().chat.completions.create(model="echo", messages=[{"role": "user", "content": "count me"}])
    assert reply.choices[0].message.content == "count me"
    chunks = list(observed.client().chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "stream me please"}], stream=True,
        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "stream me please"
    # what the two requests were told they spent: the figures every process must count
    usages = [reply.usage, chunks[-1].usage]
    assert all(u is not None for u in usages)
    prompt = sum(u.prompt_tokens for u in usages if u)
    completion = sum(u.completion_tokens for u in usages if u)
    assert completion >= len("count me stream me please".split())

    # a stream is counted when the server closes it, a moment after the client read [DONE]
    wait_until(lambda: value(scrape(gateway_url), "gateway_time_to_first_token_seconds_count", model="echo",
                             provider="echo") == 1, 10, "the stream counted")
    # two gunicorn processes: whichever answers the scrape shows the sum of both
    for _ in range(4):
        samples = scrape(gateway_url)
        assert value(samples, "gateway_requests_total", **chat) == before + 2
        assert value(samples, "gateway_time_to_first_token_seconds_count", model="echo", provider="echo") == 1
        assert value(samples, "gateway_requests_in_flight") == 1  # this scrape itself
        assert value(samples, "gateway_open_streams") == 0
        assert value(samples, "gateway_tokens_total", model="echo", direction="output") == output_before + completion
    latency = value(samples, "gateway_request_duration_seconds_count", route="/v1/chat/completions",
                    model="echo", provider="echo")
    assert latency == before + 2

    worker = scrape(f"http://127.0.0.1:{observed.worker_port}/metrics")
    assert value(worker, "worker_jobs_total", provider="echo", op="chat", status="ok") == 2
    assert value(worker, "worker_jobs_in_flight", provider="echo") == 0

    inserted = value(ledger_before, "ledger_events_total", outcome="inserted")
    wait_until(lambda: value(scrape(ledger_url), "ledger_events_total", outcome="inserted") >= inserted + 2, 10,
               "ledger billed")
    ledger = scrape(ledger_url)
    assert value(ledger, "ledger_events_total", outcome="inserted") == inserted + 2
    for direction, tokens in (("input", prompt), ("output", completion)):
        assert value(ledger, "ledger_tokens_total", model="echo", direction=direction) == (
            value(ledger_before, "ledger_tokens_total", model="echo", direction=direction) + tokens)
    # echo costs $1 / $2 per 1M input / output tokens (CONFIG): micro-dollars, in USD
    assert value(ledger, "ledger_cost_usd_total", model="echo") == pytest.approx(
        value(ledger_before, "ledger_cost_usd_total", model="echo") + (prompt * 1 + completion * 2) / 1e6, abs=1e-9)
    assert value(ledger, "ledger_pending_events") == 0
    assert 0 <= value(ledger, "ledger_last_commit_age_seconds") < 60

    for url in (gateway_url, f"http://127.0.0.1:{observed.worker_port}/metrics", ledger_url):
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        assert observed.secret not in text and "observer" not in text  # no secret; key names only on opt-in


def test_refusals_and_unknown_models_are_counted_without_new_series_per_name(observed: Observed) -> None:
    gateway_url = f"http://127.0.0.1:{observed.stack.gateway_port}/metrics"
    with pytest.raises(openai.NotFoundError):
        observed.client().chat.completions.create(model="made-up-name-1234", messages=[{"role": "user", "content": "x"}])
    text = urllib.request.urlopen(gateway_url, timeout=5).read().decode()
    assert "made-up-name-1234" not in text
    samples = scrape(gateway_url)
    assert value(samples, "gateway_requests_total", route="/v1/chat/completions", model="", provider="",
                 status="404") >= 1


def test_a_request_is_one_json_line_in_gateway_worker_and_ledger_under_the_clients_id(observed: Observed) -> None:
    raw = observed.client().chat.completions.with_raw_response.create(
        model="echo", messages=[{"role": "user", "content": "follow me"}], extra_headers={"x-request-id": "caller-77"})
    request_id = raw.headers["x-request-id"]
    assert request_id.startswith("req_") and raw.parse().choices[0].message.content == "follow me"

    def one(name: str, event: str) -> dict[str, Any]:
        found = [line for line in observed.log(name) if line.get("request_id") == request_id and line["event"] == event]
        assert len(found) <= 1
        return found[0] if found else {}

    wait_until(lambda: bool(one("ledger", "billed")), 10, "the ledger's billed line")
    access = one("gateway", "access")
    assert access["client_request_id"] == "caller-77" and access["status"] == 200
    assert access["model"] == "echo" and access["provider"] == "echo" and access["key_id"]
    assert access["ms"] > 0 and 0 < access["ttfb_ms"] <= access["ms"]
    usage = raw.parse().usage
    assert usage is not None
    assert (access["prompt_tokens"], access["completion_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    job = one("worker", "job")
    assert job["status"] == "ok" and job["model"] == "echo" and job["key_id"] == access["key_id"]
    assert job["completion_tokens"] == access["completion_tokens"]
    billed = one("ledger", "billed")
    assert billed["key_id"] == access["key_id"] and billed["prompt_tokens"] == access["prompt_tokens"]
    # echo: $1 / $2 per 1M input / output tokens (CONFIG)
    assert float(billed["cost_usd"]) == pytest.approx((usage.prompt_tokens + 2 * usage.completion_tokens) / 1e6, abs=1e-12)
    for name in ("gateway", "worker", "ledger"):
        text = next(p for p in observed.stack.procs if p.name == name).log_text()
        assert observed.secret not in text


def test_a_stream_is_logged_when_it_ends_with_its_usage(observed: Observed) -> None:
    with observed.client().chat.completions.with_streaming_response.create(
            model="echo", messages=[{"role": "user", "content": "a streamed line"}], stream=True,
            stream_options={"include_usage": True}) as response:
        request_id = response.headers["x-request-id"]
        chunks = list(response.parse())
    usage = chunks[-1].usage
    assert usage is not None

    def access() -> dict[str, Any]:
        found = [line for line in observed.log("gateway") if line.get("request_id") == request_id]
        return found[0] if found else {}

    wait_until(lambda: bool(access()), 5, "the stream's access line")
    line = access()
    assert line["stream"] is True and line["status"] == 200
    assert line["completion_tokens"] == usage.completion_tokens and line["prompt_tokens"] == usage.prompt_tokens
    assert line["ttfb_ms"] <= line["ms"]


def test_scripts_status_shows_processes_lag_and_todays_spend(observed: Observed) -> None:
    observed.client().chat.completions.create(model="echo", messages=[{"role": "user", "content": "spend a little"}])
    stack = observed.stack
    env = {**os.environ, "NATS_URL": stack.nats_url, "GATEWAY_DATA_DIR": str(stack.workdir / "data"),
           "GATEWAY_CONFIG": str(stack.workdir / "gateway.toml")}

    def status() -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "gateway.ops.status_cli", "--format", "json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=30, check=True)
        return dict(json.loads(out.stdout))

    views: list[dict[str, Any]] = []

    def settled() -> bool:  # both gunicorn processes connected, the ledger caught up
        views[:] = [status()]
        return (len(views[0]["gateways"]) == 2 and "observer" in views[0]["spend_today"]
                and views[0]["ledger"]["pending_events"] == 0)

    wait_until(settled, 15, "two gateway processes and today's spend of the key")
    view = views[0]
    assert len(view["gateways"]) == 2  # two gunicorn processes, each answering for itself
    assert {g["role"] for g in view["gateways"]} == {"gateway"} and all(g["uptime_s"] > 0 for g in view["gateways"])
    assert view["workers_per_provider"] == {"echo": 1, "fakeoai": 1}
    [worker] = view["workers"]
    assert worker["providers"] == ["echo", "fakeoai"] and worker["in_flight"] == 0 and worker["version"]
    ledger = view["ledger"]
    assert ledger["pending_events"] == 0 and ledger["last_commit_at"] is not None
    assert float(view["spend_today"]["observer"]) > 0 and view["day"] == ledger["day"]

    table = subprocess.run([sys.executable, "-m", "gateway.ops.status_cli"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=30, check=True).stdout
    assert "gateways: 2 process(es)" in table and "  echo: 1" in table and "  fakeoai: 1" in table
    assert "observer" in table
    assert "lag 0 event(s)" in table


def test_a_stream_the_client_leaves_closes_its_gauge_and_is_logged_once(observed: Observed,
                                                                         fake_openai: FakeOpenAI) -> None:
    gateway_url = f"http://127.0.0.1:{observed.stack.gateway_port}/metrics"
    fake_openai.disconnected.clear()
    body = {"model": "gpt-slow", "stream": True, "messages": [{"role": "user", "content": "#scenario slow_stream"}]}
    with httpx.Client(timeout=10) as http:
        with http.stream("POST", f"{observed.stack.base_url}/chat/completions", json=body,
                         headers={"authorization": f"Bearer {observed.secret}"}) as response:
            assert response.status_code == 200
            request_id = response.headers["x-request-id"]
            lines = response.iter_lines()
            assert any(line.startswith("data: ") for line in (next(lines) for _ in range(4)))
            assert value(scrape(gateway_url), "gateway_open_streams") == 1
        # leaving the block closes the connection mid-stream
    assert fake_openai.disconnected.wait(10), "the upstream request was not closed"
    wait_until(lambda: value(scrape(gateway_url), "gateway_open_streams") == 0, 10, "the stream's gauge back to 0")
    def access() -> list[dict[str, Any]]:
        return [line for line in observed.log("gateway")
                if line.get("request_id") == request_id and line["event"] == "access"]

    wait_until(lambda: bool(access()), 10, "the abandoned stream's access line")
    [line] = access()
    assert line["stream"] is True and line["model"] == "gpt-slow" and line["provider"] == "fakeoai"
    assert line["ttfb_ms"] <= line["ms"]
    samples = scrape(gateway_url)
    assert value(samples, "gateway_requests_in_flight") == 1  # only this scrape
    assert value(samples, "gateway_requests_total", route="/v1/chat/completions", model="gpt-slow",
                 provider="fakeoai", status="200") == 1

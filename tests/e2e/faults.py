"""A small stack of its own for fault tests, which kill and restart its processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.fakes.openai import FakeOpenAI
from tests.harness.stack import Stack

FAKE_KEY = "sk-fake-upstream"

CONFIG = """
[gateway]
idle_timeout_s = {idle}

[workers]
heartbeat_s = {heartbeat}
{workers_extra}

[providers.echo]
kind = "echo"

[providers.fakeoai]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 30
{providers_extra}

[[models]]
id = "echo"
provider = "echo"
price = {{ input = 1.0, output = 2.0 }}

[[models]]
id = "gpt-test"
provider = "fakeoai"
upstream = "gpt-upstream"
price = {{ input = 1.0, output = 2.0 }}
"""


def write_config(stack: Stack, fake: FakeOpenAI, idle: float = 30, heartbeat: float = 0.5,
                 workers_extra: str = "", providers_extra: str = "", gateway_extra: str = "") -> Path:
    """The config of a fault test (a long idle timeout: a test failing fast proves detection)."""
    text = CONFIG.format(idle=idle, heartbeat=heartbeat, fake=fake.url, workers_extra=workers_extra,
                         providers_extra=providers_extra)
    if gateway_extra:
        text = text.replace("[gateway]\n", "[gateway]\n" + gateway_extra + "\n", 1)
    return stack.write_config("faults.toml", text)


@contextmanager
def started(workdir: Path, fake: FakeOpenAI, ledger: bool = False, **config: object) -> Iterator[tuple[Stack, Path]]:
    """nats, one worker (echo, fakeoai), one gateway, optionally the ledger; all stopped after."""
    stack = Stack(workdir)
    try:
        path = write_config(stack, fake, **config)  # type: ignore[arg-type]
        stack.start_nats()
        if ledger:
            stack.start_ledger(path)
        stack.start_worker(path, providers=["echo", "fakeoai"], FAKE_OPENAI_KEY=FAKE_KEY)
        stack.start_gateway(path)
        yield stack, path
    finally:
        stack.close()


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, object] | str]:
    """The `data:` payloads of an SSE body: decoded JSON, or the string `[DONE]`."""
    for line in lines:
        if line.startswith("data: "):
            data = line[len("data: "):]
            yield data if data == "[DONE]" else json.loads(data)


def chat_body(content: str, stream: bool = True, model: str = "gpt-test") -> dict[str, object]:
    """A chat request body (streams ask for usage so the ledger's figures can be compared)."""
    body: dict[str, object] = {"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]}
    return body


def post(http: httpx.Client, stack: Stack, key: str, body: dict[str, object]) -> httpx.Response:
    """A non-streamed POST to the chat endpoint."""
    return http.post(f"{stack.base_url}/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})

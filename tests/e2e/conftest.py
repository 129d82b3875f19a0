"""Session fixtures: one real stack (nats-server, worker, gateway) and a fake OpenAI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai import FakeOpenAI
from tests.harness.stack import Stack

FAKE_KEY = "sk-fake-upstream"
FAKE_ANTHROPIC_KEY = "sk-ant-fake-upstream"
FAKE_GEMINI_KEY = "gemini-fake-upstream"

PROVIDERS = """
[gateway]
idle_timeout_s = 3
max_body_bytes = 262144  # Claude Code sends ~85 KB bodies (issue 13)

[workers]
heartbeat_s = 0.5

# Each error test here checks one upstream answer as the caller gets it, with exactly one
# upstream request; retries and cooldowns have their own stack (tests/e2e/test_routing.py).
[routing]
retries = 0

[providers.echo]
kind = "echo"

[providers.fakeoai]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 2

[providers.patient]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 10

[providers.wrongkey]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "WRONG_OPENAI_KEY"

[providers.claude]
kind = "anthropic"
base_url = "{anthropic}"
api_key_env = "FAKE_ANTHROPIC_KEY"
timeout_s = 2

[providers.claude-wrongkey]
kind = "anthropic"
base_url = "{anthropic}"
api_key_env = "WRONG_ANTHROPIC_KEY"

[providers.gemini]
kind = "gemini"
base_url = "{gemini}"
api_key_env = "FAKE_GEMINI_KEY"
timeout_s = 2

[providers.gemini-wrongkey]
kind = "gemini"
base_url = "{gemini}"
api_key_env = "WRONG_GEMINI_KEY"

[providers.nokey]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "GATEWAY_TEST_UNSET_KEY"
"""

GATEWAY_ONLY = """
[providers.ghost]
kind = "openai"
base_url = "{fake}/v1"

[providers.silent]
kind = "openai"
base_url = "{fake}/v1"
"""

MODELS = """
[[models]]
id = "echo"
provider = "echo"
owned_by = "gateway"

[[models]]
id = "echo-embed"
provider = "echo"
kind = "embedding"

[[models]]
id = "gpt-test"
provider = "fakeoai"
upstream = "gpt-upstream"
owned_by = "openai"

[[models]]
id = "gpt-with-fallback"
provider = "fakeoai"
upstream = "gpt-upstream"
fallbacks = ["ghost-model-2", "echo"]

[[models]]
id = "ghost-model-2"
provider = "nokey"

[[models]]
id = "gpt-patient"
provider = "patient"

[[models]]
id = "gpt-same"
provider = "fakeoai"

[[models]]
id = "embed-test"
provider = "fakeoai"
upstream = "embed-upstream"
kind = "embedding"

[[models]]
id = "claude-test"
provider = "claude"
upstream = "claude-upstream-1"
owned_by = "anthropic"
max_output_tokens = 4096
price = {{ input = 3.0, output = 15.0 }}

[[models]]
id = "claude-wrongkey"
provider = "claude-wrongkey"
max_output_tokens = 1024

# Claude capability flags (issue 11 items 5 and 8)
[[models]]
id = "claude-adaptive"
provider = "claude"
upstream = "claude-opus-4-7"
max_output_tokens = 32000
thinking = "adaptive"

[[models]]
id = "claude-nothink"
provider = "claude"
upstream = "claude-upstream-1"
max_output_tokens = 4096
thinking = "none"

[[models]]
id = "claude-autocache"
provider = "claude"
upstream = "claude-upstream-1"
max_output_tokens = 4096
prompt_cache = "auto"
price = {{ input = 3.0, output = 15.0, cached_input = 0.30, cache_write_input = 3.75 }}

[[models]]
id = "gemini-test"
provider = "gemini"
upstream = "gemini-upstream-flash"
owned_by = "google"
max_output_tokens = 8192
price = {{ input = 0.3, output = 2.5 }}

[[models]]
id = "gemini-pro-test"
provider = "gemini"
upstream = "gemini-upstream-pro"
max_output_tokens = 8192
gemini = {{ thinking_can_be_off = false }}

[[models]]
id = "gemini-3-test"
provider = "gemini"
upstream = "gemini-3-upstream"
max_output_tokens = 8192
gemini = {{ tools_with_json_response = true }}

[[models]]
id = "gemini-embed-test"
provider = "gemini"
upstream = "gemini-upstream-embedding"
kind = "embedding"
price = {{ input = 0.15 }}

[[models]]
id = "gemini-wrongkey"
provider = "gemini-wrongkey"

[[models]]
id = "wrongkey-model"
provider = "wrongkey"

[[models]]
id = "nokey-model"
provider = "nokey"

# Messages dialect (issue 13): a model per provider kind, Claude Code's own ids as aliases.
[[models]]
id = "msg-claude"
provider = "claude"
upstream = "claude-opus-4-6"
max_output_tokens = 4096
aliases = ["claude-opus-4-8", "claude-opus-*"]
price = {{ input = 3.0, output = 15.0, cached_input = 0.30, cache_write_input = 3.75 }}

[[models]]
id = "msg-openai"
provider = "fakeoai"
upstream = "gpt-upstream"
aliases = ["claude-sonnet-4-6", "claude-haiku-4-5-*"]
price = {{ input = 1.0, output = 2.0 }}

[[models]]
id = "msg-gemini"
provider = "gemini"
upstream = "gemini-upstream-flash"
max_output_tokens = 8192
aliases = ["claude-gemini-*"]

# A non-reasoning OpenAI model with its real output limit (issue 21 item 2): the fake
# refuses reasoning_effort and any limit above 16384 for it, as OpenAI does.
[[models]]
id = "gpt-4o-mini"
provider = "fakeoai"
upstream = "gpt-4o-mini"
max_output_tokens = 16384
price = {{ input = 0.15, output = 0.60 }}
"""

GATEWAY_MODELS = """
[[models]]
id = "ghost-model"
provider = "ghost"

[[models]]
id = "silent-model"
provider = "silent"
"""


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    """The fake OpenAI upstream."""
    fake = FakeOpenAI(FAKE_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """The fake Anthropic upstream."""
    fake = FakeAnthropic(FAKE_ANTHROPIC_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def fake_gemini() -> Iterator[FakeGemini]:
    """The fake Gemini upstream."""
    fake = FakeGemini(FAKE_GEMINI_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
) -> Iterator[Stack]:
    """nats-server, one worker and one gateway process, all stopped at the end."""
    stack = Stack(tmp_path_factory.mktemp("stack"))
    try:
        fill = {"fake": fake_openai.url, "anthropic": fake_anthropic.url, "gemini": fake_gemini.url}
        gateway_config = stack.write_config(
            "gateway.toml", (PROVIDERS + GATEWAY_ONLY + MODELS + GATEWAY_MODELS).format(**fill)
        )
        worker_config = stack.write_config("worker.toml", (PROVIDERS + MODELS).format(**fill))
        stack.start_nats()
        stack.start_worker(
            worker_config,
            providers=["echo", "fakeoai", "patient", "claude", "gemini"],
            FAKE_OPENAI_KEY=FAKE_KEY,
            WRONG_OPENAI_KEY="sk-not-the-right-one",
            FAKE_ANTHROPIC_KEY=FAKE_ANTHROPIC_KEY,
            WRONG_ANTHROPIC_KEY="sk-ant-not-the-right-one",
            FAKE_GEMINI_KEY=FAKE_GEMINI_KEY,
            WRONG_GEMINI_KEY="gemini-not-the-right-one",
        )
        stack.start_gateway(gateway_config)
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="session")
def api_key(stack: Stack) -> str:
    """A key allowed every model."""
    return stack.create_key("e2e-all")


@pytest.fixture
def client(stack: Stack, api_key: str) -> openai.OpenAI:
    """The official SDK pointed at the gateway; no retries so statuses show as they are."""
    return openai.OpenAI(base_url=stack.base_url, api_key=api_key, max_retries=0, timeout=20)


def gateway_log(stack: Stack) -> str:
    """The gateway process's output (for asserting on log lines)."""
    return next(p for p in stack.procs if p.name == "gateway").log_text()


def root() -> Path:
    """The repository root."""
    return Path(__file__).resolve().parents[2]

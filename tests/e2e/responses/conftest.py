"""A stack for the Responses dialect: one route of each kind, and a pass-through one.

Its own stack (not tests/e2e/conftest.py's) so these routes and their fake upstream
(tests/fakes/openai_responses.py, which also serves `/responses`) change nothing for the
other end-to-end tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.e2e.conftest import FAKE_ANTHROPIC_KEY, FAKE_GEMINI_KEY, FAKE_KEY
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_responses import FakeOpenAIResponses
from tests.harness.stack import Stack

CONFIG = """
[gateway]
idle_timeout_s = 5

[workers]
heartbeat_s = 0.5

[responses]
store_ttl_s = 3600

[providers.echo]
kind = "echo"

[providers.oai]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 5

[providers.oai-native]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 5
responses = true

[providers.claude]
kind = "anthropic"
base_url = "{anthropic}"
api_key_env = "FAKE_ANTHROPIC_KEY"
timeout_s = 5

[providers.gemini]
kind = "gemini"
base_url = "{gemini}"
api_key_env = "FAKE_GEMINI_KEY"
timeout_s = 5

[[models]]
id = "echo"
provider = "echo"

[[models]]
id = "gpt-conv"
provider = "oai"
upstream = "gpt-upstream"
price = {{ input = 1.0, output = 2.0 }}

# A vLLM-served Qwen model (issue 21 item 4): the fake refuses `developer` for it.
[[models]]
id = "qwen-r"
provider = "oai"
upstream = "Qwen/Qwen3-Coder-30B-A3B-Instruct"
price = {{ input = 1.0, output = 2.0 }}

# Refuses what it cannot take rather than leaving it out (issue 20's drop policy).
[[models]]
id = "gpt-strict"
provider = "oai"
upstream = "gpt-upstream"
rules = {{ drop_params = false }}
price = {{ input = 1.0, output = 2.0 }}

[[models]]
id = "gpt-native"
provider = "oai-native"
upstream = "gpt-native-upstream"
price = {{ input = 1.0, output = 2.0 }}

[[models]]
id = "claude-r"
provider = "claude"
upstream = "claude-upstream-1"
max_output_tokens = 4096
price = {{ input = 3.0, output = 15.0 }}

[[models]]
id = "gemini-r"
provider = "gemini"
upstream = "gemini-upstream-flash"
max_output_tokens = 8192
price = {{ input = 0.3, output = 2.5 }}
"""

# Every kind of route /v1/responses serves: converted to chat (OpenAI, Claude, Gemini)
# and passed through (an OpenAI upstream with `responses = true`).
ROUTES = ["gpt-conv", "claude-r", "gemini-r", "gpt-native"]


@pytest.fixture(scope="session")
def fake_responses() -> Iterator[FakeOpenAIResponses]:
    """The fake OpenAI upstream that also serves /responses."""
    fake = FakeOpenAIResponses(FAKE_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def responses_stack(tmp_path_factory: pytest.TempPathFactory, fake_responses: FakeOpenAIResponses,
                    fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini) -> Iterator[Stack]:
    """nats-server, one worker, the ledger, one gateway with the routes above."""
    stack = Stack(tmp_path_factory.mktemp("responses"))
    try:
        config = stack.write_config("gateway.toml", CONFIG.format(
            fake=fake_responses.url, anthropic=fake_anthropic.url, gemini=fake_gemini.url))
        stack.start_nats()
        stack.start_worker(config, providers=["echo", "oai", "oai-native", "claude", "gemini"],
                           FAKE_OPENAI_KEY=FAKE_KEY, FAKE_ANTHROPIC_KEY=FAKE_ANTHROPIC_KEY,
                           FAKE_GEMINI_KEY=FAKE_GEMINI_KEY)
        stack.start_ledger(config)
        stack.start_gateway(config)
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="session")
def responses_key(responses_stack: Stack) -> str:
    """A key allowed every model."""
    return responses_stack.create_key("responses-all")


@pytest.fixture
def rclient(responses_stack: Stack, responses_key: str) -> openai.OpenAI:
    """The official SDK pointed at the gateway, no retries."""
    return openai.OpenAI(base_url=responses_stack.base_url, api_key=responses_key, max_retries=0, timeout=20)

"""Issue 22, item 3: a worker says at start which providers have a key too short to be a secret."""

from __future__ import annotations

import pytest

from gateway.contracts.config import parse
from workers.job import placeholder_keys
from workers.main import build_routes

CONFIG = parse("""
[providers.ollama]
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
api_key_env = "TEST_OLLAMA_KEY"
[providers.real]
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
api_key_env = "TEST_REAL_KEY"
[providers.none]
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
api_key_env = "TEST_UNSET_KEY"
[[models]]
id = "m"
provider = "ollama"
""")


def test_short_keys_are_named_with_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OLLAMA_KEY", "ollama")
    monkeypatch.setenv("TEST_REAL_KEY", "sk-0123456789abcdef")
    monkeypatch.delenv("TEST_UNSET_KEY", raising=False)
    assert placeholder_keys(build_routes(CONFIG)) == [("ollama", "TEST_OLLAMA_KEY")]

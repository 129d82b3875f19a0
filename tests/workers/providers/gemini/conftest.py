"""Shared helpers of the Gemini provider tests: fixtures on disk, a reply context, decoding."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.contracts.openai import CHAT_REQUEST_DECODER, ChatRequest
from workers.providers.base import ReplyContext

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gemini"


def fixture_bytes(name: str) -> bytes:
    """A payload from tests/fixtures/gemini, byte for byte."""
    return (FIXTURES / name).read_bytes()


def make_ctx() -> ReplyContext:
    """A reply context whose generated ids count up: call_1, call_2, ..."""
    counter = itertools.count(1)
    return ReplyContext(
        completion_id="chatcmpl-test",
        created=1_700_000_000,
        model="gemini-public",
        new_id=lambda prefix: f"{prefix}_{next(counter)}",
    )


def chat_request(body: dict[str, Any]) -> tuple[ChatRequest, bytes]:
    """A validated ChatRequest and the raw body it came from (model filled in)."""
    raw = json.dumps({"model": "gemini-public", **body}).encode()
    return CHAT_REQUEST_DECODER.decode(raw), raw


def as_json(value: Any) -> Any:
    """A Struct (or list of Structs) as plain JSON data, exactly as it goes on the wire."""
    return json.loads(msgspec.json.encode(value))


@pytest.fixture
def ctx() -> ReplyContext:
    """A fresh reply context per test."""
    return make_ctx()

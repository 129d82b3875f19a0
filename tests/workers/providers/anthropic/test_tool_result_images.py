"""A tool message's images and PDFs go inside Claude's `tool_result` (audit 2026-12-03,
finding 3: Codex `view_image` and MCP image results, converted through chat)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.contracts.openai import CHAT_REQUEST_DECODER
from workers.providers.anthropic.messages import to_conversation
from workers.providers.anthropic.schema import ENCODER
from workers.providers.base import ConversionError

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcfsj6IK"
CALL = {"id": "toolu_1", "type": "function", "function": {"name": "view_image", "arguments": "{}"}}


def wire(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = {"model": "claude", "messages": [
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": content}]}
    conv = to_conversation(CHAT_REQUEST_DECODER.decode(json.dumps(body).encode()).messages, False)
    out: list[dict[str, Any]] = json.loads(ENCODER.encode(conv.messages))
    return out


def test_images_and_pdfs_of_a_tool_message_are_blocks_of_its_tool_result() -> None:
    turn = wire([{"type": "text", "text": "shot"},
                 {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                 {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "a.pdf"}}])[-1]
    assert turn["role"] == "user" and [b["type"] for b in turn["content"]] == ["tool_result"]
    assert turn["content"][0]["content"] == [
        {"type": "text", "text": "shot"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}}]


def test_a_bad_image_in_a_tool_message_is_a_400_naming_it() -> None:
    with pytest.raises(ConversionError) as caught:
        wire([{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}])
    assert caught.value.error.param == "messages[2].content[0]"

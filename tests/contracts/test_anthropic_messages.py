"""The Messages schema: what the gateway refuses before publishing, and what workers
convert (gateway/contracts/anthropic_messages.py)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from gateway.contracts.anthropic_messages import (
    COUNT_TOKENS_ENVELOPE_DECODER,
    MESSAGES_ENVELOPE_DECODER,
    MESSAGES_REQUEST_DECODER,
)

# Valid Anthropic input (issue 21): blocks inside tool results, assistant
# blocks of server tools and compaction, and tools without a name (toolsets).
CLAUDE_ONLY: dict[str, Any] = {
    "model": "claude", "max_tokens": 100,
    "tools": [{"name": "Read", "input_schema": {"type": "object"}},
              {"type": "mcp_toolset", "mcp_server_name": "docs"},
              {"type": "computer_toolset_20260801"}],
    "messages": [
        {"role": "user", "content": "find it"},
        {"role": "assistant", "content": [
            {"type": "compaction", "content": "summary so far"},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "bash_code_execution", "input": {"command": "ls"}},
            {"type": "bash_code_execution_tool_result", "tool_use_id": "srvtoolu_1",
             "content": {"type": "bash_code_execution_result", "stdout": "a", "stderr": "", "return_code": 0,
                         "content": []}},
            {"type": "text_editor_code_execution_tool_result", "tool_use_id": "srvtoolu_2", "content": {}},
            {"type": "tool_search_tool_result", "tool_use_id": "srvtoolu_3", "content": {}},
            {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
            {"type": "tool_reference", "tool_name": "Read"},
            {"type": "search_result", "source": "https://docs", "title": "Docs",
             "content": [{"type": "text", "text": "found"}]}]}]},
    ],
}


def test_the_gateway_accepts_every_block_and_tool_anthropic_accepts() -> None:
    body = MESSAGES_ENVELOPE_DECODER.decode(json.dumps(CLAUDE_ONLY))
    assert (body.model, body.max_tokens, body.is_stream()) == ("claude", 100, False)
    # block types Anthropic adds later reach Claude too: the gateway does not read blocks
    newer = {**CLAUDE_ONLY, "messages": [{"role": "user", "content": [{"type": "some_block_of_2027", "x": 1}]}]}
    MESSAGES_ENVELOPE_DECODER.decode(json.dumps(newer))
    count = {k: v for k, v in CLAUDE_ONLY.items() if k != "max_tokens"}
    assert COUNT_TOKENS_ENVELOPE_DECODER.decode(json.dumps(count)).model == "claude"


def test_workers_decode_the_known_claude_only_blocks_for_conversion() -> None:
    req = MESSAGES_REQUEST_DECODER.decode(json.dumps(CLAUDE_ONLY))
    assert len(req.messages[1].content) == 6


@pytest.mark.parametrize(("body", "field"), [
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "hi"}]}, "messages[0].role"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "temperature": 1.5},
     "temperature"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, "stream"),
])
def test_the_gateway_still_refuses_what_no_route_accepts(body: dict[str, Any], field: str) -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        MESSAGES_ENVELOPE_DECODER.decode(json.dumps(body))
    assert f"`$.{field}`" in str(caught.value) or f"field `{field}`" in str(caught.value)

"""Tool-call ids cut to the length OpenAI takes, for every dialect.

The Claude provider packs thinking into its call ids and the Gemini provider its thought
signatures (anthropic/tools.py, gemini/signatures.py), so a conversation that moves to an
OpenAI-kind route may hold ids OpenAI refuses ("string_above_max_length"): over 40
characters in a chat tool call, over 64 in a Responses `call_id`. Such an id becomes a
digest, the same for a call and its result, so they still pair.
"""

from __future__ import annotations

import hashlib

CHAT_MAX = 40  # a Chat Completions tool call id
RESPONSES_MAX = 64  # a Responses `call_id`


def fitted(call_id: str, limit: int) -> str:
    """`call_id` if it fits `limit`, else `call_` and 32 hex digits of its SHA-256."""
    if len(call_id) <= limit:
        return call_id
    return "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:32]

"""Thought signatures carried in tool-call ids, for callers that echo nothing else.

Gemini signs each turn's function calls (`thoughtSignature`, base64) and Gemini 3 refuses a
history whose calls lost it. Chat callers can echo it in `extra_content.google` (the
shape of Google's own OpenAI-compatible endpoint), but a call leaves the Responses and
Messages dialects with nothing but its id (`call_id`, `tool_use.id`), which every client
sends back. So the id carries it too: `call_<hex>_ts_<base64url(signature)>`, in the id
alphabet Anthropic accepts (a session may move to a Claude route), as the Claude provider
packs its thinking into its ids (anthropic/tools.py). Only ids of that exact shape are
read back: other providers' ids never match it.
"""

from __future__ import annotations

import base64
import binascii
import re

_SEPARATOR = "_ts_"
_SIGNED = re.compile(r"^(call_[0-9a-f]+)_ts_([A-Za-z0-9_-]+)$")


def signed_call_id(call_id: str, signature: str | None) -> str:
    """`call_id` carrying `signature` (unchanged without one, or for a signature that is not base64)."""
    if not signature:
        return call_id
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return call_id
    return call_id + _SEPARATOR + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def call_signature(call_id: str) -> str | None:
    """The signature a `signed_call_id` carries, base64 as Gemini sent it; None for any other id."""
    found = _SIGNED.match(call_id)
    if found is None:
        return None
    payload = found.group(2)
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        return None
    return base64.b64encode(raw).decode()

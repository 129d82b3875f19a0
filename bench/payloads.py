"""What the benchmark sends and what it expects back, shared by the fake upstream and the driver.

The fake upstream answers every chat with the same words (`reply_text`), streamed one
word per chunk, so the driver can check that what reached the client is exactly what the
upstream said, whichever route (direct, our gateway, a peer) it went through.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_CHUNKS = 16  # content chunks of one stream (and words of one reply)
EMBED_DIMS = 1536  # as text-embedding-3-small
PROMPT_TOKENS = 42
UPSTREAM_KEY = "sk-bench-upstream"

SYSTEM = "You are a concise assistant. Answer in one short paragraph."
PROMPT = (
    "Summarise the following note for a busy reader. The quarterly report shows revenue up "
    "eight percent on the previous quarter, driven by the new subscription tier; costs rose "
    "three percent, mostly hosting. Churn fell to two percent. The team proposes moving the "
    "analytics service to the shared cluster, hiring two engineers for the data platform, and "
    "retiring the legacy export API at the end of next quarter after notifying customers."
)
EMBED_INPUT = "The quarterly report shows revenue up eight percent on the previous quarter."


def words(n: int) -> list[str]:
    """The words of a reply, one per stream chunk."""
    return [f"w{i} " for i in range(n)]


def reply_text(n: int = DEFAULT_CHUNKS) -> str:
    """The whole text of a reply of `n` words."""
    return "".join(words(n))


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def openai_chat_body(model: str, stream: bool) -> bytes:
    """An OpenAI chat request as an SDK would send it."""
    doc: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
        "temperature": 0.2,
        "max_tokens": 256,
    }
    if stream:
        doc["stream"] = True
    return _dump(doc)


def openai_embed_body(model: str) -> bytes:
    """An OpenAI embeddings request."""
    return _dump({"model": model, "input": EMBED_INPUT, "encoding_format": "float"})


def anthropic_body(model: str, stream: bool) -> bytes:
    """The native Anthropic Messages request equivalent to `openai_chat_body`."""
    doc: dict[str, Any] = {
        "model": model,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": PROMPT}],
        "temperature": 0.2,
        "max_tokens": 256,
    }
    if stream:
        doc["stream"] = True
    return _dump(doc)

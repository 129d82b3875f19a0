"""Reading streamed chunks as the OpenAI SDK returns them (shared by the e2e tests)."""

from __future__ import annotations

from typing import Any


def streamed_text(chunks: list[Any], index: int = 0) -> str:
    """The content of one choice, joined across its chunks."""
    return "".join(
        c.choices[0].delta.content or "" for c in chunks if c.choices and c.choices[0].index == index
    )


def finish_reasons(chunks: list[Any], index: int = 0) -> list[str]:
    """Every finish_reason one choice received (OpenAI sends exactly one)."""
    return [
        c.choices[0].finish_reason
        for c in chunks
        if c.choices and c.choices[0].index == index and c.choices[0].finish_reason is not None
    ]

"""`reasoning_effort` -> Claude's thinking, by the model's `thinking` flag (pure).

Rules (docs/compat-anthropic.md; the flag is `thinking` in the model's config entry):
- "budget" (Claude 4.5 and older): `thinking: {type: enabled, budget_tokens}`, the budget
  taken from `max_tokens` and always leaving `MIN_ANSWER_TOKENS` for the answer
  (Anthropic counts thinking in `max_tokens`, as OpenAI counts reasoning in
  `max_completion_tokens`);
- "adaptive" (Claude 4.6+; the newest models take nothing else): `thinking: {type:
  adaptive}` and `output_config: {effort}`, the model deciding how much to think;
- "none": the model cannot think, so a reasoning_effort other than `none` is a 400.
With thinking on, Anthropic needs the default sampling (temperature 1, top_p >= 0.95).
"""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from gateway.contracts.openai import ChatRequest
from workers.providers.anthropic.schema import (
    OutputConfig,
    Thinking,
    ThinkingAdaptive,
    ThinkingEnabled,
)
from workers.providers.base import ConversionError, Target

# reasoning_effort -> thinking.budget_tokens (Anthropic's minimum budget is 1024).
EFFORT_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
}
# reasoning_effort -> output_config.effort (Anthropic: low, medium, high, xhigh, max; it
# has nothing below low, and `max` has no OpenAI name).
EFFORT_LEVELS: dict[str, str] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
}
MIN_THINKING_BUDGET = 1024
# Tokens always left for the visible answer when thinking shares max_tokens with it.
MIN_ANSWER_TOKENS = 1024


def _effort(req: ChatRequest, target: Target) -> str | None:
    effort = req.reasoning_effort
    if effort in (UNSET, None, "none"):
        return None
    assert isinstance(effort, str)
    if effort not in EFFORT_BUDGETS:
        raise ConversionError(
            f"'reasoning_effort' must be one of none, {', '.join(EFFORT_BUDGETS)}; got {effort!r}.",
            "reasoning_effort",
        )
    if target.options.thinking == "none":
        raise ConversionError(
            f"'reasoning_effort' is not supported by the model '{target.public_model}': it has "
            "no thinking. Omit it or send 'none'.",
            "reasoning_effort",
        )
    return effort


def _budget(req: ChatRequest, effort: str, max_tokens: int) -> ThinkingEnabled:
    budget = min(EFFORT_BUDGETS[effort], max_tokens - MIN_ANSWER_TOKENS)
    if budget < MIN_THINKING_BUDGET:
        param = next(
            (p for p in ("max_completion_tokens", "max_tokens") if isinstance(getattr(req, p), int)),
            "reasoning_effort",
        )
        raise ConversionError(
            f"'reasoning_effort' needs at least {MIN_THINKING_BUDGET + MIN_ANSWER_TOKENS} output "
            f"tokens on Claude models (a thinking budget of {MIN_THINKING_BUDGET} plus the "
            f"answer); the limit is {max_tokens}.",
            param,
        )
    return ThinkingEnabled(budget_tokens=budget)


def _check_sampling(req: ChatRequest) -> None:
    if req.temperature not in (UNSET, None) and req.temperature != 1:
        raise ConversionError(
            "'temperature' cannot be changed together with 'reasoning_effort' on Claude models "
            "(extended thinking needs the default temperature 1).",
            "temperature",
        )
    top_p = req.top_p
    if isinstance(top_p, float | int) and not 0.95 <= top_p <= 1:
        raise ConversionError(
            "'top_p' must be between 0.95 and 1 together with 'reasoning_effort' on Claude models.",
            "top_p",
        )


def to_thinking(
    req: ChatRequest, target: Target, max_tokens: int
) -> tuple[Thinking | None, OutputConfig | UnsetType]:
    """`thinking` and `output_config` for the caller's reasoning_effort (None: no thinking)."""
    effort = _effort(req, target)
    if effort is None:
        return None, UNSET
    if target.options.thinking == "adaptive":
        thinking: Thinking = ThinkingAdaptive()
        output: OutputConfig | UnsetType = OutputConfig(effort=EFFORT_LEVELS[effort])
    else:
        thinking, output = _budget(req, effort, max_tokens), UNSET
    _check_sampling(req)
    return thinking, output

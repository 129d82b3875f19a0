"""Applying a model's parameter rules (gateway/contracts/model_rules.py) to a request body.

The OpenAI provider applies them to the chat body it sends, the Responses pass-through to
the caller's Responses body. A parameter the model refuses is left out and reported by
the caller's own name (for `x-gateway-dropped-params` and the log lines), or, where the
model entry says `drop_params = false`, refused with a 400 naming it. The caller's name
is its own dialect's: a Messages caller sent `thinking`, not `reasoning_effort`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.contracts.model_rules import NEUTRAL, ParamRules
from workers.providers.base import ConversionError, Target

# Chat parameter -> the field a converted dialect's caller set it with.
CALLER_NAMES: dict[str, dict[str, str]] = {
    "messages": {"reasoning_effort": "thinking", "max_completion_tokens": "max_tokens"},
    "responses": {"reasoning_effort": "reasoning.effort", "max_completion_tokens": "max_output_tokens"},
}
OUTPUT_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")


def caller_name(param: str, dialect: str) -> str:
    """What the caller of `dialect` called the chat parameter `param`."""
    return CALLER_NAMES.get(dialect, {}).get(param, param)


def refused_params(doc: Mapping[str, Any], rules: ParamRules, reasoning: str = "reasoning_effort") -> list[str]:
    """The parameters of `doc` the model refuses: a refused sampler (newer models refuse
    `top_p` even at 1), and `reasoning` (the body's reasoning field) on a model that does not reason."""
    out = [p for p in rules.refuses if doc.get(p) is not None]
    if not rules.reasons and doc.get(reasoning) is not None:
        out.append(reasoning)
    return out


def mattered(doc: Mapping[str, Any], params: list[str]) -> list[str]:
    """Those of `params` set to something else than their neutral value: leaving out a
    neutral one (temperature 1, a penalty 0) changes nothing, so it is not reported."""
    return [p for p in params if p not in NEUTRAL or doc[p] != NEUTRAL[p]]


def leave_out(doc: dict[str, Any], params: list[str], target: Target) -> list[str]:
    """`params` removed from `doc`; the caller names of those that mattered, in order.
    With `drop_params = false` the first that mattered is a 400 naming it instead."""
    shown = mattered(doc, params)
    names = [caller_name(p, target.dialect) for p in shown]
    if shown and not target.options.rules.drop_params:
        raise refusal(names[0], doc[shown[0]], target)
    for param in params:
        doc.pop(param, None)
    return names


def refusal(name: str, value: Any, target: Target) -> ConversionError:
    """The 400 for a parameter the model refuses, naming the caller's field."""
    if name in ("reasoning_effort", "thinking", "reasoning.effort", "reasoning"):
        why = "which does not reason"
    else:
        why = f"which accepts only the default value ({NEUTRAL.get(name, 'none')!r})"
    return ConversionError(
        f"'{name}' ({value!r}) is not supported by the model '{target.public_model}', {why}; "
        "omit it.",
        name,
        "unsupported_parameter",
    )


def top_p_left_out(temperature: Any, top_p: Any, target: Target) -> bool:
    """Whether `top_p` is left out: both set, on a model that refuses the pair (rule
    `temperature_with_top_p`: Claude 4.x, which keeps `temperature`); with
    `drop_params = false` a 400 naming `top_p` instead."""
    rules = target.options.rules
    if rules.temperature_with_top_p or temperature is None or top_p is None:
        return False
    if not rules.drop_params:
        raise ConversionError(f"'top_p' cannot be sent together with 'temperature' to the model "
                              f"'{target.public_model}'; send one of them.", "top_p", "unsupported_parameter")
    return True


def may_apply(raw: bytes, target: Target) -> bool:
    """Whether the model's rules may change the chat body `raw` (a byte test: a false
    positive only costs a decode)."""
    rules = target.options.rules
    limits = [f for f in OUTPUT_LIMIT_FIELDS if f != rules.output_limit_field]  # to rename
    if target.dialect != "chat" and target.options.max_output_tokens is not None:
        limits.append(rules.output_limit_field)  # to cap
    names = [*rules.refuses, *(() if rules.reasons else ("reasoning_effort",)), *limits,
             *(("developer",) if rules.roles == "system" else ())]
    return any(f'"{name}"'.encode() in raw for name in names)


def capped(limit: int | None, target: Target) -> int | None:
    """The output limit, capped at the model's `max_output_tokens` when the request was
    converted from another dialect (a client naming one model's limit to another, as
    Claude Code's 32000 or Codex's); a chat caller's own limit goes as sent."""
    cap = target.options.max_output_tokens
    if limit is None or cap is None or target.dialect == "chat":
        return limit
    return min(limit, cap)


def output_limit(doc: dict[str, Any], target: Target) -> None:
    """The output limit in the field the model takes (`max_tokens` or
    `max_completion_tokens`, renamed from the other), `capped`."""
    field = target.options.rules.output_limit_field
    value = next((doc[f] for f in ("max_completion_tokens", "max_tokens") if doc.get(f) is not None), None)
    for name in OUTPUT_LIMIT_FIELDS:
        doc.pop(name, None)
    if value is not None:
        doc[field] = capped(value, target) if isinstance(value, int) else value


def system_for_developer(doc: dict[str, Any], target: Target) -> None:
    """`developer` messages as `system` for a model that takes no developer role."""
    if target.options.rules.roles != "system":
        return
    for message in doc.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "developer":
            message["role"] = "system"


def apply_chat(doc: dict[str, Any], target: Target) -> list[str]:
    """Every rule on a chat body; the caller names of what was left out."""
    output_limit(doc, target)
    system_for_developer(doc, target)
    return leave_out(doc, refused_params(doc, target.options.rules), target)

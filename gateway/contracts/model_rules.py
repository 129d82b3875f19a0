"""What each model family takes of a chat request's parameters: one table, as data.

Upstream models differ in which parameters they accept (issue 20): GPT-5 and o-series
models want `max_completion_tokens` and refuse sampling settings other than the default,
non-reasoning models refuse `reasoning_effort`, Claude 4.x refuses `temperature` and
`top_p` together, Gemini 2.5 Pro cannot turn thinking off. `FAMILIES` says so per family
(glob patterns on the upstream model id, first match wins); a `[[models]]` entry may
override any rule with `rules = {...}` (gateway/contracts/config.py). The resolved
`ParamRules` travel inside `ModelOptions` to the provider, which applies them
(workers/providers/). README "What the gateway adjusts per model" lists every rule.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Literal

import msgspec
from msgspec import Struct

OutputLimitField = Literal["max_tokens", "max_completion_tokens"]
Roles = Literal["developer", "system"]

# Sampling parameters a model may refuse, each with the value every model accepts (the
# API's default): a refusing model is sent the parameter only at that value.
NEUTRAL: dict[str, object] = {
    "temperature": 1,
    "top_p": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logprobs": False,
    "top_logprobs": 0,
}
SAMPLING = tuple(NEUTRAL)


class ParamRules(Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """What one model takes. The defaults are an OpenAI-compatible server's: everything
    passes, and the output limit goes as `max_tokens`, the field every such server reads."""

    # The field the output limit goes in; the other spelling is renamed to it.
    output_limit_field: OutputLimitField = "max_tokens"
    # Sampling parameters (of SAMPLING) the model refuses at any value but the neutral one.
    refuses: tuple[str, ...] = ()
    reasons: bool = True  # `reasoning_effort` accepted (else it is refused like the above)
    thinking_can_be_off: bool = True  # Gemini: False where thinkingBudget 0 is rejected
    temperature_with_top_p: bool = True  # False: Claude 4.x, where `temperature` is kept
    # "system": `developer` messages are sent as `system`. The default for servers the table
    # does not know: vLLM's stock chat templates, strict OpenAI-compatible servers (audit
    # dialects-2026-12-03 finding 4) refuse `developer`; every server takes `system`.
    roles: Roles = "system"
    # A refused parameter is left out (and named in `x-gateway-dropped-params`); False:
    # the request is refused with a 400 naming it.
    drop_params: bool = True


class RulesOverride(Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """`rules = {...}` on a `[[models]]` entry: any rule of `ParamRules`, the rest from the table."""

    output_limit_field: OutputLimitField | None = None
    refuses: tuple[str, ...] | None = None
    reasons: bool | None = None
    thinking_can_be_off: bool | None = None
    temperature_with_top_p: bool | None = None
    roles: Roles | None = None
    drop_params: bool | None = None


_REASONING_OPENAI = ParamRules(output_limit_field="max_completion_tokens", refuses=SAMPLING, roles="developer")
_CHAT_OPENAI = ParamRules(reasons=False, roles="developer")

# (patterns, rules), first match wins; a model matching none takes ParamRules().
FAMILIES: tuple[tuple[tuple[str, ...], ParamRules], ...] = (
    # GPT-5 family and o-series (reasoning models): "Unsupported parameter: 'max_tokens'",
    # and "Only the default (1) value is supported" for temperature and the other samplers.
    # o1-mini and o1-preview also refuse the `developer` role ("does not support 'developer'").
    (("o1-mini*", "o1-preview*"), msgspec.structs.replace(_REASONING_OPENAI, roles="system")),
    (("gpt-5*", "o1*", "o3*", "o4*"), _REASONING_OPENAI),
    # GPT-4-class chat models: no reasoning_effort; max_tokens and sampling as sent.
    (("gpt-4*", "gpt-3.5*", "chatgpt-*"), _CHAT_OPENAI),
    # Claude 4.x (and newer) refuse temperature and top_p together; temperature is kept.
    (("claude-3*",), ParamRules()),
    (("claude-*",), ParamRules(temperature_with_top_p=False)),
    # Gemini 2.5 Pro thinks always: thinkingBudget 0 is rejected (docs/compat-gemini.md).
    (("gemini-2.5-pro*",), ParamRules(thinking_can_be_off=False)),
)


def family_rules(upstream_model: str) -> ParamRules:
    """The table's rules for an upstream model id (the bare id: a `models/` or
    `publisher/` prefix is ignored)."""
    name = upstream_model.rsplit("/", 1)[-1].lower()
    for patterns, rules in FAMILIES:
        if any(fnmatchcase(name, p) for p in patterns):
            return rules
    return ParamRules()


@lru_cache(maxsize=4096)
def resolve_rules(upstream_model: str, *overrides: RulesOverride | None) -> ParamRules:
    """The table's rules for the model, each override's set fields applied in order.

    PERF: every Job resolves them (gateway/dispatch.py); the answer depends only on the
    arguments (frozen, hashable), so it is kept."""
    rules = family_rules(upstream_model)
    for override in overrides:
        if override is None:
            continue
        changes = {f: v for f in override.__struct_fields__ if (v := getattr(override, f)) is not None}
        rules = msgspec.structs.replace(rules, **changes)
    return rules


def unknown_refused(override: RulesOverride) -> list[str]:
    """Names in `refuses` that are not sampling parameters the gateway knows (config errors)."""
    return [p for p in override.refuses or () if p not in NEUTRAL]

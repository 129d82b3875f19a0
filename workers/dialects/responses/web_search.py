"""Codex's default `web_search` tool on a converted route (issue 21).

Codex sends `{"type": "web_search"}` (or `web_search_preview`) in every request unless
told not to. Where the upstream searches itself the tool becomes chat's
`web_search_options`, which the provider turns into its own search: Claude's server web
search tool (any request), Gemini's Google Search grounding (only without function
tools: Gemini's generateContent refuses `googleSearch` beside `functionDeclarations`,
"Tool use with function calling is unsupported"). Elsewhere the model's drop policy
(`drop_params`, gateway/contracts/model_rules.py) decides: left out and named in
`x-gateway-dropped-params`, or a 400 naming `tools[i]`. Other built-in tools
(file_search, ...) are always that 400.
"""

from __future__ import annotations

from workers.providers.base import ConversionError

_FUNCTIONS_ONLY = ("which only OpenAI upstreams serving /responses (a provider with `responses = true`) run; "
                   "this model's route takes function tools.")
_NOT_WITH_FUNCTIONS = ("which this model's route (Gemini) runs only in a request without function tools; "
                       "send it alone, or leave it out.")


def is_web_search(kind: str) -> bool:
    """Whether a built-in tool type is OpenAI's web search (`web_search`, the older
    `web_search_preview`, and their dated versions)."""
    return kind.startswith("web_search") and not kind.endswith("_call")


def built_in_refusal(index: int, kind: str, why: str = _FUNCTIONS_ONLY) -> ConversionError:
    """The 400 for a built-in tool this route cannot run, naming it."""
    return ConversionError(f"tools[{index}] is the built-in tool '{kind}', {why}", f"tools[{index}]",
                           "unsupported_tool")


def searched(web: list[tuple[int, str]], route_kind: str, functions: bool, drop: bool) -> tuple[bool, list[str]]:
    """Whether the upstream is asked to search for the web search tools `web` ((index,
    type) in `tools`), and the caller fields left out (see the module doc)."""
    if not web:
        return False, []
    if route_kind == "anthropic" or (route_kind == "gemini" and not functions):
        return True, []
    if drop:
        return False, [f"tools[{index}]" for index, _ in web]
    index, kind = web[0]
    raise built_in_refusal(index, kind, _NOT_WITH_FUNCTIONS if route_kind == "gemini" else _FUNCTIONS_ONLY)

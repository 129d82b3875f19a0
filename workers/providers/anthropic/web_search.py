"""Chat's `web_search_options` <-> Anthropic's server web search tool (issue 21).

A request with `web_search_options` (the Responses dialect sets it for Codex's
`web_search` tool) offers Claude the server tool `{"type": "web_search_20250305",
"name": "web_search"}`. Claude runs the searches itself and answers with, per search, a
`server_tool_use` block (`input: {"query": ...}`) and a `web_search_tool_result` block
whose `content` is the pages found (`{"type": "web_search_result", "url", "title", ...}`)
or an error object (`{"type": "web_search_tool_result_error", "error_code"}`: no pages).
Each pair becomes one `WebSearch` of the chat answer (gateway/contracts/openai.py); the
text's `web_search_result_location` citations become `url_citation` annotations over
that text block's place in the content.
In a stream the `server_tool_use` block's input arrives as `input_json_delta`s and the
result block comes whole in its `content_block_start`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct

from gateway.contracts.openai import ChatRequest, UrlCitation, UrlCitationAnnotation, WebSearch, WebSource

SEARCH_TOOL_NAME = "web_search"
_QUERY = msgspec.json.Decoder(dict[str, Any])


class WebSearchTool(Struct, tag_field="type", tag="web_search_20250305"):
    """Anthropic's server web search tool, as offered in `tools`."""

    name: str = SEARCH_TOOL_NAME


class ServerToolUseBlock(Struct, tag_field="type", tag="server_tool_use"):
    """A server tool call Claude made (web search, web fetch, code execution...)."""

    id: str
    name: str
    input: dict[str, Any] = {}


class WebSearchToolResultBlock(Struct, tag_field="type", tag="web_search_tool_result"):
    """The pages one web search found (a list), or its error (an object)."""

    tool_use_id: str
    content: Any = None


def wants_search(req: ChatRequest) -> bool:
    """Whether the chat request asks for the upstream's web search."""
    return isinstance(req.web_search_options, dict)


def query_of(inputs: dict[str, Any] | str) -> str:
    """The query of a `server_tool_use` input (the object, or its streamed JSON)."""
    if isinstance(inputs, str):
        try:
            inputs = _QUERY.decode(inputs or "{}")
        except msgspec.DecodeError:
            return ""
    query = inputs.get("query")
    return query if isinstance(query, str) else ""


def to_web_search(block: WebSearchToolResultBlock, query: str) -> WebSearch:
    """One finished search: its query and the pages found (none on an error)."""
    results = block.content if isinstance(block.content, list) else []
    sources = [WebSource(r["url"], r["title"] if isinstance(r.get("title"), str) else msgspec.UNSET)
               for r in results
               if isinstance(r, dict) and r.get("type") == "web_search_result" and isinstance(r.get("url"), str)]
    return WebSearch(id=block.tool_use_id, query=query, sources=sources)


def url_citations(citations: Any, start: int, end: int) -> list[UrlCitationAnnotation]:
    """The web page citations of a text block at `[start, end)` of the content."""
    if not isinstance(citations, list):
        return []
    found = [c for c in citations if isinstance(c, dict) and c.get("type") == "web_search_result_location"
             and isinstance(c.get("url"), str)]
    return [UrlCitationAnnotation(UrlCitation(c["url"], c.get("title") or "", start, end)) for c in found]

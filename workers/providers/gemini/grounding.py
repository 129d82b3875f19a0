"""Chat's `web_search_options` <-> Gemini's Google Search grounding (issue 21).

A request with `web_search_options` (the Responses dialect sets it for Codex's
`web_search` tool) gets the tool `{"googleSearch": {}}`. Gemini searches itself and
reports it on the candidate as `groundingMetadata`: `webSearchQueries` and
`groundingChunks[].web.{uri, title}`. That becomes one `WebSearch` of the chat answer
(gateway/contracts/openai.py): the first query (the Responses `web_search_call` action
holds one) and every page found. In a stream the metadata is reported on the
candidate's last event; the search is sent once, the first time it has pages or queries.
"""

from __future__ import annotations

from gateway.contracts.openai import ChatRequest, WebSearch, WebSource
from workers.providers.base import ReplyContext
from workers.providers.gemini.schema import GroundingMetadata, Tool


def search_tool(req: ChatRequest) -> list[Tool]:
    """Google Search grounding, when the chat request asks for the upstream's web search."""
    return [Tool(google_search={})] if isinstance(req.web_search_options, dict) else []


def to_web_searches(meta: GroundingMetadata | None, ctx: ReplyContext) -> list[WebSearch]:
    """The search a candidate's grounding reports (none without queries or pages)."""
    if meta is None or not (meta.web_search_queries or meta.grounding_chunks):
        return []
    webs = [chunk.web for chunk in meta.grounding_chunks if chunk.web is not None and chunk.web.uri]
    sources = [WebSource(web.uri, web.title) if web.title else WebSource(web.uri) for web in webs]
    query = meta.web_search_queries[0] if meta.web_search_queries else ""
    return [WebSearch(id=ctx.new_id("ws"), query=query, sources=sources)]


"""Chat answers -> the Responses response object: the shell echoing the request, the
output items of a whole completion, usage in Responses' names, and the final status.

A chat `finish_reason` of `length` makes the response `incomplete` with reason
`max_output_tokens`, `content_filter` makes it `incomplete` with reason `content_filter`;
anything else is `completed`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from msgspec import UnsetType

from gateway.contracts.openai import ChatCompletion, UrlCitationAnnotation, Usage, WebSearch
from gateway.contracts.openai_responses import (
    IncompleteDetails,
    InputTokensDetails,
    OutputFunctionCall,
    OutputItem,
    OutputMessage,
    OutputReasoning,
    OutputText,
    OutputTokensDetails,
    OutputWebSearch,
    RefusalContent,
    Response,
    ResponsesRequest,
    ResponseUsage,
    SummaryText,
    WebSearchAction,
    WebSearchSource,
)

NewId = Callable[[str], str]
# The ids of output items made on converted routes carry this after their prefix
# (`rs_gw_...`): no upstream ever stored them, so passthrough.py takes them out of input
# an OpenAI upstream would look them up in (`previous_response_id` across providers).
MINTED = "gw"


def minting(new_id: NewId) -> NewId:
    """`new_id` for output items of converted routes: `<prefix>_gw_<unique>`."""
    return lambda prefix: new_id(f"{prefix}_{MINTED}")


def is_minted(item_id: object) -> bool:
    """True for an id a converted route made (see MINTED)."""
    return isinstance(item_id, str) and item_id.partition("_")[2].startswith(f"{MINTED}_")


def response_shell(req: ResponsesRequest, response_id: str, created: int, model: str) -> Response:
    """The response object before any output: what the request asked for, `in_progress`."""
    reasoning: dict[str, Any] = {"effort": None, "summary": None}
    if req.reasoning is not None and not isinstance(req.reasoning, UnsetType):
        reasoning = {k: v for k, v in msgspec.to_builtins(req.reasoning).items() if k in ("effort", "summary")}
    text: dict[str, Any] = {"format": {"type": "text"}}
    if req.text is not None and not isinstance(req.text, UnsetType) and not isinstance(req.text.format, UnsetType):
        text = {"format": msgspec.to_builtins(req.text.format)}
    return Response(
        id=response_id,
        created_at=created,
        status="in_progress",
        instructions=_value(req.instructions),
        max_output_tokens=_value(req.max_output_tokens),
        model=model,
        parallel_tool_calls=req.parallel_tool_calls is not False,
        previous_response_id=req.previous_id(),
        reasoning=reasoning,
        store=req.is_stored(),
        temperature=_value(req.temperature),
        text=text,
        tool_choice=_value(req.tool_choice) or "auto",
        tools=list(req.tools) if isinstance(req.tools, list) else [],
        top_p=_value(req.top_p),
        user=_value(req.user),
        metadata=req.metadata if isinstance(req.metadata, dict) else {},
    )


def _value(value: Any) -> Any:
    return None if isinstance(value, UnsetType) else value


def to_response_usage(usage: Usage) -> ResponseUsage:
    """Chat usage -> Responses usage (cached input and reasoning output kept)."""
    details = usage.completion_tokens_details
    reasoning = 0 if isinstance(details, UnsetType) else details.reasoning_tokens
    return ResponseUsage(
        input_tokens=usage.prompt_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=usage.cached_tokens()),
        output_tokens=usage.completion_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=reasoning),
        total_tokens=usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
    )


def finish(response: Response, finish_reason: str | None, usage: Usage | None) -> Response:
    """The response at its end: status from the finish reason, and usage."""
    status, details = "completed", None
    if finish_reason == "length":
        status, details = "incomplete", IncompleteDetails("max_output_tokens")
    elif finish_reason == "content_filter":
        status, details = "incomplete", IncompleteDetails("content_filter")
    return msgspec.structs.replace(
        response, status=status, incomplete_details=details,
        usage=to_response_usage(usage) if usage is not None else None,
    )


def from_completion(completion: ChatCompletion, shell: Response, new_id: NewId,
                    namespaces: dict[str, str], usage: Usage) -> Response:
    """A whole chat completion (its first choice) -> the finished response."""
    choice = completion.choices[0] if completion.choices else None
    output: list[OutputItem] = []
    if choice is not None:
        message = choice.message
        if isinstance(message.reasoning_content, str) and message.reasoning_content:
            output.append(OutputReasoning(id=new_id("rs"), summary=[SummaryText(message.reasoning_content)]))
        searches = message.web_searches if isinstance(message.web_searches, list) else []
        output += [web_search_item(new_id("ws"), search) for search in searches]
        parts: list[OutputText | RefusalContent] = []
        if message.content:
            parts.append(OutputText(text=message.content, logprobs=token_logprobs(choice.logprobs),
                                    annotations=url_citations(message.annotations)))
        if message.refusal:
            parts.append(RefusalContent(message.refusal))
        if parts:
            output.append(OutputMessage(id=new_id("msg"), content=parts))
        for call in message.tool_calls if isinstance(message.tool_calls, list) else []:
            output.append(function_call_item(new_id("fc"), call.id, call.function.name, call.function.arguments,
                                             namespaces))
    done = finish(shell, choice.finish_reason if choice else None, usage)
    return msgspec.structs.replace(done, output=output)


def token_logprobs(logprobs: Any) -> list[Any]:
    """A chat choice's `logprobs.content`: per token `{token, logprob, bytes, top_logprobs}`,
    the very shape of a Responses output text's `logprobs` ([] when the upstream sent none)."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    return content if isinstance(content, list) else []


def url_citations(annotations: list[UrlCitationAnnotation] | UnsetType) -> list[Any]:
    """Chat's `url_citation` annotations as an output text's (the same fields, flat)."""
    if isinstance(annotations, UnsetType):
        return []
    return [{"type": "url_citation", **msgspec.to_builtins(a.url_citation)} for a in annotations]


def web_search_item(item_id: str, search: WebSearch) -> OutputWebSearch:
    """The `web_search_call` item of a search the upstream ran (its pages as sources)."""
    sources = [WebSearchSource(source.url) for source in search.sources]
    return OutputWebSearch(id=item_id, action=WebSearchAction(query=search.query, sources=sources))


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, namespaces: dict[str, str],
                       status: str = "completed") -> OutputFunctionCall:
    """One function call output item (with its namespace when its tool came from one)."""
    item = OutputFunctionCall(id=item_id, call_id=call_id, name=name, arguments=arguments, status=status)
    if name in namespaces:
        item.namespace = namespaces[name]
    return item

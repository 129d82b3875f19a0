"""The OpenAPI 3.1 description of the gateway, generated from the schemas that validate.

Every public route registers itself here with one `describe(...)` line beside its resource
(a new resource adds its own lines: `describe("POST", "/v1/messages", "...", request=...)`),
naming the msgspec types its handler decodes and answers with. The document's schemas come
from `msgspec.json.schema_components` over exactly those types, so the description cannot
drift from what is enforced; tests/gateway/test_openapi.py fails when a route the app
serves is not described, and checks that validation and description agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import msgspec

from gateway.contracts.errors import ErrorBody

_REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Operation:
    """One method of one route, as the OpenAPI document shows it."""

    method: str
    path: str
    summary: str
    request: type | None = None  # the JSON body type the handler decodes
    response: type | None = None  # the JSON body of a 200
    stream: type | None = None  # the `data:` payload of a `text/event-stream` 200
    text: str | None = None  # a plain-text 200 (its media type), e.g. Prometheus' format
    auth: bool = True
    tag: str = "openai"
    other: tuple[tuple[int, type], ...] = ()  # other statuses with a JSON body of their own
    error: type = ErrorBody  # the error body (a dialect with its own error shape names its type)


OPERATIONS: dict[tuple[str, str], Operation] = {}


def describe(method: str, path: str, summary: str, **details: Any) -> None:
    """Register one route's method (idempotent; the last registration wins)."""
    operation = Operation(method.upper(), path, summary, **details)
    OPERATIONS[(operation.path, operation.method)] = operation


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(op: Operation, refs: dict[type, dict[str, Any]]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK"}
    content: dict[str, Any] = {}
    if op.response is not None:
        content.update(_json(refs[op.response]))
    if op.stream is not None:
        content["text/event-stream"] = {
            "schema": {"type": "string", "description": "Server-sent events: `data: <JSON>` lines, "
                       "then `data: [DONE]`; an error mid-stream is a `data:` line holding an ErrorBody."},
            "x-sse-data": refs[op.stream],
        }
    if op.text is not None:
        content[op.text] = {"schema": {"type": "string"}}
    if content:
        ok["content"] = content
    responses: dict[str, Any] = {"200": ok}
    for status, body in op.other:
        responses[str(status)] = {"description": f"HTTP {status}", "content": _json(refs[body])}
    responses["default"] = {"description": "An error.", "content": _json(refs[op.error])}
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{op.method.lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', op.path).strip('_')}",
        "tags": [op.tag],
        "responses": responses,
    }
    params = _PATH_PARAM.findall(op.path)
    if params:
        out["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                             for p in params]
    if op.request is not None:
        out["requestBody"] = {"required": True, "content": _json(refs[op.request])}
    out["security"] = [{"bearer": []}, {"apiKey": []}] if op.auth else []
    return out


def _version() -> str:
    try:
        return metadata.version("llm-gateway")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def document(operations: dict[tuple[str, str], Operation] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations` (default: every registered route)."""
    ops = sorted((operations if operations is not None else OPERATIONS).values(), key=lambda o: (o.path, o.method))
    types: list[type] = [ErrorBody]
    for op in ops:
        for t in (op.request, op.response, op.stream, op.error, *(body for _, body in op.other)):
            if t is not None and t not in types:
                types.append(t)
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    refs = dict(zip(types, schemas))
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "llm-gateway", "version": _version(),
                 "description": "An OpenAI-compatible LLM gateway. Generated from the schemas that validate requests."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>`"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
        },
    }

"""GET /openapi.json: every served route described, a valid 3.1 document, and the schemas
it publishes agree with the decoders that enforce them (issue 15)."""

from __future__ import annotations

import json
from typing import Any

import falcon.inspect
import falcon.testing
import jsonschema
import msgspec
import pytest
from openapi_spec_validator import validate

from gateway import openapi
from gateway.contracts.openai import CHAT_REQUEST_DECODER, EMBEDDING_REQUEST_DECODER
from tests.gateway.test_app_errors import client  # noqa: F401 - the app without NATS, as a fixture


@pytest.fixture
def document(client: falcon.testing.TestClient) -> dict[str, Any]:  # noqa: F811
    result = client.simulate_get("/openapi.json")
    assert result.status_code == 200 and result.headers["content-type"].startswith("application/json")
    return dict(result.json)


def served(app: falcon.App[falcon.Request, falcon.Response]) -> set[tuple[str, str]]:
    """(path, method) of every responder the app serves (Falcon's own defaults excluded)."""
    return {(route.path, method.method) for route in falcon.inspect.inspect_routes(app)
            for method in route.methods if not method.internal}


def test_every_route_the_app_serves_is_described_and_nothing_else(
        client: falcon.testing.TestClient, document: dict[str, Any]) -> None:  # noqa: F811
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routes = served(client.app)
    assert ("/v1/chat/completions", "POST") in routes and ("/readyz", "GET") in routes
    assert routes == described


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_the_document_is_what_the_registry_generates(document: dict[str, Any]) -> None:
    assert document == json.loads(msgspec.json.encode(openapi.document()))
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatRequest"}
    assert chat["responses"]["200"]["content"]["text/event-stream"]["x-sse-data"] == {
        "$ref": "#/components/schemas/ChatCompletionChunk"}
    assert document["paths"]["/v1/models/{model_id}"]["get"]["parameters"][0]["name"] == "model_id"
    assert document["paths"]["/healthz"]["get"]["security"] == []
    assert document["paths"]["/v1/embeddings"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]


def request_schema(document: dict[str, Any], path: str) -> jsonschema.protocols.Validator:
    ref = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    root = {**ref, "components": document["components"]}
    return jsonschema.Draft202012Validator(root)


USER = {"role": "user", "content": "hi"}
CHAT_VALID = [
    {"model": "m", "messages": [USER]},
    {"model": "m", "messages": [{"role": "system", "content": "be brief"}, USER], "temperature": 2, "n": 128,
     "stop": ["a", "b", "c", "d"], "stream": True, "stream_options": {"include_usage": True}},
    {"model": "m", "messages": [USER, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"}],
     "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
     "tool_choice": "auto", "max_tokens": None, "seed": -5},
    {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}],
     "response_format": {"type": "json_object"}, "unknown_extra": {"kept": True}},
]
CHAT_INVALID = [
    {"messages": [USER]},  # model missing
    {"model": "m", "messages": []},
    {"model": "m", "messages": [USER], "temperature": 2.5},
    {"model": "m", "messages": [USER], "n": 0},
    {"model": "m", "messages": [USER], "n": 129},
    {"model": "m", "messages": [USER], "stop": ["a", "b", "c", "d", "e"]},
    {"model": "m", "messages": [{"role": "robot", "content": "hi"}]},
    {"model": "m", "messages": [USER], "max_tokens": 2**31},
    {"model": "m", "messages": [USER], "top_p": -0.1},
    {"model": "m", "messages": [USER], "tools": [{"type": "function"}]},
    {"model": 7, "messages": [USER]},
    {"model": "m", "messages": [{"role": "user", "content": [{"type": "video", "url": "x"}]}]},
]
EMBED_VALID = [
    {"model": "e", "input": "text"},
    {"model": "e", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 8},
    {"model": "e", "input": [[1, 2], [3]], "encoding_format": None, "user": None},
]
EMBED_INVALID = [
    {"input": "text"},
    {"model": "e", "input": "t", "encoding_format": "hex"},
    {"model": "e", "input": "t", "dimensions": 0},
    {"model": "e", "input": [-1]},
    {"model": "e", "input": {"text": "t"}},
]


def accepted_by_decoder(decoder: msgspec.json.Decoder[Any], body: dict[str, Any]) -> bool:
    try:
        decoder.decode(json.dumps(body).encode())
        return True
    except msgspec.ValidationError:
        return False


@pytest.mark.parametrize(("path", "decoder", "valid", "invalid"), [
    ("/v1/chat/completions", CHAT_REQUEST_DECODER, CHAT_VALID, CHAT_INVALID),
    ("/v1/embeddings", EMBEDDING_REQUEST_DECODER, EMBED_VALID, EMBED_INVALID),
])
def test_validation_and_description_agree_on_samples(
        document: dict[str, Any], path: str, decoder: msgspec.json.Decoder[Any],
        valid: list[dict[str, Any]], invalid: list[dict[str, Any]]) -> None:
    schema = request_schema(document, path)
    for body in valid:
        assert accepted_by_decoder(decoder, body), body
        assert schema.is_valid(body), body
    for body in invalid:
        assert not accepted_by_decoder(decoder, body), body
        assert not schema.is_valid(body), body


class MessagesBody(msgspec.Struct):
    model: str
    max_tokens: int


class DialectError(msgspec.Struct):
    type: str
    error: dict[str, str]


def test_a_new_route_is_described_by_its_one_registration_line() -> None:
    saved = dict(openapi.OPERATIONS)
    try:
        openapi.describe("POST", "/v1/messages", "Anthropic Messages", request=MessagesBody, error=DialectError)
        document = json.loads(msgspec.json.encode(openapi.document()))
        validate(document)
        post = document["paths"]["/v1/messages"]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/MessagesBody"}
        assert post["responses"]["default"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/DialectError"}
        assert document["components"]["schemas"]["MessagesBody"]["required"] == ["model", "max_tokens"]
    finally:
        openapi.OPERATIONS.clear()
        openapi.OPERATIONS.update(saved)

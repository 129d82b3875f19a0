"""The Gemini wire Structs: camelCase names, defaults never sent, lenient decoding."""

from __future__ import annotations

import msgspec

from gateway.contracts.openai import FunctionCall as OpenAIFunctionCall
from tests.workers.providers.gemini.conftest import fixture_bytes
from workers.providers.gemini.schema import (
    ERROR_DECODER,
    RESPONSE_DECODER,
    Blob,
    Content,
    ErrorBody,
    ExtraContent,
    GenerationConfig,
    GoogleExtra,
    Part,
    Schema,
    SignedToolCall,
    ThinkingConfig,
)


def test_outbound_names_are_camel_case_and_unset_fields_are_omitted() -> None:
    content = Content(
        role="user", parts=[Part(inline_data=Blob(mime_type="image/png", data="AA=="))]
    )
    assert (
        msgspec.json.encode(content)
        == b'{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}],"role":"user"}'
    )
    config = GenerationConfig(
        max_output_tokens=5, thinking_config=ThinkingConfig(thinking_budget=0)
    )
    assert (
        msgspec.json.encode(config)
        == b'{"maxOutputTokens":5,"thinkingConfig":{"thinkingBudget":0}}'
    )


def test_schema_keys_use_geminis_spelling() -> None:
    schema = Schema(
        type="OBJECT", any_of=[Schema(type="STRING")], property_ordering=["a"], min_items=1
    )
    assert (
        msgspec.json.encode(schema)
        == b'{"type":"OBJECT","propertyOrdering":["a"],"anyOf":[{"type":"STRING"}],"minItems":1}'
    )


def test_responses_decode_skipping_unknown_fields() -> None:
    response = RESPONSE_DECODER.decode(fixture_bytes("generate_content_safety.json"))
    assert response.candidates[0].finish_reason == "SAFETY"
    assert response.usage_metadata is not None
    assert response.usage_metadata.candidates_token_count == 5


def test_error_details_read_reason_and_retry_delay() -> None:
    body = ERROR_DECODER.decode(fixture_bytes("error_rate_limited.json"))
    assert isinstance(body, ErrorBody)
    assert [d.type.rsplit(".", 1)[-1] for d in body.error.details] == [
        "QuotaFailure",
        "Help",
        "RetryInfo",
    ]
    assert body.error.details[2].retry_delay == "34.4s"


def test_signed_tool_call_keeps_openais_type_field() -> None:
    call = SignedToolCall(
        id="call_1",
        function=OpenAIFunctionCall(name="f", arguments="{}"),
        extra_content=ExtraContent(google=GoogleExtra(thought_signature="U0lH")),
    )
    # `type` is the tag of OpenAI's tool-call union, so it is encoded first.
    assert msgspec.json.encode(call) == (
        b'{"type":"function","id":"call_1","function":{"name":"f","arguments":"{}"},'
        b'"extra_content":{"google":{"thought_signature":"U0lH"}}}'
    )

"""The Responses schema: what the gateway refuses before publishing (gateway/contracts/openai_responses.py)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from gateway.contracts.bus import response_store_key
from gateway.contracts.errors import APIError
from gateway.contracts.openai_responses import RESPONSES_REQUEST_DECODER, check_request


def check(**body: Any) -> None:
    check_request(RESPONSES_REQUEST_DECODER.decode(json.dumps({"model": "m", **body})))


def refused(**body: Any) -> APIError:
    with pytest.raises(APIError) as caught:
        check(**body)
    assert caught.value.status == 400
    return caught.value


def decoded(**body: Any) -> Any:
    """The checked request as decoded (check_request raises for a refused one)."""
    request = RESPONSES_REQUEST_DECODER.decode(json.dumps({"model": "m", **body}))
    check_request(request)
    return request


def test_well_formed_requests_pass() -> None:
    assert decoded(input="hi").input == "hi"
    items = [{"role": "user", "content": "hi"},
             {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
             {"type": "function_call_output", "call_id": "c", "output": "ok"},
             {"type": "reasoning", "id": "rs", "summary": [], "encrypted_content": "opaque"},
             {"type": "item_reference", "id": "msg_1"}]  # unknown types are the route's to judge
    tools = [{"type": "function", "name": "f"}, {"type": "web_search"}]
    request = decoded(input=items, tools=tools)
    # checked, and passed on byte for byte as sent (kept raw: the route converts them)
    assert [json.loads(bytes(raw)) for raw in request.input] == items
    assert [json.loads(bytes(raw)) for raw in request.tools] == tools
    continued = decoded(previous_response_id="resp_1")  # input may be left out when continuing
    assert (continued.previous_response_id, continued.input) == ("resp_1", msgspec.UNSET)
    # the checker does tell: each of these bodies, one field short of the above, is refused
    assert refused(input=[items[0], {k: v for k, v in items[1].items() if k != "call_id"}]).error.param == "input[1].call_id"
    assert refused(input="hi", tools=[{"type": "function"}]).error.param == "tools[0].name"
    error = refused()
    assert (error.error.code, error.error.param, error.error.message) == (None, "input", "'input' is required.")


def test_a_malformed_item_is_a_400_naming_its_place() -> None:
    assert refused(input=[{"role": "user", "content": "ok"}, {"role": "user"}]).error.param == "input[1].content"
    error = refused(input=[{"role": "user", "content": [{"type": "input_text", "text": 5}]}])
    assert error.error.param == "input[0].content[0].text"
    assert refused(input=[{"type": "function_call", "name": "f", "arguments": "{}"}]).error.param == "input[0].call_id"
    assert refused(input=[{"role": "wizard", "content": "x"}]).error.param == "input[0].role"


def test_a_malformed_tool_is_a_400_naming_it() -> None:
    assert refused(input="x", tools=[{"type": "function"}]).error.param == "tools[0].name"


def test_input_is_required_without_previous_response_id() -> None:
    assert refused().error.param == "input"


def test_background_and_conversation_are_refused() -> None:
    assert refused(input="x", background=True).error.param == "background"
    assert refused(input="x", conversation="conv_1").error.param == "conversation"


def test_typed_fields_are_checked_by_the_decoder() -> None:
    for body, param in (({"max_output_tokens": 0}, "max_output_tokens"), ({"temperature": 3}, "temperature"),
                        ({"text": {"format": {"type": "json_schema"}}}, "text.format.name")):
        with pytest.raises(Exception) as caught:
            RESPONSES_REQUEST_DECODER.decode(json.dumps({"model": "m", "input": "x", **body}))
        assert param.split(".")[-1] in str(caught.value)


def test_store_keys_are_scoped_to_the_api_key_and_refuse_odd_ids() -> None:
    assert response_store_key("key_1", "resp_abc") == "key_1.resp_abc"
    assert response_store_key("key_1", "resp.abc") is None
    assert response_store_key("key_1", "resp_*") is None
    assert response_store_key("key_1", "") is None

"""Typed decoding of request bodies: duplicate top-level keys and nesting (issue 12, 4-5)."""

from __future__ import annotations

import json

import pytest

from gateway.body import NESTING_ACCEPTED, decode, duplicate_top_level_key
from gateway.contracts.errors import APIError
from gateway.contracts.openai import CHAT_REQUEST_DECODER, EMBEDDING_REQUEST_DECODER

MESSAGES = '"messages":[{"role":"user","content":"hi"}]'


@pytest.mark.parametrize(
    "raw",
    [
        '{"model":"nope","model":"echo",%s}' % MESSAGES,
        '{"model":"echo","model":"nope",%s}' % MESSAGES,
        '{"model":"echo",%s,"model":"nope"}' % MESSAGES,
        '{ "model" : "echo" ,\n  %s ,\n  "model" : "echo" }' % MESSAGES,  # same value twice
        '{"\\u006dodel":"nope","model":"echo",%s}' % MESSAGES,  # the same key spelled otherwise
    ],
)
def test_a_top_level_key_given_twice_is_a_400_naming_it(raw: str) -> None:
    with pytest.raises(APIError) as caught:
        decode(CHAT_REQUEST_DECODER, raw.encode())
    error = caught.value.error
    assert caught.value.status == 400
    assert (error.type, error.param, error.code) == ("invalid_request_error", "model", None)
    assert "'model' appears more than once" in error.message


def test_an_unknown_top_level_key_given_twice_is_refused_too() -> None:
    raw = '{"model":"echo",%s,"service_tier":"auto","service_tier":"flex"}' % MESSAGES
    with pytest.raises(APIError) as caught:
        decode(CHAT_REQUEST_DECODER, raw.encode())
    assert caught.value.error.param == "service_tier"


def test_embeddings_refuse_duplicate_keys() -> None:
    with pytest.raises(APIError) as caught:
        decode(EMBEDDING_REQUEST_DECODER, b'{"input":"a","model":"x","input":"b"}')
    assert (caught.value.status, caught.value.error.param) == (400, "input")


@pytest.mark.parametrize(
    "raw",
    [
        '{"model":"echo",%s}' % MESSAGES,
        json.dumps({"model": "echo", "messages": [{"role": "user", "content": "a \"model\": b"}],
                    "metadata": {"model": "x"}, "temperature": 1}, indent=2),
        '{"model":"echo",%s,"x":{"a":1,"a":2},"y":[{"b":1,"b":2}]}' % MESSAGES,  # nested: not ours to judge
        '{"model":"echo",%s,"k\\"ey":1,"k\\\\ey":[],"\\u00e9":null}' % MESSAGES,
        '\t{"model":"echo",%s,"n":12}\r\n' % MESSAGES,
    ],
)
def test_a_normal_body_is_unaffected(raw: str) -> None:
    assert decode(CHAT_REQUEST_DECODER, raw.encode()).model == "echo"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{}", None),
        (b'{"a":1}', None),
        (b'{"a":12,"a":1}', "a"),  # the last value is a prefix of the first
        (b'{"a":1,"a":1}', "a"),
        (b'{"a":{"b":1},"c":2,"a":{"b":1}}', "a"),
        (b'{"\xc3\xa9":1,"\\u00e9":2}', "\u00e9"),
        (b'{"a":"x\\"","b":[1,"]"],"c":{"d":"}"}}', None),
    ],
)
def test_duplicate_top_level_key(raw: bytes, expected: str | None) -> None:
    assert duplicate_top_level_key(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        '{"model":"echo",%s,"future_param":%s}' % (MESSAGES, "[" * 1500 + "]" * 1500),
        '{"model":"echo",%s,"tools":[{"type":"function","function":{"name":"f","parameters":{"x":%s}}}]}'
        % (MESSAGES, "{\"a\":" * 1200 + "1" + "}" * 1200),
        '{"model":"echo","messages":[{"role":"user","content":"hi","extra":%s}]}' % ("[" * 1000 + "]" * 1000),
    ],
)
def test_nesting_too_deep_for_the_decoder_is_a_400(raw: str) -> None:
    with pytest.raises(APIError) as caught:
        decode(CHAT_REQUEST_DECODER, raw.encode())
    assert caught.value.status == 400
    assert (caught.value.error.type, caught.value.error.code) == ("invalid_request_error", None)
    assert "nested too deeply" in caught.value.error.message


def test_nesting_up_to_the_promised_depth_decodes() -> None:
    depth = NESTING_ACCEPTED - 1  # the body's own object is the first level
    raw = '{"model":"echo",%s,"future_param":%s}' % (MESSAGES, "[" * depth + "]" * depth)
    assert decode(CHAT_REQUEST_DECODER, raw.encode()).model == "echo"

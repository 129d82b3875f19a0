"""Responses as sent to an upstream that serves them (workers/dialects/responses/passthrough.py)."""

from __future__ import annotations

import json

import msgspec

from workers.dialects.responses.passthrough import request, upstream_body, with_public_model
from workers.providers.base import Target


def test_the_body_goes_as_sent_with_the_upstream_model() -> None:
    raw = b'{"model":"ours","input":"hi","tools":[{"type":"web_search"}],"include":["x"],"store":false}'
    assert json.loads(upstream_body(raw, "theirs", None)) == {
        "model": "theirs", "input": "hi", "tools": [{"type": "web_search"}], "include": ["x"], "store": False}


def test_a_previous_response_of_ours_is_inlined() -> None:
    raw = b'{"model":"ours","input":"again","previous_response_id":"resp_1"}'
    items = [msgspec.Raw(b'{"role":"user","content":"first"}'), msgspec.Raw(b'{"role":"user","content":"again"}')]
    out = json.loads(upstream_body(raw, "theirs", items))
    assert "previous_response_id" not in out
    assert out["input"] == [{"role": "user", "content": "first"}, {"role": "user", "content": "again"}]


def test_the_response_shows_our_model_and_the_request_goes_to_responses() -> None:
    assert json.loads(with_public_model(b'{"id":"r","model":"theirs","output":[]}', "ours"))["model"] == "ours"
    target = Target(base_url="http://up/v1/", api_key="sk", upstream_model="theirs", public_model="ours")
    req = request(target, b"{}", stream=True)
    assert req.url == "http://up/v1/responses" and req.stream
    assert req.headers["authorization"] == "Bearer sk" and req.headers["accept"] == "text/event-stream"

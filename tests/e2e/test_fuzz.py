"""Issue 12, section 5: generated bodies never get a 5xx from the real pipe.

Hypothesis writes three kinds of bodies and posts them, as raw bytes, to the running
gateway (gunicorn, NATS, a worker with the echo, Anthropic and Gemini conversions and
their fake upstreams): arbitrary JSON (and non-JSON) bodies; near-valid chat bodies, valid
but for up to two parameters that take a wrong type, an out-of-range or huge value or an
unknown shape; and minimal valid bodies with one such parameter. Any answer is fine but a 5xx, or a stream that ends in an internal error; and
neither process may log an unexpected exception.

The run is bounded (`max_examples`) to a few seconds and derandomized, so it is the same
run every time: a failure reproduces, and a change elsewhere cannot turn it red by luck.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import gateway_log
from tests.harness.stack import Stack

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Hundreds of digits, either sign (hypothesis's own integers rarely go past 64 bits).
huge_ints = st.builds(lambda digits, sign: sign * (10**digits - 1), st.integers(20, 420), st.sampled_from([1, -1]))
small_ints = st.integers(min_value=-3, max_value=5)
numbers = st.one_of(small_ints, huge_ints, st.floats(allow_nan=False, allow_infinity=False))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=12))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=16,
)
# Wrong types anywhere: a parameter gets its own kind of value or any JSON at all.
def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(good, good, json_values)


text = st.text(max_size=24)
urls = st.sampled_from(["https://example.com/a.png", "data:image/png;base64,aGk=", "data:,", "data:image/png;base64,!!",
                        "ftp://x", "data:application/pdf;base64,JVBERi0=", ""])
parts = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "input_audio", "file", "refusal", "video"])},
    optional={
        "text": maybe(text),
        "image_url": maybe(st.fixed_dictionaries({"url": urls}, optional={"detail": st.sampled_from(["low", "x"])})),
        "input_audio": maybe(st.fixed_dictionaries({"data": text, "format": st.sampled_from(["wav", "mp3", "x"])})),
        "file": maybe(st.fixed_dictionaries({}, optional={"file_data": urls, "filename": text, "file_id": text})),
        "refusal": text,
    },
)
tool_calls = st.lists(
    st.fixed_dictionaries({"id": maybe(text), "type": st.just("function"),
                           "function": maybe(st.fixed_dictionaries({"name": text, "arguments": maybe(text)}))}),
    max_size=2,
)
messages = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "user", "user", "system", "developer", "assistant", "tool", "bot"]),
     "content": st.one_of(text, text, st.none(), st.lists(parts, max_size=3), json_values)},
    optional={"name": maybe(text), "tool_call_id": maybe(text), "tool_calls": maybe(tool_calls),
              "reasoning_content": maybe(text), "extra": json_values},
)
words = st.text(min_size=1, max_size=24).filter(str.strip)
good_parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": words}),
    st.fixed_dictionaries({"type": st.just("image_url"),
                           "image_url": st.fixed_dictionaries({"url": st.just("data:image/png;base64,aGk=")})}),
)
good_messages = st.one_of(
    st.fixed_dictionaries({"role": st.just("user"), "content": st.one_of(words, st.lists(good_parts, min_size=1, max_size=2))}),
    st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "assistant"]), "content": words}),
)
schemas = st.recursive(
    st.fixed_dictionaries({"type": st.sampled_from(["string", "number", "integer", "boolean", "null", "x"])},
                          optional={"description": text, "enum": st.lists(scalars, max_size=3),
                                    "minimum": numbers, "default": scalars}),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"type": st.just("object"), "properties": st.dictionaries(st.text(max_size=6), inner, max_size=3)},
                              optional={"required": st.lists(st.text(max_size=6), max_size=2),
                                        "additionalProperties": st.booleans()}),
        st.fixed_dictionaries({"type": st.just("array"), "items": inner}),
        st.fixed_dictionaries({"anyOf": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"$ref": st.sampled_from(["#/$defs/a", "#/properties/x", "#"])}),
    ),
    max_leaves=8,
)
tools = st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(["function", "x"]),
                           "function": maybe(st.fixed_dictionaries({"name": maybe(st.text(max_size=10))},
                                                                   optional={"parameters": maybe(schemas),
                                                                             "description": text,
                                                                             "strict": st.booleans()}))}),
    max_size=2,
)
# Each parameter's valid values; a near-valid body is a valid one with up to two
# parameters (or the model / messages) replaced by anything at all.
VALID: dict[str, st.SearchStrategy[Any]] = {
    "stream": st.booleans(),
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    "temperature": st.floats(0, 2), "top_p": st.floats(0, 1),
    "presence_penalty": st.floats(-2, 2), "frequency_penalty": st.floats(-2, 2),
    # NOTE: n stays small: Anthropic has no `n`, the worker makes n calls.
    "n": st.integers(1, 3), "max_tokens": st.integers(1, 5000), "max_completion_tokens": st.integers(1, 5000),
    "seed": st.integers(-(2**63), 2**63 - 1),
    "stop": st.one_of(text, st.lists(text, max_size=4)),
    "tools": tools,
    "tool_choice": st.one_of(st.sampled_from(["none", "auto", "required"]),
                             st.fixed_dictionaries({"type": st.just("function"),
                                                    "function": st.fixed_dictionaries({"name": text})})),
    "parallel_tool_calls": st.booleans(),
    "response_format": st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "json_object", "json_schema"])},
        optional={"json_schema": st.fixed_dictionaries({"name": text}, optional={"schema": schemas})}),
    "logprobs": st.booleans(), "top_logprobs": st.integers(0, 20),
    "logit_bias": st.dictionaries(text, st.floats(-100, 100), max_size=2),
    "reasoning_effort": st.sampled_from(["minimal", "low", "medium", "high"]),
    "user": text, "metadata": st.dictionaries(text, text, max_size=2),
}
wild = st.one_of(huge_ints, numbers, json_values)  # numbers include huge_ints again: the likeliest 500s
# Numeric parameters are drawn more often: their values travel furthest (admission, cost
# estimates, every converter) as numbers.
NUMERIC = ["n", "max_tokens", "max_completion_tokens", "seed", "top_logprobs", "temperature", "top_p"]
broken_keys = st.sampled_from([*VALID, "model", "messages", "future_param", *NUMERIC, *NUMERIC])
wild_params = st.one_of(st.just({}), st.dictionaries(broken_keys, wild, min_size=1, max_size=1),
                        st.dictionaries(broken_keys, wild, min_size=1, max_size=2))


def _near_valid(model: str, history: list[Any], params: dict[str, Any], broken: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, "messages": history, **params, **broken}


chat_bodies = st.builds(
    _near_valid,
    st.sampled_from(["echo", "claude-test", "gemini-test"]),
    # Mostly good messages, now and then an odd one (wrong role, content, parts, fields).
    st.lists(st.one_of(*[good_messages] * 7, messages), min_size=1, max_size=3),
    st.fixed_dictionaries({}, optional=VALID),
    wild_params,
)


# One parameter (or the model, or the messages) set to anything, in a minimal valid body.
one_wild_parameter = st.builds(
    lambda model, key, value: {"model": model, "messages": [{"role": "user", "content": "hi"}], key: value},
    st.sampled_from(["echo", "claude-test", "gemini-test"]), broken_keys, wild,
)


def _encode(value: Any) -> bytes:
    # NOTE: floats are finite here, so this is valid JSON (lone surrogates included, escaped).
    return json.dumps(value).encode()


any_bodies = st.one_of(
    st.binary(max_size=48),
    json_values.map(_encode),
    st.dictionaries(st.sampled_from(["model", "messages", "input", "stream", "n"]) | st.text(max_size=6),
                    json_values, max_size=5).map(_encode),
)


@pytest.fixture(scope="module")
def http(stack: Stack, api_key: str) -> Iterator[httpx.Client]:
    """One keep-alive client to the gateway with a key for every model."""
    with httpx.Client(base_url=stack.base_url, timeout=30,
                      headers={"authorization": f"Bearer {api_key}", "content-type": "application/json"}) as client:
        yield client


def assert_not_5xx(response: httpx.Response, body: bytes) -> None:
    """No 5xx status, and no stream that ends in our own internal error."""
    assert response.status_code < 500, (body[:300], response.status_code, response.text[:500])
    assert "internal_error" not in response.text, (body[:300], response.text[-500:])


@FUZZ
@given(body=any_bodies, path=st.sampled_from(["/chat/completions", "/embeddings"]))
def test_arbitrary_bodies_never_get_a_5xx(http: httpx.Client, body: bytes, path: str) -> None:
    assert_not_5xx(http.post(path, content=body), body)


def test_near_valid_chat_bodies_never_get_a_5xx_and_are_mostly_served(http: httpx.Client) -> None:
    """Near-valid means what it says: besides never a 5xx, a good share got through
    validation and conversion. The share is checked on the statuses of this very run, so it
    cannot pass on an empty list or depend on which tests ran before it."""
    statuses: list[int] = []

    @FUZZ
    @given(body=chat_bodies)
    def post(body: dict[str, Any]) -> None:
        raw = _encode(body)
        response = http.post("/chat/completions", content=raw)
        assert_not_5xx(response, raw)
        statuses.append(response.status_code)

    post()
    assert len(statuses) == FUZZ.max_examples, len(statuses)
    served = sum(1 for status in statuses if status == 200)
    assert served >= len(statuses) // 6, sorted(statuses)


@FUZZ
@given(body=one_wild_parameter)
def test_one_wild_parameter_never_gets_a_5xx(http: httpx.Client, body: dict[str, Any]) -> None:
    raw = _encode(body)
    assert_not_5xx(http.post("/chat/completions", content=raw), raw)


def test_no_process_logged_an_unexpected_exception(stack: Stack) -> None:
    """Runs after the fuzz tests above (file order): the 500 handlers stayed unused."""
    assert "unhandled_exception" not in gateway_log(stack)
    assert "job_failed" not in next(p for p in stack.procs if p.name == "worker").log_text()


"""Issue 19: a dialect is one spec in the route table; nothing else changes to serve it.

The toy dialect below is shaped like Gemini's own API: the model comes from the URL path,
the key from its own header or `?key=` (never `Authorization`), errors in its own body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import falcon
import falcon.testing
import msgspec
import pytest

from gateway.admission import Gate
from gateway.app import create_app
from gateway.auth import OPENAI_KEYS, KeySource
from gateway.budget import Budget
from gateway.bus_client import Bridge
from gateway.contracts.bus import Job, KeyRecord, Result
from gateway.contracts.config import parse
from gateway.contracts.errors import APIError
from gateway.contracts.log import Logger
from gateway.dialects import DialectSpec, Summary
from gateway.dialects.table import DIALECTS
from gateway.keycache import KeyCache
from gateway.limits import RateLimiter
from gateway.relay import Relay
from gateway.runtime.keys import hash_secret
from gateway.runtime.pricing import Pricer

CONFIG = parse("""
[providers.echo]
kind = "echo"
[[models]]
id = "echo"
provider = "echo"
""")
SECRET = "sk-gw-toy"


class ToyRequest(msgspec.Struct, forbid_unknown_fields=True):
    prompt: str
    stream: bool = False


def toy_summary(body: ToyRequest, req: falcon.Request, fields: Mapping[str, str]) -> Summary:
    return Summary(fields["model"], body.stream or fields["method"] == "streamGenerate")


def toy_error(ex: APIError) -> bytes:
    return json.dumps({"toy_error": {"status": ex.status, "reason": ex.error.code, "text": ex.error.message}}).encode()


TOY = DialectSpec(name="toy", routes=("/v1toy/models/{model}:{method}",), decoder=msgspec.json.Decoder(ToyRequest),
                  summary=toy_summary, keys=KeySource(bearer=False, headers=("x-toy-key",), query="key"),
                  error_shape=toy_error, job_fields=lambda req: {"anthropic_beta": req.get_header("x-toy-flag") or ""})


@pytest.fixture
def client() -> falcon.testing.TestClient:
    log = Logger("test", stream=open("/dev/null", "w"))
    keys = KeyCache(log)
    keys.remember(hash_secret(SECRET), KeyRecord(id="k1", name="t", hash=hash_secret(SECRET), models=["echo"]))
    bridge = Bridge("nats://127.0.0.1:1", log)
    gate = Gate(Budget(bridge, Pricer(CONFIG.models, log), log, 60.0), RateLimiter(bridge, log))
    app = create_app(CONFIG, bridge, keys, lambda h: None, gate, log, dialects=(*DIALECTS, TOY))
    return falcon.testing.TestClient(app)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[Job]:
    """The jobs the relay was given; each answered at once (no NATS in these tests)."""
    jobs: list[Job] = []

    def respond(self: Relay, resp: falcon.Response, job: Job, subject: str, on_end: Any = None,
                *args: Any, **kwargs: Any) -> None:
        jobs.append(job)
        if on_end is not None:
            on_end(None)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = Result(b'{"ok":true}').data

    monkeypatch.setattr(Relay, "respond", respond)
    return jobs


def toy_error_of(result: falcon.testing.Result) -> dict[str, Any]:
    assert result.headers["content-type"].startswith("application/json")
    body = json.loads(result.text)
    assert set(body) == {"toy_error"}
    return dict(body["toy_error"])


def test_a_new_dialect_reads_its_key_where_its_clients_send_it(client: falcon.testing.TestClient) -> None:
    path = "/v1toy/models/echo:generate"
    missing = client.simulate_post(path, headers={"authorization": f"Bearer {SECRET}"}, json={"prompt": "x"})
    assert missing.status_code == 401
    error = toy_error_of(missing)
    assert error["reason"] == "invalid_api_key"
    assert error["text"] == "Missing API key: send it as 'x-toy-key: <key>' or '?key=<key>'."
    wrong = client.simulate_post(path, params={"key": "sk-nope"}, json={"prompt": "x"})
    assert wrong.status_code == 401 and toy_error_of(wrong)["text"] == "Incorrect API key provided."


def test_a_new_dialect_takes_the_model_from_its_path_and_answers_errors_in_its_shape(
        client: falcon.testing.TestClient) -> None:
    unknown = client.simulate_post("/v1toy/models/nope:generate", headers={"x-toy-key": SECRET}, json={"prompt": "x"})
    assert unknown.status_code == 404 and toy_error_of(unknown)["reason"] == "model_not_found"
    bad = client.simulate_post("/v1toy/models/echo:generate", params={"key": SECRET}, json={"prompt": 1})
    assert bad.status_code == 400 and "prompt" in toy_error_of(bad)["text"]


def test_a_new_dialect_is_dispatched_as_its_own_job(client: falcon.testing.TestClient, published: list[Job]) -> None:
    result = client.simulate_post("/v1toy/models/echo:streamGenerate", params={"key": SECRET},
                                  headers={"x-toy-flag": "on"}, body=b'{"prompt":"hi"}')
    assert result.status_code == 200 and result.json == {"ok": True}
    assert result.headers["x-gateway-route"] == "echo/echo" and result.headers["x-gateway-attempts"] == "1"
    [job] = published
    assert (job.dialect, job.op, job.model, job.provider, job.stream) == ("toy", "chat", "echo", "echo", True)
    assert job.body == b'{"prompt":"hi"}' and job.key_id == "k1" and job.anthropic_beta == "on"


def test_the_other_dialects_are_served_unchanged_beside_it(client: falcon.testing.TestClient,
                                                           published: list[Job]) -> None:
    body = {"model": "echo", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5}
    chat = client.simulate_post("/v1/chat/completions", headers={"authorization": f"Bearer {SECRET}"}, json=body)
    messages = client.simulate_post("/v1/messages", headers={"x-api-key": SECRET, "anthropic-beta": "b1"}, json=body)
    assert chat.status_code == messages.status_code == 200
    assert [(j.dialect, j.anthropic_beta) for j in published] == [("chat", ""), ("messages", "b1")]
    anthropic = client.simulate_post("/v1/messages", headers={"x-api-key": SECRET}, json={"model": "echo"})
    assert anthropic.status_code == 400 and json.loads(anthropic.text)["type"] == "error"


def test_the_default_key_source_names_both_openai_ways() -> None:
    assert OPENAI_KEYS.missing() == ("Missing API key: send it as 'Authorization: Bearer <key>' "
                                     "or 'x-api-key: <key>'.")

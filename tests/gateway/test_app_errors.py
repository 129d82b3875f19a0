"""The gateway's error shape without NATS: auth, body, routing and Falcon's own errors."""

from __future__ import annotations

import json

import falcon.testing
import pytest

from gateway.admission import Gate
from gateway.app import create_app
from gateway.budget import Budget
from gateway.limits import RateLimiter
from gateway.bus_client import Bridge
from gateway.contracts.bus import KeyRecord
from gateway.contracts.config import parse
from gateway.contracts.log import Logger
from gateway.keycache import KeyCache
from gateway.runtime.keys import hash_secret
from gateway.runtime.pricing import Pricer

CONFIG = parse("""
[gateway]
max_body_bytes = 2048
[providers.echo]
kind = "echo"
[[models]]
id = "echo"
provider = "echo"
[[models]]
id = "other"
provider = "echo"
""")
SECRET = "sk-gw-test"


@pytest.fixture
def client() -> falcon.testing.TestClient:
    log = Logger("test", stream=open("/dev/null", "w"))
    keys = KeyCache(log)
    keys.remember(hash_secret(SECRET), KeyRecord(id="k1", name="t", hash=hash_secret(SECRET), models=["echo"]))
    bridge = Bridge("nats://127.0.0.1:1", log)
    gate = Gate(Budget(bridge, Pricer(CONFIG.models, log), log, 60.0), RateLimiter(bridge, log))
    app = create_app(CONFIG, bridge, keys, lambda h: None, gate, log)
    return falcon.testing.TestClient(app)


def error_of(result: falcon.testing.Result) -> dict:
    assert result.headers["content-type"].startswith("application/json")
    return json.loads(result.text)["error"]


AUTH = {"authorization": f"Bearer {SECRET}"}


def test_unknown_path_is_404_in_openai_shape_even_for_sse_clients(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/v2/whatever", headers={"accept": "text/event-stream"})
    assert result.status_code == 404
    assert error_of(result)["code"] == "not_found"


def test_wrong_method_is_405(client: falcon.testing.TestClient) -> None:
    result = client.simulate_delete("/v1/chat/completions", headers=AUTH)
    assert result.status_code == 405 and error_of(result)["code"] == "method_not_allowed"
    assert result.headers["allow"] == "POST, OPTIONS"  # issue 14.7: RFC 9110 asks for it


def test_content_length_over_the_limit_is_413_before_reading(client: falcon.testing.TestClient) -> None:
    result = client.simulate_post("/v1/chat/completions", headers={**AUTH, "content-length": "999999"}, body=b"{}")
    assert result.status_code == 413 and error_of(result)["code"] == "request_too_large"


def test_missing_key_is_401(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/v1/models")
    assert result.status_code == 401 and error_of(result)["code"] == "invalid_api_key"


def test_x_api_key_header_and_model_listing(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/v1/models", headers={"x-api-key": SECRET})
    assert result.status_code == 200
    assert [m["id"] for m in result.json["data"]] == ["echo"]
    assert result.headers["x-request-id"].startswith("req_")


def test_403_and_404_models(client: falcon.testing.TestClient) -> None:
    body = {"messages": [{"role": "user", "content": "x"}]}
    forbidden = client.simulate_post("/v1/chat/completions", headers=AUTH, json={**body, "model": "other"})
    assert forbidden.status_code == 403 and error_of(forbidden)["code"] == "model_not_allowed"
    missing = client.simulate_post("/v1/chat/completions", headers=AUTH, json={**body, "model": "nope"})
    assert missing.status_code == 404 and error_of(missing)["code"] == "model_not_found"


def test_unexpected_exception_is_a_logged_500(client: falcon.testing.TestClient) -> None:
    class Boom:
        def on_get(self, req: object, resp: object) -> None:
            raise RuntimeError("bug")

    client.app.add_route("/boom", Boom())
    result = client.simulate_get("/boom")
    assert result.status_code == 500 and error_of(result)["code"] == "internal_error"
    assert result.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("models", [("nope", "echo"), ("echo", "nope")])
@pytest.mark.parametrize(
    ("path", "rest"),
    [("/v1/chat/completions", '"messages":[{"role":"user","content":"x"}]'), ("/v1/embeddings", '"input":"x"'),
     ("/v1/responses", '"input":"x"')],
)
def test_a_key_given_twice_at_the_top_level_is_a_400_naming_it(
    client: falcon.testing.TestClient, models: tuple[str, str], path: str, rest: str
) -> None:
    body = '{"model":"%s","model":"%s",%s}' % (*models, rest)
    result = client.simulate_post(path, headers={**AUTH, "content-type": "application/json"}, body=body)
    assert result.status_code == 400
    error = error_of(result)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", "model", None)
    assert "'model' appears more than once" in error["message"]


def test_a_malformed_responses_item_is_a_400_naming_it_before_anything_is_published(
    client: falcon.testing.TestClient,
) -> None:
    body = {"model": "echo", "input": [{"role": "user", "content": [{"type": "input_text"}]}]}
    result = client.simulate_post("/v1/responses", headers=AUTH, json=body)
    assert result.status_code == 400
    assert error_of(result)["param"] == "input[0].content[0].text"


def test_stored_responses_need_a_key(client: falcon.testing.TestClient) -> None:
    for method in (client.simulate_get, client.simulate_delete):
        result = method("/v1/responses/resp_1")
        assert result.status_code == 401 and error_of(result)["code"] == "invalid_api_key"


def test_probes_need_no_key_and_readyz_says_what_is_missing(client: falcon.testing.TestClient) -> None:
    assert client.simulate_get("/healthz").json == {"status": "alive"}
    result = client.simulate_get("/readyz")
    assert result.status_code == 503
    assert result.json["status"] == "not_ready" and "nats: not connected" in result.json["not_ready"]
    assert client.simulate_get("/health").status_code == 503

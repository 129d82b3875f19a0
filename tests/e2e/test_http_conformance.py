"""HTTP conformance of the gateway (issue 14, item 7), with raw sockets and httpx.

gunicorn's own refusals in OpenAI's shape, `Allow` on 405, chunked request bodies, CORS,
and SSE keep-alive comments only while the upstream is silent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import FAKE_KEY
from tests.e2e.rawhttp import exchange, request, connect, start_module_gateway
from tests.fakes.openai import FakeOpenAI
from tests.harness.procs import Proc, wait_until
from tests.harness.stack import Stack

ORIGIN = "https://app.example"


def _chunked(body: bytes, piece: int = 7) -> bytes:
    out = b""
    for i in range(0, len(body), piece):
        part = body[i : i + piece]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n\r\n"


def _assert_openai_error(response_status: int, body: bytes, status: int, code: str) -> dict[str, object]:
    assert response_status == status, body[:300]
    error = json.loads(body)["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}
    return dict(error)


# ---------------------------------------------------------------- gunicorn's own errors


def test_too_many_header_fields_is_431_in_openai_shape(stack: Stack) -> None:
    headers = {f"X-Filler-{i}": "x" for i in range(101)}  # gunicorn allows 100
    response = exchange(stack.gateway_port, request("GET", "/v1/models", headers))
    assert response.headers["content-type"] == "application/json"
    error = _assert_openai_error(response.status, response.body, 431, "request_headers_too_large")
    assert str(error["message"]).startswith("Request header fields too large")


def test_a_header_field_too_large_is_431(stack: Stack) -> None:
    response = exchange(stack.gateway_port, request("GET", "/v1/models", {"X-Big": "y" * 9000}))
    _assert_openai_error(response.status, response.body, 431, "request_headers_too_large")


def test_a_request_line_too_long_is_414(stack: Stack) -> None:
    response = exchange(stack.gateway_port, request("GET", "/v1/models?q=" + "a" * 5000))
    _assert_openai_error(response.status, response.body, 414, "request_line_too_long")


def test_a_malformed_request_line_is_400(stack: Stack) -> None:
    response = exchange(stack.gateway_port, b"HELLO THERE\r\n\r\n")
    assert response.headers["content-type"] == "application/json"
    error = _assert_openai_error(response.status, response.body, 400, "invalid_http_request")
    assert "<html>" not in str(error["message"])


# ---------------------------------------------------------------- 405


def test_405_carries_allow(stack: Stack, api_key: str) -> None:
    response = httpx.get(f"{stack.base_url}/chat/completions", headers={"authorization": f"Bearer {api_key}"})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["allow"].split(",")} >= {"POST", "OPTIONS"}
    assert "GET" not in response.headers["allow"]


# ---------------------------------------------------------------- chunked request bodies


def test_a_chunked_body_is_accepted(stack: Stack, api_key: str) -> None:
    body = json.dumps({"model": "echo", "messages": [{"role": "user", "content": "sent in chunks"}]}).encode()
    response = exchange(stack.gateway_port, request("POST", "/v1/chat/completions", {
        "Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
        "Transfer-Encoding": "chunked"}, _chunked(body)))
    assert response.status == 200, response.body[:300]
    assert response.json()["choices"][0]["message"]["content"] == "sent in chunks"


def test_a_chunked_body_over_the_limit_is_413_without_reading_it_all(stack: Stack, api_key: str) -> None:
    # The session gateway's max_body_bytes is 65,536; the caller would send 10 MB.
    head = request("POST", "/v1/chat/completions", {
        "Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
        "Transfer-Encoding": "chunked"})
    with connect(stack.gateway_port) as sock:
        sock.sendall(head)
        piece = b'{"model": "echo", "pad": "' + b"x" * 16_000
        sent = 0
        sock.settimeout(0.05)
        response_bytes = b""
        while sent < 10_000_000 and b"\r\n\r\n" not in response_bytes:
            try:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
            except TimeoutError:
                pass  # the gateway stopped reading: its buffers are full
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                response_bytes += sock.recv(65536)
            except TimeoutError:
                pass
        sock.settimeout(5)
        while b"\r\n\r\n" not in response_bytes or not response_bytes.rstrip().endswith(b"}"):
            more = sock.recv(65536)
            if not more:
                break
            response_bytes += more
    assert sent < 1_000_000, "the gateway kept reading a body far over its limit"
    status = int(response_bytes.split(b" ", 2)[1])
    body = response_bytes.partition(b"\r\n\r\n")[2]
    _assert_openai_error(status, body, 413, "request_too_large")


def test_a_malformed_chunked_body_is_400_not_500(stack: Stack, api_key: str) -> None:
    response = exchange(stack.gateway_port, request("POST", "/v1/chat/completions", {
        "Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
        "Transfer-Encoding": "chunked"}, b"zz\r\n{}\r\n0\r\n\r\n"))
    _assert_openai_error(response.status, response.body, 400, "invalid_http_request")


# ---------------------------------------------------------------- CORS


def _preflight(port: int, origin: str) -> httpx.Response:
    return httpx.options(f"http://127.0.0.1:{port}/v1/chat/completions", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})


def test_cors_is_off_by_default(stack: Stack, api_key: str) -> None:
    response = _preflight(stack.gateway_port, ORIGIN)
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    reply = httpx.get(f"{stack.base_url}/models", headers={"authorization": f"Bearer {api_key}", "origin": ORIGIN})
    assert reply.status_code == 200
    assert not [h for h in reply.headers if h.lower().startswith("access-control-")]


HB_WORKER = """
[workers]
heartbeat_s = 2.0

[providers.hb]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 30
"""
HB_MODEL = """
[[models]]
id = "gpt-hb"
provider = "hb"
"""
HEARTBEAT_S = 2.0


@pytest.fixture(scope="module")
def http_gateway(stack: Stack, fake_openai: FakeOpenAI) -> Iterator[int]:
    """A gateway allowing one CORS origin, and a worker beating every 2 s for `gpt-hb`."""
    worker_config = stack.write_config(
        "worker-slowbeat.toml", HB_WORKER.format(fake=fake_openai.url) + HB_MODEL)
    worker = stack.start_worker(worker_config, name="worker-slowbeat", providers=["hb"], FAKE_OPENAI_KEY=FAKE_KEY)
    extra = HB_WORKER.split("[providers.hb]")[1].format(fake=fake_openai.url)
    gateway = start_module_gateway(stack, fake_openai, "gateway-http", f'cors_origins = ["{ORIGIN}"]',
                                   more="[providers.hb]" + extra + HB_MODEL,
                                   # NOTE: the gateway takes a worker silent for 2.5 of ITS
                                   # heartbeats as lost, so it must know the slow beat
                                   heartbeat_s=HEARTBEAT_S)
    yield gateway.port
    stack.stop(gateway)
    stack.stop(worker)


def test_a_preflight_from_an_allowed_origin_is_answered(http_gateway: int) -> None:
    response = _preflight(http_gateway, ORIGIN)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "authorization, content-type"
    assert int(response.headers["access-control-max-age"]) > 0
    assert "origin" in response.headers.get("vary", "").lower()


def test_a_preflight_from_another_origin_gets_no_cors_headers(http_gateway: int) -> None:
    response = _preflight(http_gateway, "https://evil.example")
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_responses_to_an_allowed_origin_carry_cors_headers_errors_included(http_gateway: int, api_key: str) -> None:
    url = f"http://127.0.0.1:{http_gateway}/v1/chat/completions"
    body = {"model": "echo", "messages": [{"role": "user", "content": "from a browser"}]}
    ok = httpx.post(url, json=body, headers={"authorization": f"Bearer {api_key}", "origin": ORIGIN})
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "from a browser"
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in ok.headers["access-control-expose-headers"]
    refused = httpx.post(url, json=body, headers={"origin": ORIGIN})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.post(url, json=body, headers={"authorization": f"Bearer {api_key}", "origin": "https://evil.example"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


# ---------------------------------------------------------------- keep-alive comments


def _cancel_time(proc: Proc, request_id: str) -> float:
    for line in proc.log_text().splitlines():
        if line.startswith("{") and request_id in line and '"cancel_sent"' in line:
            return float(json.loads(line)["ts"])
    raise AssertionError("no cancel_sent")


def test_a_silent_upstreams_client_leaving_is_noticed_within_one_heartbeat(
    stack: Stack, http_gateway: int, api_key: str
) -> None:
    body = json.dumps({"model": "gpt-hb", "stream": True,
                       "messages": [{"role": "user", "content": "#scenario stall 15"}]}).encode()
    with connect(http_gateway, timeout=20) as sock:
        sock.sendall(request("POST", "/v1/chat/completions", {
            "Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}, body))
        received = b""
        while b"\r\n: keep-alive\n\n" not in received:  # silent after two chunks: a comment
            piece = sock.recv(65536)
            assert piece, received
            received += piece
        closed_at = time.time()
    request_id = next(line.split(":", 1)[1].strip() for line in received.decode().split("\r\n")
                      if line.lower().startswith("x-request-id:"))
    gateway = next(p for p in stack.procs if p.name == "gateway-http")
    wait_until(lambda: f'"{request_id}"' in gateway.log_text() and "cancel_sent" in gateway.log_text(),
               3 * HEARTBEAT_S + 5, "the gateway cancelling the job")
    # The next heartbeat after the close finds the client gone; writing it would only fail
    # one heartbeat later still (the first write after a close succeeds).
    assert _cancel_time(gateway, request_id) - closed_at < HEARTBEAT_S + 0.9


def test_keep_alive_comments_only_while_the_upstream_is_silent(http_gateway: int, api_key: str) -> None:
    # The worker beats every 2 s; slow_stream sends a chunk every 0.2 s.
    body = {"model": "gpt-hb", "stream": True, "messages": [{"role": "user", "content": "#scenario slow_stream"}]}
    lines = []
    with httpx.Client(timeout=10) as http:
        with http.stream("POST", f"http://127.0.0.1:{http_gateway}/v1/chat/completions", json=body,
                         headers={"authorization": f"Bearer {api_key}"}) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                lines.append(line)
                if sum(1 for x in lines if x.startswith("data: ")) >= 26:  # about 5 s: 2 heartbeats
                    break
    assert [x for x in lines if x.startswith(":")] == []
    assert len([x for x in lines if x.startswith("data: {")]) >= 26

"""The attempts before the first byte: deployments, retries with backoff, fallbacks (issue 16)."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from gateway.attempts import ROUTES_CACHED, Attempts, attempt_id, failure_kind
from gateway.balancer import LoadBoard
from gateway.contracts.bus import COOLDOWN_DECODER, cooldown_key
from gateway.contracts.config import Deployment, ModelConfig, RoutingSettings, parse
from gateway.contracts.errors import APIError, OpenAIError, invalid_request, model_unavailable, no_worker, upstream_error
from gateway.contracts.log import Logger
from gateway.cooldowns import Cooldowns

CONFIG = parse("""
[providers.a]
kind = "echo"
[providers.b]
kind = "echo"
[providers.c]
kind = "echo"
[[models]]
id = "multi"
deployments = [{ provider = "a", weight = 1 }, { provider = "b", weight = 1 }]
fallbacks = ["single"]
[[models]]
id = "single"
provider = "c"
""")
MODELS = {m.id: m for m in CONFIG.models}


def rate_limited(retry_after: str | None) -> APIError:
    return APIError(429, OpenAIError("slow down", "rate_limit_error", None, "rate_limit_exceeded"), retry_after)


def server_error() -> APIError:
    return upstream_error("openai upstream error (500): boom")


@dataclass
class Clock:
    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Upstreams:
    """What each deployment answers, in turn; records every attempt."""

    script: dict[str, list[APIError | None]]
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    ends: list[Callable[[], None]] = field(default_factory=list)

    def __call__(self, model: ModelConfig, deployment: Deployment, request_id: str,
                 done: Callable[[], None]) -> None:
        self.calls.append((model.id, deployment.name, request_id))
        self.ends.append(done)
        answers = self.script.get(deployment.name) or [None]
        outcome = answers.pop(0) if len(answers) > 1 else answers[0]
        if outcome is not None:
            raise outcome


def make(settings: RoutingSettings | None = None) -> tuple[Attempts, Clock, list[bytes]]:
    clock = Clock()
    published: list[bytes] = []
    settings = settings or RoutingSettings()
    log = Logger("test", io.StringIO())
    cooldowns = Cooldowns(settings, lambda subject, data: published.append(data), log, clock)
    attempts = Attempts(settings, cooldowns, LoadBoard(1.0, log, clock), log, clock, clock.sleep,
                        random.Random(7))
    return attempts, clock, published


def run(attempts: Attempts, upstreams: Upstreams, *models: str) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    attempts.run("req", [MODELS[m] for m in models], upstreams, lambda route, n: seen.append((route, n)))
    return seen


def test_attempt_ids_are_derived_from_the_request_id() -> None:
    assert [attempt_id("req", 0, 0), attempt_id("req", 0, 2), attempt_id("req", 1, 0), attempt_id("req", 2, 1)] == [
        "req", "req-r2", "req-f1", "req-f2-r1"]


def test_what_is_retried() -> None:
    assert failure_kind(rate_limited("1")) == "retry"
    assert failure_kind(server_error()) == "retry"
    assert failure_kind(APIError(504, OpenAIError("t", "timeout_error", None, "upstream_timeout"))) == "retry"
    assert failure_kind(no_worker("none")) == "switch"
    assert failure_kind(APIError(502, OpenAIError("k", "upstream_error", None, "upstream_auth_error"))) == "switch"
    assert failure_kind(invalid_request("bad", "messages")) is None
    assert failure_kind(APIError(429, OpenAIError("q", "insufficient_quota", None, "insufficient_quota"))) is None


def test_a_failed_deployment_is_followed_by_another_at_once() -> None:
    attempts, clock, _ = make()
    upstreams = Upstreams({"a": [server_error()], "b": [server_error()]})
    with pytest.raises(APIError):
        run(attempts, upstreams, "multi")
    names = [c[1] for c in upstreams.calls]
    # both deployments first, without waiting; then a backoff before the same one again
    assert sorted(names[:2]) == ["a", "b"] and len(names) == 3
    assert len(clock.slept) == 1 and 0.125 <= clock.slept[0] <= 1.0
    assert [c[2] for c in upstreams.calls] == ["req", "req-r1", "req-r2"]


def test_success_on_the_other_deployment_costs_one_fast_retry() -> None:
    attempts, clock, _ = make()
    for _ in range(20):
        upstreams = Upstreams({"a": [APIError(502, OpenAIError("refused", "upstream_error", None,
                                                                "upstream_unreachable"))]})
        seen = run(attempts, upstreams, "multi")
        assert len(upstreams.calls) <= 2 and seen[-1][0] == "multi/b"
    assert clock.slept == []


def test_retry_after_is_honoured_within_the_budget_and_not_beyond() -> None:
    attempts, clock, _ = make(RoutingSettings(retry_budget_s=5))
    upstreams = Upstreams({"c": [rate_limited("2"), None]})
    seen = run(attempts, upstreams, "single")
    assert clock.slept == [2.0] and seen == [("single/c", 1), ("single/c", 2)]
    attempts, clock, _ = make(RoutingSettings(retry_budget_s=5))
    upstreams = Upstreams({"c": [rate_limited("7")]})
    with pytest.raises(APIError) as ex:
        run(attempts, upstreams, "single")
    assert ex.value.status == 429 and ex.value.retry_after == "7" and clock.slept == [] and len(upstreams.calls) == 1


def test_the_retry_count_is_a_limit() -> None:
    attempts, clock, _ = make(RoutingSettings(retries=1, retry_budget_s=100))
    upstreams = Upstreams({"c": [server_error()]})
    with pytest.raises(APIError):
        run(attempts, upstreams, "single")
    assert len(upstreams.calls) == 2


def test_caller_errors_are_neither_retried_nor_fallen_back_from() -> None:
    attempts, _, _ = make()
    upstreams = Upstreams({"a": [invalid_request("bad", "messages")], "b": [invalid_request("bad", "messages")]})
    with pytest.raises(APIError) as ex:
        run(attempts, upstreams, "multi", "single")
    assert ex.value.status == 400 and len(upstreams.calls) == 1


def test_a_model_without_its_secret_is_neither_retried_nor_cooled_but_falls_back() -> None:
    attempts, clock, published = make(RoutingSettings(retries=3, retry_budget_s=100))
    missing = model_unavailable("single", "c", "C_KEY")
    upstreams = Upstreams({"c": [missing], "a": [missing], "b": [missing]})
    with pytest.raises(APIError) as ex:
        run(attempts, upstreams, "single")
    assert (ex.value.status, ex.value.error.code) == (404, "model_unavailable")
    assert len(upstreams.calls) == 1 and published == [] and clock.slept == []
    upstreams = Upstreams({"a": [missing], "b": [missing]})
    seen = run(attempts, upstreams, "multi", "single")
    assert [c[2] for c in upstreams.calls] == ["req", "req-f1"]  # the other model answered
    assert seen[-1] == ("single/c", 2) and published == []


def test_fallbacks_follow_the_models_retries_under_their_own_ids() -> None:
    attempts, _, _ = make(RoutingSettings(retries=1))
    upstreams = Upstreams({"a": [server_error()], "b": [server_error()]})
    seen = run(attempts, upstreams, "multi", "single")
    assert [c[2] for c in upstreams.calls] == ["req", "req-r1", "req-f1"]
    assert seen[-1] == ("single/c", 3)


def test_a_rate_limited_deployment_is_cooled_for_every_process_and_skipped() -> None:
    attempts, clock, published = make()
    upstreams = Upstreams({"a": [rate_limited("30"), None], "b": [None]})
    run(attempts, upstreams, "multi")
    while upstreams.calls[0][1] != "a":  # until the draw tried `a` first
        upstreams.calls.clear()
        run(attempts, upstreams, "multi")
    record = COOLDOWN_DECODER.decode(published[-1])
    assert (record.provider, record.reason, record.until) == ("a", "rate_limited", clock.now + 30)
    upstreams.calls.clear()
    for _ in range(20):
        run(attempts, upstreams, "multi")
    assert {c[1] for c in upstreams.calls} == {"b"}
    clock.now += 31  # cooled down: one probe, and after its success, traffic again
    upstreams.calls.clear()
    for _ in range(40):
        run(attempts, upstreams, "multi")
    assert 10 < sum(c[1] == "a" for c in upstreams.calls) < 30


def test_when_every_deployment_cools_the_fallback_answers_or_a_503() -> None:
    attempts, _, _ = make(RoutingSettings(cooldown_failures=1))
    upstreams = Upstreams({"a": [server_error()], "b": [server_error()]})
    run(attempts, upstreams, "multi", "single")
    upstreams.calls.clear()
    seen = run(attempts, upstreams, "multi", "single")
    assert upstreams.calls == [("single", "c", "req-f1")] and seen == [("single/c", 1)]
    with pytest.raises(APIError) as ex:
        run(attempts, upstreams, "multi")
    assert ex.value.status == 503 and ex.value.error.code == "deployments_cooling_down"
    assert ex.value.retry_after == "30"


def test_a_single_deployment_is_never_skipped() -> None:
    attempts, _, published = make(RoutingSettings(cooldown_failures=1, retries=0))
    upstreams = Upstreams({"c": [server_error(), None]})
    with pytest.raises(APIError):
        run(attempts, upstreams, "single")
    assert published  # its failures still cool it for models that have other deployments
    run(attempts, upstreams, "single")
    assert len(upstreams.calls) == 2


def test_weights_are_respected() -> None:
    config = parse("""
[providers.a]
kind = "echo"
[providers.b]
kind = "echo"
[[models]]
id = "w"
deployments = [{ provider = "a", weight = 3 }, { provider = "b", weight = 1, upstream = "other", name = "bee" }]
""")
    attempts, _, _ = make()
    upstreams = Upstreams({})
    for _ in range(2000):
        attempts.run("r", config.models, upstreams, lambda route, n: None)
    share = sum(c[1] == "a" for c in upstreams.calls) / 2000
    assert 0.72 < share < 0.78
    assert cooldown_key("b", "other") != cooldown_key("a", "other")


def test_without_the_bus_nothing_is_retried_or_cooled() -> None:
    settings = RoutingSettings(cooldown_failures=1)
    clock = Clock()
    published: list[bytes] = []
    log = Logger("test", io.StringIO())
    cooldowns = Cooldowns(settings, lambda subject, data: published.append(data), log, clock)
    attempts = Attempts(settings, cooldowns, LoadBoard(1.0, log, clock), log, clock, clock.sleep,
                        random.Random(7), bus_ready=lambda: False)
    upstreams = Upstreams({"a": [no_worker("not connected")], "b": [no_worker("not connected")]})
    with pytest.raises(APIError) as ex:
        run(attempts, upstreams, "multi", "single")
    assert ex.value.status == 503 and len(upstreams.calls) == 1 and published == []


def test_attempts_count_in_flight_until_the_response_ends() -> None:
    attempts, _, _ = make()
    board = attempts._board
    upstreams = Upstreams({"a": [server_error()], "b": [None]})
    while True:  # until a draw tried `a` (failing) before `b`
        upstreams.calls.clear()
        upstreams.ends.clear()
        run(attempts, upstreams, "multi")
        if len(upstreams.calls) == 2:
            break
        upstreams.ends[0]()  # `b` answered first: end that response and draw again
    a, b = attempts.routes(MODELS["multi"])
    # the failed attempts ended at once; the one that answered is in flight until it ends
    assert board.in_flight(a) + board.in_flight(b) == 1
    for end in upstreams.ends:
        end()
        end()  # once only
    assert board.in_flight(a) == 0 and board.in_flight(b) == 0


def test_the_routes_cache_is_bounded_as_wildcard_entries_serve_made_up_ids() -> None:
    # Issue 21: `claude-*` serves any id a caller sends; each is a model of its own.
    attempts, _, _ = make()
    wildcard = ModelConfig(id="made-up-*", provider="a")
    for n in range(ROUTES_CACHED + 50):
        [route] = attempts.routes(wildcard.serving(f"made-up-{n}"))
        assert (route.provider, route.upstream) == ("a", f"made-up-{n}")
    assert len(attempts._routes) == ROUTES_CACHED

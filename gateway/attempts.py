"""The attempts of one request before its first byte: deployments, retries, fallbacks (issue 16).

For the model, then each of its `fallbacks` (those the key may use), in order:
- pick a deployment among the healthy ones (gateway/balancer.py; cooling ones skipped,
  see gateway/cooldowns.py) and dispatch;
- on a failure another deployment might not have (upstream 429, 5xx, unreachable,
  timeout; no worker; our credentials refused), try a healthy deployment this request
  has not tried yet at once, else the same one again after a jittered exponential backoff,
  no shorter than the upstream's `retry-after`; at most `[routing] retries` extra attempts
  per model, and none starting later than `retry_budget_s` after the request arrived
  (a `retry-after` that does not fit the budget ends the model's attempts at once);
- then the next fallback model, which always gets its first attempt.
An attempt that produced output never comes back here: a failure after the first byte
ends the stream (gateway/relay.py). Each attempt runs under its own request id, derived
from the caller's (`<id>`, `<id>-r1`, `<id>-f1`, `<id>-f1-r2`, ...), so whatever one
attempt spent is billed once, under that id, and never de-duplicated against another.

Cooldowns steer traffic between a model's deployments: with one deployment there is
nothing to steer to, so its own answer (its `retry-after` included) is what the caller
gets, and its failures still count towards the deployment's shared cooldown.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

import gevent

from gateway.balancer import LoadBoard, pick
from gateway.contracts.bus import cooldown_key
from gateway.contracts.config import Deployment, ModelConfig, RoutingSettings
from gateway.contracts.errors import APIError, deployments_cooling
from gateway.contracts.log import Logger
from gateway.cooldowns import Cooldowns, parse_retry_after

# Raises APIError when the attempt failed before any output; returns once output started,
# and then calls its last argument once the response has ended (for the in-flight count).
Dispatch = Callable[[ModelConfig, Deployment, str, Callable[[], None]], None]
# Told of each attempt before it starts: the route (`<model>/<deployment>`) and attempt number.
OnAttempt = Callable[[str, int], None]

ROUTES_CACHED = 1024  # models whose deployments are kept computed (configured ones: a few dozen)
RETRY = "retry"  # the same deployment may answer next time
SWITCH = "switch"  # this deployment will not (no worker, our credentials): others only
_SWITCH_CODES = frozenset({"upstream_auth_error", "upstream_config_error"})


def failure_kind(ex: APIError) -> str | None:
    """How a failure before the first byte may be retried; None: not at all (the caller's)."""
    if ex.status == 429:
        return RETRY if ex.error.code == "rate_limit_exceeded" else None
    if ex.status == 503:
        return SWITCH
    if ex.status == 502:
        return SWITCH if ex.error.code in _SWITCH_CODES else RETRY
    if ex.status == 504:
        return RETRY
    return None


def falls_back(ex: APIError) -> bool:
    """Whether the next fallback model may be tried after `ex`. A model whose provider
    lacks its secret (`model_unavailable`) is neither retried nor cooled down (our own
    configuration, not the deployment's health: failure_kind says None) but another model may
    still answer."""
    return failure_kind(ex) is not None or ex.error.code == "model_unavailable"


def attempt_id(request_id: str, model_index: int, retry: int) -> str:
    """The billing id of one attempt: fallback model index `-f<k>`, retry `-r<n>`."""
    out = request_id if model_index == 0 else f"{request_id}-f{model_index}"
    return out if retry == 0 else f"{out}-r{retry}"


class Attempts:
    """Runs one request's attempts (see the module docstring)."""

    def __init__(self, settings: RoutingSettings, cooldowns: Cooldowns, board: LoadBoard, log: Logger,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = gevent.sleep,
                 rng: random.Random | None = None, bus_ready: Callable[[], bool] = lambda: True) -> None:
        self._settings = settings
        # NOTE: while this process has no NATS connection every attempt fails alike: that
        # says nothing about the deployments, so it neither cools them nor is retried.
        self._bus_ready = bus_ready
        self._cooldowns = cooldowns
        self._board = board
        self._log = log
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._routes: dict[str, list[Deployment]] = {}

    def run(self, request_id: str, models: Sequence[ModelConfig], dispatch: Dispatch, on_attempt: OnAttempt) -> None:
        """Attempt `models` in order until one produces output; raises the last failure."""
        budget_end = self._clock() + self._settings.retry_budget_s
        counter = [0]
        for index, model in enumerate(models):
            try:
                self._model(request_id, index, model, dispatch, on_attempt, budget_end, counter)
                return
            except APIError as ex:
                if index == len(models) - 1 or not falls_back(ex) or not self._bus_ready():
                    raise
                self._log.info("fallback", request_id=request_id, model=model.id, status=ex.status,
                               next_model=models[index + 1].id)

    def routes(self, model: ModelConfig) -> list[Deployment]:
        """The model's deployments (computed once per model)."""
        routes = self._routes.get(model.id)
        if routes is None:
            routes = model.routes()
            # Bounded: a wildcard entry (`claude-*`) serves any id a caller makes up.
            if len(self._routes) < ROUTES_CACHED:
                self._routes[model.id] = routes
        return routes

    def _model(self, request_id: str, index: int, model: ModelConfig, dispatch: Dispatch, on_attempt: OnAttempt,
               budget_end: float, counter: list[int]) -> None:
        routes = self.routes(model)
        shared = len(routes) > 1  # cooldowns apply only where there is somewhere else to go
        excluded: set[str] = set()
        tried: set[str] = set()
        waits: dict[str, float] = {}
        last: APIError | None = None
        for retry in range(self._settings.retries + 1):
            healthy = [d for d in routes if d.name not in excluded
                       and (not shared or self._cooldowns.available(cooldown_key(d.provider, d.upstream)))]
            if not healthy:
                break
            fresh = [d for d in healthy if d.name not in tried]
            choice = pick(model.routing, fresh or healthy, self._board, self._rng)
            if retry > 0:
                wait = 0.0 if fresh else max(self._backoff(retry), waits.get(choice.name, 0.0))
                if self._clock() + wait > budget_end:
                    break
                if wait > 0:
                    self._sleep(wait)
            key = cooldown_key(choice.provider, choice.upstream)
            if shared:
                self._cooldowns.picked(key)
            done = self._in_flight(choice)
            counter[0] += 1
            on_attempt(f"{model.id}/{choice.name}", counter[0])
            try:
                dispatch(model, choice, attempt_id(request_id, index, retry), done)
            except APIError as ex:
                done()
                kind = failure_kind(ex)
                if kind is None or not self._bus_ready():
                    raise
                last = ex
                retry_after = parse_retry_after(ex.retry_after)
                self._cooldowns.failed(choice.provider, choice.upstream, ex.status, retry_after)
                tried.add(choice.name)
                if kind == SWITCH:
                    excluded.add(choice.name)
                if retry_after is not None and ex.status == 429:
                    waits[choice.name] = retry_after
                self._log.info("attempt_failed", request_id=request_id, model=model.id, deployment=choice.name,
                               status=ex.status, code=ex.error.code)
                continue
            except BaseException:
                done()
                raise
            self._cooldowns.succeeded(key)
            return
        if last is not None:
            raise last
        soonest = min(self._cooldowns.seconds_left(cooldown_key(d.provider, d.upstream)) for d in routes)
        raise deployments_cooling(model.id, soonest)

    def _in_flight(self, deployment: Deployment) -> Callable[[], None]:
        """Count a request to `deployment` as in flight; the returned callable ends it (once)."""
        self._board.picked(deployment)
        ended = False

        def done() -> None:
            nonlocal ended
            if not ended:
                ended = True
                self._board.finished(deployment)

        return done

    def _backoff(self, retry: int) -> float:
        """Exponential from `backoff_base_s`, capped, with half of it jittered."""
        ceiling = min(self._settings.backoff_max_s, self._settings.backoff_base_s * 2.0 ** (retry - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

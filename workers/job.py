"""One job's context: the route it runs on, the Target the provider converts for, and
the Outcome it ends with (what it spent, how it ended, what to bill)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from gateway.contracts.bus import Job
from gateway.contracts.config import ProviderConfig
from gateway.contracts.errors import model_unavailable, upstream_error
from gateway.contracts.openai import Usage
from gateway.contracts.redact import MIN_SECRET_CHARS, Redactor
from gateway.runtime.estimate import tokens_from_chars
from workers.providers.base import Provider, ReplyContext, Target
from workers.upstream import Upstream


@dataclass(slots=True)
class Route:
    """A provider this worker serves: its conversion, its upstream and its settings."""

    name: str
    provider: Provider
    upstream: Upstream
    config: ProviderConfig


@dataclass(slots=True)
class Outcome:
    """What a job spent and how it ended."""

    usage: Usage = field(default_factory=Usage)
    estimated: bool = False
    status: str = "ok"
    error_code: str | None = None
    # For billing when the upstream reported nothing (cancelled, cut, or silent upstream):
    upstream_working: bool = False  # a request went out and was not refused
    prompt_estimate: int = 0
    # Characters streamed (text, reasoning, tool calls) by choices whose upstream never
    # reported an output count: a cut stream, or an upstream that reports no usage.
    unreported_chars: int = 0
    # The upstream's HTTP error status (or the code of a failure without one), for metrics.
    upstream_status: str | None = None
    # Parameters the model refuses, left out by the provider (the caller's names).
    dropped: tuple[str, ...] = ()

    def billable_usage(self) -> tuple[Usage, bool]:
        """The usage to bill and whether it is (partly) an estimate.

        The upstream's own count when it gave one. When it gave none (a cancelled or cut
        request, or an upstream that reports no usage) but was working on the request (so
        it bills us), an estimate from the prompt and the text streamed; the output of
        stream choices cut before their count came is estimated the same way and added to
        the output the other choices reported.
        """
        usage, estimated = self.usage, self.estimated
        if not (usage.total_tokens or usage.prompt_tokens):
            if self.status != "ok" and not self.upstream_working:
                return usage, estimated
            usage = Usage(prompt_tokens=self.prompt_estimate)
            estimated = True
        if self.unreported_chars:
            completion = usage.completion_tokens + tokens_from_chars(self.unreported_chars)
            usage = Usage(
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=completion,
                total_tokens=usage.prompt_tokens + completion,
                prompt_tokens_details=usage.prompt_tokens_details,
            )
            estimated = True
        elif not usage.total_tokens:
            usage = Usage(prompt_tokens=usage.prompt_tokens, total_tokens=usage.prompt_tokens)
        return usage, estimated


def new_id(prefix: str) -> str:
    """A unique id such as `call_3f2a...`."""
    return f"{prefix}_{secrets.token_hex(12)}"


def provider_redactor(routes: dict[str, Route]) -> Redactor:
    """A redactor of every provider key this worker holds (read from the environment)."""
    return Redactor(route.config.api_key() for route in routes.values())


def placeholder_keys(routes: dict[str, Route]) -> list[tuple[str, str]]:
    """(provider, variable) of each provider whose key is too short to be a secret
    (gateway/contracts/redact.py MIN_SECRET_CHARS): it is not scrubbed from text."""
    short = []
    for route in routes.values():
        key = route.config.api_key()
        if key is not None and len(key.strip()) < MIN_SECRET_CHARS:
            short.append((route.name, route.config.api_key_env))
    return short


def missing_variable(route: Route) -> str | None:
    """The variable `route`'s provider takes its secret from, when it is unset or empty."""
    if route.config.api_key_env and route.config.api_key() is None:
        return route.config.api_key_env
    return None


def missing_secrets(routes: dict[str, Route]) -> dict[str, str]:
    """provider -> the variable it lacks, for each of `routes` whose secret is unset."""
    return {name: v for name, route in routes.items() if (v := missing_variable(route)) is not None}


def resolve(routes: dict[str, Route], job: Job) -> tuple[Route, Target]:
    """The route `job` runs on and the Target its provider converts for.

    The one place a Target is built from a Job's per-model settings.
    """
    route = routes.get(job.provider)
    if route is None:
        raise upstream_error(f"this worker does not serve provider '{job.provider}'")
    api_key = route.config.api_key()
    if route.config.api_key_env and api_key is None:
        raise model_unavailable(job.model, route.name, route.config.api_key_env)
    target = Target(
        base_url=route.config.base_url,
        api_key=api_key,
        upstream_model=job.upstream_model,
        public_model=job.model,
        options=job.options,
        dialect=job.dialect,
    )
    return route, target


def reply_context(job: Job, created: int, index: int) -> ReplyContext:
    """What a provider's converter names one choice of `job`'s answer with."""
    return ReplyContext(
        completion_id=f"chatcmpl-{job.request_id}",
        created=created,
        model=job.model,
        new_id=new_id,
        choice_index=index,
    )

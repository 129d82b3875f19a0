"""The TOML config shared by every process (`GATEWAY_CONFIG`, default `gateway.toml`).

Unknown keys are errors: a typo in an operator's config must fail loudly at start-up,
not silently fall back to a default. Provider `kind` stays a plain string here; workers
check that they can load it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from gateway.contracts.environment import DEFAULT_CONFIG_FILE, environment, secret
from gateway.contracts.model_rules import ParamRules, RulesOverride, resolve_rules, unknown_refused

KINDS_NEEDING_MAX_OUTPUT = ("anthropic",)


def is_pattern(text: str) -> bool:
    """Whether a model id or alias is a glob pattern (`claude-*`)."""
    return any(ch in text for ch in "*?[")


class GatewaySettings(Struct, forbid_unknown_fields=True, kw_only=True):
    """`[gateway]`: limits and timeouts of the public front end."""

    max_body_bytes: Annotated[int, Meta(ge=1024)] = 8 * 1024 * 1024
    # Overall deadline of one request (non-stream wait, or a whole stream).
    request_timeout_s: Annotated[float, Meta(gt=0)] = 600.0
    # Longest silence (no frame, heartbeats included) before the worker is presumed dead.
    idle_timeout_s: Annotated[float, Meta(gt=0)] = 30.0
    # Unknown-key lookups per second per process (a flood of wrong keys stays cheap).
    key_lookups_per_s: Annotated[float, Meta(gt=0)] = 20.0
    key_miss_ttl_s: Annotated[float, Meta(ge=0)] = 2.0
    # -- HTTP connections (issue 14, items 2 and 7); README "Config" ------------------------
    # From accepting a connection (or from the first byte of a later request on a kept-alive
    # one) to the end of the request headers; slower clients are disconnected unanswered.
    header_timeout_s: Annotated[float, Meta(gt=0)] = 10.0
    # From the end of the headers to the end of the body, however it is framed; slower
    # bodies get a 408 and the connection is closed.
    body_timeout_s: Annotated[float, Meta(gt=0)] = 30.0
    # How long a kept-alive connection may wait, idle, for its next request. Longer than
    # the idle timeouts of common load balancers (60 s), as gunicorn's own default.
    keepalive_timeout_s: Annotated[float, Meta(gt=0)] = 75.0
    # Open connections per gateway process; the next ones get a 503 at once.
    max_connections: Annotated[int, Meta(ge=1)] = 4096
    # Origins allowed to call from a browser (CORS); empty: no CORS headers at all.
    cors_origins: list[str] = []
    # -- end of HTTP connections ------------------------------------------------------------
    # SIGTERM: requests in flight may finish for this long; the rest are cut (issue 14, item 6).
    shutdown_grace_s: Annotated[float, Meta(ge=0)] = 25.0
    # List models whose provider's secret the workers lack (they answer 404 model_unavailable).
    list_unavailable_models: bool = False


class WorkerSettings(Struct, forbid_unknown_fields=True, kw_only=True):
    """`[workers]`: behaviour of worker processes."""

    heartbeat_s: Annotated[float, Meta(gt=0)] = 5.0
    # Per provider and worker process (a provider's own `max_concurrent_jobs` overrides):
    # one slow provider cannot take the slots of the others (issue 14, item 5).
    max_concurrent_jobs: Annotated[int, Meta(ge=1)] = 1024
    # Jobs waiting (with heartbeats) for a slot, per provider; past it: 503 worker_busy at once.
    max_queued_jobs: Annotated[int, Meta(ge=0)] = 1024
    # SIGTERM: running jobs may finish for this long; the rest are cut and billed as such.
    shutdown_grace_s: Annotated[float, Meta(ge=0)] = 30.0


class LedgerSettings(Struct, forbid_unknown_fields=True, kw_only=True):
    """`[ledger]`: the billing database and its consumer."""

    database: str = "ledger.sqlite3"  # relative paths are under GATEWAY_DATA_DIR
    batch_size: Annotated[int, Meta(ge=1, le=10_000)] = 256
    # Unacknowledged events are redelivered after this long (a crashed ledger's batch).
    ack_wait_s: Annotated[float, Meta(ge=1)] = 10.0


class ResponsesSettings(Struct, forbid_unknown_fields=True, kw_only=True):
    """`[responses]`: stored responses of `/v1/responses` (`store: true`)."""

    # How long a stored response can be continued or fetched (the bucket's max age; set
    # when the bucket is first made). OpenAI keeps them 30 days.
    store_ttl_s: Annotated[float, Meta(gt=0)] = 30 * 24 * 3600.0


class ProviderConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """`[providers.<name>]`: one upstream account."""

    kind: str
    base_url: str = ""
    api_key_env: str = ""
    timeout_s: Annotated[float, Meta(gt=0)] = 600.0
    connect_timeout_s: Annotated[float, Meta(gt=0)] = 10.0
    max_connections: Annotated[int, Meta(ge=1)] = 1000
    # openai kind only: the upstream serves `/responses`, so `/v1/responses` requests go
    # there as sent (pass-through) instead of converted to chat completions.
    responses: bool = False
    # This provider's job slots and queue per worker process; None: the `[workers]` defaults.
    max_concurrent_jobs: Annotated[int, Meta(ge=1)] | None = None
    max_queued_jobs: Annotated[int, Meta(ge=0)] | None = None

    def api_key(self) -> str | None:
        """The provider's secret from the environment, or None when unset."""
        if not self.api_key_env:
            return None
        return secret(self.api_key_env)


class Price(Struct, forbid_unknown_fields=True, kw_only=True):
    """USD per 1M tokens."""

    input: Annotated[float, Meta(ge=0)] = 0.0
    output: Annotated[float, Meta(ge=0)] = 0.0
    cached_input: Annotated[float, Meta(ge=0)] | None = None
    # Prompt tokens written to the provider's cache (Anthropic: 1.25x input); None = input.
    cache_write_input: Annotated[float, Meta(ge=0)] | None = None


# ---------------------------------------------------------------- Gemini model flags
# What one Gemini model accepts, where Gemini versions differ (issue 11, items 10 and 12).
# Set per model entry: `gemini = { thinking_can_be_off = false }`. Other providers'
# per-model flags live in blocks of their own.


class GeminiModelFlags(Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """`gemini = {...}` on a `[[models]]` entry of a gemini provider."""

    # False where thinking cannot be turned off (Gemini 2.5 Pro rejects thinkingBudget 0):
    # `reasoning_effort: "none"` then sends no budget and the model thinks as it must.
    # None: the model rules' table says (gateway/contracts/model_rules.py), where the
    # resolved value lives (`ModelOptions.rules.thinking_can_be_off`); this key overrides it.
    thinking_can_be_off: bool | None = None
    # True where function calling combines with a JSON response (Gemini 3); Gemini 2.x
    # rejects `tools` with `response_format` JSON, so the gateway refuses the pair (400).
    tools_with_json_response: bool = False


# ---------------------------------------------------------------- per-model options
# What a provider needs to know of its model entry, built from the `[[models]]` entry
# (ModelConfig.options()) and carried whole in the Job and the worker's Target, so an
# option added here reaches every provider without crossing more files.

ThinkingFlag = Literal["budget", "adaptive", "none"]
PromptCacheFlag = Literal["off", "auto"]


class ModelOptions(Struct, kw_only=True, frozen=True):
    """A model entry's options for its provider (README's `[[models]]` example)."""

    max_output_tokens: int | None = None
    gemini: GeminiModelFlags = msgspec.field(default_factory=GeminiModelFlags)  # defaults if unset
    thinking: ThinkingFlag = "budget"  # Claude: how reasoning_effort is expressed
    prompt_cache: PromptCacheFlag = "off"  # Claude: "auto" places cache breakpoints
    # What the model takes of a request's parameters: the family table's rules with the
    # entry's `rules` (and legacy flags) applied (gateway/contracts/model_rules.py).
    rules: ParamRules = msgspec.field(default_factory=ParamRules)


# ---------------------------------------------------------------- routing (issue 16)
# Several deployments per model, retries before the first byte, shared cooldowns.
# README "Routing" describes each setting.


class Deployment(Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One place a model is served: a provider entry (its own base_url and secret), the
    upstream's model id there, and its share of the traffic."""

    provider: str
    upstream: str = ""  # default: the model's `upstream` (else its id)
    weight: Annotated[float, Meta(gt=0)] = 1.0
    name: str = ""  # shown in `x-gateway-route` and billing; default: the provider's name


class RoutingSettings(Struct, forbid_unknown_fields=True, kw_only=True):
    """`[routing]`: retries and cooldowns, for every model."""

    # Extra attempts per model before the first byte (another deployment, or the same
    # one after a backoff); the model's fallbacks come after them.
    retries: Annotated[int, Meta(ge=0, le=10)] = 2
    # No new attempt starts later than this after the request arrived.
    retry_budget_s: Annotated[float, Meta(ge=0)] = 10.0
    backoff_base_s: Annotated[float, Meta(ge=0)] = 0.25  # doubled per retry, full jitter
    backoff_max_s: Annotated[float, Meta(ge=0)] = 4.0
    # A deployment failing this many times within the window cools for cooldown_s;
    # a 429 with retry-after cools it for that long (at most max_cooldown_s).
    cooldown_failures: Annotated[int, Meta(ge=1)] = 3
    cooldown_window_s: Annotated[float, Meta(gt=0)] = 30.0
    cooldown_s: Annotated[float, Meta(gt=0)] = 30.0
    max_cooldown_s: Annotated[float, Meta(gt=0)] = 600.0
    # Once cooled down, a deployment gets one request per this interval (per gateway
    # process) until one succeeds.
    probe_interval_s: Annotated[float, Meta(gt=0)] = 1.0
    # How often workers report their in-flight counts and latencies (least_busy, latency).
    load_report_s: Annotated[float, Meta(gt=0)] = 1.0


# ---------------------------------------------------------------- metrics


class MetricsSettings(Struct, forbid_unknown_fields=True, kw_only=True):
    """`[metrics]`: what the Prometheus metrics of every process may show."""

    # Label series by key *name* (never the secret): one series per key can be many series.
    key_names: bool = False


# ---------------------------------------------------------------- models


class ModelConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """`[[models]]`: one public model id and where it goes.

    An `id` that is a glob (`claude-*`) makes a wildcard entry: it serves every model id
    that matches and is not configured otherwise, sending that id upstream as asked
    (`serving`); README "Wildcard models".
    """

    id: str
    provider: str = ""  # one deployment (the short form); else `deployments`
    upstream: str = ""
    owned_by: str = ""
    kind: Literal["chat", "embedding"] = "chat"
    # None: no price set. An exact entry is then free (echo-style models); the ids of a
    # wildcard entry are refused, never billed $0 (gateway/routing.py).
    price: Price | None = None
    max_output_tokens: Annotated[int, Meta(ge=1)] | None = None
    fallbacks: list[str] = []
    created: int = 0
    gemini: GeminiModelFlags | None = None  # only on models of a gemini provider
    # Other ids callers may name this model by: exact ids or glob patterns (`claude-*`),
    # e.g. the model ids Claude Code sends on its own (gateway/routing.py resolves them).
    aliases: list[str] = []
    # Overrides of the model family's parameter rules (gateway/contracts/model_rules.py),
    # e.g. `rules = { drop_params = false }` to refuse what the model refuses with a 400.
    rules: RulesOverride | None = None

    # -- Claude (anthropic kind) capability flags; docs/compat-anthropic.md --------------
    # How `reasoning_effort` is expressed: "budget" = thinking {type: enabled,
    # budget_tokens} (Claude 4.5 and older), "adaptive" = thinking {type: adaptive} plus
    # output_config.effort (Claude 4.6+, the only form newer models take), "none" = the
    # model cannot think, so reasoning_effort is a 400.
    thinking: ThinkingFlag = "budget"
    # "auto": the gateway places cache breakpoints on the tools, the system prompt and the
    # last user turn; "off": only the caller's own `cache_control` marks are sent.
    prompt_cache: PromptCacheFlag = "off"
    # -- end of Claude flags ---------------------------------------------------------------

    # -- routing (issue 16): several deployments, and how one is picked ------------------
    deployments: list[Deployment] = []
    routing: Literal["weighted", "least_busy", "latency"] = "weighted"

    def options(self, upstream: str | None = None) -> ModelOptions:
        """What this model's provider needs of its entry, as the Job carries it; the
        parameter rules are those of `upstream` (a deployment's model id; default the
        model's own upstream id)."""
        legacy = RulesOverride(thinking_can_be_off=self.gemini.thinking_can_be_off) if self.gemini else None
        rules = resolve_rules(upstream or self.upstream_id(), legacy, self.rules)
        return ModelOptions(max_output_tokens=self.max_output_tokens, gemini=self.gemini or GeminiModelFlags(),
                            thinking=self.thinking, prompt_cache=self.prompt_cache, rules=rules)

    def billed_price(self) -> Price:
        """The entry's price (all zero when it sets none)."""
        return self.price or Price()

    def is_wildcard(self) -> bool:
        """Whether this entry's id is a glob serving every id it matches."""
        return is_pattern(self.id)

    def serving(self, model_id: str) -> ModelConfig:
        """This wildcard entry serving `model_id`: the concrete id, public and upstream alike
        (each deployment sends it too), with the entry's price, limits and rules resolved for it."""
        deployments = [msgspec.structs.replace(d, upstream=model_id) for d in self.deployments]
        return msgspec.structs.replace(self, id=model_id, upstream=model_id, deployments=deployments)

    def upstream_id(self) -> str:
        """The upstream's model id (the public id when none is configured)."""
        return self.upstream or self.id

    def routes(self) -> list[Deployment]:
        """The model's deployments, defaults filled in (the short form is one of weight 1)."""
        if not self.deployments:
            return [Deployment(provider=self.provider, upstream=self.upstream_id(), name=self.provider)]
        return [Deployment(provider=d.provider, upstream=d.upstream or self.upstream_id(), weight=d.weight,
                           name=d.name or d.provider) for d in self.deployments]


class Config(Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole config file."""

    gateway: GatewaySettings = msgspec.field(default_factory=GatewaySettings)
    workers: WorkerSettings = msgspec.field(default_factory=WorkerSettings)
    ledger: LedgerSettings = msgspec.field(default_factory=LedgerSettings)
    responses: ResponsesSettings = msgspec.field(default_factory=ResponsesSettings)
    routing: RoutingSettings = msgspec.field(default_factory=RoutingSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    providers: dict[str, ProviderConfig] = {}
    models: list[ModelConfig] = []


def wildcard_for(models: Iterable[ModelConfig], model_id: str) -> ModelConfig | None:
    """The first wildcard entry (config order) whose pattern matches `model_id`."""
    return next((m for m in models if m.is_wildcard() and fnmatchcase(model_id, m.id)), None)


class ConfigError(Exception):
    """The config file is missing or invalid."""


def validate(config: Config) -> Config:
    """Check cross references that types cannot: unique ids, known providers."""
    seen: set[str] = set()
    for model in config.models:
        if model.id in seen:
            raise ConfigError(f"model id '{model.id}' is configured twice")
        seen.add(model.id)
        kinds = _deployment_kinds(config, model)
        if model.rules is not None and (bad := unknown_refused(model.rules)):
            raise ConfigError(f"model '{model.id}' refuses unknown parameters {bad} (rules.refuses)")
        if model.gemini is not None and "gemini" not in kinds:
            raise ConfigError(f"model '{model.id}' sets gemini flags but none of its providers is gemini")
        needing = [k for k in kinds if k in KINDS_NEEDING_MAX_OUTPUT]
        if needing and model.kind == "chat" and not model.max_output_tokens:
            # Anthropic requires max_tokens; an invented default would silently truncate.
            raise ConfigError(f"model '{model.id}' ({needing[0]}) must set max_output_tokens")
    wildcards = {m.id for m in config.models if m.is_wildcard()}
    for model in config.models:
        _check_wildcard(model)
        for alias in model.aliases:
            if alias in seen:
                raise ConfigError(f"model '{model.id}' has alias '{alias}', which is a model id")
        for fallback in model.fallbacks:
            if fallback not in seen or fallback in wildcards:
                raise ConfigError(f"model '{model.id}' falls back to unknown model '{fallback}' "
                                  "(a fallback names one configured model, not a wildcard entry)")
    for name, provider in config.providers.items():
        if provider.kind not in ("echo",) and not provider.base_url:
            raise ConfigError(f"provider '{name}' of kind '{provider.kind}' needs a base_url")
    return config


def _check_wildcard(model: ModelConfig) -> None:
    """A wildcard entry sends each id as asked, so it names no upstream id and no aliases."""
    if not model.is_wildcard():
        return
    if model.aliases or model.upstream or any(d.upstream for d in model.deployments):
        raise ConfigError(f"wildcard model '{model.id}' sends each model id upstream as asked: "
                          "it takes no `upstream` and no `aliases`")


def _deployment_kinds(config: Config, model: ModelConfig) -> list[str]:
    """The provider kinds of a model's deployments, checking the deployments as it goes."""
    if bool(model.provider) == bool(model.deployments):
        raise ConfigError(f"model '{model.id}' must set exactly one of provider and deployments")
    names: set[str] = set()
    kinds = []
    for deployment in model.routes():
        if deployment.provider not in config.providers:
            raise ConfigError(f"model '{model.id}' names unknown provider '{deployment.provider}'")
        if deployment.name in names:
            raise ConfigError(f"model '{model.id}' has two deployments named '{deployment.name}' (set `name`)")
        names.add(deployment.name)
        kinds.append(config.providers[deployment.provider].kind)
    return kinds


def parse(text: str) -> Config:
    """Parse and validate config TOML text."""
    try:
        raw = tomllib.loads(text)
        return validate(msgspec.convert(raw, Config))
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as ex:
        raise ConfigError(f"invalid config: {ex}") from ex


def config_path() -> Path:
    """The config file named by `GATEWAY_CONFIG`, else `gateway.toml` in the working dir."""
    return environment().config_path


def load(path: Path | None = None) -> Config:
    """Load the config file (see `config_path`)."""
    target = path or config_path()
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as ex:
        raise ConfigError(f"cannot read config file {target}: {ex}") from ex
    try:
        return parse(text)
    except ConfigError as ex:
        line = _line_of(text, ex.__cause__)
        raise ConfigError(f"{target}{f' line {line}' if line else ''}: {ex}") from ex


_FIELD = re.compile(r"unknown field `([^`]+)`|at `\$\.(?:[^`]*\.)?([A-Za-z0-9_-]+)(?:\[\d+\])?`")


def _line_of(text: str, cause: BaseException | None) -> int | None:
    """The line of the config a parse error is about: tomllib says it; for a msgspec error,
    the first line assigning (or opening a table of) the key its path ends in."""
    if isinstance(cause, tomllib.TOMLDecodeError):  # its message ends "(at line N, column M)"
        said = re.search(r"at line (\d+)", str(cause))
        return int(said.group(1)) if said else None
    found = _FIELD.search(str(cause)) if cause is not None else None
    if found is None:
        return None
    key = re.escape(found.group(1) or found.group(2))
    pattern = re.compile(rf"^\s*(?:{key}\s*=|\[\[?(?:[^\]]*\.)?{key}\]\]?)", re.MULTILINE)
    hit = pattern.search(text)
    return text.count("\n", 0, hit.start()) + 1 if hit else None


def nats_url() -> str:
    """`NATS_URL`, else the embedded server on `NATS_PORT` (default 4222)."""
    env = environment()
    return env.nats_url or f"nats://127.0.0.1:{env.nats_port}"


def unreachable_nats(ex: BaseException) -> str:
    """The one-line error of a CLI that cannot reach NATS: what it tried, and how to point
    it at the running stack (the embedded server's credentials live in its data dir)."""
    env = environment()
    tried = (f"NATS_URL={env.nats_url}" if env.nats_url
             else f"NATS_PORT={env.nats_port} on 127.0.0.1 (NATS_URL unset)")
    return (f"cannot reach NATS ({tried}; data dir GATEWAY_DATA_DIR={env.data_dir}): {type(ex).__name__}: {ex}."
            " Run it with the stack's own GATEWAY_DATA_DIR (and NATS_PORT), or set NATS_URL with"
            " NATS_OPERATOR_USER / NATS_OPERATOR_PASSWORD for your own NATS server")


def data_dir() -> Path:
    """`GATEWAY_DATA_DIR` (default `var/`), created if missing."""
    path = environment().data_dir
    path.mkdir(parents=True, exist_ok=True)
    return path

"""Every environment variable the gateway's processes read, in one typed object.

README's "### Environment" table lists each (tests/contracts/test_environment.py holds the
two lists together). A module reads its settings through `environment()`, never through
`os.environ`, so a new variable has one home: a field here (its name), a property (its
type and default), a row in the README.

`environment()` reads the process environment each time it is called (a few dict
lookups): tests change variables at run time, and gunicorn's config sets
`PROMETHEUS_MULTIPROC_DIR` before the app reads it, so a snapshot taken once would be
wrong. Values that fail to parse (a port that is not a number) fail where they are read,
as they did before this object existed, not in every process that reads anything.

Variables named at run time have methods: a provider's secret by its config's
`api_key_env` (`secret`), a NATS role's login (`nats_login`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_FILE = "gateway.toml"
MAX_REPLICAS = 5
# Read only by the shell scripts (scripts/_venv.sh), listed so the README check knows them.
SHELL_ONLY = ("GATEWAY_VENV",)
# Per NATS role (gateway/runtime/natsbus.py ROLES): NATS_<ROLE>_CREDS, _USER, _PASSWORD.
NATS_ROLE_VARIABLES = ("NATS_<ROLE>_CREDS", "NATS_<ROLE>_USER", "NATS_<ROLE>_PASSWORD")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_OTEL_REQUESTING = ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def _var(name: str) -> Any:
    return dataclasses.field(default=None, metadata={"env": name})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """The raw value of each variable (None: unset); properties give it typed, defaulted."""

    gateway_config_text: str | None = _var("GATEWAY_CONFIG")
    gateway_host_text: str | None = _var("GATEWAY_HOST")
    gateway_port_text: str | None = _var("GATEWAY_PORT")
    gateway_workers_text: str | None = _var("GATEWAY_WORKERS")
    gateway_log_level_text: str | None = _var("GATEWAY_LOG_LEVEL")
    log_level_text: str | None = _var("LOG_LEVEL")
    worker_processes_text: str | None = _var("WORKER_PROCESSES")
    procfile_text: str | None = _var("GATEWAY_PROCFILE")
    nats_url_text: str | None = _var("NATS_URL")
    nats_replicas_text: str | None = _var("NATS_REPLICAS")
    nats_port_text: str | None = _var("NATS_PORT")
    nats_host_text: str | None = _var("NATS_HOST")
    data_dir_text: str | None = _var("GATEWAY_DATA_DIR")
    multiproc_dir_text: str | None = _var("PROMETHEUS_MULTIPROC_DIR")
    worker_metrics_port_text: str | None = _var("WORKER_METRICS_PORT")
    ledger_metrics_port_text: str | None = _var("LEDGER_METRICS_PORT")
    metrics_host_text: str | None = _var("METRICS_HOST")
    otel_sdk_disabled_text: str | None = _var("OTEL_SDK_DISABLED")
    otel_traces_exporter_text: str | None = _var("OTEL_TRACES_EXPORTER")
    otel_endpoint_text: str | None = _var("OTEL_EXPORTER_OTLP_ENDPOINT")
    otel_traces_endpoint_text: str | None = _var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    otel_service_name_text: str | None = _var("OTEL_SERVICE_NAME")
    billing_report_cwd_text: str | None = _var("BILLING_REPORT_CWD")
    # what the variables named at run time are read from (never shown: secrets)
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Environment:
        """The settings in `environ` (a process's `os.environ`, or a test's dict)."""
        return cls(environ=environ, **{field: environ.get(name) for field, name in _FIELDS})

    def get(self, name: str) -> str | None:
        """A known variable's raw value by its name (KeyError for a name not listed here)."""
        return getattr(self, _BY_NAME[name])  # type: ignore[no-any-return]

    # -- the gateway's HTTP front end (gunicorn) and the launcher ------------------------
    @property
    def config_path(self) -> Path:
        """GATEWAY_CONFIG: the config file (default gateway.toml)."""
        return Path(self.gateway_config_text or DEFAULT_CONFIG_FILE)

    @property
    def gateway_host(self) -> str:
        """GATEWAY_HOST: where the gateway listens (default 127.0.0.1; empty: every address)."""
        return "127.0.0.1" if self.gateway_host_text is None else self.gateway_host_text

    @property
    def gateway_port(self) -> str:
        """GATEWAY_PORT: the gateway's port, as text (default 8080)."""
        return "8080" if self.gateway_port_text is None else self.gateway_port_text

    @property
    def gateway_workers(self) -> int:
        """GATEWAY_WORKERS: gunicorn worker processes (default 1)."""
        return int("1" if self.gateway_workers_text is None else self.gateway_workers_text)

    @property
    def gateway_log_level(self) -> str:
        """GATEWAY_LOG_LEVEL: gunicorn's own log level (default warning)."""
        return "warning" if self.gateway_log_level_text is None else self.gateway_log_level_text

    @property
    def log_level(self) -> str:
        """LOG_LEVEL: the JSON log's lowest level name, lower-cased (default info)."""
        return ("info" if self.log_level_text is None else self.log_level_text).strip().lower()

    @property
    def worker_processes(self) -> int:
        """WORKER_PROCESSES: worker processes scripts/run starts (default 1)."""
        return int("1" if self.worker_processes_text is None else self.worker_processes_text)

    @property
    def procfile(self) -> Path:
        """GATEWAY_PROCFILE: the process list scripts/run starts (default Procfile)."""
        return Path("Procfile" if self.procfile_text is None else self.procfile_text)

    @property
    def data_dir(self) -> Path:
        """GATEWAY_DATA_DIR: NATS store and ledger database (default var; not created here)."""
        return Path(self.data_dir_text or "var")

    # -- NATS -------------------------------------------------------------------------------
    @property
    def nats_url(self) -> str | None:
        """NATS_URL: a server (or comma-separated cluster) to use instead of the embedded one."""
        return self.nats_url_text or None

    @property
    def nats_port(self) -> str:
        """NATS_PORT: the embedded server's port, as text (default 4222)."""
        return "4222" if self.nats_port_text is None else self.nats_port_text

    @property
    def nats_host(self) -> str:
        """NATS_HOST: the address the embedded server listens on (default 127.0.0.1)."""
        return "127.0.0.1" if self.nats_host_text is None else self.nats_host_text

    @property
    def nats_replicas(self) -> int:
        """NATS_REPLICAS: replicas of every stream and bucket (1..5, default 1)."""
        text = (self.nats_replicas_text or "").strip() or "1"
        try:
            count = int(text)
        except ValueError as ex:
            raise ValueError(f"NATS_REPLICAS must be a whole number from 1 to {MAX_REPLICAS}, not {text!r}") from ex
        if not 1 <= count <= MAX_REPLICAS:
            raise ValueError(f"NATS_REPLICAS must be from 1 to {MAX_REPLICAS}, not {count}")
        return count

    def nats_login(self, role: str) -> tuple[str | None, str | None, str]:
        """NATS_<ROLE>_CREDS, NATS_<ROLE>_USER, NATS_<ROLE>_PASSWORD (empty: None, None, "")."""
        prefix = f"NATS_{role.upper()}_"
        env = self.environ
        return env.get(prefix + "CREDS") or None, env.get(prefix + "USER") or None, env.get(prefix + "PASSWORD", "")

    def nats_password(self, role: str) -> str | None:
        """NATS_<ROLE>_PASSWORD as set (None: unset), for the server-side block."""
        return self.environ.get(f"NATS_{role.upper()}_PASSWORD")

    # -- metrics and traces -------------------------------------------------------------
    @property
    def multiproc_dir(self) -> str | None:
        """PROMETHEUS_MULTIPROC_DIR: the gateway processes' shared metrics directory."""
        return self.multiproc_dir_text or None

    @property
    def metrics_host(self) -> str:
        """METRICS_HOST: where worker and ledger metrics listen (default 127.0.0.1)."""
        return "127.0.0.1" if self.metrics_host_text is None else self.metrics_host_text

    @property
    def traces_requested(self) -> bool:
        """Whether the standard OTEL_* variables ask for traces."""
        if (self.otel_sdk_disabled_text or "").strip().lower() == "true":
            return False
        if (self.otel_traces_exporter_text or "").strip().lower() == "none":
            return False
        return any(self.get(name) for name in _OTEL_REQUESTING)

    @property
    def traces_exporter(self) -> str:
        """The first OTEL_TRACES_EXPORTER named, lower-cased (default otlp)."""
        text = "otlp" if self.otel_traces_exporter_text is None else self.otel_traces_exporter_text
        return text.split(",")[0].strip().lower()

    # -- workers and scripts ------------------------------------------------------------
    def secret(self, name: str) -> str | None:
        """A provider's secret by the name its config gives (`api_key_env`); unset or empty: None."""
        if not name:
            return None
        return self.environ.get(name) or None

    @property
    def proxy_configured(self) -> bool:
        """Whether any of HTTP(S)_PROXY / ALL_PROXY (either case) is set."""
        return any(self.environ.get(name) for name in PROXY_VARIABLES)

    @property
    def billing_report_cwd(self) -> Path:
        """BILLING_REPORT_CWD: where scripts/billing-report was run (default .)."""
        return Path(self.billing_report_cwd_text or ".")


_FIELDS = tuple((f.name, f.metadata["env"]) for f in dataclasses.fields(Environment) if "env" in f.metadata)
_BY_NAME = {name: field for field, name in _FIELDS}
# Every name the product reads (and the shell-only ones): the README table lists these.
VARIABLES = tuple(name for _, name in _FIELDS) + NATS_ROLE_VARIABLES + PROXY_VARIABLES + SHELL_ONLY


def environment() -> Environment:
    """This process's settings, read now from `os.environ`."""
    return Environment.from_env(os.environ)


def secret(name: str) -> str | None:
    """`environment().secret(name)` without building the whole object: workers read their
    provider's secret on every job (PERF: 1 us here against 40 us for the object)."""
    return (os.environ.get(name) or None) if name else None

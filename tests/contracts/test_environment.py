"""The environment settings (gateway/contracts/environment.py): every variable has one
home, the README's table lists exactly those, and the defaults are the documented ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.contracts.config import load
from gateway.contracts.environment import VARIABLES, Environment

ROOT = Path(__file__).resolve().parents[2]


def readme_variables() -> tuple[set[str], set[str]]:
    """The README "### Environment" table's variable names: (ours, provider secrets)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("### Environment", 1)[1].split("\n\n", 2)[1]
    ours: set[str] = set()
    secrets: set[str] = set()
    for row in table.splitlines()[2:]:
        first, meaning = row.split("|")[1], row.split("|")[3]
        names = {n for n in re.findall(r"`([^`]+)`", first) if "*" not in n}
        (secrets if "api_key_env" in meaning else ours).update(names)
    return ours, secrets


def test_the_readme_table_lists_every_variable_the_settings_read_and_no_other() -> None:
    ours, secrets = readme_variables()
    assert set(VARIABLES) - ours == set(), "add these to README's Environment table"
    assert ours - set(VARIABLES) == set(), "the settings object does not know these"
    # the secrets' row names the shipped config's api_key_env variables
    assert secrets == {p.api_key_env for p in load(ROOT / "gateway.toml").providers.values() if p.api_key_env}


def test_no_module_reads_the_environment_by_itself() -> None:
    readers = []
    for folder in ("gateway", "workers", "ledger"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "environment.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if re.search(r"os\.getenv|os\.environ\.get|os\.environ\[[^]]+\](?!\s*=)", code):
                    readers.append(f"{path.relative_to(ROOT)}:{number}")
    assert readers == []


def test_defaults_are_the_documented_ones() -> None:
    env = Environment.from_env({})
    assert (env.config_path, env.gateway_host, env.gateway_port, env.gateway_workers) == (
        Path("gateway.toml"), "127.0.0.1", "8080", 1)
    assert (env.gateway_log_level, env.log_level, env.worker_processes, env.procfile) == (
        "warning", "info", 1, Path("Procfile"))
    assert (env.nats_url, env.nats_port, env.nats_host, env.nats_replicas) == (None, "4222", "127.0.0.1", 1)
    assert (env.data_dir, env.multiproc_dir, env.metrics_host) == (Path("var"), None, "127.0.0.1")
    assert (env.get("WORKER_METRICS_PORT"), env.get("LEDGER_METRICS_PORT")) == (None, None)
    assert not env.traces_requested and env.traces_exporter == "otlp"
    assert env.billing_report_cwd == Path(".") and not env.proxy_configured
    assert env.nats_login("worker") == (None, None, "")


def test_values_are_read_as_before() -> None:
    env = Environment.from_env({
        "GATEWAY_CONFIG": "", "GATEWAY_HOST": "", "GATEWAY_DATA_DIR": "", "NATS_URL": "",  # empty: as unset, but the host
        "LOG_LEVEL": " DEBUG ", "NATS_REPLICAS": "3", "GATEWAY_WORKERS": "4", "OTEL_TRACES_EXPORTER": "Console,otlp",
        "NATS_LEDGER_USER": "l1", "NATS_LEDGER_PASSWORD": "pw", "NATS_GATEWAY_CREDS": "/c", "https_proxy": "http://p",
        "MY_KEY": "sk-1", "EMPTY_KEY": "",
    })
    assert (env.config_path, env.gateway_host, env.data_dir, env.nats_url) == (Path("gateway.toml"), "", Path("var"), None)
    assert (env.log_level, env.nats_replicas, env.gateway_workers) == ("debug", 3, 4)
    assert env.traces_requested and env.traces_exporter == "console"
    assert env.nats_login("ledger") == (None, "l1", "pw") and env.nats_login("gateway")[0] == "/c"
    assert env.proxy_configured
    assert (env.secret("MY_KEY"), env.secret("EMPTY_KEY"), env.secret("UNSET"), env.secret("")) == ("sk-1", None, None, None)
    assert "sk-1" not in repr(env)  # secrets are never shown
    with pytest.raises(ValueError, match="NATS_REPLICAS"):
        _ = Environment.from_env({"NATS_REPLICAS": "9"}).nats_replicas
    with pytest.raises(KeyError):
        Environment.from_env({}).get("NOT_OURS")

"""`--peer litellm`: LiteLLM's proxy on the same fake upstream, for ours/theirs ratios.

Installed with pip into its own venv under the data dir (`var/bench/litellm-venv`), never
into the project's; a failed install is reported and the run goes on without the peer.
Its config maps the same public model ids to the same fake upstream (OpenAI-kind and,
when the run has them, Anthropic-kind), with a master key so it authenticates callers
as we do, and offline settings (local model cost map, no telemetry).
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.payloads import UPSTREAM_KEY
from bench.procs import Proc, Registry, free_port, wait_until
from bench.stack import ANTHROPIC_UPSTREAM_MODEL, MODELS
from bench.tools import pip_install

# NOTE: pinned: newer releases need a `litellm-proxy` package the registry does not serve,
# and 1.107.0 was a compromised release. Override with --peer-version.
DEFAULT_VERSION = "1.106.12"
MASTER_KEY = "sk-bench-litellm-master"
START_TIMEOUT_S = 180.0


class PeerUnavailableError(Exception):
    """LiteLLM could not be installed or started (the run continues without it)."""


def install(venv: Path, version: str, say: Callable[[str], None]) -> Path:
    """The venv's `litellm` executable, creating the venv and installing the proxy if needed."""
    exe = venv / "bin" / "litellm"
    stamp = venv / f".installed-{version}"
    if exe.exists() and stamp.exists():
        return exe
    if not (venv / "bin" / "python").exists():
        say(f"creating {venv}")
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if made.returncode != 0:
            raise PeerUnavailableError(f"cannot create the venv {venv}: {made.stderr.strip()[-300:]}")
    say(f"installing litellm[proxy]=={version} into {venv} (pip; this takes a minute or two)")
    ok, output = pip_install(f"litellm[proxy]=={version}", python=str(venv / "bin" / "python"), timeout=900)
    if not ok or not exe.exists():
        raise PeerUnavailableError(f"pip could not install litellm[proxy]=={version}:\n{output}")
    for old in venv.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return exe


def config_yaml(upstream_port: int, anthropic: bool) -> str:
    """LiteLLM's proxy config: our public model ids on the same fake upstream."""
    base = f"http://127.0.0.1:{upstream_port}"
    entries = [
        (MODELS.chat, f"openai/{MODELS.chat}", f"{base}/v1"),
        (MODELS.embed, f"openai/{MODELS.embed}", f"{base}/v1"),
    ]
    if anthropic:
        entries.append((MODELS.claude, f"anthropic/{ANTHROPIC_UPSTREAM_MODEL}", base))
    lines = ["model_list:"]
    for name, model, api_base in entries:
        lines += [f"  - model_name: {name}", "    litellm_params:", f"      model: {model}",
                  f"      api_base: {api_base}", f"      api_key: {UPSTREAM_KEY}"]
        if model.startswith("anthropic/"):
            lines.append("      max_tokens: 1024")
    lines += ["litellm_settings:", "  telemetry: false", "  drop_params: true", "  set_verbose: false",
              "general_settings:", f"  master_key: {MASTER_KEY}", ""]
    return "\n".join(lines)


def start(registry: Registry, exe: Path, config: Path, processes: int) -> tuple[Proc, int]:
    """Start the proxy on a free port with `processes` uvicorn workers; waits until it serves."""
    port = free_port()
    proc = registry.start(
        "litellm", "peer",
        [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
         "--num_workers", str(processes)],
        {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False",
         "DISABLE_ADMIN_UI": "True"},
    )
    wait_until(lambda: _alive(port), START_TIMEOUT_S, "litellm proxy", proc)
    return proc, port


def _alive(port: int) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health/liveliness")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False

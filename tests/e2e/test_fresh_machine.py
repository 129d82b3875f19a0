"""The README's first command on a fresh machine: a clean copy of the repo, no .venv, `scripts/run`.

This is what a new user runs: scripts/run makes a brand-new virtual environment from the
runtime lock alone (no dev extras, so nothing the test tools bring can hide a missing
runtime dependency), starts the stack on free ports, prints the banner, and the printed
key answers. pip's cache may be reused, so this costs seconds, not downloads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.test_run_script import _descendants, _kill_all, _living
from tests.harness.procs import ROOT, free_port

INSTALL_AND_START_S = 420


def _tracked_files() -> list[str]:
    """What a fresh clone holds (plus files not yet committed, so a change is tested before it lands)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode()
    return [name for name in listed.split("\0") if name and (ROOT / name).exists()]


def _fresh_copy(target: Path) -> Path:
    for name in _tracked_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination, follow_symlinks=False)
    return target


def _machine_environment(**extra: str) -> dict[str, str]:
    """The environment of a shell on this machine, without the test run's virtual environment."""
    ours = Path(sys.prefix)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not Path(p).is_relative_to(ours)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "GATEWAY_VENV", "NATS_URL", "GATEWAY_CONFIG", "PYTHONPATH", "GATEWAY_PROCFILE")}
    return {**env, "PATH": os.pathsep.join(path), "PYTHONUNBUFFERED": "1", **extra}


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs the git checkout")
def test_scripts_run_on_a_fresh_clone_installs_the_runtime_lock_starts_and_its_key_answers(tmp_path: Path) -> None:
    clone = _fresh_copy(tmp_path / "clone")
    assert not (clone / ".venv").exists()
    port = free_port()
    env = _machine_environment(GATEWAY_PORT=str(port), NATS_PORT=str(free_port()),
                               GATEWAY_DATA_DIR=str(tmp_path / "data"))
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(clone / "scripts" / "run")], cwd=clone, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    processes: list[int] = []
    try:
        deadline = time.monotonic() + INSTALL_AND_START_S
        text = ""
        while "demo key" not in text:
            text = log_path.read_text(errors="replace")
            assert proc.poll() is None, text[-4000:]
            assert time.monotonic() < deadline, text[-4000:]
            time.sleep(0.2)
        assert "Traceback" not in text, text[-4000:]
        key = re.search(r"demo key : (\S+)", text)
        assert key is not None
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            data=json.dumps({"model": "echo", "messages": [{"role": "user", "content": "fresh machine"}]}).encode(),
            headers={"authorization": f"Bearer {key.group(1)}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
        assert body["choices"][0]["message"]["content"] == "fresh machine"
        assert body["usage"]["prompt_tokens"] > 0

        venv_python = clone / ".venv" / "bin" / "python"
        check = subprocess.run([str(venv_python), "-c", "import pytest"], capture_output=True, env=env)
        assert check.returncode != 0, "the runtime environment must not hold the dev extras"

        processes = _descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does in a terminal
        assert proc.wait(30) == 0
        assert _living(processes) == []
    finally:
        _kill_all(proc, processes)

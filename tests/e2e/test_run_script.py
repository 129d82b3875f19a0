"""`scripts/run`'s launcher: the whole stack from the Procfile, a key that works at once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai

from tests.harness.procs import ROOT, free_port


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = _children_of(todo.pop())
        out += kids
        todo += kids
    return out


def test_launcher_starts_everything_prints_a_working_key_and_stops_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "GATEWAY_PORT": str(free_port()), "NATS_PORT": str(free_port()),
           "GATEWAY_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    env.pop("NATS_URL", None)
    env.pop("GATEWAY_CONFIG", None)  # the shipped gateway.toml
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.launcher"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        text = ""
        while "demo key" not in text:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.2)
            text = (tmp_path / "run.log").read_text()
        base_url = re.search(r"base URL : (\S+)", text).group(1)
        key = re.search(r"demo key : (\S+)", text).group(1)
        assert base_url == f"http://127.0.0.1:{env['GATEWAY_PORT']}/v1"
        client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
        reply = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "works offline"}])
        assert reply.choices[0].message.content == "works offline"
        assert client.embeddings.create(model="echo-embed", input="x").data[0].index == 0
        processes = _descendants(proc.pid)
        assert len(processes) >= 5  # honcho + nats + gateway + worker + ledger (and their shells)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does in a terminal
        assert proc.wait(30) is not None
        time.sleep(0.5)
        alive = [p for p in processes if Path(f"/proc/{p}").exists() and "Z" not in (Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0])]
        assert alive == [], (tmp_path / "run.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for pid in _descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()

"""Child processes of the benchmark and what they cost, read from /proc.

Every child starts in its own session (so its own process group): stopping it signals the
whole group, gunicorn's forked workers included, and a Ctrl-C at the terminal reaches only
the bench, which then stops everything itself. Children also get SIGKILL if the bench
dies without cleaning up (PR_SET_PDEATHSIG), so no run leaves processes behind.

CPU time is utime + stime of every process in a group (threads included); memory is
VmRSS (now) and VmHWM (peak) from /proc/<pid>/status.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """(in the child, before exec) SIGKILL this process when the bench dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # NOTE: not Linux: the bench's own cleanup still stops every group


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts connections on the loopback port."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Proc:
    """A child process group with its output in a log file."""

    def __init__(self, name: str, kind: str, args: list[str], env: dict[str, str], log_dir: Path,
                 pipes: bool = False, cwd: Path = ROOT) -> None:
        self.name = name
        self.kind = kind
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        full_env = {**os.environ, **env}
        full_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full_env.get('PATH', '')}"
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        self.popen = subprocess.Popen(
            args, cwd=cwd, env=full_env,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else self._log,
            stderr=self._log,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    @property
    def pid(self) -> int:
        """The group leader's pid (also the process group id)."""
        return self.popen.pid

    @property
    def stdin(self) -> IO[bytes]:
        """The child's stdin (pipes=True only)."""
        assert self.popen.stdin is not None
        return self.popen.stdin

    @property
    def stdout(self) -> IO[bytes]:
        """The child's stdout (pipes=True only)."""
        assert self.popen.stdout is not None
        return self.popen.stdout

    def alive(self) -> bool:
        """Whether the group leader still runs."""
        return self.popen.poll() is None

    def log_text(self) -> str:
        """All output so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        """The end of the output, for error messages."""
        return f"--- {self.name} ({self.log_path}) ---\n" + "\n".join(self.log_text().splitlines()[-lines:])

    def pids(self) -> list[int]:
        """Every live process of the group (gunicorn's master and its workers, for instance)."""
        return [pid for pid, (group, _) in read_stats().items() if group == self.pid]

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to the group, SIGKILL after `timeout`; always reaps and closes the log."""
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self._signal(signal.SIGKILL)  # NOTE: stray children of a leader that already exited
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self._log.close()


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: Proc | None = None) -> None:
    """Poll `check` until true; raise with the process's log on timeout or early exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{what}: process exited with {proc.popen.returncode}\n{proc.log_tail()}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s\n{proc.log_tail() if proc else ''}")


def read_stats() -> dict[int, tuple[int, float]]:
    """pid -> (process group, CPU seconds used so far), for every process on the machine."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15
        out[int(entry.name)] = (int(fields[2]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return out


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of one process in KiB (empty if it is gone)."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    found[name] = int(value.split()[0])
    except OSError:
        return {}
    return found


class Registry:
    """Every process the bench started, by kind; `stop_all()` ends them, newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def start(self, name: str, kind: str, args: list[str], env: dict[str, str] | None = None,
              pipes: bool = False, cwd: Path = ROOT) -> Proc:
        """Start a process group in `cwd` (default: this checkout) and remember it."""
        proc = Proc(name, kind, args, env or {}, self.log_dir, pipes, cwd)
        self.procs.append(proc)
        return proc

    def remove(self, proc: Proc) -> None:
        """Stop one process and forget it."""
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def of_kind(self, kind: str) -> list[Proc]:
        """The live processes of one kind."""
        return [p for p in self.procs if p.kind == kind]

    def cpu_by_kind(self) -> dict[str, float]:
        """CPU seconds used so far by each kind (all processes of its groups)."""
        groups = {p.pid: p.kind for p in self.procs}
        totals = dict.fromkeys(groups.values(), 0.0)
        for group, seconds in read_stats().values():
            kind = groups.get(group)
            if kind is not None:
                totals[kind] += seconds
        return totals

    def memory_by_kind(self) -> dict[str, dict[str, float]]:
        """Per kind: summed and largest VmHWM (peak RSS) and summed VmRSS, in MB."""
        out: dict[str, dict[str, float]] = {}
        for proc in self.procs:
            row = out.setdefault(proc.kind, {"peak_rss_mb": 0.0, "max_process_peak_mb": 0.0,
                                             "rss_mb": 0.0, "processes": 0})
            for pid in proc.pids():
                mem = memory_kb(pid)
                if not mem:
                    continue
                peak = mem.get("VmHWM", 0) / 1024
                row["peak_rss_mb"] += peak
                row["rss_mb"] += mem.get("VmRSS", 0) / 1024
                row["max_process_peak_mb"] = max(row["max_process_peak_mb"], peak)
                row["processes"] += 1
        return {kind: {k: round(v, 1) for k, v in row.items()} for kind, row in out.items()}

    def dead(self) -> list[str]:
        """Names (and exit codes) of the processes that exited on their own."""
        return [f"{p.name} (exit {p.popen.returncode})" for p in self.procs if not p.alive()]

    def stop_all(self) -> None:
        """Stop every process group, newest first, whatever happened."""
        while self.procs:
            self.procs.pop().stop()

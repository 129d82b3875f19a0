"""Sampling profiles of the gateway and worker processes under load (py-spy).

`Profiler.start()` attaches `py-spy record` (non-blocking, raw collapsed stacks) to each
process for the measured window; `summarize()` turns a raw file into where the CPU time
goes: by package (the sampled leaf frame's package), by our own functions (inclusive),
and the hottest leaf functions. Raw files stay under the run's directory for flame graphs
(speedscope or inferno read them as they are).
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from bench.procs import ROOT

RATE_HZ = 200
# NOTE: py-spy counts these waits as busy: asyncio's epoll wait and gevent's libev loop
# (a leaf in Hub.run means C code of libev, where the hub waits for events).
IDLE_LEAVES = {("EpollSelector.select", "stdlib selectors"), ("Hub.run", "gevent"),
               ("Thread.wait", "stdlib threading")}


class Profiler:
    """py-spy attached to a set of processes for a fixed time."""

    def __init__(self, py_spy: str, out_dir: Path, flags: tuple[str, ...] = ("--nonblocking",)) -> None:
        self.py_spy = py_spy
        self.flags = flags
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self._running: list[tuple[str, int, Path, subprocess.Popen[bytes]]] = []

    def start(self, targets: dict[str, list[int]], seconds: float, tag: str) -> None:
        """Record every pid of every kind for `seconds`."""
        for kind, pids in targets.items():
            for pid in pids:
                out = self.out_dir / f"{tag}-{kind}-{pid}.txt"
                popen = subprocess.Popen(
                    [self.py_spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
                     "--rate", str(RATE_HZ), "--format", "raw", "--function", "--full-filenames", *self.flags,
                     "--output", str(out)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                )
                self._running.append((kind, pid, out, popen))

    def finish(self) -> dict[str, Any]:
        """Wait for the recorders; per kind, the summary of its (merged) samples."""
        stacks: dict[str, Counter[str]] = {}
        errors = []
        for kind, pid, out, popen in self._running:
            try:
                _, err = popen.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                popen.kill()
                _, err = popen.communicate()
            if not out.exists():
                errors.append(f"{kind} {pid}: {err.decode(errors='replace').strip()[-300:]}")
                continue
            stacks.setdefault(kind, Counter()).update(read_raw(out))
        self._running.clear()
        summary: dict[str, Any] = {kind: summarize(counts) for kind, counts in stacks.items()}
        if errors:
            summary["errors"] = errors
        return summary


    def close(self) -> None:
        """Stop recorders still running (after an interruption)."""
        for _, _, _, popen in self._running:
            if popen.poll() is None:
                popen.kill()
                popen.wait()
        self._running.clear()


def read_raw(path: Path) -> Counter[str]:
    """Collapsed stacks (`frame;frame;... count`) of a py-spy raw file."""
    counts: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[stack] += int(count)
    return counts


def _where(frame: str) -> tuple[str, str]:
    """(function, file) of a frame such as `send (gevent/_socket3.py:123)`."""
    name, _, rest = frame.partition(" (")
    return name, rest.rstrip(")").rsplit(":", 1)[0]


def package(path: str) -> str:
    """The package a source file belongs to: a library, stdlib, or ours (`gateway/relay.py`)."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for marker in ("/lib/python3.", "/lib64/python3."):
        if marker in path:
            tail = path.split(marker, 1)[1].split("/", 1)[-1]
            return "stdlib " + tail.split("/", 1)[0].removesuffix(".py")
    root = str(ROOT) + "/"
    if path.startswith(root):
        return path[len(root):]
    return path or "?"


def is_idle(name: str, path: str) -> bool:
    """A leaf that is a loop waiting for events (py-spy cannot tell it from work)."""
    return (name, package(path)) in IDLE_LEAVES


def _short(frame: str) -> str:
    name, path = _where(frame)
    return f"{name} ({package(path)})"


def summarize(counts: Counter[str], top: int = 15) -> dict[str, Any]:
    """Where the samples are: by package of the leaf, our functions inclusive, hottest leaves."""
    busy = Counter({stack: n for stack, n in counts.items() if not is_idle(*_where(stack.split(";")[-1]))})
    total = sum(busy.values())
    idle = sum(counts.values()) - total
    if not total:
        return {"samples": 0}
    by_package: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    bridge_thread = 0
    project = str(ROOT) + "/"
    for stack, n in busy.items():
        frames = stack.split(";")
        leaf_name, leaf_path = _where(frames[-1])
        leaf_package = package(leaf_path)
        by_package[leaf_package.split("/", 1)[0] if "/" in leaf_package else leaf_package] += n
        leaves[f"{leaf_name} ({leaf_package})"] += n
        seen = set()
        for frame in frames:
            name, path = _where(frame)
            if path.startswith(project) and "site-packages/" not in path and not path.startswith(project + "bench/"):
                seen.add(_short(frame))
            if name.endswith("_thread_main") and path.endswith("bus_client.py"):
                bridge_thread += n
        for key in seen:
            ours[key] += n

    def pct(counter: Counter[str], limit: int) -> list[list[Any]]:
        return [[key, round(100 * n / total, 1)] for key, n in counter.most_common(limit)]

    return {
        "samples": total,
        "idle_samples_dropped": idle,
        "bridge_thread_pct": round(100 * bridge_thread / total, 1),
        "by_package_pct": pct(by_package, top),
        "our_functions_inclusive_pct": pct(ours, top),
        "hottest_leaves_pct": pct(leaves, top),
    }

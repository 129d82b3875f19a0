"""The processes of `scripts/run`: started from the Procfile, watched, and stopped together.

Each process runs in its own process group (so a terminal's Ctrl-C reaches only the
launcher, which then stops every process in order, gunicorn's workers included), with
its output relayed line by line under its name and the last lines kept, so a process that
dies can be reported with what it said last.
"""

from __future__ import annotations

import collections
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from honcho.environ import parse_procfile

TAIL_LINES = 30
# Lines that say only "NATS is not there (yet)": kept out of a dead process's tail, where
# they would hide the lines that say why it died.
NOISE_MARKERS = ('"event": "nats_connect_retry"', '"event": "nats_error"', '"event":"nats_connect_retry"',
                 '"event":"nats_error"')
_PR_SET_PDEATHSIG = 1
_COMPOUND = re.compile(r"[;&|<>()`\n]")
try:
    # NOTE: loaded here, not in the forked child, where only the call itself should run
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None


def read_procfile(path: Path) -> dict[str, str]:
    """The Procfile's entries, name -> shell command, in file order."""
    return dict(parse_procfile(path.read_text(encoding="utf-8")).processes)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the launcher dies without stopping us."""
    try:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except AttributeError:
        pass  # not Linux: the launcher's own stop() is the only way out


@dataclass
class Child:
    """One running process of the stack."""

    name: str
    command: str
    popen: subprocess.Popen[bytes]
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=TAIL_LINES))
    reader: threading.Thread | None = None
    started_at: float = field(default_factory=time.monotonic)

    @property
    def exit_code(self) -> int | None:
        """The exit status once the process has ended (negative: killed by that signal)."""
        return self.popen.poll()

    def signal_group(self, sig: int) -> None:
        """Send a signal to the process and everything it started."""
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def last_lines(self) -> list[str]:
        """What the process wrote last, without NATS connection noise."""
        return [line for line in self.tail if not any(marker in line for marker in NOISE_MARKERS)]


class Stack:
    """Start, watch and stop a set of named shell commands."""

    def __init__(self, env: Mapping[str, str], cwd: Path, out: IO[str] | None = None) -> None:
        self._env = dict(env)
        self._cwd = cwd
        self._out = out if out is not None else sys.stdout
        self._write_lock = threading.Lock()
        self.children: list[Child] = []

    def start(self, name: str, command: str) -> Child:
        """Start one process (again, if one of that name ended); its output is relayed as `name | line`."""
        # NOTE: a simple command replaces the shell, so the pid we watch is the program's own
        # (and the parent-death signal stays with it); a shell script keeps its shell.
        script = command if _COMPOUND.search(command) else f"exec {command}"
        popen = subprocess.Popen(
            ["/bin/sh", "-c", script], cwd=self._cwd, env=self._env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            process_group=0, preexec_fn=_die_with_parent,
        )
        child = Child(name, command, popen)
        self.children = [c for c in self.children if c.name != name] + [child]
        child.reader = threading.Thread(target=self._relay, args=(child,), name=f"relay-{name}", daemon=True)
        child.reader.start()
        return child

    def say(self, text: str) -> None:
        """Print a line of the launcher's own."""
        with self._write_lock:
            try:
                self._out.write(text + "\n")
                self._out.flush()
            except (OSError, ValueError):
                pass

    def _relay(self, child: Child) -> None:
        stream = child.popen.stdout
        assert stream is not None
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            child.tail.append(line)
            width = max((len(c.name) for c in self.children), default=len(child.name))
            self.say(f"{child.name.ljust(width)} | {line}")
        stream.close()

    def dead(self) -> Child | None:
        """The first process that has exited, if any."""
        for child in self.children:
            if child.exit_code is not None:
                return child
        return None

    def report_death(self, child: Child) -> None:
        """Say which process died, how, and what it wrote last."""
        if child.reader is not None:
            child.reader.join(timeout=1.0)  # NOTE: its last lines may still be in the pipe
        code = child.exit_code
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        lines = child.last_lines()
        self.say(f"\nprocess '{child.name}' {how} (command: {child.command})")
        if lines:
            self.say(f"its last {len(lines)} lines:")
            for line in lines:
                self.say(f"  {line}")

    def stop(self, grace_s: float, sig: int = signal.SIGTERM, last: Iterable[str] = (),
             hurry: threading.Event | None = None) -> None:
        """Signal every process (`last` ones after the others have gone), SIGKILL after the grace.

        SIGINT asks for what a terminal's Ctrl-C asks (gunicorn's quick shutdown), SIGTERM
        for a graceful one; `hurry` set (a second Ctrl-C) cuts the grace short.
        """
        hurry = hurry if hurry is not None else threading.Event()
        late = set(last)
        early = [c for c in self.children if c.name not in late]
        self._stop_group(early, grace_s, sig, hurry)
        self._stop_group([c for c in self.children if c.name in late], grace_s, sig, hurry)
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=1.0)

    @staticmethod
    def _stop_group(children: list[Child], grace_s: float, sig: int, hurry: threading.Event) -> None:
        for child in children:
            if child.exit_code is None:
                child.signal_group(sig)
        deadline = time.monotonic() + grace_s
        # NOTE: the whole group must be gone, not only its leader: gunicorn's workers, or
        # the program under a shell that a signal ended first, may still be finishing.
        while time.monotonic() < deadline and any(_group_alive(c) for c in children):
            if hurry.wait(0.05):
                break
        for child in children:
            # NOTE: also the group of an exited leader: gunicorn's workers may outlive it
            child.signal_group(signal.SIGKILL)
            child.popen.wait()


def _group_alive(child: Child) -> bool:
    child.exit_code  # NOTE: reaps the leader, so a zombie leader does not count as alive
    try:
        os.killpg(child.popen.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Restarts:
    """Restart dead processes with exponential backoff; a long run forgets earlier failures.

    A process that keeps dying waits 1, 2, 4 ... up to `max_delay_s` seconds between
    starts, so a crash loop neither spins nor floods the log; one that stayed up for
    `healthy_after_s` starts again at once the next time.
    """

    def __init__(self, stack: Stack, first_delay_s: float = 1.0, max_delay_s: float = 30.0,
                 healthy_after_s: float = 60.0) -> None:
        self._stack = stack
        self._first = first_delay_s
        self._max = max_delay_s
        self._healthy_after = healthy_after_s
        self._delay: dict[str, float] = {}
        self._due: dict[str, float] = {}
        self.count: dict[str, int] = {}

    def tick(self) -> None:
        """Schedule restarts of processes that died; start those that are due."""
        now = time.monotonic()
        for child in list(self._stack.children):
            if child.exit_code is None or child.name in self._due:
                continue
            ran = now - child.started_at
            delay = 0.0 if ran >= self._healthy_after else self._delay.get(child.name, self._first)
            self._delay[child.name] = min(max(delay, self._first) * 2, self._max)
            self._due[child.name] = now + delay
            self._stack.report_death(child)
            self._stack.say(f"restarting '{child.name}' in {delay:.0f} s")
        for name, due in list(self._due.items()):
            if due <= now:
                child = next(c for c in self._stack.children if c.name == name)
                del self._due[name]
                self.count[name] = self.count.get(name, 0) + 1
                self._stack.start(name, child.command)


class StopRequest:
    """SIGINT/SIGTERM turned into a flag the launcher's loop polls (works in every state)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.hurry = threading.Event()
        self.signal: int | None = None
        self._stopping = False

    def install(self) -> None:
        """Catch SIGINT and SIGTERM from now on."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def stopping(self) -> None:
        """From now on a signal means "stop faster" (a second Ctrl-C)."""
        self._stopping = True

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self._stopping or self.event.is_set():
            self.hurry.set()
        else:
            self.signal = signum
        self.event.set()


def wait_for(condition: Callable[[], bool], stop: StopRequest, stack: Stack, poll_s: float = 0.1) -> Child | None:
    """Wait until `condition()` holds; return a process that died first, or None.

    Returns early (None) when a stop is requested; the caller checks `stop.event`.
    """
    while not condition():
        if stop.event.is_set():
            return None
        dead = stack.dead()
        if dead is not None:
            return dead
        stop.event.wait(poll_s)
    return None

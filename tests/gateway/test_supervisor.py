"""The launcher's process supervisor: start, relay output, notice a death, stop everything."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.ops.supervisor import Restarts, Stack, StopRequest, read_procfile, wait_for
from tests.harness.procs import ROOT


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Stack, io.StringIO]]:
    """A supervisor's Stack and its output; whatever a test leaves behind (a failed assert
    before its stop, a child that ignores SIGTERM) is SIGKILLed by process group, by the
    pids this Stack started, restarted children included."""
    out = io.StringIO()
    stack = Stack(dict(os.environ), tmp_path, out)
    try:
        yield stack, out
    finally:
        for child in stack.children:
            try:
                os.killpg(child.popen.pid, signal.SIGKILL)  # each child leads its own group
            except ProcessLookupError:
                pass
            child.popen.wait(10)


def test_the_procfile_is_read_in_order() -> None:
    entries = read_procfile(ROOT / "Procfile")
    assert list(entries) == ["nats", "gateway", "worker", "ledger"]
    assert entries["worker"] == "python -m workers"


def test_output_is_relayed_under_the_process_name_and_a_death_is_reported_with_its_last_lines(supervised: tuple[Stack, io.StringIO]) -> None:
    stack, out = supervised
    stop = StopRequest()
    stack.start("sleeper", "sleep 30")
    stack.start("dier", "echo first; echo '{\"event\": \"nats_connect_retry\"}'; echo 'why it died' >&2; exit 3")
    try:
        dead = wait_for(lambda: False, stop, stack)
        assert dead is not None and dead.name == "dier" and dead.exit_code == 3
        stack.report_death(dead)
        text = out.getvalue()
        assert "dier    | first" in text and "dier    | why it died" in text
        assert "process 'dier' exited with code 3" in text
        report = text[text.index("its last 2 lines:"):]
        assert report.splitlines()[1:] == ["  first", "  why it died"]  # NATS noise stays out
    finally:
        stack.stop(5)
    assert all(child.exit_code is not None for child in stack.children)


def test_stop_ends_every_process_group_including_grandchildren(supervised: tuple[Stack, io.StringIO]) -> None:
    stack, _ = supervised
    child = stack.start("parent", "sh -c 'sleep 60 & echo $!; wait'")
    deadline = time.monotonic() + 10
    while not child.tail and time.monotonic() < deadline:
        time.sleep(0.02)
    grandchild = int(child.tail[0])
    assert _alive(grandchild)
    stack.stop(5)
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(grandchild)


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(supervised: tuple[Stack, io.StringIO]) -> None:
    stack, _ = supervised
    child = stack.start("stubborn", "trap '' TERM; echo up; while true; do sleep 0.1; done")
    deadline = time.monotonic() + 10
    while not child.tail and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    stack.stop(0.5)
    assert child.exit_code == -9
    assert time.monotonic() - started < 5


def test_processes_named_last_stop_after_the_others(tmp_path: Path, supervised: tuple[Stack, io.StringIO]) -> None:
    marker = tmp_path / "order"
    stack, _ = supervised
    stack.start("bus", f"trap 'echo bus >> {marker}; exit 0' TERM; echo up; while true; do sleep 0.05; done")
    stack.start("app", f"trap 'sleep 0.3; echo app >> {marker}; exit 0' TERM; echo up; while true; do sleep 0.05; done")
    deadline = time.monotonic() + 10
    while not all(c.tail for c in stack.children) and time.monotonic() < deadline:
        time.sleep(0.02)
    stack.stop(5, last=["bus"])
    assert marker.read_text().split() == ["app", "bus"]


def test_a_dead_process_is_restarted_with_growing_delays(supervised: tuple[Stack, io.StringIO]) -> None:
    stack, out = supervised
    restarts = Restarts(stack, first_delay_s=0.05, max_delay_s=0.4, healthy_after_s=60)
    stack.start("flaky", "echo started; exit 7")
    starts: list[float] = []
    try:
        deadline = time.monotonic() + 10
        while restarts.count.get("flaky", 0) < 4 and time.monotonic() < deadline:
            before = restarts.count.get("flaky", 0)
            restarts.tick()
            if restarts.count.get("flaky", 0) > before:
                starts.append(time.monotonic())
            time.sleep(0.01)
        assert restarts.count["flaky"] == 4
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert gaps[-1] > gaps[0]  # backoff grows
        text = out.getvalue()
        assert "process 'flaky' exited with code 7" in text and "restarting 'flaky' in" in text
    finally:
        stack.stop(5)


def test_a_process_that_ran_long_enough_is_restarted_at_once(supervised: tuple[Stack, io.StringIO]) -> None:
    stack, out = supervised
    restarts = Restarts(stack, first_delay_s=5, max_delay_s=30, healthy_after_s=0.2)
    child = stack.start("steady", "sleep 0.4; exit 1")
    try:
        deadline = time.monotonic() + 10
        while child.exit_code is None and time.monotonic() < deadline:
            time.sleep(0.02)
        restarts.tick()
        restarts.tick()
        assert restarts.count.get("steady") == 1
        assert "restarting 'steady' in 0 s" in out.getvalue()
    finally:
        stack.stop(5)

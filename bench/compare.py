"""`scripts/bench --compare REF`: this checkout against another git ref, alternated, in one run.

REF is checked out into a temporary worktree (bench/trees.py). Each round starts a full
stack from each side in turn, the same matrix scenarios with the same durations, and
stops it; odd rounds run this checkout first, even rounds REF first, so a machine that
drifts (thermal, a neighbour's load) weighs on both sides alike. Only the project code
differs between the sides: same Python and packages, and this checkout's fake upstream
and load driver. bench/compare_report.py turns the runs into benchmarks-compare.md/.json.
Only the matrix runs (`--limited-key` applies to both sides; the other modes do not run).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Protocol

from gateway.contracts.config import data_dir
from bench import compare_report, trees
from bench.procs import ROOT, Registry
from bench.trees import Tree


class Runner(Protocol):
    """What a side needs of `bench.__main__.Bench`."""

    sections: dict[str, Any]
    unhealthy: int

    def start(self) -> None: ...

    def matrix(self) -> None: ...


RunnerFactory = Callable[[argparse.Namespace, Registry, Path, Tree], Runner]
Say = Callable[[str], None]


def _interrupt(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt


def order(round_: int) -> tuple[str, str]:
    """Which side runs first in a round: this checkout on odd rounds, REF on even ones."""
    return ("current", "ref") if round_ % 2 else ("ref", "current")


def _same_routes(args: argparse.Namespace, sides: dict[str, Tree], say: Say) -> None:
    """Drop the Anthropic-kind scenarios unless both trees can serve them (same scenarios on both sides)."""
    if "anthropic" in args.routes and not all(tree.anthropic() for tree in sides.values()):
        args.routes = [r for r in args.routes if r != "anthropic"]
        say("anthropic-kind scenarios skipped: not every side's workers load that provider")


def run_side(args: argparse.Namespace, factory: RunnerFactory, tree: Tree, side: str, round_: int,
             say: Say) -> dict[str, Any]:
    """One full stack start from `tree`, the matrix, a full stop; the rows measured."""
    workdir = data_dir().resolve() / "bench" / "compare" / f"round{round_}-{side}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    say(f"\n== round {round_}/{args.rounds}: {tree.label} (logs: {workdir})")
    registry = Registry(workdir)
    bench = factory(args, registry, workdir, tree)
    try:
        bench.start()
        bench.matrix()
    finally:
        registry.stop_all()
    section = bench.sections["matrix"]
    return {"round": round_, "side": side, "commit": tree.commit, "rows": section["rows"],
            "died": section["died"], "unhealthy": bench.unhealthy}


def main(args: argparse.Namespace, factory: RunnerFactory, say: Say) -> int:
    """Run the alternated rounds and write the comparison; 0 when every request succeeded."""
    why = trees.git_available()
    if why:
        say(f"--compare needs git: {why}")
        return 1
    if args.rounds < 1:
        say("--rounds must be at least 1")
        return 1
    if args.peer:
        say("--compare measures our gateway only: --peer ignored")
        args.peer = None
    previous = signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    sides: dict[str, Tree] = {}
    code = 0
    try:
        with trees.worktree(args.compare) as other:
            sides = {"current": trees.current(), "ref": other}
            say(f"comparing {sides['current'].label} with {other.label} ({args.compare}), "
                f"{args.rounds} alternated rounds; {other.label} checked out in {other.root}")
            _same_routes(args, sides, say)
            for round_ in range(1, args.rounds + 1):
                for side in order(round_):
                    runs.append(run_side(args, factory, sides[side], side, round_, say))
    except KeyboardInterrupt:
        say("\ninterrupted: every process stopped, the temporary worktree removed")
        code = 130
    except (RuntimeError, TimeoutError, OSError) as ex:
        say(f"\nbench --compare failed: {ex}")
        code = 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    if runs:  # NOTE: the rounds done before a failure are still worth reading
        doc = compare_report.build(args, sides, runs)
        # NOTE: --quick promises to leave docs/ alone, as without --compare
        out_dir = args.output or (data_dir().resolve() / "bench" / "compare" if args.quick else ROOT / "docs")
        json_path, md_path = compare_report.write(out_dir, doc)
        print("\n" + compare_report.table(doc))
        say(f"wrote {md_path} and {json_path} in {time.monotonic() - started:.0f} s")
    unhealthy = sum(run["unhealthy"] for run in runs)
    if code == 0 and unhealthy:
        say(f"*** {unhealthy} runs had failed or wrong responses: see the errors column")
        code = 2
    return code

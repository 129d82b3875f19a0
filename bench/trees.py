"""Source trees of the project the stack can be started from (`scripts/bench --compare REF`).

The current checkout is one tree; `worktree(REF)` checks another git ref out into a
temporary worktree (removed at the end, whatever happens) so its stack runs from its own
code with the same Python and packages. Module paths move between refs (this week
`gateway.natsd` became `gateway.ops.natsd`, `gateway.keys_cli` became
`gateway.runtime.keys`), so a tree's modules are found by probing its files, and the
bench key of another tree is made by a small script run inside that tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.procs import ROOT

# Candidates, newest layout first: the first whose file exists in a tree is used.
_NATSD = ("gateway.ops.natsd", "gateway.natsd")
_KEYS = ("gateway.runtime.keys", "gateway.keys_cli")
_NATSBUS = ("gateway.runtime.natsbus", "gateway.natsbus")

# Run inside another tree: connect as the operator, create a key, print its secret.
_KEY_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
import nats
from {keys} import create_key
from {natsbus} import connect_options
url, creds, name, rpm, tpm, credit = json.loads(sys.argv[1])
async def main():
    nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=1,
                            **connect_options("operator", Path(creds)))
    try:
        _, secret = await create_key(nc, name, ["*"], rpm, tpm, credit)
    finally:
        await nc.close()
    print(secret)
asyncio.run(main())
"""
_ANTHROPIC_SCRIPT = "import workers.providers.anthropic as m; raise SystemExit(m.PROVIDER is None)"


class TreeError(RuntimeError):
    """A ref that cannot be checked out, or a tree the bench cannot start."""


@dataclass(frozen=True)
class Tree:
    """A checkout of the project: where it is, which commit, and where its modules are."""

    root: Path
    commit: str  # short hash
    current: bool  # the checkout the bench runs from
    natsd: str
    keys: str
    natsbus: str
    dirty: bool = False  # uncommitted changes (the current checkout only)

    @property
    def label(self) -> str:
        """`current 3ed423c` / `ref 9efce59`, with a mark when the checkout has local changes."""
        return f"{'current' if self.current else 'ref'} {self.commit}{'+changes' if self.dirty else ''}"

    def env(self) -> dict[str, str]:
        """What makes a child import this tree's code (its own folder first on the path)."""
        return {"PYTHONPATH": str(self.root)}

    def python(self, code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run `code` with the bench's Python inside this tree (a timeout reads as a failure)."""
        command = [sys.executable, "-c", code, *args]
        try:
            return subprocess.run(command, cwd=self.root, capture_output=True, text=True,
                                  env={**os.environ, **self.env()}, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(command, -1, "", f"no answer after {timeout:g} s")

    def anthropic(self) -> bool:
        """Whether this tree's workers can load the Anthropic provider kind."""
        return self.python(_ANTHROPIC_SCRIPT).returncode == 0

    def create_key(self, nats_url: str, credentials: Path, name: str, rpm: int | None, tpm: int | None,
                   credit: int | None) -> str:
        """A key allowed every model, made by this tree's own key code; returns the secret."""
        code = _KEY_SCRIPT.format(keys=self.keys, natsbus=self.natsbus)
        done = self.python(code, json.dumps([nats_url, str(credentials), name, rpm, tpm, credit]))
        if done.returncode != 0 or not done.stdout.strip():
            raise TreeError(f"creating the bench key in {self.label} failed:\n{done.stderr[-2000:]}")
        return done.stdout.strip().splitlines()[-1]


def _module(root: Path, candidates: tuple[str, ...]) -> str:
    for name in candidates:
        if (root / (name.replace(".", "/") + ".py")).exists():
            return name
    raise TreeError(f"{root}: none of {', '.join(candidates)} exists")


def _git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise TreeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def probe(root: Path, current: bool) -> Tree:
    """The tree at `root`: its commit and where its modules live."""
    dirty = current and bool(_git("status", "--porcelain", "--untracked-files=no", cwd=root))
    return Tree(root=root, commit=_git("rev-parse", "--short", "HEAD", cwd=root), current=current,
                natsd=_module(root, _NATSD), keys=_module(root, _KEYS), natsbus=_module(root, _NATSBUS), dirty=dirty)


def git_available() -> str:
    """'' when git and a repository around this checkout are there, else why not."""
    if shutil.which("git") is None:
        return "git is not installed"
    try:
        _git("rev-parse", "--git-dir")
    except TreeError as ex:
        return f"not a git checkout: {ex}"
    return ""


def current() -> Tree:
    """The checkout the bench runs from."""
    return probe(ROOT, current=True)


@contextmanager
def worktree(ref: str) -> Iterator[Tree]:
    """`ref` checked out (detached) in a temporary worktree, removed on exit even on Ctrl-C."""
    try:
        commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    except TreeError as ex:
        raise TreeError(f"--compare {ref}: not a commit of this repository ({ex})") from None
    folder = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    try:
        _git("worktree", "add", "--detach", str(folder), commit)
        yield probe(folder, current=False)
    finally:
        try:
            _git("worktree", "remove", "--force", str(folder))
        except TreeError:
            pass  # NOTE: never added, or already gone: the prune below forgets it either way
        shutil.rmtree(folder, ignore_errors=True)
        try:
            _git("worktree", "prune")
        except TreeError:
            pass

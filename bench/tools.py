"""Bench-only tools: uvloop for the fake upstream and the driver, py-spy for profiles.

They are installed into the project's venv by `scripts/bench` when missing (never
project dependencies); everything works without them, only slower or unprofiled.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path


def install_loop() -> str:
    """Use uvloop for this process's asyncio loops when importable; returns the loop's name."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def pip_install(*requirements: str, python: str = sys.executable, timeout: float = 600) -> tuple[bool, str]:
    """`python -m pip install --quiet ...`; (succeeded, the tail of its output)."""
    try:
        done = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               *requirements], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as ex:
        return False, f"{type(ex).__name__}: {ex}"
    lines = [line for line in (done.stdout + done.stderr).splitlines() if not line.startswith("WARNING: Location")]
    return done.returncode == 0, "\n".join(lines[-8:])


def ensure_module(module: str, requirement: str) -> bool:
    """Whether `module` imports in this venv, installing `requirement` if it is missing."""
    if importlib.util.find_spec(module) is not None:
        return True
    ok, _ = pip_install(requirement)
    importlib.invalidate_caches()
    return ok and importlib.util.find_spec(module) is not None


def py_spy() -> str | None:
    """The py-spy executable of this venv, installed if missing; None if not to be had."""
    path = Path(sys.executable).parent / "py-spy"
    if not path.exists():
        pip_install("py-spy")
    return str(path) if path.exists() else None

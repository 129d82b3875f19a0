"""Dependency declarations and locks: what the product imports is what it declares and locks.

The dev extras once hid a missing runtime dependency (gunicorn's gevent worker needs
`packaging`, which only pytest brought in): CI was green while the product did not start.
These checks fail on any such drift, without a network or a fresh install.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.harness.procs import ROOT

RUNTIME_PACKAGES = ("gateway", "workers", "ledger")
OWN_MODULES = {"gateway", "workers", "ledger", "tests", "bench"}
# bench/tools.py installs these on demand when a benchmark asks for them.
INSTALLED_ON_DEMAND = {"uvloop"}
# The only runtime modules that import an optional extra (`otel`); each runs without it.
OPTIONAL_IMPORTERS = {"gateway/runtime/tracing.py"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def runtime_requirements() -> list[Requirement]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    return [Requirement(r) for r in project["dependencies"]]


def optional_requirements() -> list[Requirement]:
    """The optional extras other than dev (e.g. `otel`): imported only where installed."""
    project = pyproject()["project"]
    assert isinstance(project, dict)
    extras = project["optional-dependencies"]
    return [Requirement(r) for name, reqs in extras.items() if name != "dev" for r in reqs]


def dev_requirements() -> list[Requirement]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    return [Requirement(r) for r in project["optional-dependencies"]["dev"]]


def build_requirements() -> list[Requirement]:
    lines = (ROOT / "requirements" / "build.in").read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def lock_pins(name: str) -> dict[str, str]:
    """name -> version of the lock's entries that apply to this machine."""
    pins = {}
    for line in (ROOT / "requirements" / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match is None:
            continue
        package, version, marker = match.groups()
        if marker is None or Marker(marker).evaluate():
            pins[canonicalize_name(package)] = version
    return pins


def third_party_imports(folder: Path) -> dict[str, str]:
    """Top-level modules imported by the .py files under `folder` -> a file importing it."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OWN_MODULES and top != "__future__":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def declared_names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


@cache
def distributions_of(module: str) -> frozenset[str]:
    return frozenset(canonicalize_name(d) for d in metadata.packages_distributions().get(module, []))


def closure(requirements: list[Requirement], extras: tuple[str, ...] = ()) -> set[str]:
    """Every distribution these requirements pull in on this machine (from installed metadata)."""
    seen: set[str] = set()
    todo = [(r, extras) for r in requirements]
    while todo:
        requirement, wanted = todo.pop()
        environments = [{"extra": e} for e in wanted] or [{"extra": ""}]
        if requirement.marker is not None and not any(requirement.marker.evaluate(env) for env in environments):
            continue
        name = canonicalize_name(requirement.name)
        key = name + "[" + ",".join(sorted(requirement.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        for child in metadata.requires(requirement.name) or []:
            todo.append((Requirement(child), tuple(sorted(requirement.extras))))
    return {key.split("[")[0] for key in seen}


def test_every_runtime_import_is_declared_by_the_runtime_dependencies() -> None:
    declared = declared_names(runtime_requirements())
    optional = declared_names(optional_requirements())
    undeclared = {}
    for package in RUNTIME_PACKAGES:
        for module, where in third_party_imports(ROOT / package).items():
            found = distributions_of(module)
            if found & declared:
                continue
            if found & optional and where in OPTIONAL_IMPORTERS:
                continue  # an optional extra's import, guarded where it is made
            undeclared[module] = where
    assert undeclared == {}, f"imported by the runtime but not in [project] dependencies: {undeclared}"


def test_optional_extras_are_imported_only_behind_an_import_guard() -> None:
    for where in OPTIONAL_IMPORTERS:
        text = (ROOT / where).read_text(encoding="utf-8")
        assert "except ImportError:" in text, f"{where} must work without its optional extra"


def test_every_test_and_bench_import_is_declared() -> None:
    declared = declared_names(runtime_requirements() + dev_requirements())
    undeclared = {}
    for folder in ("tests", "bench"):
        for module, where in third_party_imports(ROOT / folder).items():
            if module not in INSTALLED_ON_DEMAND and not distributions_of(module) & declared:
                undeclared[module] = where
    assert undeclared == {}, f"imported by tests or bench but declared nowhere: {undeclared}"


def test_the_gunicorn_gevent_worker_is_declared_with_its_extra() -> None:
    gunicorn = [r for r in runtime_requirements() if canonicalize_name(r.name) == "gunicorn"]
    assert gunicorn and "gevent" in gunicorn[0].extras, "gunicorn's gevent worker needs gunicorn[gevent]"


def test_the_runtime_lock_is_exactly_what_pyproject_needs() -> None:
    needed = closure(runtime_requirements() + build_requirements())
    pins = lock_pins("runtime")
    assert needed - pins.keys() == set(), "requirements/runtime.txt lacks these: run scripts/lock"
    assert pins.keys() - needed == set(), "requirements/runtime.txt pins what nothing needs: run scripts/lock"
    for requirement in runtime_requirements() + build_requirements():
        version = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)


def test_the_dev_lock_adds_the_dev_extra_with_the_same_runtime_pins() -> None:
    needed = closure(runtime_requirements() + build_requirements() + dev_requirements())
    runtime, dev = lock_pins("runtime"), lock_pins("dev")
    assert needed - dev.keys() == set(), "requirements/dev.txt lacks these: run scripts/lock"
    assert dev.keys() - needed == set(), "requirements/dev.txt pins what nothing needs: run scripts/lock"
    assert {name: dev[name] for name in runtime} == runtime


def test_this_environment_is_the_dev_lock() -> None:
    """scripts/test installed exactly the locked versions (no stray upgrade, no skipped pin)."""
    installed = {}
    for name, version in lock_pins("dev").items():
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed[name] = "missing"
    assert installed == lock_pins("dev")


def test_every_locked_file_carries_a_hash() -> None:
    for name in ("runtime", "dev"):
        text = (ROOT / "requirements" / f"{name}.txt").read_text(encoding="utf-8")
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        for entry in entries:
            if "==" in entry:
                assert "--hash=sha256:" in entry, entry.splitlines()[0]

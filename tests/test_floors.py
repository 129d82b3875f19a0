"""The floors point down (docs/architecture.md): each rule fails here the moment it breaks.

- `gateway/contracts/` imports only msgspec and the standard library;
- `gateway/runtime/` imports nothing of ours but `contracts/` (and itself);
- `gateway/ops/` (operator tools) builds on `contracts/` and `runtime/` only;
- workers/ and ledger/ import nothing of gateway/ but `contracts/` and `runtime/`;
- gateway/ never imports ledger/ or workers/, and workers/ and ledger/ not each other;
- no import cycle between modules of gateway/, workers/, ledger/.

Imports are read from the source (every `import` statement, function-level ones and those
under TYPE_CHECKING included), so a rule cannot be dodged by importing late.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.harness.procs import ROOT

PACKAGES = ("gateway", "workers", "ledger")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports, as dotted names (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            # `from gateway import natsbus` imports the submodule gateway.natsbus
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {imp for imp in _imports(path) if imp in modules}
    return graph


def _floor(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "gateway" and len(parts) > 1 and parts[1] in ("contracts", "runtime", "ops"):
        return f"gateway.{parts[1]}"
    return parts[0]


ALLOWED: dict[str, set[str]] = {
    "gateway.contracts": {"gateway.contracts"},
    "gateway.runtime": {"gateway.contracts", "gateway.runtime"},
    "gateway.ops": {"gateway.contracts", "gateway.runtime", "gateway.ops"},
    "gateway": {"gateway.contracts", "gateway.runtime", "gateway"},
    "workers": {"gateway.contracts", "gateway.runtime", "workers"},
    "ledger": {"gateway.contracts", "gateway.runtime", "ledger"},
}


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Each import that crosses a floor the wrong way, as 'a -> b'."""
    out = []
    for module, imports in sorted(graph.items()):
        allowed = ALLOWED[_floor(module)]
        out += [f"{module} -> {imp}" for imp in sorted(imports) if _floor(imp) not in allowed]
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _package_parents(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph without the edge from a submodule's import to its own package's __init__
    (importing `a.b` runs `a/__init__`), which is not a dependency cycle of our making."""
    return {m: {i for i in imps if not m.startswith(i + ".")} for m, imps in graph.items()}


def test_every_import_points_down_a_floor() -> None:
    assert violations(_graph()) == []


def test_no_import_cycle() -> None:
    assert cycles(_package_parents(_graph())) == []


def test_contracts_import_only_msgspec_and_the_standard_library() -> None:
    bad = []
    for path in (ROOT / "gateway" / "contracts").rglob("*.py"):
        for imp in _imports(path):
            top = imp.split(".")[0]
            if top in ("msgspec", "gateway", "__future__") or top in sys.stdlib_module_names:
                continue
            bad.append(f"{_module_name(path)} -> {imp}")
    assert bad == []


@pytest.mark.parametrize("module, imports, broken", [
    ("workers.service", {"gateway.relay"}, "workers.service -> gateway.relay"),
    ("gateway.budget", {"ledger.store"}, "gateway.budget -> ledger.store"),
    ("gateway.runtime.metrics", {"gateway.keycache"}, "gateway.runtime.metrics -> gateway.keycache"),
    ("gateway.contracts.bus", {"gateway.runtime.natsbus"}, "gateway.contracts.bus -> gateway.runtime.natsbus"),
    ("gateway.ops.launcher", {"gateway.relay"}, "gateway.ops.launcher -> gateway.relay"),
    ("ledger.main", {"workers.service"}, "ledger.main -> workers.service"),
])
def test_the_rules_catch_a_wrong_arrow(module: str, imports: set[str], broken: str) -> None:
    assert violations({module: imports}) == [broken]


def test_a_cycle_is_caught() -> None:
    graph = {"gateway.a": {"gateway.b"}, "gateway.b": {"gateway.c"}, "gateway.c": {"gateway.a"}, "gateway.d": set()}
    assert cycles(graph) == [["gateway.a", "gateway.b", "gateway.c"]]

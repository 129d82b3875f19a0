"""The compatibility matrix (issue 21): real clients, at the newest or given versions, through
the gateway's end-to-end tests on each kind of route; the results go to docs/compatibility.md.

Opt-in (`scripts/compat`), never part of the default suite. Each client version goes into
var/compat/<client>-<version>/: the agents with npm (the tests find them through the
test-harness variables of tests/e2e/agents.py), the SDKs with `pip install --target
--no-deps` put first on PYTHONPATH, so the locks and the venv stay as they are. A
client's row per route kind sums up the outcome of that route's parametrized tests.

    python -m tests.compat [CLIENT[=VERSION] ...]    (no VERSION: the newest; no CLIENT: all)
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.harness.procs import ROOT

DOC = ROOT / "docs" / "compatibility.md"
HEADER = ("| Client | Version | Route kind | Result | Date |", "|---|---|---|---|---|")


@dataclass(frozen=True)
class Client:
    installer: str  # "npm" or "pip"
    package: str
    tests: tuple[str, ...]
    variable: str = ""  # the test-harness variable naming an npm prefix (tests/e2e/agents.py)


CLIENTS = {
    "claude-code": Client("npm", "@anthropic-ai/claude-code", ("tests/e2e/test_claude_code.py",),
                          "TEST_CLAUDE_CODE_PREFIX"),
    "codex": Client("npm", "@openai/codex", ("tests/e2e/responses/test_codex.py",), "TEST_CODEX_PREFIX"),
    "openai": Client("pip", "openai", ("tests/e2e/responses/test_sdk.py", "tests/e2e/responses/test_agents_sdk.py")),
    "anthropic": Client("pip", "anthropic", ("tests/e2e/test_messages.py",)),
}

# The model ids of the e2e configs (tests/e2e/conftest.py, tests/e2e/responses/conftest.py)
# -> the kind of route each stands for; a test id naming none is route-independent.
ROUTE_KINDS = {
    "msg-claude": "Anthropic, passed through",
    "claude-r": "Anthropic, converted",
    "msg-openai": "OpenAI chat, converted",
    "gpt-conv": "OpenAI chat, converted",
    "gpt-4o-mini": "OpenAI chat, converted, non-reasoning model (gpt-4o-mini)",
    "qwen-r": "OpenAI-compatible (vLLM), converted, no developer role",
    "gpt-native": "OpenAI Responses, passed through",
    "msg-gemini": "Gemini, converted",
    "gemini-r": "Gemini, converted",
}
NO_ROUTE = "route-independent"


def route_kind(test_name: str) -> str:
    """The route kind a test id's parameters name (`test_x[False-msg-claude]`)."""
    params = test_name.partition("[")[2].rstrip("]")
    for model in sorted(ROUTE_KINDS, key=len, reverse=True):
        if re.search(rf"(^|-){re.escape(model)}(-|$)", params):
            return ROUTE_KINDS[model]
    return NO_ROUTE


def outcomes(junit_xml: str) -> dict[str, list[tuple[str, str]]]:
    """route kind -> [(test name, "pass" | "fail" | "skip: reason")] from a pytest JUnit report."""
    found: dict[str, list[tuple[str, str]]] = {}
    for case in ET.fromstring(junit_xml).iter("testcase"):
        name = case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "fail"
        elif (skipped := case.find("skipped")) is not None:
            outcome = "skip: " + (skipped.get("message") or "").split("\n")[0]
        else:
            outcome = "pass"
        found.setdefault(route_kind(name), []).append((name, outcome))
    return found


def summary(results: list[tuple[str, str]]) -> str:
    """One matrix cell: pass, FAIL naming the failed tests, or skipped saying why."""
    failed = [name for name, outcome in results if outcome == "fail"]
    if failed:
        return f"FAIL ({len(failed)} of {len(results)}: {', '.join(failed)})"
    skipped = [outcome for _, outcome in results if outcome.startswith("skip")]
    if len(skipped) == len(results):
        why = skipped[0].removeprefix("skip: ").replace(f"{ROOT}{os.sep}", "")  # no machine's path in the doc
        return f"skipped ({why})".replace("|", "/")
    ran = len(results) - len(skipped)
    return f"pass ({ran} test{'s' if ran > 1 else ''}{f', {len(skipped)} skipped' if skipped else ''})"


def merge(old_doc: str, client: str, version: str, cells: dict[str, str], day: str) -> list[tuple[str, ...]]:
    """The matrix rows: the document's own, with this client version's replaced by `cells`."""
    rows = [tuple(c.strip() for c in line.strip().strip("|").split("|"))
            for line in old_doc.splitlines() if line.startswith("| ") and line not in HEADER]
    rows = [r for r in rows if len(r) == 5 and r[:2] != (client, version)]
    rows += [(client, version, kind, result, day) for kind, result in cells.items()]
    order = list(CLIENTS)

    def key(row: tuple[str, ...]) -> tuple[int, list[int], str]:
        numbers = [-int(n) for n in re.findall(r"\d+", row[1])]  # newest version first
        return (order.index(row[0]) if row[0] in order else len(order), numbers, row[2])

    return sorted(rows, key=key)


def render(rows: Iterable[tuple[str, ...]]) -> str:
    return "\n".join([
        "# Compatibility matrix", "",
        "Real clients through the gateway, each version against every kind of route, as run by",
        "`scripts/compat` (opt-in; tests/compat.py says how): Claude Code runs",
        "tests/e2e/test_claude_code.py, Codex tests/e2e/responses/test_codex.py, the openai SDK",
        "tests/e2e/responses/test_sdk.py and test_agents_sdk.py, the anthropic SDK",
        "tests/e2e/test_messages.py. The SDKs run over the locked dev environment (`--no-deps`).",
        "The versions `scripts/test` pins are in scripts/_agents.sh and requirements/dev.txt.", "",
        *HEADER, *("| " + " | ".join(row) + " |" for row in rows), "",
    ])


def newest(client: Client) -> str:
    """The newest released version of the client, from its registry."""
    if client.installer == "npm":
        return run(["npm", "view", client.package, "version"]).strip()
    listed = run([sys.executable, "-m", "pip", "index", "versions", client.package, "--disable-pip-version-check"])
    match = re.search(rf"^{re.escape(client.package)} \(([^)]+)\)", listed, re.M)
    if match is None:
        raise SystemExit(f"pip did not say the newest {client.package}: {listed[:300]}")
    return match.group(1)


def install(client: Client, version: str, folder: Path) -> dict[str, str]:
    """Install the client version into `folder` (once); the environment pointing the tests at it."""
    if client.installer == "npm":
        package = folder / "node_modules" / client.package / "package.json"
        if f'"version": "{version}"' not in (package.read_text() if package.exists() else ""):
            run(["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--loglevel=error",
                 f"{client.package}@{version}"])
        return {client.variable: str(folder)}
    if not list(folder.glob(f"{client.package}-{version}.dist-info")):
        run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--target", str(folder), f"{client.package}=={version}"])
    path = os.pathsep.join(p for p in (str(folder), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path}
    seen = run([sys.executable, "-c", f"import {client.package}; print({client.package}.__version__)"], env).strip()
    if seen != version:
        raise SystemExit(f"the tests would import {client.package} {seen}, not {version}")
    return env


def run(command: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def check(name: str, version: str) -> dict[str, str]:
    """Install and test one client version; its matrix cells (route kind -> result)."""
    client = CLIENTS[name]
    folder = ROOT / "var" / "compat" / f"{name}-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    env = install(client, version, folder)
    report = folder / "junit.xml"
    print(f"compat: {name} {version}: {' '.join(client.tests)}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    *client.tests], cwd=ROOT, env={**os.environ, **env}, check=False)
    return {kind: summary(results) for kind, results in sorted(outcomes(report.read_text()).items())}


def main(argv: list[str]) -> int:
    asked = [arg.partition("=") for arg in argv] or [(name, "", "") for name in CLIENTS]
    unknown = [name for name, _, _ in asked if name not in CLIENTS]
    if unknown:
        print(f"unknown client(s) {unknown}; known: {', '.join(CLIENTS)}", file=sys.stderr)
        return 2
    day = datetime.datetime.now(datetime.UTC).date().isoformat()
    failed = False
    for name, _, version in asked:
        version = version or newest(CLIENTS[name])
        cells = check(name, version)
        failed |= any(cell.startswith("FAIL") for cell in cells.values())
        DOC.write_text(render(merge(DOC.read_text() if DOC.exists() else "", name, version, cells, day)))
        print(f"compat: {name} {version}: {cells}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

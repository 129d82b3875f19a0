"""The README's error table lists every status and code the code base can send.

The table is the public contract; codes are built in many modules (the gateway, the
worker service, each provider). This reads every construction of an error from the
source and the table from the README, so a new code or status cannot go undocumented.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.harness.procs import ROOT

PACKAGES = ("gateway", "workers", "ledger")
# Calls that build an error, and the position of their `code` argument.
CODE_POSITION = {"OpenAIError": 3, "ConversionError": 2, "invalid_request": 2}
WITH_STATUS = {"APIError", "UpstreamError"}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _code_of(call: ast.Call) -> str | None:
    """The string literal given as `code` to an error constructor, if any."""
    position = CODE_POSITION.get(_name(call.func))
    if position is None:
        return None
    values = [k.value for k in call.keywords if k.arg == "code"]
    if len(call.args) > position:
        values.append(call.args[position])
    for value in values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value
    return None


def constructed_errors() -> tuple[set[tuple[int | None, str]], set[int]]:
    """(status or None, code) of every error built in the code base, and every literal status."""
    pairs: set[tuple[int | None, str]] = set()
    statuses: set[int] = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            named: dict[str, str] = {}  # CLIENT_GONE = OpenAIError(...): a module-level error
            for node in tree.body:
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                    code = _code_of(node.value)
                    for target in node.targets:
                        if code and isinstance(target, ast.Name):
                            named[target.id] = code
            placed: set[int] = set()
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or _name(node.func) not in WITH_STATUS or len(node.args) < 2:
                    continue
                status, error = node.args[0], node.args[1]
                if not (isinstance(status, ast.Constant) and isinstance(status.value, int)):
                    continue
                statuses.add(status.value)
                code = _code_of(error) if isinstance(error, ast.Call) else named.get(_name(error))
                if code:
                    pairs.add((status.value, code))
                    placed.add(id(error))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and id(node) not in placed:
                    code = _code_of(node)
                    if code:
                        status = 400 if _name(node.func) in ("ConversionError", "invalid_request") else None
                        pairs.add((status, code))
    return pairs, statuses


def readme_table(readme: Path = ROOT / "README.md") -> dict[int, set[str]]:
    """The README's error table: status -> the codes its rows give."""
    text = readme.read_text(encoding="utf-8")
    section = text[text.index("\n## Errors\n"):]
    section = section[: section.index("\n## ", 1)]
    table: dict[int, set[str]] = {}
    for line in section.splitlines():
        match = re.match(r"^\| (\d{3}) \|.*\| ([^|]*) \|$", line)
        if match:
            table.setdefault(int(match.group(1)), set()).update(re.findall(r"`([a-z_]+)`", match.group(2)))
    return table


def test_the_scan_finds_errors_where_they_are_built() -> None:
    pairs, statuses = constructed_errors()
    assert {(404, "model_not_found"), (400, "invalid_json"), (502, "upstream_config_error"),
            (405, "method_not_allowed"), (499, "client_closed_request")} <= pairs
    assert {400, 401, 403, 404, 405, 413, 429, 500, 502, 503, 504} <= statuses
    assert readme_table()[429] == {"rate_limit_exceeded", "insufficient_quota"}


def test_every_status_and_code_the_code_base_sends_is_in_the_readme_error_table() -> None:
    pairs, statuses = constructed_errors()
    table = readme_table()
    assert sorted(statuses - set(table)) == [], "statuses missing from the README's error table"
    all_codes = set().union(*table.values())
    missing = sorted(
        f"{status or '?'} {code}" for status, code in pairs
        if code not in (table.get(status, set()) if status is not None else all_codes)
    )
    assert missing == [], "codes missing from the README's error table (status code)"


def test_errors_are_built_only_in_the_error_table() -> None:
    """`APIError(...)` and `OpenAIError(...)` are written only in gateway/contracts/errors.py:
    every other module builds an error through one of its constructors."""
    table = ROOT / "gateway" / "contracts" / "errors.py"
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == table:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and _name(node.func) in ("APIError", "OpenAIError"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == [], "build these errors through a constructor of gateway/contracts/errors.py"


ARTICLE_TYPO = re.compile(r"\ban (?:[bcdfgjklmnpqrstvwxz]|\{)")


def test_no_an_before_a_consonant_or_a_placeholder_in_any_string() -> None:
    """'is an chat model' reached users once: the article must not depend on a value."""
    found = set()  # a set: Python 3.11 gives an f-string's parts the whole f-string's position
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                    text = ast.get_source_segment(source, node) or ""
                    if ARTICLE_TYPO.search(text):
                        found.add(f"{path.relative_to(ROOT)}:{node.lineno}: {text[:80]}")
    assert sorted(found) == []

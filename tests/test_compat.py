"""scripts/compat's bookkeeping (tests/compat.py): test ids to route kinds, JUnit outcomes to
matrix cells, and a run's rows merged into docs/compatibility.md without losing the others."""

from __future__ import annotations

from tests import compat
from tests.harness.procs import ROOT

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="t" name="test_turn[claude-msg-claude-args0]"/>
<testcase classname="t" name="test_turn[openai-msg-openai-args1]"><failure message="boom">x</failure></testcase>
<testcase classname="t" name="test_turn[openai-gpt-4o-mini-args3]"/>
<testcase classname="t" name="test_loop[True-gpt-conv]"/>
<testcase classname="t" name="test_turn[gemini-r]"><skipped message="Codex is not installed | here">s</skipped></testcase>
<testcase classname="t" name="test_a_bad_key"/>
</testsuite></testsuites>"""


def test_a_test_id_names_its_route_kind_by_its_model_whole() -> None:
    assert compat.route_kind("test_turn[openai-gpt-4o-mini-args3]") == (
        "OpenAI chat, converted, non-reasoning model (gpt-4o-mini)")
    assert compat.route_kind("test_x[False-msg-claude]") == "Anthropic, passed through"
    assert compat.route_kind("test_x[gpt-native]") == "OpenAI Responses, passed through"
    assert compat.route_kind("test_x[gpt-native2]") == compat.NO_ROUTE  # no partial matches
    assert compat.route_kind("test_a_bad_key") == compat.NO_ROUTE


def test_outcomes_sum_up_per_route_kind() -> None:
    cells = {kind: compat.summary(results) for kind, results in compat.outcomes(JUNIT).items()}
    assert cells == {
        "Anthropic, passed through": "pass (1 test)",
        "OpenAI chat, converted": "FAIL (1 of 2: test_turn[openai-msg-openai-args1])",
        "OpenAI chat, converted, non-reasoning model (gpt-4o-mini)": "pass (1 test)",
        "Gemini, converted": "skipped (Codex is not installed / here)",  # a table cell: no pipe
        compat.NO_ROUTE: "pass (1 test)",
    }
    assert compat.summary([("a", "pass"), ("b", "skip: no node")]) == "pass (1 test, 1 skipped)"
    assert compat.summary([("a", f"skip: none in {ROOT / 'var' / 'compat'}")]) == "skipped (none in var/compat)"


def test_a_run_replaces_its_own_rows_and_keeps_the_others_newest_first() -> None:
    doc = compat.render([("claude-code", "2.1.9", "Gemini, converted", "FAIL (1 of 1: t)", "2026-11-01"),
                         ("codex", "0.171.0", "Anthropic, converted", "pass (1 test)", "2026-11-01")])
    rows = compat.merge(doc, "claude-code", "2.1.9", {"Gemini, converted": "pass (1 test)"}, "2026-12-03")
    rows = compat.merge(compat.render(rows), "claude-code", "2.1.10", {"Gemini, converted": "pass (1 test)"},
                        "2026-12-03")
    assert rows == [
        ("claude-code", "2.1.10", "Gemini, converted", "pass (1 test)", "2026-12-03"),  # 10 > 9, not as text
        ("claude-code", "2.1.9", "Gemini, converted", "pass (1 test)", "2026-12-03"),
        ("codex", "0.171.0", "Anthropic, converted", "pass (1 test)", "2026-11-01"),
    ]
    assert compat.HEADER[0] in compat.render(rows)

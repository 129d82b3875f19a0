"""The billing report: per key, model and day; balances; table, csv and the stable json."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ledger.entries import PricedUsage, Rejected
from gateway.runtime.pricing import Cost
from ledger.report import build_report, main, open_database, usd
from ledger.store import Store
from tests.ledger.conftest import DAY, credit, priced, usage

DB = "ledger.sqlite3"
ZERO = {"requests": 0, "prompt_tokens": 0, "cached_tokens": 0, "completion_tokens": 0, "cost_usd": "0.000000"}


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> str:
    assert main(["--database", str(tmp_path / DB), *args]) == 0
    return capsys.readouterr().out


@pytest.fixture
def books(store: Store) -> Store:
    """Two keys, two models, two days, a credit, a failure with and one without tokens."""
    store.apply([
        priced(usage("r1", model="gpt-a"), micro=64),
        priced(usage("r2", model="gpt-a", stream=True), micro=64),
        priced(usage("r3", model="gpt-b", prompt_tokens=20, cached_tokens=0, completion_tokens=7), micro=7),
        priced(usage("r4", model="gpt-a"), micro=64, day="2026-03-05"),
        priced(usage("r5", key_id="key_b", model="gpt-b"), micro=1_234_567),
        priced(usage("r6", status="cancelled", completion_tokens=2), micro=40),  # spent tokens: billed
        priced(usage("r7", source="gateway", status="error", prompt_tokens=0, cached_tokens=0,
                     completion_tokens=0, total_tokens=0), micro=0),  # spent nothing: not a request
        priced(usage("r8", key_id="key_b", model="gpt-c", status="error", prompt_tokens=0, cached_tokens=0,
                     completion_tokens=0, total_tokens=0), micro=0),  # a group of nothing: no row
        credit("c1", micro=1_000_000),
    ])
    return store


def test_money_is_a_six_place_decimal_string() -> None:
    assert [usd(0), usd(123), usd(1_000_000), usd(1_234_567), usd(-7)] == [
        "0.000000", "0.000123", "1.000000", "1.234567", "-0.000007"]


def test_json_rows_per_key_model_and_day(books: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = json.loads(run(capsys, tmp_path, "--format", "json"))
    assert report["rows"] == [
        {"key": "alice", "model": "gpt-a", "day": "2026-03-04", "requests": 3, "prompt_tokens": 33,
         "cached_tokens": 9, "completion_tokens": 10, "cost_usd": "0.000168"},
        {"key": "alice", "model": "gpt-a", "day": "2026-03-05", "requests": 1, "prompt_tokens": 11,
         "cached_tokens": 3, "completion_tokens": 4, "cost_usd": "0.000064"},
        {"key": "alice", "model": "gpt-b", "day": "2026-03-04", "requests": 1, "prompt_tokens": 20,
         "cached_tokens": 0, "completion_tokens": 7, "cost_usd": "0.000007"},
        {"key": "b", "model": "gpt-b", "day": "2026-03-04", "requests": 1, "prompt_tokens": 11,
         "cached_tokens": 3, "completion_tokens": 4, "cost_usd": "1.234567"},
    ]
    assert report["balances"] == {
        "alice": {"credit_usd": "1.000000", "spent_usd": "0.000239", "balance_usd": "0.999761"},
        "b": {"credit_usd": "0.000000", "spent_usd": "1.234567", "balance_usd": None},  # unmetered
    }
    assert report["totals"] == {"requests": 6, "prompt_tokens": 75, "cached_tokens": 15, "completion_tokens": 25,
                                "cost_usd": "1.234806"}


def test_since_and_until_are_inclusive_days(books: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    only_5th = json.loads(run(capsys, tmp_path, "--format", "json", "--since", "2026-03-05", "--until", "2026-03-05"))
    assert [(r["day"], r["requests"]) for r in only_5th["rows"]] == [("2026-03-05", 1)]
    assert set(only_5th["balances"]) == {"alice", "b"}  # balances are current, not per period
    until_4th = json.loads(run(capsys, tmp_path, "--format", "json", "--until", "2026-03-04"))
    assert {r["day"] for r in until_4th["rows"]} == {"2026-03-04"}
    assert json.loads(run(capsys, tmp_path, "--format", "json", "--since", "2026-03-06"))["rows"] == []


def test_key_filter_by_name_or_id(books: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    by_name = json.loads(run(capsys, tmp_path, "--format", "json", "--key", "b"))
    by_id = json.loads(run(capsys, tmp_path, "--format", "json", "--key", "key_b"))
    assert by_name == by_id
    assert [r["key"] for r in by_name["rows"]] == ["b"] and list(by_name["balances"]) == ["b"]


def test_unknown_key_is_an_empty_report_and_a_warning(books: Store, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database", str(tmp_path / DB), "--format", "json", "--key", "nobody"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"rows": [], "balances": {}, "totals": ZERO}
    assert "no key 'nobody'" in captured.err


def test_keys_sharing_a_name_are_told_apart_by_id(store: Store, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    store.apply([priced(usage("r1", key_id="key_1", key_name="team"), micro=1),
                 priced(usage("r2", key_id="key_2", key_name="team"), micro=2)])
    report = json.loads(run(capsys, tmp_path, "--format", "json"))
    assert [r["key"] for r in report["rows"]] == ["team (key_1)", "team (key_2)"]
    assert set(report["balances"]) == {"team (key_1)", "team (key_2)"}
    assert len(json.loads(run(capsys, tmp_path, "--format", "json", "--key", "team"))["rows"]) == 2


def test_csv_is_the_rows_a_total_and_the_balances(books: Store, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    table = list(csv.reader(io.StringIO(run(capsys, tmp_path, "--format", "csv"))))
    assert table[0] == ["key", "model", "day", "requests", "prompt_tokens", "cached_tokens", "completion_tokens",
                        "cost_usd"]
    assert table[1] == ["alice", "gpt-a", "2026-03-04", "3", "33", "9", "10", "0.000168"]
    assert table[5] == ["total", "", "", "6", "75", "15", "25", "1.234806"]
    assert table[6] == []  # the second section follows an empty line
    assert table[7:] == [["key", "credit_usd", "spent_usd", "balance_usd"],
                         ["alice", "1.000000", "0.000239", "0.999761"],
                         ["b", "0.000000", "1.234567", ""]]  # unmetered


def test_table_is_aligned_with_a_total_and_the_balances(books: Store, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    lines = run(capsys, tmp_path).splitlines()
    header, *body = lines[: lines.index("")]
    assert header.split() == ["key", "model", "day", "requests", "prompt", "cached", "completion", "cost_usd"]
    assert len({line.index("2026") for line in body[:-1]}) == 1  # the day column lines up
    assert len({len(line) for line in [header, *body]}) == 1  # right-aligned numbers end together
    assert body[-1].split() == ["total", "6", "75", "15", "25", "1.234806"]
    balances = lines[lines.index("") + 1:]
    assert balances[0].split() == ["key", "credit_usd", "spent_usd", "balance_usd"]
    assert balances[1].split() == ["alice", "1.000000", "0.000239", "0.999761"]
    assert balances[2].split() == ["b", "0.000000", "1.234567", "unmetered"]


def test_empty_ledger(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert json.loads(run(capsys, tmp_path, "--format", "json")) == {"rows": [], "balances": {}, "totals": ZERO}
    assert run(capsys, tmp_path) == "no usage in this period\n"


def test_missing_database_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database", str(tmp_path / "none.sqlite3")]) == 1
    assert "no ledger database" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite3").exists()  # and none was created


@pytest.mark.parametrize("day", ["2026-3-4", "2026-02-30", "yesterday"])
def test_a_day_must_be_a_real_yyyy_mm_dd(day: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["--database", str(tmp_path / DB), "--since", day])
    assert ex.value.code == 2


def test_since_after_until_is_an_error(books: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database", str(tmp_path / DB), "--since", "2026-03-05", "--until", "2026-03-04"]) == 1
    assert "after --until" in capsys.readouterr().err


def test_report_reads_while_the_ledger_holds_a_write_transaction(books: Store, tmp_path: Path) -> None:
    books.db.conn.execute("BEGIN IMMEDIATE")
    books.db.conn.execute("DELETE FROM usage")  # uncommitted
    db = open_database(tmp_path / DB)
    try:
        assert sum(r.requests for r in build_report(db).rows) == 6
    finally:
        db.close()
        books.db.conn.execute("ROLLBACK")


def test_the_report_cannot_write(books: Store, tmp_path: Path) -> None:
    db = open_database(tmp_path / DB)
    with pytest.raises(Exception, match="readonly"):
        db.execute("DELETE FROM usage")
    db.close()


def test_relative_database_is_the_callers(books: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BILLING_REPORT_CWD", str(tmp_path))
    assert main(["--database", DB, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"]


def test_unbillable_and_unpriced_events_are_called_out(store: Store, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    store.apply([Rejected(seq=3, subject="usage.request", reason="undecodable", data=b"{"),
                 PricedUsage(event=usage("r1", model="mystery"), cost=Cost(micro_usd=0, priced=False), day=DAY)])
    assert main(["--database", str(tmp_path / DB), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows"][0]["model"] == "mystery"  # kept, at cost 0
    assert "1 stream message(s) could not be billed" in captured.err
    assert "no configured price were billed 0: mystery" in captured.err


def test_by_deployment_splits_spend_per_deployment(store: Store, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    store.apply([
        priced(usage("d1", model="gpt-a", deployment="east"), micro=100),
        priced(usage("d2", model="gpt-a", deployment="east"), micro=100),
        priced(usage("d3", model="gpt-a", deployment="west"), micro=30),
        priced(usage("d4", model="gpt-a"), micro=5),  # billed before deployments were recorded
    ])
    report = json.loads(run(capsys, tmp_path, "--format", "json", "--by-deployment"))
    assert [(r["deployment"], r["requests"], r["cost_usd"]) for r in report["rows"]] == [
        ("", 1, "0.000005"), ("east", 2, "0.000200"), ("west", 1, "0.000030")]
    table = list(csv.reader(io.StringIO(run(capsys, tmp_path, "--format", "csv", "--by-deployment"))))
    assert table[0][:4] == ["key", "model", "deployment", "day"] and table[2][:3] == ["alice", "gpt-a", "east"]
    assert table[4] == ["total", "", "", "", "4", "44", "12", "16", "0.000235"]
    lines = run(capsys, tmp_path, "--by-deployment").splitlines()
    assert lines[0].split()[:3] == ["key", "model", "deployment"]
    assert lines[lines.index("") - 1].split() == ["total", "4", "44", "12", "16", "0.000235"]
    plain = json.loads(run(capsys, tmp_path, "--format", "json"))
    assert [(r["requests"], r["cost_usd"]) for r in plain["rows"]] == [(4, "0.000235")]
    assert "deployment" not in plain["rows"][0]

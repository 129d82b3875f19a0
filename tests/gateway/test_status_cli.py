"""gateway/ops/status_cli.py: grouping the answers and showing them."""

from __future__ import annotations

from gateway.contracts.bus import ProcessStatus
from gateway.ops.status_cli import overview, render_table


def answer(role: str, pid: int, **details: object) -> ProcessStatus:
    return ProcessStatus(role=role, id=f"h:{pid}", version="1.2.3", started_at=100.0, uptime_s=5.0,
                         **details)  # type: ignore[arg-type]


def test_providers_without_workers_show_zero_and_the_ledger_brings_the_spend() -> None:
    answers = [answer("gateway", 1, in_flight=2, open_streams=1), answer("worker", 2, providers=["a", "b"]),
               answer("worker", 3, providers=["a"]),
               answer("ledger", 4, pending_events=7, last_commit_at=190.0, day="2026-12-01",
                      spend_today={"team": "0.001000"})]
    view = overview(answers, ["a", "b", "c"])
    assert view.workers_per_provider == {"a": 2, "b": 1, "c": 0}
    assert view.spend_today == {"team": "0.001000"} and view.day == "2026-12-01"
    table = render_table(view, now=200.0)
    assert "gateways: 1 process(es)" in table and "in flight 2  open streams 1" in table
    assert "  c: 0  <- no worker" in table
    assert "lag 7 event(s)  last commit 10.0s ago" in table
    assert "spend today (2026-12-01, UTC):" in table and "team  0.001000 USD" in table


def test_without_a_ledger_the_view_says_so() -> None:
    view = overview([answer("gateway", 1)], [])
    assert view.ledger is None and view.spend_today == {}
    assert "ledger: not answering" in render_table(view, now=0.0)


def test_a_worker_lacking_a_providers_secret_shows_it_unavailable() -> None:
    answers = [answer("worker", 2, providers=["a", "b"], missing_secrets={"b": "B_API_KEY"})]
    table = render_table(overview(answers, ["a", "b"]), now=0.0)
    assert "b: unavailable, B_API_KEY is not set (its models answer 404 model_unavailable)" in table
    assert "a: unavailable" not in table

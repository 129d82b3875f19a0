"""`scripts/billing-report`: usage and cost per key, per model, per day; balances per key.

    scripts/billing-report [--since DAY] [--until DAY] [--key NAME] [--format table|csv|json]
                           [--database PATH] [--by-deployment]

DAY is `YYYY-MM-DD` in UTC, both bounds inclusive. The database is the configured
`[ledger] database` under `GATEWAY_DATA_DIR` unless `--database` names one. It runs
while the ledger writes: the report reads one consistent snapshot (WAL), so its rows and
balances agree with each other and never show half a batch.

What counts (a decision, kept stable):
- `requests` counts billable rows: status "ok", or any row that spent tokens.
  Cancelled and failed requests that spent tokens are billed for them and counted;
  a failure that spent nothing (zero tokens, e.g. a gateway failure record for a worker
  that vanished before the upstream answered) is kept in the database for audits but is
  not a request here, and a group holding only such rows is not shown.
- Days are when the request finished (UTC); a credit's day is when it was given.
- Balances are current (not limited by --since/--until) and cover every key matching
  --key that has any usage or credit: credit - spent, null for an unmetered key (no
  credit ever). Money is a decimal string with 6 places ("0.000123").
- `key` is the key's name; when two keys share a name (a disabled key and its
  replacement), each shows as `name (key_id)`. `--key` matches a name, an id or that label.

The json format is a stable interface:
`{"rows": [{"key", "model", "day", "requests", "prompt_tokens", "cached_tokens",
"completion_tokens", "cost_usd"}], "balances": {"<key>": {"credit_usd", "spent_usd",
"balance_usd"}}, "totals": {"requests", "prompt_tokens", "cached_tokens", "completion_tokens",
"cost_usd"}}`. csv is the header, the rows and a `total` row, then an empty line and a second
section: the balances' header (`key,credit_usd,spent_usd,balance_usd`) and one row per key
("" for an unmetered key's balance). table is for people, with the same total and balances.
`--by-deployment` splits each row by the model's deployment that served it (issue 16):
rows then also carry `"deployment"` (after `model` in csv and table; "" for rows billed
before deployments were recorded).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

import msgspec
import sqlite_utils
from msgspec import UNSET, Struct, UnsetType

from gateway.contracts import config as configuration
from gateway.contracts.environment import environment
from ledger.balances import KeyBalance, read_balances
from ledger.store import BUSY_TIMEOUT_MS, database_path

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MICRO = 1_000_000
# A row is a request of the report when it was served or spent tokens (see the docstring).
COUNTED = "(status = 'ok' OR prompt_tokens > 0 OR completion_tokens > 0)"
ROW_FIELDS = ["key", "model", "day", "requests", "prompt_tokens", "cached_tokens", "completion_tokens", "cost_usd"]


class ReportRow(Struct, kw_only=True):
    """One key, model and day."""

    key: str
    model: str
    deployment: str | UnsetType = UNSET  # only with --by-deployment
    day: str
    requests: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost_usd: str


class BalanceOut(Struct, kw_only=True):
    """One key's money; `balance_usd` is None for an unmetered key."""

    credit_usd: str
    spent_usd: str
    balance_usd: str | None


class Totals(Struct, kw_only=True):
    """The sum of the rows (every format shows it)."""

    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: str = "0.000000"


class Report(Struct, kw_only=True):
    """The whole report (the json format)."""

    rows: list[ReportRow]
    balances: dict[str, BalanceOut]
    totals: Totals = msgspec.field(default_factory=Totals)


def totals(rows: Sequence[ReportRow]) -> Totals:
    """The rows summed; money exactly, as decimals, never floats."""
    cost = sum((Decimal(r.cost_usd) for r in rows), Decimal(0))
    return Totals(requests=sum(r.requests for r in rows), prompt_tokens=sum(r.prompt_tokens for r in rows),
                  cached_tokens=sum(r.cached_tokens for r in rows),
                  completion_tokens=sum(r.completion_tokens for r in rows), cost_usd=f"{cost:.6f}")


class ReportError(Exception):
    """Bad arguments or no database (shown to the operator)."""


def usd(micro: int) -> str:
    """Micro-dollars as a decimal string with 6 places, integers only."""
    whole, part = divmod(abs(micro), MICRO)
    return f"{'-' if micro < 0 else ''}{whole}.{part:06d}"


def spend_on(db: sqlite_utils.Database, day: str) -> dict[str, str]:
    """Key name (or id, where a name is shared or missing) -> USD spent on `day` (UTC)."""
    rows = db.execute("SELECT key_id, MAX(key_name), SUM(cost_micro_usd) FROM usage WHERE day = ? GROUP BY key_id",
                      [day]).fetchall()
    counts = Counter(name for _, name, _ in rows if name)
    return {(name if name and counts[name] == 1 else f"{name} ({key_id})" if name else key_id): usd(int(micro or 0))
            for key_id, name, micro in rows}


def day_arg(text: str) -> str:
    """An argparse type: a real calendar day as YYYY-MM-DD."""
    try:
        if not _DAY.match(text):
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None


def labels(balances: Sequence[KeyBalance]) -> dict[str, str]:
    """key id -> the name shown; names shared by several keys get the id beside them."""
    counts = Counter(b.key_name for b in balances if b.key_name)
    return {b.key_id: (b.key_name if counts[b.key_name] == 1 else f"{b.key_name} ({b.key_id})")
            if b.key_name else b.key_id for b in balances}


def _rows(db: sqlite_utils.Database, since: str | None, until: str | None,
          key_ids: list[str] | None, by_deployment: bool = False,
          ) -> list[tuple[str, str, str, str, int, int, int, int, int]]:
    where, params = [], []
    if since:
        where.append("day >= ?")
        params.append(since)
    if until:
        where.append("day <= ?")
        params.append(until)
    if key_ids is not None:
        where.append(f"key_id IN ({', '.join('?' for _ in key_ids)})")
        params.extend(key_ids)
    deployment = "COALESCE(deployment, '')" if by_deployment else "''"
    sql = (f"SELECT key_id, model, {deployment} AS dep, day, SUM(CASE WHEN {COUNTED} THEN 1 ELSE 0 END) AS requests,"
           " SUM(prompt_tokens), SUM(cached_tokens), SUM(completion_tokens), SUM(cost_micro_usd) FROM usage"
           + (" WHERE " + " AND ".join(where) if where else "")
           + " GROUP BY key_id, model, dep, day HAVING requests > 0")
    return db.execute(sql, params).fetchall()


def build_report(db: sqlite_utils.Database, since: str | None = None, until: str | None = None,
                 key: str | None = None, by_deployment: bool = False) -> Report:
    """The report, read in one snapshot of the database."""
    db.conn.execute("BEGIN")  # one read transaction: rows and balances from the same snapshot
    try:
        balances = read_balances(db)
        names = labels(balances)
        if key is not None:
            balances = [b for b in balances if key in (b.key_id, b.key_name, names[b.key_id])]
        key_ids = None if key is None else [b.key_id for b in balances]
        found = _rows(db, since, until, key_ids, by_deployment) if key_ids != [] else []
    finally:
        db.conn.execute("ROLLBACK")
    rows = [ReportRow(key=names.get(k, k), model=m, deployment=dep if by_deployment else UNSET, day=d,
                      requests=n, prompt_tokens=p, cached_tokens=c, completion_tokens=o, cost_usd=usd(cost))
            for k, m, dep, d, n, p, c, o, cost in found]
    rows.sort(key=lambda r: (r.key, r.model, str(r.deployment), r.day))
    return Report(rows=rows, totals=totals(rows), balances={
        names[b.key_id]: BalanceOut(credit_usd=usd(b.credit_micro_usd), spent_usd=usd(b.spent_micro_usd),
                                    balance_usd=usd(b.balance_micro_usd) if b.metered else None)
        for b in sorted(balances, key=lambda b: names[b.key_id])
    })


def render_json(report: Report) -> str:
    """The stable json format."""
    return msgspec.json.format(msgspec.json.encode(report), indent=2).decode() + "\n"


def _fields(report: Report) -> list[str]:
    """ROW_FIELDS, with `deployment` after `model` when the report is split by deployment."""
    if report.rows and not isinstance(report.rows[0].deployment, UnsetType):
        return [*ROW_FIELDS[:2], "deployment", *ROW_FIELDS[2:]]
    return ROW_FIELDS


def render_csv(report: Report) -> str:
    """Header, rows and the total row; an empty line; the balances' header and rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = _fields(report)
    writer.writerow(fields)
    for row in report.rows:
        writer.writerow([getattr(row, f) for f in fields])
    t = report.totals
    writer.writerow(["total", *([""] * (len(fields) - 6)), t.requests, t.prompt_tokens, t.cached_tokens,
                     t.completion_tokens, t.cost_usd])
    writer.writerow([])
    writer.writerow(["key", "credit_usd", "spent_usd", "balance_usd"])
    for name, b in report.balances.items():
        writer.writerow([name, b.credit_usd, b.spent_usd, b.balance_usd or ""])
    return out.getvalue()


def _aligned(header: list[str], rows: list[list[str]], numeric_from: int) -> list[str]:
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return ["  ".join(cell.rjust(w) if i >= numeric_from else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip() for line in lines]


def render_table(report: Report) -> str:
    """Aligned columns for people: the rows with a total, then the balances."""
    split = len(_fields(report)) > len(ROW_FIELDS)
    header = ["key", "model", *(["deployment"] if split else []), "day", "requests", "prompt", "cached",
              "completion", "cost_usd"]
    body = [[r.key, r.model, *([str(r.deployment)] if split else []), r.day, str(r.requests),
             str(r.prompt_tokens), str(r.cached_tokens), str(r.completion_tokens), r.cost_usd] for r in report.rows]
    if report.rows:
        t = report.totals
        body.append(["total", "", *([""] if split else []), "", str(t.requests), str(t.prompt_tokens),
                     str(t.cached_tokens), str(t.completion_tokens), t.cost_usd])
    numeric_from = 4 if split else 3
    lines = _aligned(header, body, numeric_from) if body else ["no usage in this period"]
    money = [[k, b.credit_usd, b.spent_usd, b.balance_usd or "unmetered"] for k, b in report.balances.items()]
    if money:
        lines += ["", *_aligned(["key", "credit_usd", "spent_usd", "balance_usd"], money, 1)]
    return "\n".join(lines) + "\n"


def warnings(db: sqlite_utils.Database) -> list[str]:
    """What an operator must know about the books: events nobody could bill or price."""
    notes = []
    rejected = db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
    if rejected:
        notes.append(f"{rejected} stream message(s) could not be billed; see the ledger's `rejected` table")
    unpriced = db.execute("SELECT COUNT(*), GROUP_CONCAT(DISTINCT model) FROM usage WHERE priced = 0").fetchone()
    if unpriced[0]:
        notes.append(f"{unpriced[0]} request(s) of models with no configured price were billed 0: {unpriced[1]}")
    return notes


def caller_path(path: Path) -> Path:
    """A relative `--database` is relative to where the caller ran the script (the bash
    wrapper changes to the repo root and passes the caller's directory on)."""
    return environment().billing_report_cwd / path


def open_database(path: Path) -> sqlite_utils.Database:
    """Open an existing ledger database for reading only."""
    if not path.is_file():
        raise ReportError(f"no ledger database at {path} (has the ledger run? see GATEWAY_DATA_DIR or --database)")
    db = sqlite_utils.Database(path)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA query_only = 1")  # SECURITY: a report can never change the books
    return db


def parser() -> argparse.ArgumentParser:
    """The command line of `scripts/billing-report`."""
    p = argparse.ArgumentParser(prog="scripts/billing-report", description="Usage, cost and balances per key.")
    p.add_argument("--since", type=day_arg, metavar="DAY", help="first day, YYYY-MM-DD (UTC), inclusive")
    p.add_argument("--until", type=day_arg, metavar="DAY", help="last day, YYYY-MM-DD (UTC), inclusive")
    p.add_argument("--key", metavar="NAME", help="only this key (name or id)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--database", type=Path, metavar="PATH", help="ledger database (default: from the config)")
    p.add_argument("--by-deployment", action="store_true",
                   help="split each row by the model's deployment that served it")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        if args.since and args.until and args.since > args.until:
            raise ReportError(f"--since {args.since} is after --until {args.until}")
        path = caller_path(args.database) if args.database else database_path(configuration.load())
        db = open_database(path)
        try:
            report = build_report(db, args.since, args.until, args.key, args.by_deployment)
            notes = warnings(db)
        finally:
            db.close()
    except (ReportError, configuration.ConfigError) as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    if args.key is not None and not report.balances:
        notes.append(f"no key '{args.key}' in the ledger")
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    render = {"table": render_table, "csv": render_csv, "json": render_json}[args.format]
    sys.stdout.write(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

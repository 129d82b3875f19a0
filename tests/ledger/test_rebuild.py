"""Installing a rebuilt database: atomic for readers, old file kept, no stale WAL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ledger.rebuild import install
from ledger.store import Store
from tests.ledger.conftest import credit, priced, usage


def ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT request_id FROM usage ORDER BY request_id")]


def test_install_replaces_the_contents_and_keeps_the_old_file(tmp_path: Path) -> None:
    live = Store.open(tmp_path / "ledger.sqlite3")
    live.apply([priced(usage("old-1")), priced(usage("old-2"))])
    live.close()
    fresh = Store.open(tmp_path / "ledger.sqlite3.rebuild")
    fresh.apply([priced(usage("new-1")), credit("c1")])
    fresh.close()
    backup = install(tmp_path / "ledger.sqlite3.rebuild", tmp_path / "ledger.sqlite3")
    assert ids(tmp_path / "ledger.sqlite3") == ["new-1"]
    assert backup == tmp_path / "ledger.sqlite3.before-rebuild" and ids(backup) == ["old-1", "old-2"]
    assert not list(tmp_path.glob("*.rebuild*"))
    reopened = Store.open(tmp_path / "ledger.sqlite3")
    assert reopened.db.journal_mode == "wal" and reopened.summary().credit_events == 1
    reopened.close()


def test_a_reader_sees_the_old_ledger_or_the_new_one(tmp_path: Path) -> None:
    live = Store.open(tmp_path / "ledger.sqlite3")
    live.apply([priced(usage("old-1"))])
    reader = sqlite3.connect(tmp_path / "ledger.sqlite3", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM usage").fetchone()[0] == 1  # a snapshot is open
    live.close()
    fresh = Store.open(tmp_path / "new.sqlite3")
    fresh.apply([priced(usage(f"new-{i}")) for i in range(3)])
    fresh.close()
    install(tmp_path / "new.sqlite3", tmp_path / "ledger.sqlite3")
    assert reader.execute("SELECT COUNT(*) FROM usage").fetchone()[0] == 1  # its snapshot holds
    reader.execute("COMMIT")
    assert reader.execute("SELECT COUNT(*) FROM usage").fetchone()[0] == 3  # then the new ledger
    reader.close()


def test_a_stale_wal_of_a_killed_ledger_is_not_replayed_onto_the_new_file(tmp_path: Path) -> None:
    running = Store.open(tmp_path / "running.sqlite3")
    running.db.execute("PRAGMA wal_autocheckpoint = 0")  # the last commit lives only in the WAL
    running.apply([priced(usage("in-wal-only"))])
    path = tmp_path / "ledger.sqlite3"  # what a SIGKILLed ledger leaves behind: the file and its WAL
    path.write_bytes((tmp_path / "running.sqlite3").read_bytes())
    path.with_name(path.name + "-wal").write_bytes((tmp_path / "running.sqlite3-wal").read_bytes())
    running.close()
    fresh = Store.open(tmp_path / "new.sqlite3")
    fresh.apply([priced(usage("new-1"))])
    fresh.close()
    install(tmp_path / "new.sqlite3", path)
    assert ids(path) == ["new-1"]
    assert ids(tmp_path / "ledger.sqlite3.before-rebuild") == ["in-wal-only"]  # recovered into the backup


def test_install_without_an_old_database(tmp_path: Path) -> None:
    fresh = Store.open(tmp_path / "new.sqlite3")
    fresh.apply([priced(usage("new-1"))])
    fresh.close()
    assert install(tmp_path / "new.sqlite3", tmp_path / "ledger.sqlite3") is None
    assert ids(tmp_path / "ledger.sqlite3") == ["new-1"]


def test_a_damaged_database_is_moved_aside_whole(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not a database, it is what a bad disk left")
    fresh = Store.open(tmp_path / "new.sqlite3")
    fresh.apply([priced(usage("new-1"))])
    fresh.close()
    backup = install(tmp_path / "new.sqlite3", path)
    assert ids(path) == ["new-1"]
    assert backup is not None and backup.read_bytes().startswith(b"this is not a database")

"""The writer lock: one holder per database; released on close and on death."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ledger.lock import WriterLock, lock_path


def test_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    assert lock_path(tmp_path / "ledger.sqlite3") == tmp_path / "ledger.sqlite3.lock"


def test_only_one_holder_at_a_time(tmp_path: Path) -> None:
    ledger, rebuild = WriterLock(tmp_path / "l.sqlite3"), WriterLock(tmp_path / "l.sqlite3")
    assert ledger.try_acquire()
    assert ledger.try_acquire()  # re-entrant for its holder
    assert not rebuild.try_acquire()
    ledger.release()
    assert rebuild.try_acquire()
    rebuild.release()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path; from ledger.lock import WriterLock;"
            f"assert WriterLock(Path({str(tmp_path / 'l.sqlite3')!r})).try_acquire(); print('held', flush=True);"
            "time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not WriterLock(tmp_path / "l.sqlite3").try_acquire()
    finally:
        holder.kill()
        holder.wait()
    assert WriterLock(tmp_path / "l.sqlite3").try_acquire()

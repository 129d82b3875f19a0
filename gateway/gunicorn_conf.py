"""gunicorn settings for the gateway (gevent workers); env: GATEWAY_HOST/PORT/WORKERS.

Metrics: the gateway's processes share one Prometheus multiprocess directory, so /metrics
on any of them shows the sum of all. It is `PROMETHEUS_MULTIPROC_DIR` when set, else
`GATEWAY_DATA_DIR/metrics/gateway-<port>`; set here in the master before any process
forks (prometheus_client reads it at import) and emptied at start, so values of an
earlier run never add up with this one's.
"""

import os
import sys as _sys
from pathlib import Path
from typing import Any

from gateway.contracts import config as _configuration
from gateway.contracts.environment import environment

_env = environment()

bind = f"{_env.gateway_host}:{_env.gateway_port}"
# gevent's worker with connection caps, read deadlines and OpenAI-shaped server errors;
# it takes its limits from the config's [gateway] section (gateway/server.py).
worker_class = "gateway.server.GatewayWorker"
workers = _env.gateway_workers
# Streams can be long; the gevent worker does not use this for requests in flight.
timeout = 120
# SIGTERM: the gateway's own grace (gateway/shutdown.py) runs first; gunicorn kills only after it.
try:
    _grace_s = _configuration.load().gateway.shutdown_grace_s
except _configuration.ConfigError as _ex:  # one line naming the file and line, not a traceback
    print(f"gateway: {_ex}", file=_sys.stderr)
    raise SystemExit(2) from None
graceful_timeout = int(_grace_s) + 15
# Non-zero keeps connections alive; how long an idle one waits is [gateway] keepalive_timeout_s.
keepalive = 75
accesslog = None  # the app writes one JSON access line per request
errorlog = "-"
loglevel = _env.gateway_log_level
preload_app = False  # NOTE: each worker process must build its own bridge thread after fork

_metrics_dir = Path(_env.multiproc_dir or _env.data_dir / "metrics" / f"gateway-{_env.gateway_port}")
# NOTE: written back for prometheus_client and the app, which read it from the environment
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def on_starting(server: object) -> None:
    """Empty the multiprocess directory (its value files only) before the first process starts."""
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in _metrics_dir.glob("*.db"):
        stale.unlink()


def child_exit(server: object, worker: object) -> None:
    """A process ended: its live gauges (in flight, open streams) stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(getattr(worker, "pid"))  # type: ignore[no-untyped-call]


def post_worker_init(worker: Any) -> None:
    """Install the gateway's SIGTERM drain in each worker process (after its app loaded)."""
    from gateway import shutdown, wsgi

    shutdown.install(worker, wsgi.bridge, _grace_s, wsgi.log)

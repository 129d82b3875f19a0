"""The gunicorn entry point: `gateway.wsgi:application`.

The only place that reads the environment. Loaded in each gunicorn worker process after
the fork and after gevent's monkey-patching, so each process gets its own bridge thread.
"""

from __future__ import annotations

from nats.aio.client import Client

from gateway.runtime import tracing
from gateway.bus_client import Bridge
from gateway.contracts import config as configuration
from gateway.contracts.bus import KeyRecord
from gateway.contracts.errors import bus_unavailable
from gateway.contracts.log import Logger
from gateway.admission import Gate
from gateway.app import create_app
from gateway.attempts import Attempts
from gateway.balancer import LoadBoard
from gateway.cooldowns import Cooldowns
from gateway.budget import Budget, hold_window_s, release_grace_s
from gateway.keycache import KeyCache
from gateway.limits import RateLimiter, ensure_limits_stream
from gateway.runtime.metrics import GatewayMetrics
from gateway.runtime.status import Identity, answer_status
from gateway.runtime.pricing import Pricer

KEY_LOOKUP_TIMEOUT_S = 2.0


def build() -> tuple[object, Bridge]:
    """The app and its started bridge, from `GATEWAY_CONFIG` and `NATS_URL`/`NATS_PORT`."""
    log = Logger("gateway")
    if tracing.setup("gateway"):
        log.info("tracing_on")
    config = configuration.load()
    settings = config.gateway
    keys = KeyCache(log, settings.key_miss_ttl_s, settings.key_lookups_per_s)
    bridge = Bridge(configuration.nats_url(), log)
    budget = Budget(bridge, Pricer(config.models, log), log, hold_window_s(settings),
                    grace_s=release_grace_s(settings))
    bridge.on_connect(keys.watch)
    bridge.on_connect(budget.watch)
    bridge.on_connect(ensure_limits_stream)
    gate = Gate(budget, RateLimiter(bridge, log))
    # Routing (issue 16): cooldowns shared through NATS KV, load reported by the workers.
    cooldowns = Cooldowns(config.routing, bridge.publish, log)
    board = LoadBoard(config.routing.load_report_s, log)
    bridge.on_connect(cooldowns.watch)
    bridge.on_connect(board.watch)
    attempts = Attempts(config.routing, cooldowns, board, log, bus_ready=lambda: bridge.ready)
    metrics = GatewayMetrics(key_names=config.metrics.key_names)
    identity = Identity("gateway")

    async def status(nc: Client) -> None:
        snapshot = lambda: identity.status(in_flight=metrics.active, open_streams=metrics.streams)  # noqa: E731
        await answer_status(nc, "gateway", snapshot, log)

    bridge.on_connect(status)

    def fetch_key(key_hash: str) -> KeyRecord | None:
        if bridge.down:
            raise bus_unavailable()  # NOTE: an unknown key is not a wrong key while NATS is away
        try:
            return bridge.run(lambda nc: keys.fetch(nc, key_hash), KEY_LOOKUP_TIMEOUT_S)
        except (ConnectionError, TimeoutError) as ex:
            log.warning("key_lookup_failed", error=type(ex).__name__)
            return None

    app = create_app(config, bridge, keys, fetch_key, gate, log, attempts, metrics=metrics)
    bridge.start()
    return app, bridge


application, bridge = build()
log = Logger("gateway")  # for process-level events (gateway/shutdown.py)

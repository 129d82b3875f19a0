"""The gunicorn entry point: `gateway.wsgi:application`.

The only place that reads the environment. Loaded in each gunicorn worker process after
the fork and after gevent's monkey-patching, so each process gets its own bridge thread.
"""

from __future__ import annotations

from gateway.bus_client import Bridge
from gateway.contracts import config as configuration
from gateway.contracts.bus import KeyRecord
from gateway.contracts.log import Logger
from gateway.admission import Gate
from gateway.app import create_app
from gateway.budget import Budget, hold_window_s, release_grace_s
from gateway.keycache import KeyCache
from gateway.limits import RateLimiter, ensure_limits_stream
from ledger.pricing import Pricer

KEY_LOOKUP_TIMEOUT_S = 2.0


def build() -> tuple[object, Bridge]:
    """The app and its started bridge, from `GATEWAY_CONFIG` and `NATS_URL`/`NATS_PORT`."""
    log = Logger("gateway")
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

    def fetch_key(key_hash: str) -> KeyRecord | None:
        try:
            return bridge.run(lambda nc: keys.fetch(nc, key_hash), KEY_LOOKUP_TIMEOUT_S)
        except (ConnectionError, TimeoutError) as ex:
            log.warning("key_lookup_failed", error=type(ex).__name__)
            return None

    app = create_app(config, bridge, keys, fetch_key, gate, log)
    bridge.start()
    return app, bridge


application, bridge = build()

"""Graceful shutdown of a gateway process (SIGTERM), issue 14 item 6.

gunicorn's gevent worker, on SIGTERM, stops accepting within a second and waits up to its
`graceful_timeout` for open connections, then kills what is left without a word. This adds
the gateway's own grace in front of that: requests in flight may finish for `[gateway]
shutdown_grace_s`; then each one still waiting for frames is cut: it ends at once (503
`shutting_down`, a stream with an error event and `[DONE]`), its job is cancelled with the
reason "shutdown", so the worker stops the upstream and bills what it reported, with
status "cut". A request arriving meanwhile on a kept-alive connection gets the same 503.
gunicorn_conf.py sets `graceful_timeout` past this grace, so gunicorn never kills first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent

from gateway.bus_client import Bridge
from gateway.contracts.log import Logger

POLL_S = 0.05
WATCH_S = 0.1  # how soon after SIGTERM the drain starts (gunicorn stops accepting within 1 s)
CUT_WAIT_S = 5.0  # for cut requests to write their error event and send their cancel
FLUSH_S = 2.0


def drain(bridge: Bridge, grace_s: float, log: Logger, sleep: Callable[[float], Any] = gevent.sleep,
          clock: Callable[[], float] = time.monotonic) -> int:
    """Refuse new requests, wait up to `grace_s` for those in flight, cut the rest; returns
    how many were cut."""
    bridge.draining = True
    log.info("gateway_draining", in_flight=bridge.in_flight, grace_s=grace_s)
    deadline = clock() + grace_s
    while bridge.in_flight and clock() < deadline:
        sleep(POLL_S)
    cut = bridge.in_flight
    if cut:
        log.warning("gateway_cut", requests=cut)
        bridge.cut_all()
        deadline = clock() + CUT_WAIT_S
        while bridge.in_flight and clock() < deadline:
            sleep(POLL_S)
    if bridge.ready:
        bridge.flush(FLUSH_S)  # failure records and cancels leave before the process does
    log.info("gateway_drained", cut=cut)
    return cut


def install(worker: Any, bridge: Bridge, grace_s: float, log: Logger) -> gevent.Greenlet:
    """Called from gunicorn's `post_worker_init`: once the worker stops being alive (its own
    SIGTERM handler, untouched, clears `alive`), run `drain` beside gunicorn's wait."""

    def watch() -> None:
        while worker.alive:
            gevent.sleep(WATCH_S)
        drain(bridge, grace_s, log)

    return gevent.spawn(watch)

"""Per-request context: our request id, the caller's correlation id, one access-log line."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time

import falcon

from gateway.contracts.log import Logger

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _RequestIds:
    """`req_<random per process><counter>`: unique across processes without a random
    read per request (PERF: secrets.token_hex is a system call)."""

    def __init__(self) -> None:
        self._pid = 0
        self._prefix = ""
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        pid = os.getpid()
        if pid != self._pid:  # NOTE: a forked process must not share its parent's ids
            self._pid, self._prefix, self._counter = pid, secrets.token_hex(8), itertools.count(1)
        return f"req_{self._prefix}{next(self._counter):012x}"


new_request_id = _RequestIds()
"""A request id; it keys billing (Nats-Msg-Id), so it is always ours, never the caller's."""


class RequestContext:
    """Sets `req.context.request_id`, echoes it as `x-request-id`, logs one line a request."""

    def __init__(self, log: Logger) -> None:
        self._log = log

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Assign ids and start the clock."""
        req.context.request_id = new_request_id()
        client_id = req.get_header("x-request-id")
        req.context.client_request_id = client_id if client_id and _CLIENT_ID.match(client_id) else None
        req.context.started = time.perf_counter()
        req.context.key = None
        req.context.model = None

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        """Echo the id and write the access-log line."""
        request_id = getattr(req.context, "request_id", None)
        if request_id is None:
            return
        resp.set_header("x-request-id", request_id)
        key = req.context.key
        self._log.info(
            "access",
            request_id=request_id,
            client_request_id=req.context.client_request_id,
            method=req.method,
            path=req.path,
            status=resp.status_code if hasattr(resp, "status_code") else str(resp.status),
            key_id=key.id if key is not None else None,
            model=req.context.model,
            ms=round((time.perf_counter() - req.context.started) * 1000, 3),
        )

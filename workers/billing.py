"""A job's bill: one UsageEvent (gateway/contracts/bus.py `usage_event`) when it spent anything.

The UsageEvent is published to JetStream with `Nats-Msg-Id` = request id
(workers/usage_publisher.py), so a retried publish never bills twice.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.contracts.bus import Job, UsageEvent, usage_event
from workers.job import Outcome

UsageSink = Callable[[UsageEvent], None]


def bill(record: UsageSink, job: Job, outcome: Outcome, started: float, finished: float) -> None:
    """Record what `job` spent; nothing when it failed before spending anything."""
    usage, estimated = outcome.billable_usage()
    if outcome.status != "ok" and usage.total_tokens == 0 and usage.prompt_tokens == 0:
        return  # nothing was spent
    record(usage_event(job, usage, estimated=estimated, status=outcome.status, error_code=outcome.error_code,
                       started_at=started, finished_at=finished))

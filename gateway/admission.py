"""Admission of one request: balance first (shared holds), then the shared rate limits.

Every refusal here is a 429 before anything leaves the gateway. What was taken at
admission (a balance reservation, counter increments) is settled by the callback the
relay runs when the request ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.budget import Budget, Reservation
from gateway.contracts.bus import KeyRecord
from gateway.contracts.config import ModelConfig
from gateway.contracts.errors import APIError
from gateway.contracts.openai import Usage
from gateway.limits import Admission, RateLimiter
from gateway.runtime.estimate import prompt_from_bytes


@dataclass(slots=True)
class Ticket:
    """What one admitted request holds."""

    reservation: Reservation | None
    admission: Admission | None
    request_id: str | None = None  # the attempt in progress (a fallback bills under its own id)

    def headers(self) -> dict[str, str]:
        """Rate-limit headers for the response."""
        return self.admission.headers() if self.admission else {}


class Gate:
    """Balance and rate-limit admission."""

    def __init__(self, budget: Budget, limiter: RateLimiter) -> None:
        self._budget = budget
        self._limiter = limiter

    def admit(self, key: KeyRecord, model: ModelConfig, body_bytes: int, output_limit: int | None) -> Ticket:
        """Admit or raise 429 (insufficient_quota or rate_limit_exceeded)."""
        prompt_estimate = prompt_from_bytes(body_bytes)  # NOTE: cheap; settled with real usage
        # The hold is the worst case the request can be held to: its own limit, else the
        # model's configured maximum output.
        output = output_limit or model.max_output_tokens or 0
        # PERF: Decimal pricing only for metered keys; an unmetered key holds nothing.
        hold = self._budget.worst_case(model, prompt_estimate, output) if key.metered else 0
        reservation = self._budget.admit(key, hold)
        try:
            admission = self._limiter.admit(key, prompt_estimate)
        except APIError:
            self._budget.release(reservation)
            raise
        return Ticket(reservation, admission)

    def settle(self, ticket: Ticket) -> Callable[[Usage | None], None]:
        """The relay's end-of-request callback for this ticket."""

        def on_end(usage: Usage | None) -> None:
            self._budget.release(ticket.reservation, ticket.request_id)
            self._limiter.settle(ticket.admission, usage.total_tokens if usage is not None else None)

        return on_end

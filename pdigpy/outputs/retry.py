"""Retry policy for network sinks: exponential backoff inside a retry window.

An alert is worth delivering for ``window`` seconds after it was raised. A
network sink that fails with a retryable error (connection refused, timeout,
HTTP 5xx or 429, broker unreachable) waits ``initial_backoff``, then twice as
long each time up to ``max_backoff``, and tries again while the next attempt
would still start inside the window. Every alert gets at least one attempt,
however long it waited in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass


class DeliveryError(Exception):
    """One failed attempt. ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class RetryPolicy:
    window: float = 30.0  # seconds after the alert was raised
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    multiplier: float = 2.0

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry number ``retry_number`` (0 for the first retry)."""
        return min(self.max_backoff, self.initial_backoff * (self.multiplier ** retry_number))

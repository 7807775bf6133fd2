"""Retry policy for network sinks: exponential backoff inside a retry window.

An alert is worth delivering for ``window`` seconds after it was raised. A
network sink that fails with a retryable error (connection refused, timeout,
HTTP 5xx or 429, broker unreachable) waits ``initial_backoff``, then twice as
long each time up to ``max_backoff``, and tries again while the next attempt
would still start inside the window. Every alert gets at least one attempt,
however long it waited in the queue.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass


class DeliveryError(Exception):
    """One failed attempt. ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def _reduce_by_init(self):  # pickle/copy a frozen written-out class through its __init__
    return self.__class__, tuple([getattr(self, name) for name in self.__dataclass_fields__])


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class RetryPolicy:
    """RetryPolicy(window, initial_backoff, max_backoff, multiplier)."""

    window: float = 30.0  # seconds after the alert was raised
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    multiplier: float = 2.0

    def __init__(
        self,
        window: float = 30.0,
        initial_backoff: float = 0.5,
        max_backoff: float = 8.0,
        multiplier: float = 2.0,
    ) -> None:
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "initial_backoff", initial_backoff)
        object.__setattr__(self, "max_backoff", max_backoff)
        object.__setattr__(self, "multiplier", multiplier)

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(window={self.window!r}, initial_backoff={self.initial_backoff!r}, max_backoff={self.max_backoff!r}, multiplier={self.multiplier!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.window, self.initial_backoff, self.max_backoff, self.multiplier) == (other.window, other.initial_backoff, other.max_backoff, other.multiplier)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.window, self.initial_backoff, self.max_backoff, self.multiplier))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce_by_init

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry number ``retry_number`` (0 for the first retry)."""
        return min(self.max_backoff, self.initial_backoff * (self.multiplier ** retry_number))

"""One sink (a Falco channel or a forwarder) and the thread that feeds it.

Each sink has its own bounded queue and sender thread, so a slow or dead sink
delays only itself. The thread delivers alerts in order; a retryable failure
of a network sink is retried with backoff (:mod:`pdigpy.outputs.retry`) while
the alert is inside its retry window.

Counters, per sink (all only ever grow):

- ``queued``: alerts routed to the sink (priority at or above its minimum);
- ``sent``: delivered (the receiver accepted them);
- ``retried``: attempts repeated after a failure (one alert may count several);
- ``failed``: alerts given up on (error not worth retrying, retry window over,
  or the flush at exit ran out of time while retrying);
- ``dropped``: alerts never attempted: the sink's queue was full, or they
  were still waiting when the flush at exit ran out of time.

After ``close()``: queued == sent + failed + dropped, unless an attempt was
still running when the flush timed out (then that alert is "in flight").
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from pdigpy.engine.priority import Priority
from pdigpy.outputs.queue import BoundedQueue
from pdigpy.outputs.retry import DeliveryError, RetryPolicy

if TYPE_CHECKING:
    from pdigpy.outputs.render import Rendered


class Sink:
    """Base class: subclasses implement ``send`` and may override ``open``/``close``."""

    name = "sink"  # the config key that enabled it, e.g. "http_output", "forwarders.slack"
    retry = False  # network sinks retry retryable failures
    needs_payload = False  # wants falcosidekick's payload (forwarders)

    def __init__(self, min_priority: Priority = Priority.DEBUG) -> None:
        self.min_priority = min_priority
        self.reopen_requested = False  # set by OutputHub.reopen() (SIGUSR1); acted on by the sender thread

    def accepts(self, priority: Priority) -> bool:
        # Priority is most severe first (Emergency 0 .. Debug 7).
        return priority <= self.min_priority

    def open(self) -> None:
        """Called on the sender thread before the first alert."""

    def send(self, item: Rendered) -> None:
        """Deliver one alert or raise DeliveryError."""
        raise NotImplementedError

    def close(self, deadline: float) -> None:
        """Called on the sender thread after the last alert; finish by ``deadline`` (monotonic)."""


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class SinkCounters:
    """SinkCounters(queued, sent, retried, failed, dropped)."""

    queued: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0

    def __init__(
        self,
        queued: int = 0,
        sent: int = 0,
        retried: int = 0,
        failed: int = 0,
        dropped: int = 0,
    ) -> None:
        self.queued = queued
        self.sent = sent
        self.retried = retried
        self.failed = failed
        self.dropped = dropped

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(queued={self.queued!r}, sent={self.sent!r}, retried={self.retried!r}, failed={self.failed!r}, dropped={self.dropped!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.queued, self.sent, self.retried, self.failed, self.dropped) == (other.queued, other.sent, other.retried, other.failed, other.dropped)  # type: ignore[attr-defined]
        return NotImplemented

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class StatusLog:
    """pdigpy's own notices about delivery, one line each on stderr, rate-limited per sink."""

    def __init__(self, stream=None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        stream = self._stream or sys.stderr
        with self._lock:
            try:
                stream.write(f"pdigpy: {text}\n")
                stream.flush()
            except (OSError, ValueError):
                pass  # stderr gone: nothing sensible left to do


class SinkWorker:
    """The queue, counters and sender thread of one sink."""

    GIVE_UP_NOTICES = 3  # per sink; the rest are summed up at exit

    def __init__(self, sink: Sink, capacity: int, policy: RetryPolicy, log: StatusLog) -> None:
        self.sink = sink
        self.queue: BoundedQueue[Rendered] = BoundedQueue(capacity)
        self.policy = policy
        self.log = log
        self.abort = threading.Event()
        self.last_error = ""
        self._counters = SinkCounters()
        self._lock = threading.Lock()
        self._failing = False
        self._failed_attempts = 0
        self._give_up_notices = 0
        self._full_notice = False
        self._close_deadline = float("inf")
        self.thread = threading.Thread(target=self._run, name=f"pdigpy-output-{sink.name}", daemon=True)

    # -- counters -------------------------------------------------------------------------
    def count(self, **deltas: int) -> None:
        with self._lock:
            for key, delta in deltas.items():
                setattr(self._counters, key, getattr(self._counters, key) + delta)

    @property
    def counters(self) -> SinkCounters:
        with self._lock:
            return SinkCounters(**self._counters.as_dict())

    # -- producer side (dispatcher thread) ------------------------------------------------
    def offer(self, item: Rendered) -> None:
        if self.queue.put(item):
            self.count(queued=1)
            return
        self.count(queued=1, dropped=1)
        if not self._full_notice:
            self._full_notice = True
            self.log.write(f"{self.sink.name}: queue full ({self.queue.capacity} alerts); dropping new alerts until it drains")

    # -- consumer side (this sink's thread) -----------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def finish(self, deadline: float) -> None:
        """No more alerts will come; deliver what is queued, then close the sink by ``deadline``."""
        self._close_deadline = deadline
        self.queue.close()

    def _run(self) -> None:
        try:
            self.sink.open()
        except Exception as exc:  # reported, then every send fails and is counted
            self._note_failure(DeliveryError(f"{type(exc).__name__}: {exc}"))
        while not self.abort.is_set():
            item = self.queue.get(0.25)
            if item is None:
                if self.queue.closed and not len(self.queue):
                    break
                continue
            try:
                self._deliver(item)
            finally:
                self.queue.task_done()
        try:
            self.sink.close(self._close_deadline)
        except Exception as exc:
            self.log.write(f"{self.sink.name}: error while closing: {type(exc).__name__}: {exc}")

    def _deliver(self, item: Rendered) -> None:
        retry_number = 0
        why = "not retried"
        while True:
            try:
                self.sink.send(item)
            except DeliveryError as exc:
                error = exc
            except Exception as exc:  # a bug or an unexpected library error: never kill the thread
                error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=False)
            else:
                self.count(sent=1)
                if self._failing:
                    self.log.write(f"{self.sink.name}: delivering again after {self._failed_attempts} failed attempt(s)")
                    self._failing = False
                    self._failed_attempts = 0
                return
            self._note_failure(error)
            if self.sink.retry and error.retryable:
                why = "flush at exit out of time"
                if self.abort.is_set():
                    break
                delay = self.policy.backoff(retry_number)
                if time.monotonic() + delay <= item.submitted + self.policy.window:
                    if self.abort.wait(delay):
                        break
                    self.count(retried=1)
                    retry_number += 1
                    continue
                why = "retry window over"
            break
        self.count(failed=1)
        if self._give_up_notices < self.GIVE_UP_NOTICES:
            self._give_up_notices += 1
            self.log.write(f"{self.sink.name}: alert not delivered (rule {item.alert.rule!r}): {error} ({why})")

    def _note_failure(self, error: DeliveryError) -> None:
        self.last_error = str(error)
        self._failed_attempts += 1
        if not self._failing:
            self._failing = True
            if self.sink.retry and error.retryable:  # final failures get their own notice in _deliver
                self.log.write(f"{self.sink.name}: delivery failed: {error}; retrying for up to "
                               f"{self.policy.window:g}s per alert")

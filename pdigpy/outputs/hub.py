"""OutputHub: the one bounded queue between the engine and every sink.

::

    engine --submit()--> [hub queue] --dispatcher thread: render once--> [sink queue] --sender thread--> sink
                                                                     +-> [sink queue] --sender thread--> sink

- ``submit(alert)`` never waits for a sink: it appends to the hub queue under a
  lock held only for the append. When the queue is full the *new* alert is
  dropped and counted (Falco does the same when its outputs queue is full).
- The dispatcher renders each alert once (Falco's JSON or text line, and
  falcosidekick's payload if a forwarder is on) and hands it to every sink
  whose minimum priority it meets.
- ``close(timeout)`` is the flush at exit: it waits up to ``timeout`` seconds
  (``pdigpy.flush_timeout``) for every queued alert to be delivered or given
  up, stops retries when time is up, and reports on stderr what was not
  delivered.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from pdigpy.outputs.queue import BoundedQueue
from pdigpy.outputs.sink import SinkCounters, SinkWorker, StatusLog

if TYPE_CHECKING:
    from pdigpy.engine.alert import Alert
    from pdigpy.outputs.render import Renderer
    from pdigpy.outputs.settings import OutputSettings
    from pdigpy.outputs.sink import Sink


_FACTORY: Any = object()  # default of a written-out __init__ parameter whose field has a default_factory


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class HubCounters:
    """A snapshot: alerts handed to submit(), those refused by the hub queue, and per-sink counters."""

    submitted: int = 0
    dropped: int = 0  # hub queue full, or submitted after close()
    render_errors: int = 0
    sinks: dict[str, SinkCounters]

    def __init__(
        self,
        submitted: int = 0,
        dropped: int = 0,
        render_errors: int = 0,
        sinks: dict[str, SinkCounters] = _FACTORY,
    ) -> None:
        self.submitted = submitted
        self.dropped = dropped
        self.render_errors = render_errors
        self.sinks = dict() if sinks is _FACTORY else sinks

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(submitted={self.submitted!r}, dropped={self.dropped!r}, render_errors={self.render_errors!r}, sinks={self.sinks!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.submitted, self.dropped, self.render_errors, self.sinks) == (other.submitted, other.dropped, other.render_errors, other.sinks)  # type: ignore[attr-defined]
        return NotImplemented

    def as_dict(self) -> dict[str, Any]:
        return {
            "submitted": self.submitted,
            "dropped": self.dropped,
            "render_errors": self.render_errors,
            "sinks": {name: c.as_dict() for name, c in self.sinks.items()},
        }


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class DeliveryReport:
    """What close() achieved."""

    counters: HubCounters
    elapsed: float  # seconds close() took
    timed_out: bool  # the flush timeout ran out before everything was handled
    in_flight: dict[str, int]  # attempts still running at the timeout
    errors: dict[str, str]  # last error per sink that failed

    def __init__(
        self,
        counters: HubCounters,
        elapsed: float,
        timed_out: bool,
        in_flight: dict[str, int] = _FACTORY,
        errors: dict[str, str] = _FACTORY,
    ) -> None:
        self.counters = counters
        self.elapsed = elapsed
        self.timed_out = timed_out
        self.in_flight = dict() if in_flight is _FACTORY else in_flight
        self.errors = dict() if errors is _FACTORY else errors

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(counters={self.counters!r}, elapsed={self.elapsed!r}, timed_out={self.timed_out!r}, in_flight={self.in_flight!r}, errors={self.errors!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.counters, self.elapsed, self.timed_out, self.in_flight, self.errors) == (other.counters, other.elapsed, other.timed_out, other.in_flight, other.errors)  # type: ignore[attr-defined]
        return NotImplemented

    def undelivered(self, sink: str) -> int:
        c = self.counters.sinks[sink]
        return c.failed + c.dropped + self.in_flight.get(sink, 0)

    @property
    def all_delivered(self) -> bool:
        return self.counters.dropped == 0 and self.counters.render_errors == 0 and all(
            self.undelivered(name) == 0 for name in self.counters.sinks
        )

    def lines(self) -> list[str]:
        """One line per problem, for stderr; empty when every alert reached every sink."""
        out = []
        if self.counters.dropped:
            out.append(f"outputs: {self.counters.dropped} alert(s) dropped before any sink saw them "
                       "(queue full, or submitted after the flush began)")
        if self.counters.render_errors:
            out.append(f"outputs: {self.counters.render_errors} alert(s) could not be rendered")
        for name, c in self.counters.sinks.items():
            missing = self.undelivered(name)
            if not missing:
                continue
            parts = []
            if c.failed:
                parts.append(f"{c.failed} failed")
            if c.dropped:
                parts.append(f"{c.dropped} dropped")
            if self.in_flight.get(name):
                parts.append(f"{self.in_flight[name]} still in flight")
            why = f"; last error: {self.errors[name]}" if self.errors.get(name) else ""
            out.append(f"{name}: {missing} of {c.queued} alert(s) not delivered ({', '.join(parts)}){why}")
        if self.timed_out:
            out.append(f"outputs: flush at exit stopped after {self.elapsed:.1f}s (pdigpy.flush_timeout)")
        return out


class OutputHub:
    DISPATCH_POLL = 0.25  # seconds; how often an idle dispatcher checks for close()

    def __init__(
        self,
        settings: OutputSettings,
        sinks: list[Sink],
        renderer: Renderer,
        status_stream: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self.log = StatusLog(status_stream)
        self._status_stream = status_stream
        self._queue: BoundedQueue[tuple[Alert, float]] = BoundedQueue(settings.queue_capacity)
        self._renderer = renderer
        self._workers = [SinkWorker(s, settings.queue_capacity, settings.retry, self.log) for s in sinks]
        self._lock = threading.Lock()
        self._submitted = 0
        self._dropped = 0
        self._render_errors = 0
        self._full_notice = False
        self._closed = False
        self._started = False
        self._report: DeliveryReport | None = None
        self._dispatcher = threading.Thread(target=self._dispatch, name="pdigpy-output-dispatch", daemon=True)

    @classmethod
    def from_config(cls, config: dict, status_stream: TextIO | None = None) -> OutputHub:
        """Build the hub from a falco.yaml-shaped dict; raises ConfigError naming the bad key."""
        from pdigpy.outputs.build import build_hub

        return build_hub(config, status_stream)

    # -- engine side --------------------------------------------------------------------------
    def submit(self, alert: Alert) -> bool:
        """Queue an alert for every sink; never waits for a sink. False if it was dropped."""
        # Hot path (called on the tracer thread): one lock, one append.
        now = time.monotonic()
        with self._lock:
            self._submitted += 1
        if not self._closed and self._queue.put((alert, now)):
            return True
        with self._lock:
            self._dropped += 1
        if not self._full_notice and not self._closed:
            self._full_notice = True  # written by the dispatcher: no I/O on the tracer's thread
        return False

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for worker in self._workers:
            worker.start()
        self._dispatcher.start()

    def __enter__(self) -> OutputHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reopen(self) -> None:
        """Reopen file_output and restart a kept-alive program_output before their next alert.

        What Falco does on SIGUSR1 (for logrotate); safe to call from a signal handler.
        """
        for worker in self._workers:
            worker.sink.reopen_requested = True

    @property
    def sink_names(self) -> list[str]:
        return [w.sink.name for w in self._workers]

    @property
    def counters(self) -> HubCounters:
        with self._lock:
            hub = HubCounters(self._submitted, self._dropped, self._render_errors)
        hub.sinks = {w.sink.name: w.counters for w in self._workers}
        return hub

    def close(self, timeout: float | None = None, report: bool = True) -> DeliveryReport:
        """Flush: deliver what is queued within ``timeout`` s (default ``pdigpy.flush_timeout``).

        Later submits are dropped. With ``report`` the lines of
        :meth:`DeliveryReport.lines` go to stderr. Calling close() again returns the same report.
        """
        if self._report is not None:
            return self._report
        begin = time.monotonic()
        deadline = begin + (self.settings.flush_timeout if timeout is None else max(0.0, timeout))
        self._closed = True
        self._queue.close()
        if not self._started:
            self.start()  # so that alerts submitted before start() still get delivered
        self._dispatcher.join(max(0.0, deadline - time.monotonic()))
        timed_out = self._dispatcher.is_alive()
        for worker in self._workers:
            worker.finish(deadline)
        for worker in self._workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        for worker in self._workers:
            if worker.thread.is_alive():
                timed_out = True
                worker.abort.set()
        # Give aborted threads a moment to leave a backoff wait, so their counts are final.
        for worker in self._workers:
            worker.thread.join(0.05 if worker.thread.is_alive() else 0)
        leftover = self._queue.drain()
        with self._lock:
            self._dropped += len(leftover)
        for worker in self._workers:
            left = worker.queue.drain()
            if left:
                worker.count(dropped=len(left))
        counters = self.counters
        in_flight = {}
        errors = {}
        for worker in self._workers:
            c = counters.sinks[worker.sink.name]
            pending = c.queued - c.sent - c.failed - c.dropped
            if pending > 0:
                in_flight[worker.sink.name] = pending
            if worker.last_error and (c.failed or c.dropped or pending):
                errors[worker.sink.name] = worker.last_error
        self._report = DeliveryReport(counters, time.monotonic() - begin, timed_out, in_flight, errors)
        if report:
            for line in self._report.lines():
                self.log.write(line)
        return self._report

    # -- dispatcher thread ----------------------------------------------------------------------
    def _dispatch(self) -> None:
        noticed = False
        while True:
            entry = self._queue.get(self.DISPATCH_POLL)
            if self._full_notice and not noticed:
                noticed = True
                self.log.write(f"outputs: queue full ({self._queue.capacity} alerts); dropping new alerts until it drains")
            if entry is None:
                if self._queue.closed and not len(self._queue):
                    return
                continue
            alert, submitted = entry
            try:
                try:
                    item = self._renderer.render(alert, submitted)
                except Exception as exc:  # a formatting bug must not stop delivery of other alerts
                    with self._lock:
                        self._render_errors += 1
                    self.log.write(f"outputs: could not render an alert of rule {alert.rule!r}: {type(exc).__name__}: {exc}")
                    continue
                for worker in self._workers:
                    if worker.sink.accepts(alert.priority):
                        worker.offer(item)
            finally:
                self._queue.task_done()

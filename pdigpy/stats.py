"""Counters about pdigpy itself, on a channel separate from the alerts.

What is counted: events by type (as the pipeline saw them), the tracer's
ptrace stops (in the final record: the wait loop publishes them when it
ends), the number of syscalls in the filter, alerts by rule, the
outputs' drops and queue depth, and pdigpy's own CPU time (the tracer, the
state and the engine all run in pdigpy's process).

``--stats-interval N`` prints a line every N seconds; ``--stats-file FILE``
writes JSON lines to FILE (one per interval if an interval is given, and one
final line at exit); ``-v`` adds a final line on stderr. Nothing goes to
stdout, which belongs to the traced app.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, is_dataclass
from typing import Any, Callable, TextIO


class Stats:
    """Counters fed by the pipeline; the tracer and outputs are read when a line is made."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.events = 0
        self.events_by_type: Counter[str] = Counter()
        self.alerts_by_rule: Counter[str] = Counter()
        self.syscalls_traced = 0
        self.tracer_stats: Callable[[], Any] | None = None  # returns the Tracer's TracerStats
        self.output_counters: Callable[[], Any] | None = None  # returns the OutputHub's counters

    # Hot path: called once per event, kept to two increments.
    def count_event(self, evt_type: str) -> None:
        self.events += 1
        self.events_by_type[evt_type] += 1

    def count_alert(self, rule: str) -> None:
        self.alerts_by_rule[rule] += 1

    def snapshot(self, kind: str) -> dict[str, Any]:
        """One record: ``kind`` is "interval" or "final"."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        record: dict[str, Any] = {
            "kind": kind,
            "time": time.time(),
            "elapsed_s": round(time.monotonic() - self.started, 3),
            "events": self.events,
            "events_by_type": dict(sorted(self.events_by_type.items())),
            "syscalls_traced": self.syscalls_traced,
            "alerts": sum(self.alerts_by_rule.values()),
            "alerts_by_rule": dict(sorted(self.alerts_by_rule.items())),
            "cpu_user_s": round(usage.ru_utime, 3),
            "cpu_sys_s": round(usage.ru_stime, 3),
        }
        tracer = _as_dict(self.tracer_stats() if self.tracer_stats else None)
        for key in ("stops", "seccomp_stops", "syscall_stops", "event_stops", "signal_stops"):
            if key in tracer:
                record[f"ptrace_{key}"] = tracer[key]
        for key in ("signals_forwarded", "decode_errors", "tracer_cpu_s"):
            if key in tracer:
                record[key] = round(tracer[key], 3) if isinstance(tracer[key], float) else tracer[key]
        outputs = _as_dict(self.output_counters() if self.output_counters else None)
        record["drops"] = outputs.get("drops", 0)
        record["queue_depth"] = outputs.get("queue_depth", 0)
        return record


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if is_dataclass(obj):
        return asdict(obj)
    return {k: getattr(obj, k) for k in dir(obj) if not k.startswith("_") and not callable(getattr(obj, k))}


def format_text(record: dict[str, Any]) -> str:
    """One human line: ``pdigpy stats: events=... alerts=... top types ...``."""
    top = ", ".join(f"{k}={v}" for k, v in sorted(record["events_by_type"].items(), key=lambda kv: -kv[1])[:6])
    parts = [
        f"pdigpy stats ({record['kind']}, {record['elapsed_s']}s):",
        f"events={record['events']}",
        *([f"ptrace_stops={record['ptrace_stops']}"] if "ptrace_stops" in record else []),
        f"syscalls_traced={record['syscalls_traced']}",
        f"alerts={record['alerts']}",
        f"drops={record['drops']}",
        f"queue_depth={record['queue_depth']}",
        f"cpu={record['cpu_user_s'] + record['cpu_sys_s']:.2f}s",
    ]
    if top:
        parts.append(f"[{top}]")
    return " ".join(parts)


class StatsReporter:
    """Writes ``Stats`` records: periodically from a daemon thread, and once at exit."""

    def __init__(self, stats: Stats, interval: float | None, path: str | None, verbose: bool,
                 stderr: TextIO | None = None) -> None:
        self.stats = stats
        self.interval = interval
        self.verbose = verbose
        self.stderr = stderr or sys.stderr
        self._file: TextIO | None = open(path, "a", encoding="utf-8") if path else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self.interval:
            self._thread = threading.Thread(target=self._loop, name="pdigpy-stats", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        assert self.interval
        while not self._stop.wait(self.interval):
            self._emit(self.stats.snapshot("interval"), to_stderr=self._file is None)

    def _emit(self, record: dict[str, Any], to_stderr: bool) -> None:
        with self._lock:
            if self._file is not None:
                import json  # only with --stats-file: a plain run does not load json

                self._file.write(json.dumps(record, sort_keys=True) + "\n")
                self._file.flush()
            if to_stderr:
                self.stderr.write(format_text(record) + "\n")
                self.stderr.flush()

    def close(self) -> None:
        """Stop the timer and write the final record (file always, stderr with -v)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        to_stderr = self.verbose or (self.interval is not None and self._file is None)
        if self._file is not None or to_stderr:  # no record to make when nobody reads it
            self._emit(self.stats.snapshot("final"), to_stderr=to_stderr)
        if self._file is not None:
            self._file.close()
            self._file = None

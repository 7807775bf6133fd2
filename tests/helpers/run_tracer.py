"""Run pdigpy's Tracer without the CLI, recording events as JSON lines.

    python run_tracer.py [--events FILE] [--no-seccomp] [--types a,b,...]
                         [--follow] [--attach PID] [-- CMD ARGS...]

Exits with what Tracer.run_command / Tracer.attach returned. Events (and
snapshots, type "snapshot") go to FILE, one JSON object per line, flushed at
once so a test can watch them arrive. Writes nothing on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from pdigpy.tracer.session import TraceOptions, Tracer

DEFAULT_TYPES = "openat,open,execve,execveat,clone,clone3,fork,vfork,procexit"


def _plain(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, bytes):
        return os.fsdecode(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return str(v)


class JsonSink:
    def __init__(self, stream) -> None:
        self.out = stream

    def on_event(self, evt) -> None:
        rec = {"num": evt.num, "tid": evt.tid, "pid": evt.pid, "type": evt.type, "res": evt.res, "args": _plain(evt.args)}
        self.out.write(json.dumps(rec) + "\n")
        self.out.flush()

    def on_snapshot(self, info) -> None:
        rec = {"type": "snapshot", "tid": info.tid, "pid": info.pid, "ptid": info.ptid, "comm": info.comm}
        self.out.write(json.dumps(rec) + "\n")
        self.out.flush()


class RaisingSink:
    """Fails on every third event: the tracer must survive a broken consumer."""

    def __init__(self) -> None:
        self.n = 0

    def on_event(self, evt) -> None:
        self.n += 1
        if self.n % 3 == 0:
            raise RuntimeError("sink failure for the test")

    def on_snapshot(self, info) -> None:
        pass


class NullSink:
    def on_event(self, evt) -> None:
        pass

    def on_snapshot(self, info) -> None:
        pass


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events")
    ap.add_argument("--stats")
    ap.add_argument("--no-seccomp", action="store_true")
    ap.add_argument("--types", default=DEFAULT_TYPES)
    ap.add_argument("--follow", action="store_true")
    ap.add_argument("--attach", type=int)
    ap.add_argument("--raising-sink", action="store_true")
    ap.add_argument("--early-thread", action="store_true", help="start a thread before the tracer (signals unblocked there)")
    ap.add_argument("--bare", action="store_true", help="table rows without decoders: the loop's own cost")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    stream = open(a.events, "w", buffering=1) if a.events else None
    sink = RaisingSink() if a.raising_sink else JsonSink(stream) if stream else NullSink()
    types = frozenset(t for t in a.types.split(",") if t) if a.types != "all" else None
    specs = None
    if a.bare:
        from dataclasses import replace

        from pdigpy.tracer.syscalls.table import native_table, syscalls_for_events

        rows = syscalls_for_events(native_table(), types or frozenset())
        specs = [replace(r, entry=None, exit=lambda tid, args, val, ret, mem: {}) for r in rows]
    tracer = Tracer(sink, TraceOptions(event_types=types, seccomp=not a.no_seccomp, follow_descendants=a.follow,
                                       syscall_specs=specs))
    if a.early_thread:
        import threading
        import time

        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
    rc = tracer.attach(a.attach) if a.attach else tracer.run_command(cmd)
    if a.stats:
        with open(a.stats, "w") as f:
            json.dump(_plain(vars(tracer.stats)), f)
    return rc


if __name__ == "__main__":
    sys.exit(main())

"""Rule-engine benchmark: load+compile time of the upstream rules and evaluation speed.

    .venv/bin/python bench/engine.py [--events N] [--capture FILE] [--rules FILE ...] [--matching first|all]

Loads the three upstream rules files (or --rules) with every rule enabled and reports the
load+compile time (median of several fresh engines; imports are reported apart). Then replays
events through ``RuleEngine.evaluate`` on one core and reports events/s and µs/event.

Events come from a capture file (--capture, as written by ``pdigpy -w``), or are synthesised
from the processes running on this machine: every process in /proc is snapshotted into a real
State, and each gets openat (ordinary files, /etc/shadow, writes below /etc), execve (its own
argv, as the tracer would report it), socket+connect (TCP to 127.0.0.1 and to a public address),
read/write/close events in a realistic mix. Events go through State.apply once (as in the
product); only evaluate() is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "upstream-rules"
UPSTREAM = [CORPUS / "falco_rules.yaml", CORPUS / "falco-incubating_rules.yaml", CORPUS / "falco-sandbox_rules.yaml"]

sys.path.insert(0, str(REPO))

t_import = time.process_time()
from pdigpy.engine.engine import RuleEngine  # noqa: E402
from pdigpy.engine.fields.registry import FieldRegistry  # noqa: E402
from pdigpy.events.model import Event, SockAddr, SockTuple  # noqa: E402
from pdigpy.state.tables import State  # noqa: E402

t_import = time.process_time() - t_import


def load_engine(paths: list[str], state: State | None, matching: str) -> tuple[RuleEngine, float]:
    t0 = time.process_time()  # CPU time: the 2-vCPU test machine is shared, wall clock is noise
    engine = RuleEngine(FieldRegistry(state), rule_matching=matching)
    res = engine.load_files(paths)
    engine.enable("*")
    elapsed = time.process_time() - t0
    if not res.ok:
        sys.exit("rules failed to load:\n" + res.report_text())
    return engine, elapsed


def synthesise(state: State, n_rounds: int) -> list[Event]:
    from pdigpy.events.flags import O_CREAT, O_RDONLY, O_WRONLY
    from pdigpy.tracer.lifecycle import execve_args
    from pdigpy.tracer.procfs import read_procinfo

    infos = []
    for name in sorted(os.listdir("/proc"), key=lambda s: (len(s), s)):
        if name.isdigit():
            info = read_procinfo(int(name))
            if info is not None:
                infos.append(info)
    by_pid = {i.pid: i for i in infos}
    # parents before children, as the tracer presents snapshots
    done: set[int] = set()

    def add(info) -> None:
        if info.pid in done:
            return
        parent = by_pid.get(info.ptid)
        if parent is not None and parent.pid != info.pid:
            add(parent)
        done.add(info.pid)
        state.add_snapshot(info)

    for info in infos:
        add(info)

    events: list[Event] = []
    num = 0

    def emit(info, etype: str, res: int | None, args: dict) -> None:
        nonlocal num
        num += 1
        evt = Event(num=num, ts=time.time_ns(), tid=info.tid, pid=info.pid, type=etype, res=res, args=args)
        state.apply(evt)
        events.append(evt)

    files = ["/etc/hosts", "/etc/ld.so.cache", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/proc/self/status",
             "/etc/shadow", "/home/user/.bashrc", "/tmp/out.log", "/etc/pdigpy-bench.conf"]
    for r in range(n_rounds):
        for info in infos:
            fd = 10
            for k, path in enumerate(files):
                flags = O_WRONLY | O_CREAT if path in ("/tmp/out.log", "/etc/pdigpy-bench.conf") else O_RDONLY
                emit(info, "openat", fd, {"fd": fd, "dirfd": -100, "name": path, "flags": flags, "mode": 0o644,
                                          "dev": 0, "ino": 0})
                emit(info, "read", 512, {"res": 512, "data": b"x" * 16, "fd": fd, "size": 4096})
                emit(info, "close", 0, {"res": 0, "fd": fd})
            emit(info, "socket", 5, {"fd": 5, "domain": 2, "type": 1, "proto": 0})
            dst = "127.0.0.1" if r % 2 == 0 else "93.184.216.34"
            emit(info, "connect", 0, {"res": 0, "tuple": SockTuple("ipv4", "tcp", "10.0.0.2", 40000 + r, dst, 443),
                                      "fd": 5, "addr": SockAddr("ipv4", dst, 443)})
            emit(info, "write", 64, {"res": 64, "data": b"GET / HTTP/1.1\r\n", "fd": 5, "size": 64})
            emit(info, "close", 0, {"res": 0, "fd": 5})
            if info.exepath:
                emit(info, "execve", 0, execve_args(info, 0, info.exepath))
    return events


def from_capture(path: str, state: State) -> list[Event]:
    from pdigpy.events.capture import read_capture

    events = []
    for kind, rec in read_capture(path):
        if kind == "snapshot":
            state.add_snapshot(rec)
        elif kind == "event":
            state.apply(rec)
            events.append(rec)
    return events


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000, help="events to evaluate (the set is replayed in a loop)")
    ap.add_argument("--capture", help="replay this capture file instead of synthesising events")
    ap.add_argument("--rules", nargs="*", default=[str(p) for p in UPSTREAM])
    ap.add_argument("--matching", choices=("first", "all"), default="first")
    ap.add_argument("--load-runs", type=int, default=5)
    opts = ap.parse_args(argv)

    loads = [load_engine(opts.rules, None, opts.matching)[1] for _ in range(opts.load_runs)]
    state = State()
    engine, _ = load_engine(opts.rules, state, opts.matching)
    print(f"imports: {t_import * 1000:.0f} ms of CPU (once per process)")
    cache = engine._env.parse_cache  # noqa: SLF001 - reporting only
    if cache is not None:
        print(f"parse cache {cache.path}: {len(cache.entries)} entries (first run of a version fills it)")
    print(f"load+compile (CPU time) of {len(opts.rules)} files, {len(engine.rules)} rules all enabled: "
          f"median {statistics.median(loads) * 1000:.0f} ms, min {min(loads) * 1000:.0f} ms "
          f"(first engine in the process {loads[0] * 1000:.0f} ms)")
    print(f"event types traced: {len(engine.event_types())}")

    if opts.capture:
        events = from_capture(opts.capture, state)
        source = f"capture {opts.capture}"
    else:
        events = synthesise(state, 2)
        source = (f"synthesised from {len({e.pid for e in events})} real processes in /proc "
                  "(openat/read/close, socket/connect/write/close, execve)")
    if not events:
        sys.exit("no events to replay")
    types = sorted({e.type for e in events})
    print(f"events: {len(events)} distinct, {source}; types: {', '.join(types)}")

    alerts = 0
    by_rule: dict[str, int] = {}
    for evt in events:
        for a in engine.evaluate(evt):
            alerts += 1
            by_rule[a.rule] = by_rule.get(a.rule, 0) + 1

    evaluate = engine.evaluate
    indexed = engine.event_types()
    ruled = [e for e in events if e.type in indexed]
    quiet = [e for e in ruled if not evaluate(e)]
    alerting = [e for e in ruled if evaluate(e)]
    print(f"alerts on one pass: {alerts} ({', '.join(f'{k}: {v}' for k, v in sorted(by_rule.items()))})")
    for label, subset in (
        ("all events of the mix", events),
        (f"events of rule-indexed types ({len(ruled)} of {len(events)})", ruled),
        (f"rule-indexed events that raise no alert ({len(quiet)})", quiet),
        (f"events that raise an alert ({len(alerting)}; output formatting included)", alerting),
    ):
        if not subset:
            continue
        n = opts.events
        batch = (subset * (n // len(subset) + 1))[:n]
        t0, c0 = time.perf_counter(), time.process_time()
        for evt in batch:
            evaluate(evt)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"evaluate, {label}: {n / cpu:,.0f} events/s, {cpu / n * 1e6:.2f} us/event of CPU "
              f"(wall clock {n / elapsed:,.0f} events/s)")
    if engine.errors_by_rule:
        print(f"rule errors: {engine.errors_by_rule}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

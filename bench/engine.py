"""Rule-engine benchmark: real recorded workloads replayed through State + RuleEngine on one core.

    taskset -c 0 .venv/bin/python bench/engine.py [--events 1000000] [--runs 5] [--capture FILE ...]
                                                  [--rules FILE ...] [--matching first|all] [--record]

Events come from captures of real workloads recorded with pdigpy itself (``pdigpy -r <rules>
-o 'rules[]={enable: {rule: "*"}}' --events CAP -- <workload>``), so the event-type mix is the one
the tracer produces when every rule of the three upstream files is enabled. They are recorded
on the first run into ``$PDIGPY_BENCH_DIR`` (default ``~/.cache/pdigpy/bench-captures``; never
committed) and reused afterwards; ``--record`` records them again, ``--capture`` replays given
files instead.

Method: each capture is read once into memory. A run replays the captures in sequence, again
and again, until at least ``--events`` events went through; for every pass the State is emptied
and refilled from the capture's snapshots, and fresh copies of the events are used (state sets
``evt.thread``/``evt.fdinfo``). Every pass is replayed twice: State.apply alone, then
State.apply + RuleEngine.evaluate; CPU time (process_time) of each is summed. The engine alone
is the difference. Reported: median of ``--runs`` runs, events/s and µs/event.

Load+compile is measured in fresh processes (``--load-only``): cold = an empty condition cache,
warm = the cache the cold run left behind. Imports are reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "upstream-rules"
UPSTREAM = [CORPUS / "falco_rules.yaml", CORPUS / "falco-incubating_rules.yaml", CORPUS / "falco-sandbox_rules.yaml"]
ENABLE_ALL = 'rules[]={enable: {rule: "*"}}'

# name -> command (run in a scratch directory; {tmp} is that directory)
PY_IMPORTS = ("import importlib, sys\n"
              "for m in sorted(sys.stdlib_module_names):\n"
              "    if m.startswith('_') or m in ('antigravity', 'this', 'idlelib', 'tkinter', 'turtle', 'turtledemo'):\n"
              "        continue\n"
              "    try:\n        importlib.import_module(m)\n"
              "    except Exception:\n        pass\n")
WORKLOADS = {
    "find": ["find", "/usr", "-name", "*.h"],
    "python-imports": ["python3", "-c", PY_IMPORTS],
    "sh-loop": ["sh", "-c", "for i in $(seq 300); do /bin/true; done"],
    "tar": ["tar", "cf", "{tmp}/x.tar", "/usr/include/linux"],
    "gcc": ["gcc", "-O1", "-o", "{tmp}/hello", "{tmp}/hello.c"],
}

sys.path.insert(0, str(REPO))


def capture_dir() -> Path:
    env = os.environ.get("PDIGPY_BENCH_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pdigpy" / "bench-captures"


def record(name: str, argv: list[str], rules: list[str], out: Path) -> None:
    """Trace one workload with pdigpy (every rule enabled) and keep its capture."""
    with tempfile.TemporaryDirectory(prefix="pdigpy-bench-") as tmp:
        (Path(tmp) / "hello.c").write_text("#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n")
        cmd = [sys.executable, "-m", "pdigpy"]
        for r in rules:
            cmd += ["-r", r]
        cmd += ["-o", ENABLE_ALL, "--no-summary", "--events", str(out) + ".tmp", "--"]
        cmd += [a.replace("{tmp}", tmp) for a in argv]
        done = subprocess.run(cmd, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if done.returncode != 0:
            sys.exit(f"bench/engine.py: recording {name} failed (exit {done.returncode}): {' '.join(cmd)}")
    os.replace(str(out) + ".tmp", out)


def ensure_captures(rules: list[str], again: bool) -> list[Path]:
    d = capture_dir()
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, argv in WORKLOADS.items():
        path = d / f"{name}.jsonl"
        if again or not path.exists():
            print(f"recording {name} -> {path}", flush=True)
            record(name, argv, rules, path)
        paths.append(path)
    return paths


class Capture:
    def __init__(self, path: Path):
        from pdigpy.events.capture import read_capture

        self.name = path.stem
        self.header: dict = {}
        self.snapshots: list = []
        self.events: list = []
        for kind, rec in read_capture(path):
            if kind == "header":
                self.header = rec
            elif kind == "snapshot":
                self.snapshots.append(rec)
            else:
                self.events.append(rec)

    def fresh_events(self) -> list:
        from pdigpy.events.model import Event

        return [Event(e.num, e.ts, e.tid, e.pid, e.type, e.res, e.args, e.cpu) for e in self.events]


def reset(state, cap: Capture) -> None:
    """Empty tables, then the capture's snapshots: the state a replay starts from. The same
    State object is kept because the engine's field registry is bound to it."""
    state.__init__(users=state.users)
    for info in cap.snapshots:
        state.add_snapshot(info)


def load_only(rules: list[str], matching: str) -> None:
    """One fresh process: import, build and load the engine; print the CPU times as JSON."""
    t0 = time.process_time()
    from pdigpy.engine.engine import RuleEngine
    from pdigpy.engine.fields.registry import FieldRegistry
    from pdigpy.state.tables import State

    t1 = time.process_time()
    engine = RuleEngine(FieldRegistry(State()), rule_matching=matching)
    res = engine.load_files(rules)
    engine.enable("*")
    t2 = time.process_time()
    if not res.ok:
        sys.exit("rules failed to load:\n" + res.report_text())
    types = sorted(engine.event_types())
    for t in types:  # plans are generated lazily at the first event of a type: time them all
        engine._plan(t)  # noqa: SLF001 - benchmark
    t3 = time.process_time()
    print(json.dumps({"import": t1 - t0, "load": t2 - t1, "plans": t3 - t2, "types": len(types),
                      "rules": len(engine.rules)}))


def measure_load(rules: list[str], matching: str, runs: int) -> dict:
    cold, warm = [], []
    env = dict(os.environ)
    env.pop("PDIGPY_NO_CACHE", None)
    for _ in range(runs):
        d = tempfile.mkdtemp(prefix="pdigpy-bench-cache-")
        try:
            env["PDIGPY_CACHE_DIR"] = d
            for into in (cold, warm):
                out = subprocess.run([sys.executable, __file__, "--load-only", "--matching", matching, "--rules", *rules],
                                     env=env, capture_output=True, text=True, check=True).stdout
                into.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def med(xs, key):
        return statistics.median(x[key] for x in xs) * 1000

    return {"cold": {k: med(cold, k) for k in ("import", "load", "plans")},
            "warm": {k: med(warm, k) for k in ("import", "load", "plans")},
            "types": cold[0]["types"], "rules": cold[0]["rules"]}


def one_run(engine, state, caps: list[Capture], target: int) -> tuple[int, float, float, int]:
    """Replay until ``target`` events: (events, CPU s of apply alone, CPU s of apply+evaluate, alerts)."""
    # (events of rule-indexed types are counted by the caller from the capture mix)
    apply, evaluate = state.apply, engine.evaluate
    n = 0
    t_state = t_both = 0.0
    alerts = 0
    clock = time.process_time
    while n < target:
        for cap in caps:
            evs = cap.fresh_events()
            reset(state, cap)
            t0 = clock()
            for evt in evs:
                apply(evt)
            t_state += clock() - t0
            evs = cap.fresh_events()
            reset(state, cap)
            t0 = clock()
            for evt in evs:
                apply(evt)
                if evaluate(evt):
                    alerts += 1
            t_both += clock() - t0
            n += len(evs)
    return n, t_state, t_both, alerts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events per run (captures are looped)")
    ap.add_argument("--runs", type=int, default=5, help="runs; the median is reported")
    ap.add_argument("--capture", nargs="*", help="replay these captures instead of the recorded workloads")
    ap.add_argument("--record", action="store_true", help="record the workloads again")
    ap.add_argument("--rules", nargs="*", default=[str(p) for p in UPSTREAM])
    ap.add_argument("--matching", choices=("first", "all"), default="first")
    ap.add_argument("--load-runs", type=int, default=5)
    ap.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--profile", metavar="FILE", help="cProfile one run into FILE (pstats) instead of timing")
    opts = ap.parse_args(argv)

    if opts.load_only:
        load_only(opts.rules, opts.matching)
        return 0

    cpus = os.sched_getaffinity(0)
    print(f"CPUs allowed: {sorted(cpus)}" + ("" if len(cpus) == 1 else "  (run under taskset -c 0 for one core)"))
    if opts.load_runs:
        ld = measure_load(opts.rules, opts.matching, opts.load_runs)
        print(f"load+compile of {len(opts.rules)} files, {ld['rules']} rules all enabled (CPU ms, median of "
              f"{opts.load_runs} fresh processes):")
        for k in ("cold", "warm"):
            v = ld[k]
            print(f"  {k}: load+compile {v['load']:.0f} ms; imports {v['import']:.0f} ms; "
                  f"plans of all {ld['types']} event types {v['plans']:.0f} ms (lazy, at first event of a type)")

    from pdigpy.engine.engine import RuleEngine
    from pdigpy.engine.fields.registry import FieldRegistry
    from pdigpy.state.tables import State

    paths = [Path(p) for p in opts.capture] if opts.capture else ensure_captures(opts.rules, opts.record)
    caps = [Capture(p) for p in paths]
    state = State()
    engine = RuleEngine(FieldRegistry(state), rule_matching=opts.matching)
    res = engine.load_files(opts.rules)
    if not res.ok:
        sys.exit("rules failed to load:\n" + res.report_text())
    engine.enable("*")

    total = sum(len(c.events) for c in caps)
    mix = Counter(e.type for c in caps for e in c.events)
    print(f"captures: {', '.join(f'{c.name} {len(c.events)}' for c in caps)} = {total} events per pass")
    print("event-type mix: " + ", ".join(f"{t} {n / total:.1%}" for t, n in mix.most_common()))
    indexed = engine.event_types()
    print(f"events of types some rule names: {sum(n for t, n in mix.items() if t in indexed) / total:.1%}")

    # warm-up pass: plans generated, caches filled, alert counts
    n, _, _, alerts = one_run(engine, state, caps, 1)
    print(f"one pass: {n} events, {alerts} with an alert")
    for c in caps:  # per-workload engine cost, one pass each
        _, ts, tb, a = one_run(engine, state, [c], 1)
        print(f"  {c.name:15s} {len(c.events):7d} events: engine {(tb - ts) / len(c.events) * 1e6:6.2f} us/event, "
              f"state {ts / len(c.events) * 1e6:5.2f} us/event, {a} alerts")

    if opts.profile:
        import cProfile

        pr = cProfile.Profile()
        pr.enable()
        one_run(engine, state, caps, opts.events)
        pr.disable()
        pr.dump_stats(opts.profile)
        print(f"profile written to {opts.profile}")
        return 0

    results = []
    for _ in range(opts.runs):
        results.append(one_run(engine, state, caps, opts.events))
    n = results[0][0]
    t_state = statistics.median(r[1] for r in results)
    t_both = statistics.median(r[2] for r in results)
    t_engine = statistics.median(r[2] - r[1] for r in results)
    print(f"replay: {n} events per run, median of {opts.runs} runs (CPU time):")
    for label, t in (("engine.evaluate alone", t_engine), ("state.apply + engine.evaluate", t_both),
                     ("state.apply alone", t_state)):
        print(f"  {label:30s} {n / t:>10,.0f} events/s  {t / n * 1e6:6.2f} us/event")
    ruled = n * sum(k for t, k in mix.items() if t in indexed) / total
    print(f"  {'engine per rule-indexed event':30s} {ruled / t_engine:>10,.0f} events/s  "
          f"{t_engine / ruled * 1e6:6.2f} us/event  (engine time / the {ruled / n:.1%} of events of a type "
          "some rule names)")
    if engine.errors_by_rule:
        print(f"rule errors: {engine.errors_by_rule}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

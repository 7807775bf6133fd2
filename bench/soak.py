"""Soak: one long real run under pdigpy; does pdigpy's memory stay flat?

    .venv/bin/python bench/soak.py [--events 1000000] [--modes pinned,unpinned]
                                   [--rules PATH] [--out-dir bench/results]
    .venv/bin/python bench/soak.py --events 600000 --objects       # diagnostic: who grows (cheap)
    .venv/bin/python bench/soak.py --events 150000 --tracemalloc   # diagnostic by traceback (slow)

The workload is a small C program (source below, built with gcc -O2 into a cache directory)
that produces at least N traced events:

- a loop of openat/read/close on one file (one ``openat`` event per turn: close and read are
  not in the default trace set);
- every 1000 turns, a fork + exec of /bin/true, waited for (clone x2, execve, the loader's
  openat, procexit: the process table grows and shrinks);
- every 1000 turns (offset 500), a thread that opens the file 10 times and exits (clone3 x2,
  procexit: the thread table grows and shrinks).

pdigpy runs through its console script with the default rules (pdigpy's rules/; every openat
is evaluated by the open-family rules), no ``--events`` capture, alerts to a file, and
``--stats-interval 1 --stats-file F``. Every second the script reads pdigpy's VmRSS/VmHWM from
/proc/<pid>/status and the last stats line (live event count). The event count comes from the
tracer's stats (the final record), never from the workload's own arithmetic.

Acceptance (issue 7): RSS at the end within 10% of RSS after the first 100k events.

Diagnostics (pdigpy in this process, for finding a leak): ``--objects`` counts the objects
alive after ``gc.collect()`` at the 100,000th event and at the end, by type, and names who holds
the new ones (cheap); ``--tracemalloc`` compares tracemalloc snapshots at the same two points
and prints the 15 biggest growths by traceback (slow: every allocation is traced).

Prints a markdown table and writes the samples as JSON lines to
OUT_DIR/soak-<UTC time>.jsonl (first line: metadata).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PDIGPY = REPO / ".venv" / "bin" / "pdigpy"
MARK_EVENTS = 100_000
TOLERANCE = 0.10
EXTRA_EVERY = 1000  # one fork+exec and one thread per this many loop turns

WORKLOAD_C = r"""
/* soak workload: N turns of openat/read/close, a fork+exec and a thread every 1000 turns. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *path;

static void *opener(void *arg) {
    (void)arg;
    for (int i = 0; i < 10; i++) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) close(fd);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: soak FILE TURNS\n"); return 2; }
    path = argv[1];
    long turns = atol(argv[2]);
    char c;
    for (long i = 1; i <= turns; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) { perror("open"); return 1; }
        if (read(fd, &c, 1) < 0) { perror("read"); return 1; }
        close(fd);
        if (i % 1000 == 0) {
            pid_t pid = fork();
            if (pid == 0) { execl("/bin/true", "true", (char *)NULL); _exit(127); }
            if (pid > 0) waitpid(pid, NULL, 0);
        } else if (i % 1000 == 500) {
            pthread_t t;
            if (pthread_create(&t, NULL, opener, NULL) == 0) pthread_join(t, NULL);
        }
    }
    return 0;
}
"""


def build_workload(cache: Path) -> Path:
    digest = hashlib.sha256(WORKLOAD_C.encode()).hexdigest()[:12]
    exe = cache / f"soak-{digest}"
    if not exe.exists():
        cache.mkdir(parents=True, exist_ok=True)
        src = cache / f"soak-{digest}.c"
        src.write_text(WORKLOAD_C)
        subprocess.run(["gcc", "-O2", "-Wall", "-o", str(exe), str(src), "-lpthread"], check=True)
    return exe


def turns_for(events: int) -> int:
    """Loop turns giving at least ``events`` openat events (the extras only add to it)."""
    return max(events, 1)


def read_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB ({} once it is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        return {}
    return out


def last_stats(path: Path) -> dict:
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    lines = [ln for ln in data.splitlines() if ln.strip()]
    for raw in reversed(lines):
        try:
            return json.loads(raw)
        except ValueError:  # a line being written
            continue
    return {}


def run_mode(mode: str, exe: Path, data_file: Path, turns: int, rules: list[str], work: Path) -> dict:
    stats_file = work / f"stats-{mode}.jsonl"
    alerts_file = work / f"alerts-{mode}.txt"
    for p in (stats_file, alerts_file):
        p.unlink(missing_ok=True)
    argv = [str(PDIGPY), *sum((["-r", r] for r in rules), []), "--no-summary",
            "--stats-interval", "1", "--stats-file", str(stats_file),
            "-o", "stderr_output.enabled=false", "-o", "file_output.enabled=true",
            "-o", f"file_output.filename={alerts_file}",
            "--", str(exe), str(data_file), str(turns)]
    if mode == "pinned":
        argv = ["taskset", "-c", "0", *argv]
    env = dict(os.environ)
    env["PDIGPY_CACHE_DIR"] = str(work / "pdigpy-cache")
    env.pop("PDIGPY_CONFIG", None)
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    # taskset execs pdigpy in place, so the Popen pid is pdigpy's either way.
    samples: list[dict] = []
    stderr_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        status = read_status(proc.pid)
        stats = last_stats(stats_file)
        if status:
            samples.append({"t": round(time.monotonic() - started, 2), "events": stats.get("events", 0),
                            "rss_kib": status.get("VmRSS", 0), "hwm_kib": status.get("VmHWM", 0)})
        time.sleep(1.0)
    wall = time.monotonic() - started
    reader.join(timeout=5)
    final = {}
    try:
        for raw in stats_file.read_text().splitlines():
            rec = json.loads(raw)
            if rec.get("kind") == "final":
                final = rec
    except (OSError, ValueError):
        pass
    # Samples taken while Python imports the rules have 0 events; the mark is the first sample
    # at or after 100k events, the end is the last sample taken while pdigpy was alive.
    marked = [s for s in samples if s["events"] >= MARK_EVENTS]
    at_mark = marked[0] if marked else None
    at_end = samples[-1] if samples else None
    events = final.get("events", 0)
    elapsed = final.get("elapsed_s") or wall
    growth = None
    if at_mark and at_end:
        growth = (at_end["rss_kib"] - at_mark["rss_kib"]) / at_mark["rss_kib"]
    return {
        "mode": mode, "argv": argv, "exit_code": proc.returncode, "wall_s": round(wall, 2),
        "events": events, "events_by_type": final.get("events_by_type", {}),
        "ptrace_stops": final.get("ptrace_stops"), "elapsed_s": elapsed,
        "events_per_s": round(events / elapsed) if elapsed else None,
        "alerts": final.get("alerts"), "at_mark": at_mark, "at_end": at_end,
        "rss_growth": None if growth is None else round(growth, 4),
        "ok": bool(growth is not None and growth <= TOLERANCE and events >= turns),
        "stderr": b"".join(stderr_chunks).decode(errors="replace")[-2000:],
        "samples": samples,
    }


def render(results: list[dict], target: int) -> str:
    lines = [f"| mode | events (tracer) | events/s | RSS at ~100k events | RSS at the end | growth | "
             f"peak RSS (VmHWM) | wall | verdict (<= {TOLERANCE:.0%}) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        m, e = r["at_mark"] or {}, r["at_end"] or {}
        lines.append(
            f"| {r['mode']} | {r['events']:,} | {r['events_per_s'] or 0:,} | "
            f"{m.get('rss_kib', 0) / 1024:.1f} MiB (at {m.get('events', 0):,}) | "
            f"{e.get('rss_kib', 0) / 1024:.1f} MiB (at {e.get('events', 0):,}) | "
            f"{(r['rss_growth'] or 0) * 100:+.1f}% | {e.get('hwm_kib', 0) / 1024:.1f} MiB | "
            f"{r['wall_s']:.0f} s | {'pass' if r['ok'] else 'FAIL'} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ in-process diagnostics

def _run_in_process(exe: Path, data_file: Path, turns: int, rules: list[str], at_mark) -> int:
    """pdigpy's CLI in this process; ``at_mark()`` is called once, at the 100,000th event."""
    from pdigpy import cli
    from pdigpy import stats as stats_mod

    original = stats_mod.Stats.count_event

    def counting(self, evt_type: str) -> None:  # diagnostic only: the hot path gets slower
        original(self, evt_type)
        if self.events == MARK_EVENTS:
            at_mark()

    stats_mod.Stats.count_event = counting
    try:
        argv = [*sum((["-r", r] for r in rules), []), "--no-summary", "-o", "stderr_output.enabled=false",
                "--", str(exe), str(data_file), str(turns)]
        return cli.main(argv)
    finally:
        stats_mod.Stats.count_event = original


def diagnose_objects(exe: Path, data_file: Path, turns: int, rules: list[str]) -> int:
    """Cheap: objects alive (after gc.collect) at 100k events and at the end, by type, and who holds the new ones."""
    import gc
    from collections import Counter

    mark: dict[str, object] = {}

    def take() -> None:
        gc.collect()
        objs = gc.get_objects()
        mark["ids"] = {id(o) for o in objs}
        mark["types"] = Counter(type(o).__name__ for o in objs)

    code = _run_in_process(exe, data_file, turns, rules, take)
    if "ids" not in mark:
        print("fewer than 100k events: no mark", file=sys.stderr)
        return 1
    gc.collect()
    objs = gc.get_objects()
    new = [o for o in objs if id(o) not in mark["ids"]]
    print(f"pdigpy exit {code}; gc-tracked objects alive now and not at 100k events, by type: "
          f"{(Counter(type(o).__name__ for o in objs) - mark['types']).most_common(10)}")
    holders: Counter[str] = Counter()
    for o in new[:2000]:
        for r in gc.get_referrers(o):
            if r is new or r is objs:
                continue
            owner = type(r).__name__
            if isinstance(r, dict):  # name the object or module whose __dict__/attribute dict this is
                for rr in gc.get_referrers(r):
                    if rr is not objs and rr is not new and not isinstance(rr, (list, dict)):
                        owner = f"dict of {type(rr).__module__}.{type(rr).__qualname__}"
                        break
            holders[owner] += 1
    print("held by:", holders.most_common(8))
    return 0


def diagnose_tracemalloc(exe: Path, data_file: Path, turns: int, rules: list[str]) -> int:
    """Slow: tracemalloc snapshots at 100k events and at the end; the biggest growths by traceback."""
    import tracemalloc

    snaps: dict[str, object] = {}
    tracemalloc.start(4)
    code = _run_in_process(exe, data_file, turns, rules, lambda: snaps.setdefault("mark", tracemalloc.take_snapshot()))
    end = tracemalloc.take_snapshot()
    if "mark" not in snaps:
        print("fewer than 100k events: no mark snapshot", file=sys.stderr)
        return 1
    flt = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = [stat for stat in end.filter_traces(flt).compare_to(snaps["mark"].filter_traces(flt), "traceback")
            if stat.size_diff > 0]  # growths only: what was freed at exit is not the question
    print(f"pdigpy exit {code}; traced memory now {tracemalloc.get_traced_memory()[0] / 1024:.0f} KiB; "
          "biggest growths since 100k events:")
    for stat in diff[:15]:
        print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
        for line in stat.traceback.format(limit=4):
            print("    " + line.strip())
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="pdigpy soak: RSS over a >= N-event run")
    p.add_argument("--events", type=int, default=1_000_000, help="traced events to produce at least")
    p.add_argument("--modes", default="pinned,unpinned", help="pinned (taskset -c 0), unpinned, or both")
    p.add_argument("--rules", action="append", default=None,
                   help="rules file/dir (repeatable; default: pdigpy's default rules)")
    p.add_argument("--cache-dir", default=None, help="where the workload is built (default: a temp dir)")
    p.add_argument("--out-dir", default=str(REPO / "bench" / "results"))
    p.add_argument("--objects", action="store_true",
                   help="diagnostic in-process run: new objects since 100k events and who holds them")
    p.add_argument("--tracemalloc", action="store_true", help="diagnostic in-process run under tracemalloc (slow)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rules = args.rules or []
    cache = Path(args.cache_dir or Path(tempfile.gettempdir()) / "pdigpy-soak-cache")
    exe = build_workload(cache)
    turns = turns_for(args.events)
    with tempfile.TemporaryDirectory(prefix="pdigpy-soak-") as tmp:
        work = Path(tmp)
        data_file = work / "data.txt"
        data_file.write_text("soak\n")
        if args.objects:
            return diagnose_objects(exe, data_file, turns, rules)
        if args.tracemalloc:
            return diagnose_tracemalloc(exe, data_file, turns, rules)
        results = []
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            r = run_mode(mode, exe, data_file, turns, rules, work)
            print(f"{mode}: exit {r['exit_code']}, {r['events']:,} events, {r['events_per_s']} events/s, "
                  f"RSS growth {r['rss_growth']}", file=sys.stderr, flush=True)
            if r["exit_code"] != 0:
                print(r["stderr"], file=sys.stderr)
            results.append(r)
    table = render(results, args.events)
    print(table)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    meta = {"kind": "meta", "events_target": args.events, "turns": turns, "rules": rules or "default",
            "python": sys.version.split()[0], "kernel": platform.release(), "cpus": os.cpu_count(),
            "command": " ".join([".venv/bin/python", "bench/soak.py", *(argv if argv is not None else sys.argv[1:])])}
    with open(out_dir / f"soak-{stamp}.jsonl", "w") as fh:
        fh.write(json.dumps(meta) + "\n")
        for r in results:
            fh.write(json.dumps(r) + "\n")
    (out_dir / f"soak-{stamp}.md").write_text(table + "\n")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Tracer overhead: native vs strace (seccomp-bpf, pdigpy's syscall set) vs pdigpy, side by side.

    .venv/bin/python bench/overhead.py [--runs 5] [--modes pinned,unpinned] [--workloads a,b,...]
                                       [--configs norules,fullstate,floor,default] [--seed N] [--quick]
                                       [--out-dir bench/results]

For each workload it times these ways of running it, in the same run (``--configs`` picks the
groups; all by default). Each strace gets exactly the syscall set its pdigpy counterpart traces
(the first column of ``pdigpy [-r RULES] --print-filter``; names this strace does not know are
dropped and listed; an empty set is ``-e trace=none``):

``norules`` (the issue-2 comparison):

- ``native``: the workload alone;
- ``strace``: ``strace -f --seccomp-bpf -e trace=<SET> -o /dev/null -- WORKLOAD`` where SET is
  exactly what pdigpy traces with no rules (``pdigpy -r EMPTY --print-filter``). Since the state's
  syscalls are traced on demand (pdigpy/state/needs.py), that is only the loop's ptrace attach
  guard: both tools stop on almost nothing, and the comparison measures start-up and the process
  lifecycle (fork/clone/exec event stops; pdigpy's /proc reads at exec);
- ``pdigpy``: pdigpy's console script with an empty rules file, no --events, no summary, counters
  to a --stats-file (written once at exit). Python startup is part of pdigpy's time, as it is for
  a user.

``fullstate`` (the state's cost, what ``norules`` measured before the state went on demand):

- ``strace-fullstate`` / ``pdigpy-fullstate``: pdigpy with one rule that reads every state group
  (fd.name, user.uid, thread.cap_effective, proc.sid) on an event no workload makes
  (userfaultfd): the state's 43 syscalls plus the guard, every event through the state, no alert.

``default`` (pdigpy as shipped):

- ``strace-default``: strace with the set of pdigpy's default rules (``pdigpy --print-filter``);
- ``pdigpy-default``: pdigpy with its default rules, no --events, alerts to stderr (discarded).
  Its condition cache is filled by one unmeasured run first, as a user's second run finds it.

``floor`` (what any CPython tracer pays here; bench/floor_tracer.py, run with ``python -I -S``),
against strace-default and pdigpy-default, whose set is what users trace:

- ``floor-entry``: a bare ctypes wait loop with pdigpy's seccomp filter for the default rules'
  set (fcntl narrowed as pdigpy narrows it), one stop per traced syscall, doing nothing but resume;
- ``floor-exit``: the same plus the exit stop and PTRACE_GET_SYSCALL_INFO at both stops;
- ``floor-norules``: floor-entry with the no-rules set (the guard), against ``strace``: the fixed
  cost and the lifecycle stops of a bare Python tracer;
- a ``python -I -S -c pass`` row: the bare interpreter's fixed cost, untraced.

Method (docs/performance.md explains why): all (mode, workload, tool) triples are run once per
round in a shuffled order, for --runs rounds; a file-based workload is preceded by an unmeasured
native run (DAMON pages out idle page cache on this VM); wall time is perf_counter around
subprocess.run with the tracee's stdout on /dev/null; the tables give medians. ``pinned`` runs the
whole tree under ``taskset -c 0`` (tracer and tracee share one vCPU: the CPU cost), ``unpinned``
is what a user of the VM gets. Each run records the foreign CPU load (busy CPU of the machine
minus our children's rusage) and, for pdigpy and the floor tracers, their ptrace stop counts
from their stats files.

With the floor in the run, a budget table per mode says how much CPU per event pdigpy (default
rules) may spend above its floor and still match strace's CPU (with the default rules' set).

Prints markdown tables per configuration and mode and writes raw results as JSON lines to
OUT_DIR/overhead-<UTC time>.jsonl (first line: the metadata) and the tables to the same name .md.
``--render FILE.jsonl`` prints the tables of such a file again without running anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
WORKLOAD_SRC = Path(__file__).resolve().parent / "workloads"
FLOOR_TRACER = Path(__file__).resolve().parent / "floor_tracer.py"
TRACERS = ("native", "strace", "pdigpy")  # the norules configuration
# configuration -> the tools it times (native is shared)
CONFIGS = {
    "norules": ("native", "strace", "pdigpy"),
    "fullstate": ("native", "strace-fullstate", "pdigpy-fullstate"),
    "floor": ("native", "strace", "floor-norules", "strace-default", "floor-entry", "floor-exit", "pdigpy-default"),
    "default": ("native", "strace-default", "pdigpy-default"),
}
TOOLS = ("native", "strace", "pdigpy", "strace-fullstate", "pdigpy-fullstate", "floor-norules", "floor-entry",
         "floor-exit", "strace-default", "pdigpy-default")
# the strace / pdigpy pair of each table
PAIRS = {"norules": ("strace", "pdigpy"), "fullstate": ("strace-fullstate", "pdigpy-fullstate"),
         "default": ("strace-default", "pdigpy-default")}
# One rule that reads every state group (fd_table and cwd, credentials, capabilities, session) on
# an event no workload makes: pdigpy then traces the state's full set and never alerts.
FULLSTATE_RULES = """\
- rule: Full state, never fires
  desc: bench/overhead.py's fullstate configuration; userfaultfd is already in the state's set
  condition: >
    evt.type = userfaultfd and fd.name = "/nonexistent" and user.uid = 4242424
    and thread.cap_effective = "X" and proc.sid = 4242424
  output: never %fd.name
  priority: DEBUG
"""
STAT_KEYS = ("ptrace_stops", "ptrace_seccomp_stops", "ptrace_syscall_stops", "ptrace_event_stops", "events",
             "tracer_cpu_s")
MODES = ("pinned", "unpinned")
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    label: str  # the row title in the tables
    argv: tuple[str, ...]
    warm: bool  # reads files: run it natively, unmeasured, before each measured run
    native_only: bool = False  # a reference row (the bare interpreter), never traced


@dataclasses.dataclass
class Setup:
    workloads: list[Workload]
    trace_set: list[str]  # strace's set for the no-rules pdigpy
    pdigpy: list[str]  # the command prefix before "--"
    rules: Path
    stats_dir: Path
    tools: tuple[str, ...] = TRACERS
    floor_set: str = ""  # floor_tracer.py's -e argument: the default rules' set as numbers, fcntl narrowed
    default_set: list[str] = dataclasses.field(default_factory=list)  # strace's set for the default rules
    fullstate_set: list[str] = dataclasses.field(default_factory=list)  # strace's set for the fullstate rule
    fullstate_rules: Path = Path()
    floor_norules_set: str = ""  # floor_tracer.py's -e argument for the no-rules set (the guard)
    # the strace / pdigpy the floor tables compare with (old result files: the no-rules pair)
    floor_pair: tuple[str, str] = ("strace-default", "pdigpy-default")


# --- building the workloads ----------------------------------------------------------------


def build_programs(cache: Path) -> dict[str, Path]:
    """gcc -O2 each bench/workloads/*.c once into CACHE/<hash of the source>/NAME."""
    out = {}
    for src in sorted(WORKLOAD_SRC.glob("*.c")):
        digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
        exe = cache / "bin" / digest / src.stem
        if not exe.exists():
            exe.parent.mkdir(parents=True, exist_ok=True)
            tmp = exe.with_suffix(".tmp")
            cmd = ["gcc", "-O2", "-Wall", "-o", str(tmp), str(src), "-lpthread"]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"bench/overhead.py: cannot build {src.name}: {res.stderr.strip()}")
            tmp.rename(exe)
        out[src.stem] = exe
    return out


def make_files(cache: Path, count: int) -> Path:
    """COUNT files of 100 bytes in CACHE/files-COUNT (kept between runs)."""
    d = cache / f"files-{count}"
    done = d / ".complete"
    if not done.exists():
        d.mkdir(parents=True, exist_ok=True)
        data = b"x" * 99 + b"\n"
        for i in range(count):
            (d / f"f{i}").write_bytes(data)
        done.write_text("ok\n")
    return d


def python_for_import() -> str:
    """The system interpreter (as in the reference measurements), else ours in isolated mode."""
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


PYSTART = Workload("pystart", "python -I -S -c pass (bare interpreter, untraced)",
                   (sys.executable, "-I", "-S", "-c", "pass"), False, native_only=True)


def define_workloads(cache: Path, quick: bool, with_pystart: bool = False) -> list[Workload]:
    """The workloads; with_pystart adds the bare interpreter's reference row first (floor tables)."""
    progs = build_programs(cache)
    nfiles = 200 if quick else 20000
    files_dir = make_files(cache, nfiles)
    py = python_for_import()
    return [PYSTART] * with_pystart + [
        Workload("startup", "/bin/true (fixed cost)", ("/bin/true",), False),
        Workload("pyimport", "python3 -c 'import json, email, http.client'",
                 (py, "-c", "import json, email, http.client"), True),
        Workload("files", f"{nfiles} x open/read/close", (str(progs["files"]), str(files_dir), str(nfiles)), True),
        Workload("find", f"find {files_dir}" if quick else "find /usr",
                 ("find", str(files_dir)) if quick else ("find", "/usr"), True),
        Workload("forkexec", f"{5 if quick else 500} x fork+exec /bin/true",
                 (str(progs["forkexec"]), "5" if quick else "500", "/bin/true"), False),
        Workload("threads", "2x2 threads" if quick else "200 rounds x 4 pthreads",
                 (str(progs["threads"]), "2" if quick else "200", "2" if quick else "4"), False),
    ]


# --- pdigpy and strace commands ------------------------------------------------------------


def pdigpy_command(explicit: str | None) -> list[str]:
    """pdigpy's console script next to this interpreter (the venv), or --pdigpy."""
    if explicit:
        return [explicit]
    script = Path(sys.executable).parent / "pdigpy"
    if script.exists():
        return [str(script)]
    found = shutil.which("pdigpy")
    if found:
        return [found]
    return [sys.executable, "-m", "pdigpy"]


def print_filter(pdigpy: list[str], rules: Path | None, env: dict[str, str]) -> list[list[str]]:
    """``pdigpy [-r RULES] --print-filter`` as rows of tab-separated columns (syscall, event, needed by)."""
    cmd = pdigpy + (["-r", str(rules)] if rules is not None else []) + ["--print-filter"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.exit(f"bench/overhead.py: pdigpy --print-filter failed: {res.stderr.strip()}")
    rows = [ln.split("\t") for ln in res.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    # an empty filter is legitimate only if pdigpy says so ("# 0 syscalls in the seccomp filter")
    if not rows and not re.match(r"# 0 syscalls\b", res.stdout):
        sys.exit(f"bench/overhead.py: cannot read pdigpy --print-filter's output: {res.stdout[:200]!r}")
    return rows


def trace_set(pdigpy: list[str], rules: Path | None, env: dict[str, str]) -> list[str]:
    """The syscalls pdigpy's seccomp filter traces with these rules (first column of --print-filter)."""
    return [row[0].split()[0] for row in print_filter(pdigpy, rules, env)]


_ARG_FILTER = re.compile(r"only when arg (\d) is ([\d, or]+)")


def floor_set(rows: list[list[str]]) -> str:
    """floor_tracer.py's -e argument for pdigpy's filter: numbers from pdigpy's own table, and the
    argument narrowing --print-filter shows ("only when arg 1 is 0 or 1030" -> 72@1=0:1030)."""
    from pdigpy.tracer.syscalls.table import native_table

    by_name = native_table().by_name
    items = []
    for row in rows:
        name = row[0].split()[0]
        if name not in by_name:
            sys.exit(f"bench/overhead.py: --print-filter names {name!r}, which pdigpy's table does not have")
        item = str(by_name[name].nr)
        note = " ".join(row[1:])
        m = _ARG_FILTER.search(note)
        if m:
            item += f"@{m.group(1)}=" + ":".join(re.findall(r"\d+", m.group(2)))
        elif "only when" in note:  # a narrowing this parser does not know: the floor would stop more
            sys.exit(f"bench/overhead.py: cannot read the argument filter of {name} in --print-filter: {note!r}; "
                     "update _ARG_FILTER")
        items.append(item)
    return ",".join(items)


def strace_known(names: list[str]) -> tuple[list[str], list[str]]:
    """(names this strace accepts in -e trace=, names it refuses): strace 6.1 predates fchmodat2."""
    names = list(names)
    refused: list[str] = []
    while names:
        res = subprocess.run(["strace", "-f", "-e", "trace=" + ",".join(names), "-o", "/dev/null", "--", "/bin/true"],
                             capture_output=True, text=True)
        m = re.search(r"invalid system call '([^']+)'", res.stderr)
        if res.returncode == 0 or not m or m.group(1) not in names:
            break
        names.remove(m.group(1))
        refused.append(m.group(1))
    return names, refused


def strace_trace_arg(names: list[str]) -> str:
    """strace's -e argument for a set; ``trace=`` with nothing is refused, ``trace=none`` is the empty set."""
    return "trace=" + (",".join(names) or "none")


def tracer_argv(tracer: str, wl: Workload, setup: Setup, stats_file: Path) -> list[str]:
    if tracer == "native":
        return list(wl.argv)
    if tracer.startswith("strace"):
        names = {"strace": setup.trace_set, "strace-fullstate": setup.fullstate_set,
                 "strace-default": setup.default_set}[tracer]
        return ["strace", "-f", "--seccomp-bpf", "-e", strace_trace_arg(names), "-o", "/dev/null", "--", *wl.argv]
    if tracer.startswith("floor"):
        variant = ["--exit-stops"] if tracer == "floor-exit" else []
        spec = setup.floor_norules_set if tracer == "floor-norules" else setup.floor_set
        return [sys.executable, "-I", "-S", str(FLOOR_TRACER), *variant, "--stats-file", str(stats_file),
                "-e", spec, "--", *wl.argv]
    rules = {"pdigpy": ["-r", str(setup.rules)], "pdigpy-fullstate": ["-r", str(setup.fullstate_rules)],
             "pdigpy-default": []}[tracer]
    return [*setup.pdigpy, *rules, "--no-summary", "--stats-file", str(stats_file), "--", *wl.argv]


# --- one timed run -------------------------------------------------------------------------


def read_cpu_busy() -> tuple[float, float]:
    """Busy seconds of the whole machine and of cpu0 since boot (from /proc/stat)."""
    busy_all = busy0 = 0.0
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            parts = line.split()
            # user nice system idle iowait irq softirq steal
            v = [int(x) for x in parts[1:9]]
            busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK
            if parts[0] == "cpu":
                busy_all = busy
            elif parts[0] == "cpu0":
                busy0 = busy
    return busy_all, busy0


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(argv: list[str], env: dict[str, str]) -> dict:
    """Wall time of one run, its exit code, the CPU it used and the machine's foreign load."""
    busy_all0, busy00 = read_cpu_busy()
    cpu0 = children_cpu()
    t0 = time.perf_counter()
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - t0
    cpu = children_cpu() - cpu0
    busy_all1, busy01 = read_cpu_busy()
    foreign = max(0.0, (busy_all1 - busy_all0) - cpu)
    return {
        "wall_s": wall,
        "rc": res.returncode,
        "stderr": res.stderr.decode(errors="replace")[-500:],
        "cpu_s": round(cpu, 4),
        # busy CPUs of other jobs during the run (0 = idle machine, 2 = both vCPUs busy)
        # (/proc/stat counts in 10 ms ticks: meaningless for runs shorter than ~0.2 s)
        "foreign_cpus": round(min(NCPU, foreign / wall), 3) if wall > 0 else 0.0,
        "cpu0_busy": round(min(1.0, (busy01 - busy00) / wall), 3) if wall > 0 else 0.0,
    }


def read_stats(path: Path) -> dict:
    """The final counters line of pdigpy's --stats-file (stop counts, events)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("kind") == "final":
            keys = ("ptrace_stops", "ptrace_seccomp_stops", "ptrace_syscall_stops", "ptrace_event_stops",
                    "ptrace_signal_stops", "events", "events_by_type", "alerts", "tracer_cpu_s", "elapsed_s")
            return {k: rec[k] for k in keys if k in rec}
    return {}


# --- the rounds ----------------------------------------------------------------------------


def bench_env(work: Path) -> dict[str, str]:
    """The environment of every run (all three tracers alike, it reaches the tracee too).

    pdigpy gets its built-in configuration (no $PDIGPY_CONFIG) and an empty condition cache of
    its own: the shared ~/.cache/pdigpy one holds the test suite's thousands of parsed
    conditions and is loaded eagerly, which is not what a user with no rules pays.
    """
    env = {k: v for k, v in os.environ.items() if k != "PDIGPY_CONFIG"}
    env["PDIGPY_CACHE_DIR"] = str(work / "pdigpy-cache")
    return env


def precompile(env: dict[str, str]) -> None:
    """Byte-compile the pdigpy package, as pip does on install.

    With PYTHONDONTWRITEBYTECODE set (this team's sessions set it) and no __pycache__, every
    pdigpy start would compile ~80 modules from source (about 0.3 s), which no installed
    pdigpy does. The .pyc files go to the package's __pycache__ dirs (gitignored).
    """
    import pdigpy

    pkg = Path(pdigpy.__file__).resolve().parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(pkg)], stdout=subprocess.DEVNULL,
                   env={k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"})


def run_rounds(setup: Setup, modes: list[str], runs: int, seed: int, cpu: int,
               emit: Callable[[dict], None], progress: Callable[[str], None]) -> list[dict]:
    env = bench_env(setup.stats_dir)
    rng = random.Random(seed)
    triples = [(m, wl, tr) for m in modes for wl in setup.workloads for tr in setup.tools
               if tr == "native" or not wl.native_only]
    results = []
    total = len(triples) * runs
    done = 0
    for rnd in range(runs):
        order = triples[:]
        rng.shuffle(order)
        for mode, wl, tracer in order:
            pin = ["taskset", "-c", str(cpu)] if mode == "pinned" else []
            if wl.warm:
                subprocess.run(pin + list(wl.argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)
            stats_file = setup.stats_dir / f"stats-{rnd}-{mode}-{wl.name}-{tracer}.jsonl"
            stats_file.unlink(missing_ok=True)
            rec = run_once(pin + tracer_argv(tracer, wl, setup, stats_file), env)
            rec.update({"kind": "run", "round": rnd, "mode": mode, "workload": wl.name, "tracer": tracer})
            if tracer.startswith(("pdigpy", "floor")):
                rec["stats"] = read_stats(stats_file)
            if rec["rc"] == 0:
                rec.pop("stderr")
            results.append(rec)
            emit(rec)
            done += 1
            progress(f"[{done}/{total}] round {rnd + 1} {mode:8} {wl.name:9} {tracer:14} "
                     f"{rec['wall_s']:8.3f} s rc={rec['rc']} foreign={rec['foreign_cpus']:.2f}")
    return results


# --- the tables ----------------------------------------------------------------------------


def summarize(results: list[dict], workloads: list[Workload], modes: list[str],
              tools: tuple[str, ...] = TRACERS) -> dict:
    """(mode, workload) -> medians per tool (wall, CPU, stop counts), failures, foreign load.

    ``s[tool]`` is the median wall time, ``s[tool + "_cpu"]`` the median CPU of the whole tree,
    ``s["stats"][tool]`` the medians of the tool's own counters (pdigpy and the floor tracers);
    pdigpy's are also at the top level (``s["ptrace_stops"]``...), as the norules table reads them.
    """
    out = {}
    for mode in modes:
        for wl in workloads:
            rows = [r for r in results if r["mode"] == mode and r["workload"] == wl.name]
            s: dict = {"runs": {}, "fail": {}, "stats": {}}
            for tr in tools:
                ok = [r for r in rows if r["tracer"] == tr and r["rc"] == 0]
                s["fail"][tr] = sum(1 for r in rows if r["tracer"] == tr and r["rc"] != 0)
                s["runs"][tr] = len(ok)
                s[tr] = statistics.median(r["wall_s"] for r in ok) if ok else None
                s[tr + "_cpu"] = statistics.median(r["cpu_s"] for r in ok) if ok else None
                stats = [r.get("stats") or {} for r in ok]
                s["stats"][tr] = {}
                for key in STAT_KEYS:
                    vals = [st[key] for st in stats if key in st]
                    s["stats"][tr][key] = statistics.median(vals) if vals else None
            s.update(s["stats"].get("pdigpy") or dict.fromkeys(STAT_KEYS))
            s["foreign_cpus"] = statistics.median([r["foreign_cpus"] for r in rows]) if rows else None
            out[(mode, wl.name)] = s
    return out


def _fmt_time(t: float | None, base: float | None) -> str:
    if t is None:
        return "FAIL"
    text = f"{t:.3f} s"
    if base:
        text += f" ({t / base:.1f}x)"
    return text


MODE_TITLES = {"pinned": "pinned (`taskset -c 0`: tracer and tracee on one vCPU)",
               "unpinned": "unpinned (default scheduling)"}


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


LABELS = {
    "strace": "strace --seccomp-bpf",
    "pdigpy": "pdigpy",
    "strace-fullstate": "strace --seccomp-bpf (full state set)",
    "pdigpy-fullstate": "pdigpy (full state, one rule)",
    "strace-default": "strace --seccomp-bpf (default rules' set)",
    "pdigpy-default": "pdigpy (default rules)",
}
TITLES = {"norules": "", "fullstate": "Full state, ", "default": "Default rules, "}


def _stops(stats: dict) -> str:
    """A tool's stop counts: total (seccomp + syscall-exit + event)."""
    if stats.get("ptrace_stops") is None:
        return "-"
    return (f"{stats['ptrace_stops']:,.0f} ({stats['ptrace_seccomp_stops']:,.0f} + "
            f"{stats['ptrace_syscall_stops']:,.0f} + {stats['ptrace_event_stops']:,.0f})")


def _per_stop(stats: dict) -> str:
    """The tracer's own CPU while tracing (no start-up) over its stops, in µs."""
    if not stats.get("ptrace_stops") or stats.get("tracer_cpu_s") is None:
        return "-"
    return f"{stats['tracer_cpu_s'] / stats['ptrace_stops'] * 1e6:.1f}"


def render_tables(summary: dict, workloads: list[Workload], modes: list[str], runs: int,
                  config: str = "norules") -> str:
    """One table per mode: native, strace and pdigpy of one configuration (norules, fullstate, default)."""
    strace, pdigpy = PAIRS[config]
    parts = []
    for mode in modes:
        parts.append(f"### {TITLES[config]}{MODE_TITLES[mode]}, median of {runs} runs\n")
        parts.append(f"| workload | native | {LABELS[strace]} | {LABELS[pdigpy]} | pdigpy / strace | target <= 1.0x "
                     "| CPU pdigpy / strace | pdigpy stops (seccomp + syscall-exit + event) "
                     "| pdigpy tracer CPU µs/stop | foreign load (CPUs) |")
        parts.append("|---|---|---|---|---|---|---|---|---|---|")
        for wl in workloads:
            if wl.native_only:
                continue
            s = summary[(mode, wl.name)]
            nat, st, pd = s["native"], s[strace], s[pdigpy]
            ratio = f"{pd / st:.2f}x" if pd and st else "-"
            met = ("yes" if pd <= st else "no") if pd and st else "-"
            # CPU time of the whole tree (tracer + tracee): stable when other jobs load the machine
            cpu_ratio = _ratio(s[pdigpy + "_cpu"], s[strace + "_cpu"])
            stats = s["stats"][pdigpy]
            fails = sum(s["fail"][t] for t in ("native", strace, pdigpy))
            label = wl.label + (f" ({fails} failed runs)" if fails else "")
            parts.append(f"| {label} | {_fmt_time(nat, None)} | {_fmt_time(st, nat)} | {_fmt_time(pd, nat)} "
                         f"| {ratio} | {met} | {cpu_ratio} | {_stops(stats)} | {_per_stop(stats)} "
                         f"| {s['foreign_cpus']:.2f} |")
        parts.append("")
    return "\n".join(parts)


FLOOR_NOTES = """\
- floor-entry / floor-exit: `python -I -S bench/floor_tracer.py [--exit-stops] -e SET -- WORKLOAD`, a ctypes
  wait loop that does nothing but resume (floor-exit: plus the exit stop and PTRACE_GET_SYSCALL_INFO at
  both stops), with pdigpy's seccomp filter for the set of the strace column (fcntl narrowed as pdigpy
  narrows it).
- CPU = CPU time of the whole tree (tracer, tracee, kernel work charged to them); the stable figure
  under foreign load. "<= strace" answers the target's question for the floor: could any CPython
  tracer with this stop model reach 1.0x of strace here?
- stops: the floor tracer's own counts (seccomp + syscall-exit + event); tracer µs/stop: its CPU in
  the loop (start-up excluded) over its stops.
"""


def render_floor(summary: dict, setup: Setup, modes: list[str], runs: int) -> str:
    """One table per mode: strace against the two floor tracers (and pdigpy against the floor), then
    the budget table, then the floor with the no-rules set."""
    strace, pdigpy = setup.floor_pair
    with_pdigpy = pdigpy in setup.tools
    workloads = setup.workloads
    parts = []
    for mode in modes:
        parts.append(f"### Floor of a Python tracer, {MODE_TITLES[mode]}, median of {runs} runs\n")
        head = ["workload", "native", LABELS[strace], "floor-entry", "floor-exit"]
        head += [LABELS[pdigpy]] * with_pdigpy
        head += ["CPU floor-entry / strace", "CPU floor-exit / strace", "floor-entry <= strace (CPU, wall)",
                 "floor-exit <= strace (CPU, wall)"]
        head += ["CPU pdigpy / floor-entry", "CPU pdigpy / floor-exit"] * with_pdigpy
        head += ["floor-entry stops", "floor-exit stops", "floor tracer µs/stop (entry, exit)", "foreign load (CPUs)"]
        parts.append("| " + " | ".join(head) + " |")
        parts.append("|" + "---|" * len(head))
        for wl in workloads:
            s = summary[(mode, wl.name)]
            if wl.native_only:
                cpu = s["native_cpu"]
                cells = [wl.label, _fmt_time(s["native"], None) + (f" (CPU {cpu:.3f} s)" if cpu is not None else "")]
                cells += ["-"] * (len(head) - 3) + [f"{s['foreign_cpus']:.2f}"]
                parts.append("| " + " | ".join(cells) + " |")
                continue
            st_cpu = s[strace + "_cpu"]

            def at_or_below(tool: str) -> str:
                if not (s[tool + "_cpu"] and st_cpu and s[tool] and s[strace]):
                    return "-"
                return ", ".join("yes" if a <= b else "no" for a, b in ((s[tool + "_cpu"], st_cpu),
                                                                         (s[tool], s[strace])))

            tools = ["native", strace, "floor-entry", "floor-exit"] + [pdigpy] * with_pdigpy
            fails = sum(s["fail"][t] for t in tools)
            cells = [wl.label + (f" ({fails} failed runs)" if fails else "")]
            cells += [_fmt_time(s[t], None) for t in tools]
            cells += [_ratio(s["floor-entry_cpu"], st_cpu), _ratio(s["floor-exit_cpu"], st_cpu),
                      at_or_below("floor-entry"), at_or_below("floor-exit")]
            if with_pdigpy:
                cells += [_ratio(s[pdigpy + "_cpu"], s["floor-entry_cpu"]),
                          _ratio(s[pdigpy + "_cpu"], s["floor-exit_cpu"])]
            cells += [_stops(s["stats"]["floor-entry"]), _stops(s["stats"]["floor-exit"]),
                      f"{_per_stop(s['stats']['floor-entry'])}, {_per_stop(s['stats']['floor-exit'])}",
                      f"{s['foreign_cpus']:.2f}"]
            parts.append("| " + " | ".join(cells) + " |")
        parts.append("")
        if with_pdigpy:
            parts.append(render_budget(summary, workloads, mode, strace, pdigpy))
    parts.append(FLOOR_NOTES)
    if "floor-norules" in setup.tools and "strace" in setup.tools:
        parts.append(render_floor_norules(summary, setup, modes, runs))
    return "\n".join(parts)


def render_floor_norules(summary: dict, setup: Setup, modes: list[str], runs: int) -> str:
    """One table per mode: the no-rules set (the guard only) under strace, the bare floor and pdigpy."""
    with_pdigpy = "pdigpy" in setup.tools
    parts = []
    for mode in modes:
        parts.append(f"### Floor with the no-rules set, {MODE_TITLES[mode]}, median of {runs} runs\n")
        head = ["workload", "native", LABELS["strace"], "floor-norules"] + ["pdigpy"] * with_pdigpy
        head += ["floor-norules / strace (wall)", "CPU floor-norules / strace", "floor-norules <= strace (CPU, wall)"]
        head += ["CPU pdigpy / floor-norules"] * with_pdigpy
        head += ["floor-norules stops", "foreign load (CPUs)"]
        parts.append("| " + " | ".join(head) + " |")
        parts.append("|" + "---|" * len(head))
        for wl in setup.workloads:
            if wl.native_only:
                continue
            s = summary[(mode, wl.name)]
            tools = ["native", "strace", "floor-norules"] + ["pdigpy"] * with_pdigpy
            fails = sum(s["fail"][t] for t in tools)
            fl, st, fl_cpu, st_cpu = s["floor-norules"], s["strace"], s["floor-norules_cpu"], s["strace_cpu"]
            below = (", ".join("yes" if a <= b else "no" for a, b in ((fl_cpu, st_cpu), (fl, st)))
                     if fl and st and fl_cpu and st_cpu else "-")
            cells = [wl.label + (f" ({fails} failed runs)" if fails else "")]
            cells += [_fmt_time(s[t], None) for t in tools]
            cells += [_ratio(fl, st), _ratio(fl_cpu, st_cpu), below]
            if with_pdigpy:
                cells.append(_ratio(s["pdigpy_cpu"], fl_cpu))
            cells += [_stops(s["stats"]["floor-norules"]), f"{s['foreign_cpus']:.2f}"]
            parts.append("| " + " | ".join(cells) + " |")
        parts.append("")
    parts.append("floor-norules: floor-entry with the no-rules set (pdigpy's ptrace attach guard only): the\n"
                 "interpreter, `import ctypes`, the fork and the lifecycle event stops of a bare Python tracer.\n")
    return "\n".join(parts)


BUDGET_NOTES = """\
How much CPU pdigpy may spend per event (decoding, state, rules: everything above the floor's
loop) and still match strace's CPU, all three with the same syscall set. "now" = (pdigpy -
floor-exit - the difference of their /bin/true rows) / pdigpy's events; a budget = (strace - floor
- start-up difference) / the same events, with pdigpy's start-up (its /bin/true row) or with the
floor's; "none" when the floor plus that start-up already exceeds strace. Differences of medians:
read them as ±20%.
"""


def render_budget(summary: dict, workloads: list[Workload], mode: str, strace: str = "strace-default",
                  pdigpy: str = "pdigpy-default") -> str:
    """Per workload: pdigpy's CPU per event above its floor, against what strace's CPU leaves."""
    fixed = summary.get((mode, "startup"))
    if not fixed or not all(fixed[t + "_cpu"] for t in (pdigpy, "floor-entry", "floor-exit")):
        return f"(no budget table for {mode}: it needs the startup workload)\n"
    f_pd, f_en, f_ex = fixed[pdigpy + "_cpu"], fixed["floor-entry_cpu"], fixed["floor-exit_cpu"]

    def us(x: float) -> str:
        return "none" if x <= 0 else f"{x * 1e6:.1f} µs"

    lines = [f"### What pdigpy may spend per event to match strace, {mode} (CPU of the whole tree; "
             f"{LABELS[pdigpy]} against {LABELS[strace]})\n",
             "| workload | pdigpy events | pdigpy's work now | budget, entry stops only | budget, exit stops "
             "| budget, entry stops, floor's start-up | budget, exit stops, floor's start-up |",
             "|---|---|---|---|---|---|---|"]
    for wl in workloads:
        if wl.native_only or wl.name == "startup":
            continue
        s = summary[(mode, wl.name)]
        events = s["stats"][pdigpy]["events"]
        st, en, ex, pd = s[strace + "_cpu"], s["floor-entry_cpu"], s["floor-exit_cpu"], s[pdigpy + "_cpu"]
        if not (events and st and en and ex and pd):
            lines.append(f"| {wl.label} | - | - | - | - | - | - |")
            continue
        lines.append(f"| {wl.label} | {events:,.0f} | {us((pd - ex - (f_pd - f_ex)) / events)} "
                     f"| {us((st - en - (f_pd - f_en)) / events)} | {us((st - ex - (f_pd - f_ex)) / events)} "
                     f"| {us((st - en) / events)} | {us((st - ex) / events)} |")
    lines += ["", BUDGET_NOTES]
    return "\n".join(lines)


def render_all(summary: dict, setup: Setup, modes: list[str], runs: int) -> str:
    """The tables of every configuration that ran: norules, fullstate, floor, default rules."""
    tools = set(setup.tools)
    out = []
    for config in ("norules", "fullstate"):
        if PAIRS[config][1] in tools:
            out.append(render_tables(summary, setup.workloads, modes, runs, config))
    if "floor-entry" in tools:
        out.append(render_floor(summary, setup, modes, runs))
    if "pdigpy-default" in tools:
        out.append(render_tables(summary, setup.workloads, modes, runs, "default"))
    return "\n".join(out)


# --- where the CPU per stop goes (--breakdown) ---------------------------------------------

VARIANTS = ("floor", "decode", "state", "cli")
VARIANT_HELP = {
    "floor": "the wait loop alone: same syscalls and stops, decoders replaced by a no-op, events dropped",
    "decode": "+ the real argument decoders (paths, flags, /proc lookups), events dropped",
    "state": "+ State.apply on every event (thread and fd tables), no rules engine",
    "cli": "the pdigpy command of the fullstate configuration (state + one rule that never runs + stats)",
}


def run_variant(variant: str, argv: list[str]) -> int:
    """Internal (--variant): trace ``argv`` with one layer of pdigpy; print the tracer's stats as JSON on stderr."""
    from pdigpy.state.needs import STATE_ARG_FILTERS, STATE_EVENT_TYPES
    from pdigpy.tracer import decode
    from pdigpy.tracer.session import TraceOptions, Tracer
    from pdigpy.tracer.syscalls.table import native_table, syscalls_for_events

    class DropSink:
        def on_event(self, evt) -> None:
            pass

        def on_snapshot(self, info) -> None:
            pass

    class StateSink:
        def __init__(self) -> None:
            from pdigpy.state.tables import State

            self.state = State()
            self.on_event = self.state.apply
            self.on_snapshot = self.state.add_snapshot

    specs = syscalls_for_events(native_table(), STATE_EVENT_TYPES)
    if variant == "floor":
        def no_args(tid, args, val, ret, mem):
            return {}

        specs = [dataclasses.replace(sp, entry=None, exit=no_args) for sp in specs]
    # Same stops and decoding as the fullstate command (the state's whole set): fcntl narrowed to
    # the fd-creating commands, no dev/ino stat per open (no rule can show it).
    decode.set_fd_stat(False)
    sink = StateSink() if variant == "state" else DropSink()
    tracer = Tracer(sink, TraceOptions(syscall_specs=specs, arg_filters=dict(STATE_ARG_FILTERS)))
    rc = tracer.run_command(argv)
    st = tracer.stats
    print(json.dumps({"ptrace_stops": st.stops, "tracer_cpu_s": st.tracer_cpu_s}), file=sys.stderr)
    return rc


def breakdown(setup: Setup, names: list[str], runs: int, cpu: int, env: dict[str, str],
              progress: Callable[[str], None]) -> tuple[str, list[dict]]:
    """Tracer CPU per stop of each variant, pinned, median of ``runs``: the cost of each layer."""
    results = []
    pin = ["taskset", "-c", str(cpu)]
    for wl in [w for w in setup.workloads if w.name in names]:
        for rnd in range(runs):
            for variant in VARIANTS:
                if wl.warm:
                    subprocess.run(pin + list(wl.argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
                stats_file = setup.stats_dir / "breakdown.jsonl"
                stats_file.unlink(missing_ok=True)
                if variant == "cli":
                    argv = pin + tracer_argv("pdigpy-fullstate", wl, setup, stats_file)
                else:
                    argv = pin + [sys.executable, str(Path(__file__).resolve()), "--variant", variant, "--",
                                  *wl.argv]
                res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env, text=True)
                if variant == "cli":
                    st = read_stats(stats_file)
                else:
                    st = {}
                    for line in reversed(res.stderr.splitlines()):
                        if line.startswith("{"):
                            st = json.loads(line)
                            break
                rec = {"kind": "breakdown", "workload": wl.name, "variant": variant, "round": rnd,
                       "rc": res.returncode, **{k: st.get(k) for k in ("ptrace_stops", "tracer_cpu_s")}}
                results.append(rec)
                progress(f"breakdown {wl.name:9} {variant:7} round {rnd + 1}: {rec}")
    lines = [f"### Tracer CPU per ptrace stop, by layer (pinned, median of {runs} runs)\n",
             "| workload | stops | " + " | ".join(f"{v} µs/stop" for v in VARIANTS) + " |",
             "|---|---|" + "---|" * len(VARIANTS)]
    for wl in [w for w in setup.workloads if w.name in names]:
        cells = []
        stops = None
        for v in VARIANTS:
            rows = [r for r in results if r["workload"] == wl.name and r["variant"] == v and r["rc"] == 0
                    and r["ptrace_stops"]]
            if not rows:
                cells.append("FAIL")
                continue
            stops = statistics.median(r["ptrace_stops"] for r in rows)
            cells.append(f"{statistics.median(r['tracer_cpu_s'] / r['ptrace_stops'] for r in rows) * 1e6:.1f}")
        lines.append(f"| {wl.label} | {stops:,.0f} | " + " | ".join(cells) + " |" if stops else
                     f"| {wl.label} | - | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {v}: {VARIANT_HELP[v]}" for v in VARIANTS]
    return "\n".join(lines) + "\n", results


# --- machine facts -------------------------------------------------------------------------


def machine_facts(strace_ok: bool) -> dict:
    def first_line(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "?"

    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    governor = "?"
    try:
        governor = Path("/sys/devices/system/cpu/cpuidle/current_governor").read_text().strip()
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "cpuidle_governor": governor,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "strace": first_line(["strace", "-V"]) if strace_ok else None,
        "pyimport_python": first_line([python_for_import(), "-V"]),
        "loadavg": Path("/proc/loadavg").read_text().strip(),
    }


def git_dirty() -> list[str]:
    """Uncommitted changes under pdigpy/ (the editable install measures the working tree)."""
    try:
        res = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "pdigpy"],
                             capture_output=True, text=True)
        return [ln[3:] for ln in res.stdout.splitlines()]
    except OSError:
        return []


def git_head() -> str | None:
    """The commit measured (pdigpy's code changes under this benchmark's feet)."""
    try:
        res = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return res.stdout.strip() or None
    except OSError:
        return None


# --- the report ----------------------------------------------------------------------------


def report(meta: dict, results: list[dict], setup: Setup) -> str:
    """The markdown the script prints: a header (command, commit, machine, sets, load), then the tables."""
    m = meta["machine"]
    dirty = f" + uncommitted {', '.join(meta['git_dirty'])}" if meta.get("git_dirty") else ""
    head = (f"<!-- {meta['command']} | {meta['utc']} | commit {meta['git_head']}{dirty} | "
            f"{m['cpus']} vCPU {m['cpu_model']}, kernel {m['kernel']}, "
            f"Python {m['python']}, {m['strace']} -->\n"
            f"No rules: strace and pdigpy trace the same {len(setup.trace_set)} syscalls: "
            f"{','.join(setup.trace_set) or 'none'}\n")
    refused = meta.get("strace_refused_by_set") or {"default": meta.get("strace_refused") or []}

    def unknown(which: str) -> str:
        names = refused.get(which) or []
        return f" (not {', '.join(names)}: unknown to this strace)" if names else ""

    if setup.fullstate_set:
        head += (f"\nFull state: strace traces {len(setup.fullstate_set)} syscalls: {','.join(setup.fullstate_set)}"
                 + unknown("fullstate") + "\n")
    if setup.default_set:
        head += (f"\nDefault rules: strace traces {len(setup.default_set)} syscalls: {','.join(setup.default_set)}"
                 + unknown("default") + "\n")
    if setup.floor_set:
        head += f"\nfloor_tracer.py -e {setup.floor_set}\n"
    if setup.floor_norules_set:
        head += f"\nfloor-norules: floor_tracer.py -e {setup.floor_norules_set}\n"
    foreign = [r["foreign_cpus"] for r in results if r["wall_s"] >= 0.2]
    if foreign:
        head += (f"\nForeign load (other jobs' busy CPUs during runs of 0.2 s or more): median "
                 f"{statistics.median(foreign):.2f}, max {max(foreign):.2f}; load average at start "
                 f"{m['loadavg'].split()[0]}\n")
    summary = summarize(results, setup.workloads, meta["modes"], setup.tools)
    return head + "\n" + render_all(summary, setup, meta["modes"], meta["runs"])


def render_file(path: Path, cache: Path) -> int:
    """--render: the tables of an earlier run, from its JSON lines (after a change to the tables)."""
    try:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        meta = records[0]
        assert meta.get("kind") == "meta"
    except (OSError, ValueError, IndexError, AssertionError) as e:
        print(f"bench/overhead.py: --render: {path} is not a results file of this script ({e}); "
              "give a bench/results/overhead-*.jsonl", file=sys.stderr)
        return 2
    results = [r for r in records[1:] if r.get("kind") == "run"]
    tools = tuple(meta.get("tools") or TRACERS)
    ran = {r["workload"] for r in results}
    labels = meta.get("labels") or {}
    workloads = [dataclasses.replace(w, label=labels.get(w.name, w.label))
                 for w in define_workloads(cache, meta["quick"], "floor-entry" in tools) if w.name in ran]
    setup = Setup(workloads, meta["trace_set"], [], Path(), Path(), tools, meta.get("floor_set") or "",
                  meta.get("default_trace_set") or [], meta.get("fullstate_trace_set") or [], Path(),
                  meta.get("floor_norules_set") or "",
                  # before the floor moved to the default rules' set, it was compared with the no-rules pair
                  tuple(meta.get("floor_pair") or ("strace", "pdigpy")))
    print(report(meta, results, setup))
    return 0


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Tracer overhead: native vs strace vs pdigpy vs the floor of a Python "
                                "tracer (see module docstring).")
    p.add_argument("--runs", type=int, default=5, help="rounds; every (mode, workload, tool) runs once per round "
                   "(default 5)")
    p.add_argument("--modes", default="pinned,unpinned", help="pinned,unpinned (default both)")
    p.add_argument("--workloads", default=None, help="comma-separated subset of: startup,pyimport,files,find,"
                   "forkexec,threads (default all)")
    p.add_argument("--configs", default="norules,fullstate,floor,default",
                   help="comma-separated tool groups to time: norules (native, strace, pdigpy with no rules), "
                        "fullstate (strace and pdigpy with the state's whole set: one rule that never fires), "
                        "floor (floor-entry and floor-exit with the default rules' set against strace-default "
                        "and pdigpy-default, floor-norules with the no-rules set against strace, and a "
                        "bare-interpreter row), default (native, strace with the default rules' set, pdigpy "
                        "with its default rules); default all four")
    p.add_argument("--seed", type=int, default=1, help="shuffle seed (default 1)")
    p.add_argument("--cpu", type=int, default=0, help="the vCPU of pinned runs (default 0)")
    p.add_argument("--quick", action="store_true", help="tiny workloads (smoke test; timings meaningless)")
    p.add_argument("--out-dir", default=str(REPO / "bench" / "results"), help="where the JSON lines go")
    p.add_argument("--cache-dir", default=None, help="compiled workloads and data files "
                   "(default $XDG_CACHE_HOME/pdigpy-bench or ~/.cache/pdigpy-bench)")
    p.add_argument("--pdigpy", default=None, help="pdigpy executable (default: the console script of this venv)")
    p.add_argument("--no-compile", action="store_true", help="do not byte-compile pdigpy first")
    p.add_argument("--breakdown", default=None, metavar="WORKLOADS",
                   help="instead of the comparison: tracer CPU per stop of each layer (loop, decoders, "
                        "state, CLI) on these workloads, pinned, --runs each (e.g. files,find)")
    p.add_argument("--render", default=None, metavar="JSONL",
                   help="print the tables of an earlier run from its raw results file, without running anything")
    p.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # internal, see run_variant
    p.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-q", "--quiet", action="store_true", help="no per-run progress on stderr")
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    bad = [c for c in args.configs if c not in CONFIGS]
    if bad or not args.configs:
        p.error(f"--configs: unknown configuration {bad[0] if bad else '(none)'}; use any of {','.join(CONFIGS)}")
    bad = [m for m in args.modes if m not in MODES]
    if bad or not args.modes:
        p.error(f"--modes: unknown mode {bad[0] if bad else '(none)'}; use pinned and/or unpinned")
    if args.runs < 1:
        p.error("--runs: give at least 1")
    if args.command and not args.variant:
        p.error(f"unexpected argument {args.command[0]!r}; see --help")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.variant:
        return run_variant(args.variant, args.command)
    for tool in ("strace", "gcc", "taskset", "find"):
        if shutil.which(tool) is None:
            print(f"bench/overhead.py: {tool} not found on PATH; install it", file=sys.stderr)
            return 2
    if args.cache_dir:
        cache = Path(args.cache_dir)
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pdigpy-bench"
    cache.mkdir(parents=True, exist_ok=True)
    if args.render:
        return render_file(Path(args.render), cache)
    tools = tuple(t for t in TOOLS if any(t in CONFIGS[c] for c in args.configs))
    if args.breakdown:
        tools = ("native", "pdigpy-fullstate")
    workloads = define_workloads(cache, args.quick, with_pystart="floor-entry" in tools)
    if args.workloads:
        wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
        known = {w.name for w in workloads if not w.native_only}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            print(f"bench/overhead.py: --workloads: unknown workload {unknown[0]}; "
                  f"choose from {','.join(sorted(known))}", file=sys.stderr)
            return 2
        workloads = [w for w in workloads if w.name in wanted or w.native_only]
    if args.breakdown:
        known = {w.name for w in workloads}
        unknown = [w.strip() for w in args.breakdown.split(",") if w.strip() not in known]
        if unknown:
            print(f"bench/overhead.py: --breakdown: unknown workload {unknown[0]!r}; "
                  f"choose from {','.join(sorted(known))}", file=sys.stderr)
            return 2

    work = Path(tempfile.mkdtemp(prefix="pdigpy-overhead-"))
    try:
        rules = work / "no-rules.yaml"
        rules.write_text("[]\n")
        fullstate_rules = work / "fullstate.yaml"
        fullstate_rules.write_text(FULLSTATE_RULES)
        env = bench_env(work)
        pd = pdigpy_command(args.pdigpy)
        if not args.no_compile:
            precompile(env)
        rows = print_filter(pd, rules, env)
        setup = Setup(workloads, [], pd, rules, work, tools, fullstate_rules=fullstate_rules)
        refused: dict[str, list[str]] = {}  # set -> the names this strace refused

        def strace_set(which: str, names: list[str]) -> list[str]:
            known, refused[which] = strace_known(names)
            return known

        setup.trace_set = strace_set("norules", [row[0].split()[0] for row in rows])
        if "floor-norules" in tools:
            setup.floor_norules_set = floor_set(rows)
        if "pdigpy-fullstate" in tools:
            setup.fullstate_set = strace_set("fullstate", trace_set(pd, fullstate_rules, env))
        if {"pdigpy-default", "floor-entry"} & set(tools):
            default_rows = print_filter(pd, None, env)
            setup.default_set = strace_set("default", [row[0].split()[0] for row in default_rows])
            if "floor-entry" in tools:
                setup.floor_set = floor_set(default_rows)
        # fill the rules' condition cache once, unmeasured: every measured run finds it warm
        for tool, rules_args in (("pdigpy-default", []), ("pdigpy-fullstate", ["-r", str(fullstate_rules)])):
            if tool in tools:
                subprocess.run(pd + rules_args + ["--no-summary", "--", "/bin/true"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

        out_dir = Path(args.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        jsonl = out_dir / f"overhead-{stamp}.jsonl"
        command = "bench/overhead.py " + " ".join(argv if argv is not None else sys.argv[1:])
        meta = {
            "kind": "meta",
            "command": command.strip(),
            "utc": stamp,
            "runs": args.runs,
            "seed": args.seed,
            "modes": args.modes,
            "quick": args.quick,
            "pdigpy": pd,
            "trace_set": setup.trace_set,
            "configs": args.configs,
            "tools": list(tools),
            "floor_set": setup.floor_set or None,
            "floor_norules_set": setup.floor_norules_set or None,
            "floor_pair": list(setup.floor_pair),
            "fullstate_trace_set": setup.fullstate_set or None,
            "default_trace_set": setup.default_set or None,
            "strace_refused": sorted({n for names in refused.values() for n in names}),
            "strace_refused_by_set": refused,
            "workloads": {w.name: list(w.argv) for w in workloads},
            "labels": {w.name: w.label for w in workloads},
            "machine": machine_facts(True),
            "git_head": git_head(),
            "git_dirty": git_dirty(),
        }
        with jsonl.open("w") as out:
            out.write(json.dumps(meta) + "\n")

            def emit(rec: dict) -> None:
                out.write(json.dumps(rec) + "\n")
                out.flush()

            def progress(msg: str) -> None:
                if not args.quiet:
                    print(msg, file=sys.stderr, flush=True)

            if args.breakdown:
                names = [w.strip() for w in args.breakdown.split(",") if w.strip()]
                text, recs = breakdown(setup, names, args.runs, args.cpu, env, progress)
                for rec in recs:
                    emit(rec)
            else:
                results = run_rounds(setup, args.modes, args.runs, args.seed, args.cpu, emit, progress)
        if args.breakdown:
            jsonl.with_suffix(".md").write_text(text)
            print(text)
            print(f"raw results: {jsonl}", file=sys.stderr)
            return 0 if all(r["rc"] == 0 for r in recs) else 1
        text = report(meta, results, setup)
        jsonl.with_suffix(".md").write_text(text)
        print(text)
        print(f"raw results: {jsonl}", file=sys.stderr)
        failed = sum(1 for r in results if r["rc"] != 0)
        if failed:
            print(f"bench/overhead.py: {failed} runs failed (non-zero exit; see {jsonl})", file=sys.stderr)
            return 1
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Measure the tracer's cost per ptrace stop (not a test: timings on a VM are noisy).

    python tests/helpers/measure_stops.py [--pin] [--n 50000] [--runs 3]

Workloads (tests/helpers/openloop.c): N openat() of a missing path, each a
traced syscall (seccomp stop + exit stop, since openat needs its fd), and
N getppid() in pure PTRACE_SYSCALL mode (entry + exit stop). The per-stop
cost is (t_traced - t_native - startup) / stops, where startup is the
tracer's time on /bin/true minus native /bin/true; medians over --runs.
Both wall time and CPU time (user + system of the whole tree, from
getrusage) are reported: on a loaded machine only the CPU figure is stable.
With --pin everything runs on CPU 0 (taskset), which removes the VM's
cross-vCPU wake-up latency and shows the CPU cost. strace is measured the
same way for comparison when present.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "run_tracer.py"


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process tree: user + system)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def median(argv: list[str], runs: int) -> tuple[float, float]:
    samples = [timed(argv) for _ in range(runs)]
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pin", action="store_true")
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    prog = tmp / "openloop"
    subprocess.run(["gcc", "-O2", "-o", str(prog), str(HERE / "openloop.c")], check=True)
    pin = ["taskset", "-c", "0"] if a.pin else []
    py = [sys.executable, str(RUNNER)]
    n = str(a.n)
    rows = []

    def case(label, tracer, stops_kind, work, base_tracer=None):
        native, native_cpu = median(pin + work, a.runs)
        true_native, true_native_cpu = median(pin + ["/bin/true"], a.runs)
        traced, traced_cpu = median(pin + tracer + work, a.runs)
        true_traced, true_traced_cpu = median(pin + (base_tracer or tracer) + ["/bin/true"], a.runs)
        stats_file = tmp / "stats.json"
        if tracer[: len(py)] == py:
            subprocess.run(pin + tracer[:2] + ["--stats", str(stats_file)] + tracer[2:] + work,
                           stdout=subprocess.DEVNULL, check=False)
            st = json.loads(stats_file.read_text())
            stops = st["stops"]
        else:
            stops = stops_kind
        per = (traced - native - (true_traced - true_native)) / stops * 1e6
        per_cpu = (traced_cpu - native_cpu - (true_traced_cpu - true_native_cpu)) / stops * 1e6
        rows.append((label, traced, native, stops, per, per_cpu))
        print(f"{label:46s} traced {traced:6.3f}s native {native:5.3f}s stops {stops:7d} "
              f"wall {per:6.2f} us/stop  cpu {per_cpu:6.2f} us/stop", flush=True)
        return stops

    stops_open = case("pdigpy seccomp, openat (seccomp+exit stop)", py + ["--types", "openat", "--"],
                      0, [str(prog), n, "openat"])
    case("pdigpy seccomp, openat, rows without decoders", py + ["--bare", "--types", "openat", "--"],
         0, [str(prog), n, "openat"])
    stops_pure = case("pdigpy PTRACE_SYSCALL, getppid (entry+exit)", py + ["--no-seccomp", "--types", "openat", "--"],
                      0, [str(prog), n, "getppid"])
    if shutil.which("strace"):
        case("strace -f --seccomp-bpf -e openat", ["strace", "-f", "--seccomp-bpf", "-e", "trace=openat", "-o", "/dev/null"],
             stops_open, [str(prog), n, "openat"])
        case("strace -f, getppid", ["strace", "-f", "-o", "/dev/null"], stops_pure, [str(prog), n, "getppid"])
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

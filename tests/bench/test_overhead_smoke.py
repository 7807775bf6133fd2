"""Smoke run of bench/overhead.py: tiny workloads, one round, both modes.

Checks the shape of what the script produces (tables, JSON lines, stop counts), never
timings: on the shared 2-vCPU test machine wall times are noise.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "overhead.py"
WORKLOADS = ["startup", "pyimport", "files", "find", "forkexec", "threads"]
TOOLS = ["native", "strace", "pdigpy", "strace-fullstate", "pdigpy-fullstate", "floor-norules", "floor-entry",
         "floor-exit", "strace-default", "pdigpy-default"]

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("strace", "gcc", "taskset")),
    reason="needs strace, gcc and taskset",
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("overhead")
    out_dir = tmp / "results"
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--runs", "1", "--seed", "7",
         "--out-dir", str(out_dir), "--cache-dir", str(tmp / "cache")],
        capture_output=True, text=True, timeout=300,
    )
    jsonl = sorted(out_dir.glob("overhead-*.jsonl"))
    records = [json.loads(line) for line in jsonl[0].read_text().splitlines()] if jsonl else []
    return res, records, out_dir


def _table_rows(text: str, heading_start: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("### " + heading_start))
    rows = []
    for ln in lines[start + 1:]:
        if ln.startswith("### "):
            break
        if ln.startswith("|"):
            rows.append([c.strip() for c in ln.strip().strip("|").split("|")])
    return rows


def test_runs_cleanly(smoke):
    res, records, _ = smoke
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("mode", ["pinned", "unpinned"])
def test_table_is_well_formed(smoke, mode):
    res, _, _ = smoke
    rows = _table_rows(res.stdout, mode)
    header, sep, body = rows[0], rows[1], rows[2:]
    assert header[:5] == ["workload", "native", "strace --seccomp-bpf", "pdigpy", "pdigpy / strace"]
    assert all(set(c) <= set("-:") for c in sep) and len(sep) == len(header)
    assert len(body) == len(WORKLOADS)
    for row in body:
        assert len(row) == len(header), row
        assert re.fullmatch(r"\d+\.\d{3} s", row[1]), row
        for cell in row[2:4]:
            assert re.fullmatch(r"\d+\.\d{3} s \(\d+\.\dx\)", cell), row
        assert re.fullmatch(r"\d+\.\d\dx", row[4]), row
        assert row[5] in ("yes", "no"), row
        assert re.fullmatch(r"\d+\.\d\dx", row[6]), row  # CPU ratio
        # stops: total (seccomp + syscall-exit + event), the parts add up
        m = re.fullmatch(r"([\d,]+) \(([\d,]+) \+ ([\d,]+) \+ ([\d,]+)\)", row[7])
        assert m, row
        total, *parts = (int(g.replace(",", "")) for g in m.groups())
        assert total >= sum(parts) > 0
        assert re.fullmatch(r"\d+\.\d", row[8]), row  # tracer CPU per stop
        assert re.fullmatch(r"\d+\.\d\d", row[9]), row  # foreign load


def test_json_lines(smoke):
    res, records, out_dir = smoke
    meta, runs = records[0], records[1:]
    assert meta["kind"] == "meta" and meta["runs"] == 1 and meta["quick"] is True
    assert {"kernel", "python", "cpus", "strace"} <= set(meta["machine"])
    # 2 modes x (6 workloads x 10 tools + the bare interpreter's native row), each once
    assert len(runs) == 2 * (6 * len(TOOLS) + 1)
    assert {(r["mode"], r["workload"], r["tracer"]) for r in runs} == {
        (m, w, t) for m in ("pinned", "unpinned") for w in WORKLOADS for t in TOOLS
    } | {(m, "pystart", "native") for m in ("pinned", "unpinned")}
    assert all(r["rc"] == 0 and r["wall_s"] > 0 for r in runs)
    # norules, fullstate, floor (with its budget table and the no-rules floor) and default rules: per mode each
    assert (out_dir / (sorted(out_dir.glob("*.jsonl"))[0].stem + ".md")).read_text().count("### ") == 2 * 6


def _printed_set(*rules: Path) -> list[str]:
    args = [a for r in rules for a in ("-r", str(r))]
    printed = subprocess.run([sys.executable, "-m", "pdigpy", *args, "--print-filter"],
                             capture_output=True, text=True, check=True).stdout
    return [ln.split()[0] for ln in printed.splitlines() if ln.strip() and not ln.startswith("#")]


def _overhead():
    """bench/overhead.py as a module (its helpers, not a run)."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import overhead
    finally:
        sys.path.pop(0)
    return overhead


@pytest.mark.parametrize("names", [[], ["ptrace"]])
def test_empty_and_one_syscall_sets_under_strace(tmp_path, names):
    """The no-rules set can be the guard alone, or nothing: strace must run the app and trace nothing."""
    out = tmp_path / "strace.out"
    res = subprocess.run(["strace", "-f", "--seccomp-bpf", "-e", _overhead().strace_trace_arg(names), "-o", str(out),
                          "--", "sh", "-c", "echo hi; ls / >/dev/null"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hi\n"
    lines = out.read_text().splitlines()
    # only process lifecycle lines (exits, SIGCHLD), no syscall line
    assert lines and all(" +++ " in ln or " --- SIGCHLD" in ln for ln in lines), lines


def test_strace_traces_pdigpys_own_set(smoke, tmp_path):
    _, records, _ = smoke
    meta = records[0]
    rules = tmp_path / "empty.yaml"
    rules.write_text("[]\n")
    # no rules: whatever pdigpy's filter holds (since the state is traced on demand, the ptrace
    # attach guard), strace gets exactly that
    assert meta["trace_set"] == _printed_set(rules)
    # fullstate: the rule that reads every state group brings the state's whole set
    full = tmp_path / "full.yaml"
    full.write_text(_overhead().FULLSTATE_RULES)
    names = _printed_set(full)
    assert meta["fullstate_trace_set"] == [n for n in names if n not in meta["strace_refused_by_set"]["fullstate"]]
    from pdigpy.state.needs import STATE_EVENT_TYPES

    assert STATE_EVENT_TYPES <= set(names)
    assert {"openat", "fcntl", "setuid", "capset", "setsid", "chdir"} <= set(meta["fullstate_trace_set"])


def test_stop_counts_follow_the_workload(smoke):
    _, records, _ = smoke
    stats = {(r["mode"], r["workload"], r["tracer"]): r["stats"] for r in records[1:] if "stats" in r}
    for mode in ("pinned", "unpinned"):
        full = stats[(mode, "files", "pdigpy-fullstate")]
        # 200 openat, each a seccomp stop and an exit stop (the fd is needed), plus the loader's own
        assert full["ptrace_seccomp_stops"] >= 200
        assert full["ptrace_syscall_stops"] >= 200
        # no rules: no syscall of files is in the filter (the guard stops on ptrace attach only)
        none = stats[(mode, "files", "pdigpy")]
        assert none["ptrace_seccomp_stops"] == none["ptrace_syscall_stops"] == 0
        assert none["ptrace_event_stops"] >= 1  # the exec
        for tool in ("pdigpy", "pdigpy-fullstate"):
            # 5 fork+exec: a fork and an exec event each, and exit events
            assert stats[(mode, "forkexec", tool)]["ptrace_event_stops"] >= 3 * 5
            # 2 rounds x 2 threads: a clone and an exit event per thread
            assert stats[(mode, "threads", tool)]["ptrace_event_stops"] >= 2 * 4


def test_bad_mode_is_one_line(tmp_path):
    res = subprocess.run([sys.executable, str(SCRIPT), "--modes", "fast", "--out-dir", str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert "--modes" in res.stderr and "Traceback" not in res.stderr


def test_breakdown_table(tmp_path):
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--breakdown", "files", "--runs", "1", "-q",
         "--out-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    rows = _table_rows(res.stdout, "Tracer CPU per ptrace stop")
    assert rows[0] == ["workload", "stops", "floor µs/stop", "decode µs/stop", "state µs/stop", "cli µs/stop"]
    (body,) = rows[2:]
    # the same 200 opens, each a seccomp and an exit stop, whichever layer runs
    assert int(body[1].replace(",", "")) >= 400
    assert all(re.fullmatch(r"\d+\.\d", c) for c in body[2:]), body


@pytest.mark.parametrize("mode", ["pinned", "unpinned"])
def test_floor_table_is_well_formed(smoke, mode):
    res, _, _ = smoke
    rows = _table_rows(res.stdout, "Floor of a Python tracer, " + mode)
    header, body = rows[0], rows[2:]
    assert header[:6] == ["workload", "native", "strace --seccomp-bpf (default rules' set)", "floor-entry",
                          "floor-exit", "pdigpy (default rules)"]
    assert len(body) == 1 + len(WORKLOADS)
    bare = body[0]
    assert bare[0].startswith("python -I -S -c pass") and re.fullmatch(r"\d+\.\d{3} s \(CPU \d+\.\d{3} s\)", bare[1])
    for row in body[1:]:
        assert len(row) == len(header), row
        assert all(re.fullmatch(r"\d+\.\d{3} s", c) for c in row[1:6]), row
        assert all(re.fullmatch(r"\d+\.\d\dx", c) for c in row[6:8] + row[10:12]), row
        assert all(re.fullmatch(r"(yes|no), (yes|no)", c) for c in row[8:10]), row
        entry, exit_ = (re.fullmatch(r"([\d,]+) \(([\d,]+) \+ ([\d,]+) \+ ([\d,]+)\)", c) for c in row[12:14])
        assert entry and exit_, row
        assert entry.group(3) == "0" and exit_.group(2) == exit_.group(3) == entry.group(2), row


def test_floor_takes_pdigpys_stops(smoke):
    """Same filter as pdigpy (fcntl narrowed too): the floor tracers stop where pdigpy stops, with the
    default rules' set (floor-entry, floor-exit) and with no rules (floor-norules)."""
    _, records, _ = smoke
    stats = {(r["mode"], r["workload"], r["tracer"]): r["stats"] for r in records[1:] if "stats" in r}
    for mode in ("pinned", "unpinned"):
        for wl in ("files", "forkexec"):
            pd = stats[(mode, wl, "pdigpy-default")]
            entry, exit_ = stats[(mode, wl, "floor-entry")], stats[(mode, wl, "floor-exit")]
            assert entry["ptrace_seccomp_stops"] == exit_["ptrace_seccomp_stops"] == pd["ptrace_seccomp_stops"] > 0
            assert entry["ptrace_syscall_stops"] == 0
            # floor-exit takes an exit stop per traced syscall, as strace does; pdigpy skips the ones
            # whose events need no return value (execve's success comes from the exec event)
            assert exit_["ptrace_syscall_stops"] == exit_["ptrace_seccomp_stops"] >= pd["ptrace_syscall_stops"] > 0
            none, floor_none = stats[(mode, wl, "pdigpy")], stats[(mode, wl, "floor-norules")]
            assert floor_none["ptrace_seccomp_stops"] == none["ptrace_seccomp_stops"]
            assert floor_none["ptrace_syscall_stops"] == 0
    meta = records[0]
    # fcntl narrowed as pdigpy narrows it, and ptrace guarded as pdigpy guards it: the floor's filters say so
    assert re.search(r"(^|,)72@1=0:1030(,|$)", meta["floor_set"])
    if meta["trace_set"] == ["ptrace"]:
        assert meta["floor_norules_set"] == "101@0=16:16902"


@pytest.mark.parametrize("mode", ["pinned", "unpinned"])
def test_floor_norules_table(smoke, mode):
    res, _, _ = smoke
    rows = _table_rows(res.stdout, "Floor with the no-rules set, " + mode)
    header, body = rows[0], rows[2:]
    assert header[:5] == ["workload", "native", "strace --seccomp-bpf", "floor-norules", "pdigpy"]
    assert len(body) == len(WORKLOADS)
    for row in body:
        assert len(row) == len(header), row
        assert all(re.fullmatch(r"\d+\.\d{3} s", c) for c in row[1:5]), row
        assert all(re.fullmatch(r"\d+\.\d\dx", c) for c in row[5:7] + row[8:9]), row
        assert re.fullmatch(r"(yes|no), (yes|no)", row[7]), row


@pytest.mark.parametrize("mode", ["pinned", "unpinned"])
def test_fullstate_table(smoke, mode):
    res, _, _ = smoke
    rows = _table_rows(res.stdout, "Full state, " + mode)
    assert rows[0][2:5] == ["strace --seccomp-bpf (full state set)", "pdigpy (full state, one rule)",
                            "pdigpy / strace"]
    assert len(rows[2:]) == len(WORKLOADS)


def test_default_rules_table_and_set(smoke):
    res, records, _ = smoke
    meta = records[0]
    names = _printed_set()
    # strace gets the default rules' set, less what this strace cannot name
    refused = meta["strace_refused_by_set"]["default"]
    assert meta["default_trace_set"] == [n for n in names if n not in refused]
    assert set(refused) <= set(names)
    assert "execve" in meta["default_trace_set"]
    for mode in ("pinned", "unpinned"):
        rows = _table_rows(res.stdout, "Default rules, " + mode)
        assert rows[0][2:4] == ["strace --seccomp-bpf (default rules' set)", "pdigpy (default rules)"]
        assert len(rows[2:]) == len(WORKLOADS)
        pd = {r["workload"]: r["stats"] for r in records[1:] if r["tracer"] == "pdigpy-default" and r["mode"] == mode}
        # the default rules want execve: 5 fork+exec give 5 more seccomp stops than with no rules
        assert pd["forkexec"]["events_by_type"].get("execve", 0) >= 5


def test_configs_select_tools(tmp_path):
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--runs", "1", "-q", "--configs", "floor", "--modes", "pinned",
         "--workloads", "files", "--out-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    records = [json.loads(ln) for ln in next((tmp_path / "results").glob("*.jsonl")).read_text().splitlines()]
    assert {(r["workload"], r["tracer"]) for r in records[1:]} == {
        ("files", t) for t in ("native", "strace", "floor-norules", "strace-default", "floor-entry", "floor-exit",
                               "pdigpy-default")} | {("pystart", "native")}
    rows = _table_rows(res.stdout, "Floor of a Python tracer, pinned")
    assert "pdigpy (default rules)" in rows[0] and len(rows[2:]) == 2
    rows = _table_rows(res.stdout, "Floor with the no-rules set, pinned")
    assert "pdigpy" not in rows[0] and len(rows[2:]) == 1
    assert "### pinned" not in res.stdout and "### Full state" not in res.stdout


def test_bad_config_is_one_line(tmp_path):
    res = subprocess.run([sys.executable, str(SCRIPT), "--configs", "fast", "--out-dir", str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert "--configs" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("mode", ["pinned", "unpinned"])
def test_budget_table(smoke, mode):
    res, _, _ = smoke
    rows = _table_rows(res.stdout, f"What pdigpy may spend per event to match strace, {mode}")
    assert rows[0][:3] == ["workload", "pdigpy events", "pdigpy's work now"]
    body = rows[2:]
    assert len(body) == len(WORKLOADS) - 1  # not /bin/true: its row is the start-up the budgets subtract
    for row in body:
        assert len(row) == len(rows[0]), row
        assert re.fullmatch(r"[\d,]+", row[1]) and int(row[1].replace(",", "")) > 0, row
        assert all(re.fullmatch(r"none|-?\d+\.\d µs", c) for c in row[2:]), row


def test_render_reprints_the_tables(smoke, tmp_path):
    res, _, out_dir = smoke
    jsonl = sorted(out_dir.glob("overhead-*.jsonl"))[0]
    again = subprocess.run([sys.executable, str(SCRIPT), "--render", str(jsonl), "--cache-dir", str(tmp_path / "c")],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.strip() == res.stdout.strip()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    refused = subprocess.run([sys.executable, str(SCRIPT), "--render", str(bad)], capture_output=True, text=True)
    assert refused.returncode == 2 and "--render" in refused.stderr and "Traceback" not in refused.stderr

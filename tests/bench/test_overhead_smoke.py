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
TOOLS = ["native", "strace", "pdigpy", "floor-entry", "floor-exit", "strace-default", "pdigpy-default"]

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
    # 2 modes x (6 workloads x 7 tools + the bare interpreter's native row), each once
    assert len(runs) == 2 * (6 * 7 + 1)
    assert {(r["mode"], r["workload"], r["tracer"]) for r in runs} == {
        (m, w, t) for m in ("pinned", "unpinned") for w in WORKLOADS for t in TOOLS
    } | {(m, "pystart", "native") for m in ("pinned", "unpinned")}
    assert all(r["rc"] == 0 and r["wall_s"] > 0 for r in runs)
    # norules, floor (with its budget table) and default rules: per mode each
    assert (out_dir / (sorted(out_dir.glob("*.jsonl"))[0].stem + ".md")).read_text().count("### ") == 8


def test_strace_traces_pdigpys_own_set(smoke, tmp_path):
    _, records, _ = smoke
    rules = tmp_path / "empty.yaml"
    rules.write_text("[]\n")
    printed = subprocess.run([sys.executable, "-m", "pdigpy", "-r", str(rules), "--print-filter"],
                             capture_output=True, text=True, check=True).stdout
    names = [ln.split()[0] for ln in printed.splitlines() if ln.strip() and not ln.startswith("#")]
    assert records[0]["trace_set"] == names
    assert "openat" in names


def test_stop_counts_follow_the_workload(smoke):
    _, records, _ = smoke
    pd = {(r["mode"], r["workload"]): r["stats"] for r in records[1:] if r["tracer"] == "pdigpy"}
    for mode in ("pinned", "unpinned"):
        files = pd[(mode, "files")]
        # 200 openat, each a seccomp stop and an exit stop (the fd is needed), plus the loader's own
        assert files["ptrace_seccomp_stops"] >= 200
        assert files["ptrace_syscall_stops"] >= 200
        # 5 fork+exec: a fork and an exec event each, and exit events
        assert pd[(mode, "forkexec")]["ptrace_event_stops"] >= 3 * 5
        # 2 rounds x 2 threads: a clone and an exit event per thread
        assert pd[(mode, "threads")]["ptrace_event_stops"] >= 2 * 4


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
    assert header[:6] == ["workload", "native", "strace --seccomp-bpf", "floor-entry", "floor-exit", "pdigpy"]
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
    """Same filter as pdigpy (fcntl narrowed too): the floor tracers stop where pdigpy stops."""
    _, records, _ = smoke
    stats = {(r["mode"], r["workload"], r["tracer"]): r["stats"] for r in records[1:] if "stats" in r}
    for mode in ("pinned", "unpinned"):
        for wl in ("files", "forkexec"):
            pd = stats[(mode, wl, "pdigpy")]
            entry, exit_ = stats[(mode, wl, "floor-entry")], stats[(mode, wl, "floor-exit")]
            assert entry["ptrace_seccomp_stops"] == exit_["ptrace_seccomp_stops"] == pd["ptrace_seccomp_stops"]
            assert entry["ptrace_syscall_stops"] == 0
            # every syscall of the no-rules set needs its exit: pdigpy takes the floor-exit's exit stops
            assert exit_["ptrace_syscall_stops"] == pd["ptrace_syscall_stops"]
    # fcntl narrowed as pdigpy narrows it: the floor's filter says so
    assert re.search(r"(^|,)72@1=0:1030(,|$)", records[0]["floor_set"])


def test_default_rules_table_and_set(smoke):
    res, records, _ = smoke
    meta = records[0]
    printed = subprocess.run([sys.executable, "-m", "pdigpy", "--print-filter"], capture_output=True, text=True,
                             check=True).stdout
    names = [ln.split()[0] for ln in printed.splitlines() if ln.strip() and not ln.startswith("#")]
    # strace gets the default rules' set, less what this strace cannot name
    assert meta["default_trace_set"] == [n for n in names if n not in meta["strace_refused"]]
    assert set(meta["strace_refused"]) <= set(names)
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
        ("files", t) for t in ("native", "strace", "floor-entry", "floor-exit")} | {("pystart", "native")}
    rows = _table_rows(res.stdout, "Floor of a Python tracer, pinned")
    assert "pdigpy" not in rows[0] and len(rows[2:]) == 2
    assert "### pinned" not in res.stdout and "### Default rules" not in res.stdout


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

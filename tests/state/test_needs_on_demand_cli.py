"""The on-demand state set through the command line: stop counters from --stats-file, alerts
from a file output, the filter from --print-filter.

These run once pdigpy/app.py computes the traced set with
``pdigpy.state.needs.state_event_types`` (``traced_event_types(engine, *, everything)``);
until then they are skipped with that reason.
"""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pdigpy import app

WIRED = "everything" in inspect.signature(app.traced_event_types).parameters
pytestmark = pytest.mark.skipif(not WIRED, reason="app.traced_event_types does not use state_event_types yet")

WORKLOAD_SRC = Path(__file__).with_name("needs_on_demand_workload.c")

EXEC_ONLY = """
- rule: shell in the build
  desc: a shell ran
  condition: evt.type in (execve, execveat) and proc.name in (bash, sh, dash)
  output: "shell %proc.cmdline parent=%proc.pname user=%user.name"
  priority: WARNING
"""

FD_NAMES = """
- rule: file opened
  desc: any open below the test directory
  condition: evt.type in (open, openat) and fd.name startswith /tmp/pdigpy-needs-
  output: "open %fd.name raw=%fd.nameraw"
  priority: NOTICE
"""


def _pdigpy(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pdigpy", *argv], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def workload(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    out = tmp_path_factory.mktemp("needs_cli") / "needs_on_demand_workload"
    subprocess.run(["gcc", "-O1", "-o", str(out), str(WORKLOAD_SRC)], check=True)
    return out


@pytest.fixture
def workdir():
    path = Path("/tmp") / f"pdigpy-needs-{uuid.uuid4().hex[:8]}"
    (path / "a" / "b").mkdir(parents=True)
    (path / "a" / "b" / "f").write_text("f\n")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _stats(path: Path) -> dict:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()][-1]


def test_exec_only_rules_stop_on_no_open_but_a_capture_keeps_everything(workload, workdir, tmp_path):
    rules = tmp_path / "exec_only.yaml"
    rules.write_text(EXEC_ONLY)
    stats = tmp_path / "stats.json"
    res = _pdigpy("-r", str(rules), "--stats-file", str(stats), "--", str(workload), str(workdir), "100")
    assert res.returncode == 0, res.stderr
    lean = _stats(stats)
    assert lean["ptrace_seccomp_stops"] < 30, lean
    assert "openat" not in lean["events_by_type"] and "fcntl" not in lean["events_by_type"]

    capture = tmp_path / "cap.jsonl"
    res = _pdigpy("-r", str(rules), "--stats-file", str(stats), "--events", str(capture), "--",
                  str(workload), str(workdir), "100")
    assert res.returncode == 0, res.stderr
    full = _stats(stats)
    assert full["events_by_type"].get("openat", 0) >= 100, full
    assert full["ptrace_seccomp_stops"] >= 100 + lean["ptrace_seccomp_stops"]


def test_fd_name_rule_gets_names_relative_to_dirfd_and_cwd(workload, workdir, tmp_path):
    rules = tmp_path / "fd_names.yaml"
    rules.write_text(FD_NAMES)
    alerts = tmp_path / "alerts.jsonl"
    res = _pdigpy("-r", str(rules), "-o", "json_output=true", "-o", "stdout_output.enabled=false",
                  "-o", "file_output.enabled=true", "-o", f"file_output.filename={alerts}",
                  "--", str(workload), str(workdir), "2")
    assert res.returncode == 0, res.stderr
    names: dict[str, set[str]] = {}
    for line in alerts.read_text().splitlines():
        fields = json.loads(line)["output_fields"]
        names.setdefault(fields["fd.nameraw"], set()).add(fields["fd.name"])
    base = f"{workdir}/a"
    assert names["b/f"] == {f"{base}/b/f"}  # relative to the chdir'd cwd
    assert names["f"] == {f"{base}/b/f"}  # relative to a fcntl(F_DUPFD) dirfd, and after fchdir
    assert names["b"] == {f"{base}/b"}


def test_print_filter_shows_only_the_needed_groups(tmp_path):
    rules = tmp_path / "exec_only.yaml"
    rules.write_text(EXEC_ONLY)
    res = _pdigpy("--print-filter", "-r", str(rules))
    assert res.returncode == 0, res.stderr
    rows = {ln.split("\t")[0]: ln.split("\t") for ln in res.stdout.splitlines() if not ln.startswith("#")}
    assert "openat" not in rows and "fcntl" not in rows and "chdir" not in rows
    assert rows["setuid"][2] == "state"  # user.name in the output
    assert "credentials" in res.stdout.splitlines()[1]

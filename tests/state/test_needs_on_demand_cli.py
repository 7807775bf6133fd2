"""The on-demand state set through the command line: stop counters from --stats-file, alerts
from a file output, the filter from --print-filter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def _stats(path: Path) -> dict:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()][-1]


def test_exec_only_rules_stop_on_no_open_but_a_capture_keeps_everything(needs_workload, needs_workdir, tmp_path):
    rules = tmp_path / "exec_only.yaml"
    rules.write_text(EXEC_ONLY)
    stats = tmp_path / "stats.json"
    res = _pdigpy("-r", str(rules), "--stats-file", str(stats), "--", str(needs_workload), str(needs_workdir), "100")
    assert res.returncode == 0, res.stderr
    lean = _stats(stats)
    assert lean["ptrace_seccomp_stops"] < 30, lean
    assert "openat" not in lean["events_by_type"] and "fcntl" not in lean["events_by_type"]

    capture = tmp_path / "cap.jsonl"
    res = _pdigpy("-r", str(rules), "--stats-file", str(stats), "--events", str(capture), "--",
                  str(needs_workload), str(needs_workdir), "100")
    assert res.returncode == 0, res.stderr
    full = _stats(stats)
    assert full["events_by_type"].get("openat", 0) >= 100, full
    assert full["ptrace_seccomp_stops"] >= 100 + lean["ptrace_seccomp_stops"]


def test_fd_name_rule_gets_names_relative_to_dirfd_and_cwd(needs_workload, needs_workdir, tmp_path):
    rules = tmp_path / "fd_names.yaml"
    rules.write_text(FD_NAMES)
    alerts = tmp_path / "alerts.jsonl"
    res = _pdigpy("-r", str(rules), "-o", "json_output=true", "-o", "stdout_output.enabled=false",
                  "-o", "file_output.enabled=true", "-o", f"file_output.filename={alerts}",
                  "--", str(needs_workload), str(needs_workdir), "2")
    assert res.returncode == 0, res.stderr
    names: dict[str, set[str]] = {}
    for line in alerts.read_text().splitlines():
        fields = json.loads(line)["output_fields"]
        names.setdefault(fields["fd.nameraw"], set()).add(fields["fd.name"])
    base = f"{needs_workdir}/a"
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

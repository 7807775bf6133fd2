"""End to end: the real ``pdigpy`` command tracing real processes.

Each test writes its own rule into a temp file: it fires when a process opens
a file whose name ends in ``.pdigpy-test-secret`` (a unique temp file, never a
real secret), so the expected alert count is exactly the workload's opens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pdigpy.cli import EXIT_ALERTS

from cli_helpers import REPO, run_pdigpy

MARKER_SUFFIX = ".pdigpy-test-secret"
RULE = "pdigpy test secret opened"
NOTICE_RULE = "pdigpy test marker listed"

RULES_YAML = f"""\
- list: pdigpy_test_open_types
  items: [open, openat, openat2]

- macro: pdigpy_test_marker
  condition: fd.name endswith {MARKER_SUFFIX}

- rule: {RULE}
  desc: fires on every open of the test marker file
  condition: evt.type in (pdigpy_test_open_types) and pdigpy_test_marker
  output: "marker opened (file=%fd.name proc=%proc.name pid=%proc.pid)"
  priority: WARNING
  tags: [pdigpy_test, filesystem]

- rule: {NOTICE_RULE}
  desc: fires when the marker's directory is the target of a chdir
  condition: evt.type = chdir and evt.arg.path contains pdigpy-chdir-target
  output: "chdir into the marker dir (proc=%proc.name)"
  priority: NOTICE
  tags: [pdigpy_test]
"""

# Opens the marker exactly N times (argv[2]) and exits with argv[3].
C_WORKLOAD = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
        int fd = open(argv[1], O_RDONLY);
        if (fd >= 0) close(fd);
    }
    return argc > 3 ? atoi(argv[3]) : 0;
}
"""


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "test_rules.yaml"
    path.write_text(RULES_YAML)
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / f"token{os.getpid()}{MARKER_SUFFIX}"
    path.write_text("not a real secret\n")
    return path


@pytest.fixture(scope="session")
def workload(tmp_path_factory) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("gcc is needed to build the workload (apt-get install gcc)")
    d = tmp_path_factory.mktemp("workload")
    src = d / "opens.c"
    src.write_text(C_WORKLOAD)
    exe = d / "opens"
    subprocess.run([gcc, "-O1", "-o", str(exe), str(src)], check=True)
    return exe


def _py_opens(marker: Path, n: int, code: int = 0, say: str = "app-stdout-line") -> list[str]:
    return [sys.executable, "-c",
            f"import sys\nfor _ in range({n}): open({str(marker)!r}).close()\n"
            f"print({say!r}); sys.stderr.write('app-stderr-line\\n'); sys.exit({code})"]


def _alert_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- the documented form


def test_documented_form_writes_json_alerts_to_the_file_and_leaves_stdout_alone(tmp_path, rules_file, marker):
    alerts = tmp_path / "ALERTS.jsonl"
    res = run_pdigpy("-r", str(rules_file), "-o", "json_output=true", "-o", "file_output.enabled=true",
                     "-o", f"file_output.filename={alerts}", "--", *_py_opens(marker, 3))
    assert res.returncode == 0, res.stderr
    assert res.stdout == "app-stdout-line\n"  # exactly the app's stdout
    assert "app-stderr-line" in res.stderr
    lines = _alert_lines(alerts)
    assert len(lines) == 3
    for obj in lines:
        assert obj["rule"] == RULE
        assert obj["priority"] == "Warning"
        assert obj["source"] == "syscall"
        assert obj["tags"] == ["filesystem", "pdigpy_test"]
        assert obj["output_fields"]["fd.name"] == str(marker)
        assert obj["output_fields"]["proc.name"].startswith("python")
        assert obj["time"].endswith("Z")
    # The same alerts are on stderr (the default channel), never on stdout.
    assert res.stderr.count(f'"rule":"{RULE}"') == 3


def test_text_alerts_go_to_stderr_by_default(tmp_path, rules_file, marker):
    res = run_pdigpy("-r", str(rules_file), "--", *_py_opens(marker, 1))
    assert res.returncode == 0, res.stderr
    assert res.stdout == "app-stdout-line\n"
    alert_lines = [l for l in res.stderr.splitlines() if "marker opened" in l]
    assert len(alert_lines) == 1
    assert ": Warning marker opened (file=" + str(marker) in alert_lines[0]


def test_stdout_output_only_when_asked(tmp_path, rules_file, marker):
    res = run_pdigpy("-r", str(rules_file), "-o", "stdout_output.enabled=true", "--", *_py_opens(marker, 1))
    assert res.returncode == 0, res.stderr
    assert "marker opened" in res.stdout and "app-stdout-line" in res.stdout


# --------------------------------------------------------------------------- the app is sacred


@pytest.mark.parametrize(
    "argv, code",
    [
        (["sh", "-c", "exit 7"], 7),
        (["sh", "-c", "kill -TERM $$"], 128 + 15),
        (["/nonexistent/pdigpy-no-such-program"], 127),
    ],
)
def test_app_exit_status_passes_through(rules_file, argv, code):
    res = run_pdigpy("-r", str(rules_file), "--", *argv)
    assert res.returncode == code, res.stderr


def test_the_apps_signal_mask_is_untouched(rules_file):
    argv = ["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"]
    direct = subprocess.run(argv, capture_output=True, text=True, check=True)
    res = run_pdigpy("-r", str(rules_file), "--", *argv)
    assert res.returncode == 0, res.stderr
    assert res.stdout == direct.stdout


def test_a_command_that_cannot_be_executed_gives_126(tmp_path, rules_file):
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho never\n")
    script.chmod(0o644)
    res = run_pdigpy("-r", str(rules_file), "--", str(script))
    assert res.returncode == 126, res.stderr
    assert res.stdout == ""


def test_stdin_and_args_pass_through(rules_file):
    res = run_pdigpy("-r", str(rules_file), "--", "sh", "-c", 'cat; printf "[%s]" "$@"', "sh", "a b", "-r", "--",
                     input="from stdin\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "from stdin\n[a b][-r][--]"


# --------------------------------------------------------------------------- CI harness


def test_fail_on_exits_86_when_the_app_succeeded_but_an_alert_fired(rules_file, marker):
    res = run_pdigpy("-r", str(rules_file), "--fail-on", "warning", "--", *_py_opens(marker, 1))
    assert res.returncode == EXIT_ALERTS == 86, res.stderr


def test_fail_on_the_apps_failure_wins(rules_file, marker):
    res = run_pdigpy("-r", str(rules_file), "--fail-on", "warning", "--", *_py_opens(marker, 1, code=3))
    assert res.returncode == 3, res.stderr


def test_fail_on_ignores_alerts_below_the_threshold(rules_file, marker):
    res = run_pdigpy("-r", str(rules_file), "--fail-on", "error", "--", *_py_opens(marker, 2))
    assert res.returncode == 0, res.stderr
    assert "marker opened" in res.stderr


def test_fail_on_without_alerts_is_the_apps_code(rules_file):
    res = run_pdigpy("-r", str(rules_file), "--fail-on", "debug", "--", "true")
    assert res.returncode == 0, res.stderr


def test_summary_on_stderr(rules_file, marker):
    res = run_pdigpy("-r", str(rules_file), "--", *_py_opens(marker, 2))
    assert "pdigpy summary: 2 alerts from 1 rule" in res.stderr
    assert RULE in res.stderr.split("pdigpy summary:")[1]
    assert "pdigpy summary" not in res.stdout
    quiet = run_pdigpy("-r", str(rules_file), "--no-summary", "--", *_py_opens(marker, 2))
    assert "pdigpy summary" not in quiet.stderr
    nothing = run_pdigpy("-r", str(rules_file), "--", "true")
    assert "pdigpy summary" not in nothing.stderr
    forced = run_pdigpy("-r", str(rules_file), "--summary", "--", "true")
    assert "pdigpy summary: no rule fired" in forced.stderr


def test_junit_xml_lists_the_alerts(tmp_path, rules_file, marker):
    junit = tmp_path / "pdigpy.xml"
    res = run_pdigpy("-r", str(rules_file), "--junit-xml", str(junit), "--", *_py_opens(marker, 2))
    assert res.returncode == 0, res.stderr
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {RULE, NOTICE_RULE}  # every loaded rule is a case
    failures = cases[RULE].findall("failure")
    assert len(failures) == 2
    assert all(str(marker) in f.get("message") for f in failures)
    assert cases[NOTICE_RULE].find("failure") is None
    assert suite.get("failures") == "1"


# --------------------------------------------------------------------------- counters


def test_stats_file_counts_match_a_known_workload(tmp_path, rules_file, marker, workload):
    finals = {}
    for n in (5, 15):
        stats = tmp_path / f"stats{n}.jsonl"
        res = run_pdigpy("-r", str(rules_file), "--stats-file", str(stats), "--", str(workload), str(marker), str(n))
        assert res.returncode == 0, res.stderr
        records = [json.loads(line) for line in stats.read_text().splitlines()]
        assert records and records[-1]["kind"] == "final"
        finals[n] = records[-1]
        assert finals[n]["alerts_by_rule"] == {RULE: n}
        assert finals[n]["alerts"] == n
        assert finals[n]["syscalls_traced"] > 0
        assert finals[n]["events"] == sum(finals[n]["events_by_type"].values())
    # Ten more opens of the marker are exactly ten more openat events (the loader's own opens cancel out).
    assert finals[15]["events_by_type"]["openat"] - finals[5]["events_by_type"]["openat"] == 10


def test_verbose_prints_a_final_stats_line(rules_file):
    res = run_pdigpy("-v", "-r", str(rules_file), "--", "true")
    assert res.returncode == 0, res.stderr
    assert any(l.startswith("pdigpy stats (final") for l in res.stderr.splitlines())
    assert res.stdout == ""


# --------------------------------------------------------------------------- capture and replay


def test_replay_gives_the_same_alerts_as_the_live_run(tmp_path, rules_file, marker):
    live = tmp_path / "live.jsonl"
    capture = tmp_path / "capture.jsonl"
    res = run_pdigpy("-r", str(rules_file), "--events", str(capture), "-o", "json_output=true",
                     "-o", "file_output.enabled=true", "-o", f"file_output.filename={live}",
                     "--", "sh", "-c", f"cat {marker} >/dev/null; cat {marker} {marker} >/dev/null; "
                                       f"mkdir -p {tmp_path}/pdigpy-chdir-target && cd {tmp_path}/pdigpy-chdir-target && ls >/dev/null")
    assert res.returncode == 0, res.stderr
    replayed = tmp_path / "replayed.jsonl"
    rep = run_pdigpy("replay", str(capture), "-r", str(rules_file), "-o", "json_output=true",
                     "-o", "file_output.enabled=true", "-o", f"file_output.filename={replayed}")
    assert rep.returncode == 0, rep.stderr
    live_alerts = _alert_lines(live)
    assert [a["rule"] for a in live_alerts].count(RULE) == 3
    assert [a["rule"] for a in live_alerts].count(NOTICE_RULE) == 1
    assert _alert_lines(replayed) == live_alerts


def test_replay_of_a_capture_cut_off_midway(tmp_path, rules_file, marker):
    capture = tmp_path / "capture.jsonl"
    res = run_pdigpy("-r", str(rules_file), "--events", str(capture), "--", *_py_opens(marker, 2))
    assert res.returncode == 0, res.stderr
    text = capture.read_text()
    capture.write_text(text[: len(text) - 20])  # the last record loses its end
    rep = run_pdigpy("replay", str(capture), "-r", str(rules_file), "--fail-on", "warning")
    assert rep.returncode == 2
    assert "truncated record" in rep.stderr and "Traceback" not in rep.stderr
    assert rep.stderr.count("marker opened") == 2  # everything before the cut was replayed


def test_replay_of_a_bad_capture_is_one_line(tmp_path, rules_file):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("this is not a capture\n")
    res = run_pdigpy("replay", str(bad), "-r", str(rules_file))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert str(bad) in res.stderr
    missing = run_pdigpy("replay", str(tmp_path / "none.jsonl"), "-r", str(rules_file))
    assert missing.returncode == 2 and "no such capture file" in missing.stderr


# --------------------------------------------------------------------------- rules tools


def test_validate_good_and_bad_rules(tmp_path, rules_file):
    good = run_pdigpy("-V", str(rules_file))
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"{rules_file}: Ok" in good.stdout
    bad = tmp_path / "bad_rules.yaml"
    bad.write_text("- rule: broken\n  desc: d\n  condition: evt.type = open and\n  output: x\n  priority: WARNING\n"
                   "- rule: broken2\n  desc: d\n  condition: proc.nonexistent_field = 1\n  output: x\n  priority: WARNING\n")
    res = run_pdigpy("-V", str(rules_file), str(bad))
    assert res.returncode == 1
    assert f"{bad}: Invalid" in res.stdout
    assert "LOAD_ERR_COMPILE_CONDITION" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr
    js = run_pdigpy("-V", str(bad), "-o", "json_output=true")
    assert js.returncode == 1
    data = json.loads(js.stdout)
    [result] = data["falco_load_results"]
    assert result["successful"] is False and result["errors"]


def test_validate_warnings_go_to_stderr(tmp_path):
    warn = tmp_path / "warn_rules.yaml"
    # A rule with no event type restriction: Falco's LOAD_NO_EVTTYPE warning.
    warn.write_text("- rule: no evttype\n  desc: d\n  condition: proc.name = pdigpy-never\n"
                    "  output: x\n  priority: WARNING\n")
    res = run_pdigpy("-V", str(warn))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout == f"{warn}: Ok, with warnings\n"
    assert "LOAD_NO_EVTTYPE" in res.stderr


def test_a_run_with_invalid_rules_does_not_start_the_app(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: broken\n  desc: d\n  condition: evt.type = open and\n  output: x\n  priority: WARNING\n")
    flag = tmp_path / "ran"
    res = run_pdigpy("-r", str(bad), "--", "touch", str(flag))
    assert res.returncode == 2
    assert not flag.exists()
    assert "pdigpy -V" in res.stderr


def test_list_rules(rules_file):
    res = run_pdigpy("-L", "-r", str(rules_file))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["Rule", "Description"]
    assert any(l.startswith(RULE) and "fires on every open of the test marker file" in l for l in lines)
    assert any(l.startswith(NOTICE_RULE) for l in lines)
    js = run_pdigpy("-L", "-r", str(rules_file), "-o", "json_output=true")
    names = [r["info"]["name"] for r in json.loads(js.stdout)["rules"]]
    assert names == [RULE, NOTICE_RULE]


def test_list_fields():
    res = run_pdigpy("--list")
    assert res.returncode == 0, res.stderr
    rows = {l.split()[0]: l for l in res.stdout.splitlines() if l and not l.startswith("Field Class")}
    for name, kind in (("proc.name", "STRING"), ("fd.name", "STRING"), ("evt.type", "STRING"), ("proc.pid", "INT")):
        assert name in rows, name
        assert kind in rows[name].split()[1], rows[name]
    assert len(rows) > 100
    assert run_pdigpy("--list=syscall").stdout == res.stdout
    other = run_pdigpy("--list=k8s_audit")
    assert other.returncode == 2 and "--list=k8s_audit" in other.stderr


def test_print_filter_names_rules_and_state(rules_file):
    res = run_pdigpy("--print-filter", "-r", str(rules_file))
    assert res.returncode == 0, res.stderr
    rows = {l.split("\t")[0]: l.split("\t") for l in res.stdout.splitlines() if not l.startswith("#")}
    assert RULE in rows["openat"][2] and "state" in rows["openat"][2]
    assert NOTICE_RULE in rows["chdir"][2]
    assert rows["socket"][2] == "state"
    assert "read" not in rows  # no rule and not the state: not traced


# --------------------------------------------------------------------------- README


def test_readme_demo_runs_with_default_rules():
    """The first README command's last step, with this checkout's install."""
    app = REPO / "examples" / "demo" / "app.sh"
    res = run_pdigpy("--", str(app), cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == "demo: done"
    assert "Traceback" not in res.stderr
    # Once the default rules hold rules, the demo must show what it is for: alerts on the terminal.
    listed = run_pdigpy("-L", cwd=REPO)
    assert listed.returncode == 0, listed.stderr
    if len(listed.stdout.splitlines()) > 2:
        assert "pdigpy summary:" in res.stderr, res.stderr


# --------------------------------------------------------------------------- attach


def _tracer_pid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return 0


@pytest.mark.parametrize("follow", [False, True])
def test_attach_to_a_running_process(tmp_path, rules_file, marker, follow):
    """-p PID sees the target's own opens; its later children only with --follow."""
    import time

    go = tmp_path / "go"
    script = (f"import os, subprocess, time\n"
              f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
              f"open({str(marker)!r}).close(); open({str(marker)!r}).close()\n"
              f"subprocess.run(['cat', {str(marker)!r}], stdout=subprocess.DEVNULL)\n")
    target = subprocess.Popen([sys.executable, "-c", script])
    try:
        alerts = tmp_path / "alerts.jsonl"
        argv = ["-r", str(rules_file), "-o", "json_output=true", "-o", "file_output.enabled=true",
                "-o", f"file_output.filename={alerts}", "-p", str(target.pid)] + (["--follow"] if follow else [])
        from cli_helpers import pdigpy_argv

        tracer = subprocess.Popen([*pdigpy_argv(), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while _tracer_pid(target.pid) == 0 and time.monotonic() < deadline and tracer.poll() is None:
            time.sleep(0.01)
        go.write_text("")
        out, err = tracer.communicate(timeout=120)
        assert tracer.returncode == 0, err
        assert out == ""
        procs = [a["output_fields"]["proc.name"] for a in _alert_lines(alerts)]
        assert procs.count("cat") == (1 if follow else 0), err
        assert len([p for p in procs if p.startswith("python")]) == 2, err
    finally:
        target.kill()
        target.wait()


# --------------------------------------------------------------------------- robustness


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_stops_the_capture_not_the_app(rules_file, marker):
    res = run_pdigpy("-r", str(rules_file), "--events", "/dev/full", "--", "sh", "-c",
                     f"for i in $(seq 200); do cat {marker}; done >/dev/null; exit 5")
    assert res.returncode == 5
    assert "--events /dev/full: cannot write" in res.stderr and "Traceback" not in res.stderr
    assert "pdigpy summary: 200 alerts" in res.stderr


def test_sigterm_to_pdigpy_reaches_the_app(tmp_path, rules_file):
    """A container stop: SIGTERM to pdigpy, the app's handler runs, its status comes back."""
    import signal
    import time

    from cli_helpers import pdigpy_argv

    ready = tmp_path / "ready"
    script = f"trap 'exit 42' TERM; touch {ready}; while :; do sleep 0.05; done"
    proc = subprocess.Popen([*pdigpy_argv(), "-r", str(rules_file), "--", "sh", "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 42, err
    assert out == ""


# --------------------------------------------------------------------------- the filter's argument narrowing

C_FCNTL = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int getfl = atoi(argv[1]), dup = atoi(argv[2]);
    for (int i = 0; i < getfl; i++) fcntl(0, F_GETFL);
    for (int i = 0; i < dup; i++) close(fcntl(0, F_DUPFD_CLOEXEC, 10));
    return 0;
}
"""


@pytest.fixture(scope="session")
def fcntl_workload(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fcntl")
    (d / "fcntl.c").write_text(C_FCNTL)
    subprocess.run([shutil.which("gcc") or "cc", "-O1", "-o", str(d / "fcntl"), str(d / "fcntl.c")], check=True)
    return d / "fcntl"


def _fcntl_events(tmp_path: Path, rules: Path, exe: Path, getfl: int, dup: int) -> int:
    stats = tmp_path / f"s{getfl}-{dup}-{rules.stem}.jsonl"
    res = run_pdigpy("-r", str(rules), "--stats-file", str(stats), "--", str(exe), str(getfl), str(dup))
    assert res.returncode == 0, res.stderr
    return json.loads(stats.read_text().splitlines()[-1])["events_by_type"].get("fcntl", 0)


def test_fcntl_stops_only_for_fd_creating_commands_unless_a_rule_wants_it(tmp_path, rules_file, fcntl_workload):
    # The state needs only F_DUPFD/F_DUPFD_CLOEXEC: 40 F_GETFL calls cost no stop and no event.
    assert _fcntl_events(tmp_path, rules_file, fcntl_workload, 40, 3) == _fcntl_events(tmp_path, rules_file, fcntl_workload, 0, 3)
    # A rule on fcntl gets every call.
    fcntl_rules = tmp_path / "fcntl_rules.yaml"
    fcntl_rules.write_text("- rule: any fcntl\n  desc: d\n  condition: evt.type = fcntl and proc.name = pdigpy-never\n"
                           "  output: x\n  priority: DEBUG\n")
    assert (_fcntl_events(tmp_path, fcntl_rules, fcntl_workload, 40, 3)
            - _fcntl_events(tmp_path, fcntl_rules, fcntl_workload, 0, 3)) == 40

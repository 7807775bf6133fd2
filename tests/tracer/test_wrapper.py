"""Wrapper duties: exit codes, exec failures, stdio passthrough, signal forwarding, EXITKILL, PID 1."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracer_helpers import PYTHON, proc_state, runner_argv, wait_for


@pytest.mark.parametrize("seccomp", [True, False])
def test_exit_code_passthrough(run_traced, seccomp):
    r = run_traced(["sh", "-c", "exit 7"], seccomp=seccomp)
    assert r.rc == 7
    assert r.stdout == b""
    assert r.stderr == ""


def test_killed_by_signal_gives_128_plus_n(run_traced):
    r = run_traced(["sh", "-c", "kill -SEGV $$"])
    assert r.rc == 128 + signal.SIGSEGV
    assert r.stderr == ""
    exits = [e for e in r.of_type("procexit") if e["args"]["sig"] == signal.SIGSEGV]
    assert len(exits) == 1


def test_command_not_found_is_127_with_one_line(run_traced):
    r = run_traced(["pdigpy-no-such-command-xyz"])
    assert r.rc == 127
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert "pdigpy-no-such-command-xyz" in lines[0] and "not found" in lines[0]
    assert r.stdout == b""
    assert r.events == []  # pdigpy's own child never became the app


def test_not_executable_is_126(run_traced, tmp_path):
    f = tmp_path / "not-exec.sh"
    f.write_text("#!/bin/sh\necho hi\n")
    f.chmod(0o644)
    r = run_traced([str(f)])
    assert r.rc == 126
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "Permission denied" in lines[0], r.stderr


def test_stdout_byte_exact_and_stdin_passthrough(run_traced, cbin):
    r = run_traced([cbin("stdout_bytes")])
    assert r.rc == 0
    expected = bytes(i & 0xFF for i in range(512)) + b"tail-no-newline"
    assert r.stdout == expected
    assert r.stderr == ""
    r2 = run_traced(["sh", "-c", "cat; echo \"$0 $1\" >&2", "a b", "c"], stdin=b"in\x00put\n")
    assert r2.stdout == b"in\x00put\n"
    assert r2.stderr == "a b c\n"


def test_env_cwd_argv_untouched(run_traced, tmp_path):
    env_probe = "import os,sys,json; print(json.dumps([sys.argv[1:], os.getcwd(), os.environ.get('PDIGPY_PROBE')]))"
    os.environ["PDIGPY_PROBE"] = "x y\tz"
    try:
        r = run_traced([PYTHON, "-c", env_probe, "--flag", "", "sp ace"])
    finally:
        del os.environ["PDIGPY_PROBE"]
    import json

    assert json.loads(r.stdout) == [["--flag", "", "sp ace"], os.getcwd(), "x y\tz"]


TRAP_APP = r"""
import signal, sys, time
marker = sys.argv[1]
def on_sig(sig, frame):
    with open(marker, "w") as f:
        f.write(signal.Signals(sig).name)
    sys.exit(0)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
    signal.signal(s, on_sig)
print("ready", flush=True)
time.sleep(30)
sys.exit(3)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1])
def test_signal_to_pdigpy_reaches_the_app(start_traced, tmp_path, sig):
    marker = tmp_path / "marker"
    t = start_traced([PYTHON, "-c", TRAP_APP, str(marker)])
    assert t.readline() == b"ready\n"
    t.signal(sig)
    rc, out, err = t.wait()
    assert rc == 0, err
    assert marker.read_text() == signal.Signals(sig).name
    assert out == b""
    assert err == ""


def test_sigterm_to_shell_app_with_trap(start_traced):
    t = start_traced(["sh", "-c", 'trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.1; done'])
    assert t.readline() == b"ready\n"
    t.signal(signal.SIGTERM)
    rc, out, err = t.wait()
    assert (rc, out, err) == (0, b"got-term\n", "")


def test_unhandled_sigterm_gives_143(start_traced):
    t = start_traced([PYTHON, "-c", "import time; print('ready', flush=True); time.sleep(30)"])
    assert t.readline() == b"ready\n"
    t.signal(signal.SIGTERM)
    rc, _, err = t.wait()
    assert rc == 128 + signal.SIGTERM
    assert err == ""


def test_stop_and_cont_of_the_app(start_traced):
    t = start_traced(["sh", "-c", "echo ready; while :; do sleep 0.05; done"])
    assert t.readline() == b"ready\n"
    app = t.app_pid()
    os.kill(app, signal.SIGSTOP)
    # A stopped tracee shows "t" (stopped, traced) where an untraced one shows "T".
    wait_for(lambda: proc_state(app) in ("T", "t"), what="app stopped")
    time.sleep(0.3)
    assert proc_state(app) in ("T", "t")  # stays stopped: pdigpy does not resume it
    os.kill(app, signal.SIGCONT)
    wait_for(lambda: proc_state(app) in ("S", "R"), what="app running again")
    t.signal(signal.SIGTERM)
    rc, _, err = t.wait()
    assert rc == 128 + signal.SIGTERM
    assert err == ""


def test_sigkill_of_tracer_kills_the_app(start_traced):
    t = start_traced(["sh", "-c", "echo ready; exec sleep 60"])
    assert t.readline() == b"ready\n"
    app = t.app_pid()
    t.signal(signal.SIGKILL)
    t.proc.wait(timeout=10)
    wait_for(lambda: proc_state(app) in (None, "Z"), what="app killed by EXITKILL")


NO_ZOMBIES_APP = r"""
# a child forks a grandchild and execs into a process that never waits for it:
# the grandchild becomes a zombie, is orphaned when its parent exits, and PID 1
# (pdigpy) must reap it.
sh -c 'sleep 0.2 & exec sleep 0.6' &
sleep 1.5
wait
z=0
for f in /proc/[0-9]*/stat; do
  read -r line < "$f" 2>/dev/null || continue
  st=${line##*) }; st=${st%% *}
  [ "$st" = Z ] && z=$((z+1))
done
echo "pid1=$(cat /proc/1/comm) zombies=$z"
"""


def test_pid1_reaps_orphans(tmp_path):
    if shutil.which("unshare") is None:
        pytest.fail("unshare(1) is required")
    ev = tmp_path / "ev.jsonl"
    st = tmp_path / "st.json"
    cmd = ["unshare", "-fp", "--mount-proc"] + runner_argv(ev, st) + ["--", "sh", "-c", NO_ZOMBIES_APP]
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().strip() == "pid1=python zombies=0"
    import json

    stats = json.loads(st.read_text())
    assert stats["orphans_reaped"] >= 1


def test_a_failing_sink_never_takes_the_app_down(tmp_path, cbin):
    ev = tmp_path / "ev.jsonl"
    st = tmp_path / "st.json"
    cmd = runner_argv(ev, st) + ["--raising-sink", "--", cbin("forks"), "/bin/true"]
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    assert p.returncode == 0
    assert p.stdout == b"forks done\n"
    lines = p.stderr.decode().splitlines()
    assert len(lines) == 1 and "internal error" in lines[0]
    import json

    assert json.loads(st.read_text())["internal_errors"] >= 3


def test_sigterm_reaches_the_app_when_pdigpy_is_pid1(tmp_path):
    """As a container entrypoint: PID 1 gets SIGTERM from outside, the app shuts down, the exit code passes."""
    from tracer_helpers import children_of

    marker = tmp_path / "marker"
    ev = tmp_path / "ev.jsonl"
    cmd = ["unshare", "-fp", "--mount-proc"] + runner_argv(ev) + ["--", PYTHON, "-c", TRAP_APP, str(marker)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ready\n"
        pid1 = wait_for(lambda: (children_of(p.pid) or [0])[0], what="pdigpy as pid 1")
        assert Path(f"/proc/{pid1}/status").read_text().count("NSpid:\t%d\t1\n" % pid1) == 1
        os.kill(pid1, signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert marker.read_text() == "SIGTERM"


def test_forwarding_works_with_a_thread_started_before_the_tracer(tmp_path):
    """A thread that does not block the signals may receive them; they must still reach the app at once."""
    marker = tmp_path / "marker"
    ev = tmp_path / "ev.jsonl"
    cmd = runner_argv(ev) + ["--early-thread", "--", PYTHON, "-c", TRAP_APP, str(marker)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ready\n"
        # the tracer blocks the signal, the early thread does not: the kernel delivers it there
        os.kill(p.pid, signal.SIGUSR1)
        out, err = p.communicate(timeout=20)  # the app sleeps 30 s unless the signal arrives
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert marker.read_text() == "SIGUSR1"


COUNT_INT_APP = r"""
import signal, sys, time
n = 0
def on_int(sig, frame):
    global n
    n += 1
signal.signal(signal.SIGINT, on_int)
print("ready", flush=True)
end = time.monotonic() + 1.5
while time.monotonic() < end:
    time.sleep(0.05)
print("sigints", n, flush=True)
"""


def test_ctrl_c_on_a_terminal_reaches_the_app_once(tmp_path):
    """The tty sends SIGINT to the foreground group (pdigpy and the app): pdigpy must not add a second one."""
    import pty
    import select

    ev = tmp_path / "ev.jsonl"
    st = tmp_path / "st.json"
    argv = runner_argv(ev, st) + ["--", PYTHON, "-c", COUNT_INT_APP]
    pid, master = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    out = b""
    try:
        end = time.monotonic() + 30
        while b"ready" not in out and time.monotonic() < end:
            if select.select([master], [], [], 1)[0]:
                out += os.read(master, 1024)
        assert b"ready" in out
        os.write(master, b"\x03")  # ^C: the line discipline signals the foreground process group
        while b"sigints" not in out or not out.endswith(b"\n"):
            if not select.select([master], [], [], 10)[0]:
                break
            try:
                out += os.read(master, 1024)
            except OSError:
                break
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"sigints 1" in out, out
    # Two SIGINTs would often merge in the app anyway (a standard signal pending
    # during its ptrace stop is not queued twice), so check pdigpy's decision.
    import json

    stats = json.loads(st.read_text())
    assert (stats["signals_deduplicated"], stats["signals_forwarded"]) == (1, 0)

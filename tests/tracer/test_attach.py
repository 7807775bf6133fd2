"""Attach mode: seize a running multi-threaded process, see its events, detach on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tracer_helpers import PYTHON, proc_state, read_events, runner_argv, wait_for

APP = r"""
import os, sys, threading, time
marker, quit_file = sys.argv[1], sys.argv[2]
def worker():
    while not os.path.exists(quit_file):
        open(marker).close()
        time.sleep(0.02)
threads = [threading.Thread(target=worker) for _ in range(2)]
for t in threads: t.start()
print("ready", os.getpid(), flush=True)
n = 0
while not os.path.exists(quit_file):
    n += 1
    time.sleep(0.02)
for t in threads: t.join()
print("done", n, flush=True)
sys.exit(5)
"""


def _tracer_pid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("TracerPid:"):
            return int(line.split()[1])
    return -1


@pytest.fixture
def app(tmp_path):
    marker = tmp_path / f"attach-marker-{uuid.uuid4().hex}"
    marker.write_text("x")
    quit_file = tmp_path / "quit"
    p = subprocess.Popen([PYTHON, "-c", APP, str(marker), str(quit_file)], stdout=subprocess.PIPE)
    line = p.stdout.readline().split()
    assert line[0] == b"ready"
    yield p, int(line[1]), marker, quit_file
    quit_file.touch()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_attach_sees_thread_events_and_detaches_cleanly(app, tmp_path, sig):
    p, pid, marker, quit_file = app
    ev = tmp_path / "ev.jsonl"
    tracer = subprocess.Popen(runner_argv(ev, attach=pid), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def marker_opens():
            return [e for e in read_events(ev)[0] if e["type"] == "openat" and e["args"].get("name") == str(marker)]

        opens = wait_for(lambda: len(marker_opens()) >= 4 and marker_opens(), timeout=20, what="events of the app")
        assert all(e["pid"] == pid and e["tid"] != pid for e in opens)
        assert _tracer_pid_of(pid) == tracer.pid
        snaps = read_events(ev)[1]
        assert {s["tid"] for s in snaps if s["pid"] == pid} >= {e["tid"] for e in opens[:1]} | {pid}
        tracer.send_signal(sig)
        out, err = tracer.communicate(timeout=20)
    finally:
        if tracer.poll() is None:
            tracer.kill()
    assert tracer.returncode == 0, err
    assert out == b"" and err == b""
    # the process runs on, untraced and not stopped
    assert _tracer_pid_of(pid) == 0
    for task in os.listdir(f"/proc/{pid}/task"):
        assert _tracer_pid_of(int(task)) == 0
    time.sleep(0.2)
    assert proc_state(pid) in ("S", "R")
    quit_file.touch()
    assert p.wait(timeout=20) == 5
    assert p.stdout.read().startswith(b"done ")


def test_attach_follows_descendants_when_asked(tmp_path):
    target = tmp_path / f"child-open-{uuid.uuid4().hex}"
    target.write_text("x")
    loop = f"echo ready; while :; do cat {target} >/dev/null; sleep 0.05; done"
    app = subprocess.Popen(["sh", "-c", loop], stdout=subprocess.PIPE)
    assert app.stdout.readline() == b"ready\n"
    ev = tmp_path / "ev.jsonl"
    tracer = subprocess.Popen(runner_argv(ev, attach=app.pid, follow=True), stderr=subprocess.PIPE)
    try:
        wait_for(
            lambda: [e for e in read_events(ev)[0] if e["type"] == "openat" and e["args"].get("name") == str(target)],
            timeout=20,
            what="a child's open",
        )
        cats = [e for e in read_events(ev)[0] if e["type"] == "execve" and e["args"]["exe"] == "cat"]
        assert cats and all(e["args"]["ptid"] == app.pid for e in cats)
        tracer.send_signal(signal.SIGINT)
        assert tracer.wait(timeout=20) == 0
    finally:
        if tracer.poll() is None:
            tracer.kill()
        app.kill()
        app.wait()


def test_attach_refuses_pdigpy_ancestors_and_missing_pids(tmp_path):
    ev = tmp_path / "ev.jsonl"
    # pytest is the runner's parent: an ancestor of pdigpy
    p = subprocess.run(runner_argv(ev, attach=os.getpid()), capture_output=True, timeout=30)
    assert p.returncode == 1
    lines = p.stderr.decode().splitlines()
    assert len(lines) == 1 and "ancestor of pdigpy" in lines[0]
    p = subprocess.run(runner_argv(ev, attach=2**22 + 12345), capture_output=True, timeout=30)
    assert p.returncode == 1
    assert p.stderr.decode().count("\n") == 1 and "no such process" in p.stderr.decode()


def test_attach_self_is_refused():
    code = (
        "import os, sys; sys.path.insert(0, %r)\n"
        "from pdigpy.tracer.session import Tracer\n"
        "class S:\n def on_event(self, e): pass\n def on_snapshot(self, i): pass\n"
        "sys.exit(Tracer(S()).attach(os.getpid()))\n"
    ) % str(Path(__file__).resolve().parents[2])
    p = subprocess.run([PYTHON, "-c", code], capture_output=True, timeout=30)
    assert p.returncode == 1
    assert "pdigpy itself" in p.stderr.decode() and p.stderr.decode().count("\n") == 1


def test_attached_process_exit_ends_the_tracer_with_its_code(app, tmp_path):
    p, pid, marker, quit_file = app
    ev = tmp_path / "ev.jsonl"
    tracer = subprocess.Popen(runner_argv(ev, attach=pid), stderr=subprocess.PIPE)
    wait_for(lambda: any(e["type"] == "openat" for e in read_events(ev)[0]), timeout=20, what="events")
    quit_file.touch()
    assert p.wait(timeout=20) == 5
    assert tracer.wait(timeout=20) == 5
    exits = [e for e in read_events(ev)[0] if e["type"] == "procexit" and e["tid"] == pid]
    assert len(exits) == 1


def test_detach_from_a_process_that_never_stops_making_syscalls(tmp_path, cbin):
    app = subprocess.Popen([cbin("openloop"), "1000000000", "getppid"])
    ev = tmp_path / "ev.jsonl"
    st = tmp_path / "st.json"
    tracer = subprocess.Popen(runner_argv(ev, st, attach=app.pid), stderr=subprocess.PIPE)
    try:
        wait_for(lambda: _tracer_pid_of(app.pid) == tracer.pid, what="attached")
        time.sleep(0.5)
        tracer.send_signal(signal.SIGINT)
        assert tracer.wait(timeout=20) == 0
        assert tracer.stderr.read() == b""
        assert _tracer_pid_of(app.pid) == 0
        assert proc_state(app.pid) in ("R", "S")
        assert app.poll() is None  # still running its loop
        import json

        assert json.loads(st.read_text())["syscall_stops"] > 100
    finally:
        if tracer.poll() is None:
            tracer.kill()
        app.kill()
        app.wait()

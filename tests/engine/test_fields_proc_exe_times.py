"""proc.exe_ino.* durations on real processes, with Falco's (libsinsp parsers.cpp) semantics.

- proc.exe_ino.ctime_duration_proc_start: clone_ts - exe ctime kept in a uint64 (0 = missing),
  so an executable changed after its process started wraps to a huge number;
- proc.exe_ino.ctime_duration_pidns_start: exe ctime - pid namespace init start, only when the
  executable changed after the namespace started; missing otherwise;
- proc.pidns_init_start_ts: the start of the namespace's init (here the host's pid 1).

The processes are real copies of sleep started from a temp directory, read from /proc into a
State exactly as the tracer snapshots them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from pdigpy.engine.compiler import compile_condition
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.grammar import parse_condition
from pdigpy.events.model import Event
from pdigpy.state.tables import State
from pdigpy.tracer.procfs import read_procinfo

U64 = 1 << 64


def _snapshot_event(pid: int) -> tuple[FieldRegistry, Event]:
    state = State()
    info = read_procinfo(pid)
    assert info is not None
    state.add_snapshot(info)
    evt = Event(num=1, ts=time.time_ns(), tid=pid, pid=pid, type="getpid", res=pid, args={})
    state.apply(evt)
    return FieldRegistry(state=state), evt


@pytest.fixture
def fresh_sleep(tmp_path):
    """A copy of sleep written just now, then run: its exe changed after the pid namespace began."""
    exe = tmp_path / "sleep-copy"
    shutil.copy(shutil.which("sleep"), exe)
    time.sleep(0.05)  # the process starts clearly after the copy's ctime (/proc start has 10 ms ticks)
    proc = subprocess.Popen([str(exe), "30"])
    try:
        deadline = time.monotonic() + 5
        while read_procinfo(proc.pid) is None or read_procinfo(proc.pid).comm != "sleep-copy":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        yield exe, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_fresh_executable_has_both_durations(fresh_sleep):
    exe, pid = fresh_sleep
    reg, e = _snapshot_event(pid)
    ctime = os.stat(exe).st_ctime_ns
    info = read_procinfo(pid)
    assert reg.bind("proc.exe_ino.ctime").extract(e) == ctime
    assert reg.bind("proc.pidns_init_start_ts").extract(e) == info.pidns_init_start_ts > 0
    assert reg.bind("proc.exe_ino.ctime_duration_pidns_start").extract(e) == ctime - info.pidns_init_start_ts
    assert reg.bind("proc.exe_ino.ctime_duration_proc_start").extract(e) == (info.start_ts - ctime) % U64
    # the Falco-style drift test the default rule uses in containers
    pred = compile_condition(parse_condition("proc.exe_ino.ctime_duration_pidns_start exists"), reg)
    assert pred(e) is True


def test_executable_changed_after_the_process_started_wraps_like_a_uint64(fresh_sleep):
    exe, pid = fresh_sleep
    time.sleep(0.05)
    os.chmod(exe, 0o755)  # ctime moves after the process's start
    reg, e = _snapshot_event(pid)
    info = read_procinfo(pid)
    ctime = os.stat(exe).st_ctime_ns
    assert ctime > info.start_ts
    got = reg.bind("proc.exe_ino.ctime_duration_proc_start").extract(e)
    assert got == U64 - (ctime - info.start_ts)
    # so "changed less than an hour before the start" stays false for it, as in Falco
    pred = compile_condition(parse_condition("proc.exe_ino.ctime_duration_proc_start < 3600000000000"), reg)
    assert pred(e) is False


def test_old_system_executable_has_no_pidns_duration():
    """The system's sleep predates pid 1's start on any normal system: the field is missing."""
    sleep = shutil.which("sleep")
    if os.stat(sleep).st_ctime_ns >= read_procinfo(1).start_ts:
        pytest.skip("this system's sleep binary changed after pid 1 started")
    proc = subprocess.Popen([sleep, "30"])
    try:
        deadline = time.monotonic() + 5
        while read_procinfo(proc.pid) is None or read_procinfo(proc.pid).comm != "sleep":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        reg, e = _snapshot_event(proc.pid)
        assert reg.bind("proc.exe_ino.ctime_duration_pidns_start").extract(e) is None
        assert reg.bind("proc.exe_ino.ctime_duration_proc_start").extract(e) > 0
        pred = compile_condition(parse_condition("proc.exe_ino.ctime_duration_pidns_start exists"), reg)
        assert pred(e) is False
    finally:
        proc.kill()
        proc.wait()


class _AtExec:
    """Tracer sink reading the pidns fields at every successful execve, as the engine would."""

    def __init__(self) -> None:
        self.state = State()
        reg = FieldRegistry(state=self.state)
        self.fields = {n: reg.bind(n) for n in ("proc.name", "proc.pidns_init_start_ts",
                                                "proc.exe_ino.ctime", "proc.exe_ino.ctime_duration_pidns_start",
                                                "proc.exe_ino.ctime_duration_app_start")}
        self.execs: list[tuple[int, int, dict]] = []

    def on_snapshot(self, info) -> None:
        self.state.add_snapshot(info)

    def on_event(self, evt) -> None:
        self.state.apply(evt)
        if evt.type == "execve" and evt.res == 0:
            self.execs.append((evt.num, evt.ts, {n: bf.extract(evt) for n, bf in self.fields.items()}))


def test_app_start_duration_marks_programs_changed_after_the_launch(tmp_path):
    """pdigpy's proc.exe_ino.ctime_duration_app_start: the exe changed after the traced app's
    launch (the root's exec, event clock). The app copies a program and a shell it starts later
    runs it. Falco's proc.pidns_init_start_ts keeps Falco's meaning (the host init's start here)."""
    from pdigpy.tracer.session import TraceOptions, Tracer

    fresh = tmp_path / "fresh"
    sink = _AtExec()
    tracer = Tracer(sink, TraceOptions(event_types=frozenset({"execve"}), follow_descendants=True))
    script = f"cp /bin/true {fresh} && sh -c '{fresh}; /bin/true'"
    assert tracer.run_command(["sh", "-c", script]) == 0
    (num, launch_ts, launch), *rest = sink.execs
    assert num == 1
    by_name = {v["proc.name"]: v for _, _, v in rest}
    assert {"cp", "sh", "fresh", "true"} <= set(by_name)
    # Falco's field keeps Falco's value (the namespace's init), never the app's launch
    assert all(v["proc.pidns_init_start_ts"] != launch_ts for v in [launch, *by_name.values()])
    ctime = os.stat(fresh).st_ctime_ns
    assert by_name["fresh"]["proc.exe_ino.ctime_duration_app_start"] == ctime - launch_ts > 0
    assert by_name["true"]["proc.exe_ino.ctime_duration_app_start"] is None  # the system's, older
    assert by_name["sh"]["proc.exe_ino.ctime_duration_app_start"] is None

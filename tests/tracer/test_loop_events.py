"""Events from real programs: threads (clone3), fork/vfork/exec chains, exec from a thread, opens."""

from __future__ import annotations

import os
import platform
import uuid

import pytest

from tracer_helpers import PYTHON
from pdigpy.events import flags as F


def _by_tid(events, etype):
    return {e["tid"]: e for e in events if e["type"] == etype}


@pytest.mark.parametrize("seccomp", [True, False])
def test_pthreads_clone3_attributed_to_the_process(run_traced, cbin, seccomp):
    n = 4
    r = run_traced([cbin("threads"), str(n), "/etc/hostname"], seccomp=seccomp)
    assert r.rc == 0 and r.stdout == b"threads 4\n"
    main = [e for e in r.of_type("execve") if e["args"]["exe"].endswith("threads")][0]["pid"]
    clones = r.of_type("clone3")
    parent_side = [e for e in clones if e["res"] and e["res"] > 0]
    child_side = [e for e in clones if e["res"] == 0]
    assert len(parent_side) == n and len(child_side) == n
    assert all(e["tid"] == main and e["pid"] == main for e in parent_side)
    children = {e["res"] for e in parent_side}
    assert {e["tid"] for e in child_side} == children
    assert all(e["pid"] == main and e["args"]["flags"] & F.CL_CLONE_THREAD for e in child_side)
    opens = [e for e in r.of_type("openat") if e["args"].get("name") == "/etc/hostname"]
    assert len(opens) == n
    assert {e["tid"] for e in opens} == children
    assert all(e["pid"] == main and e["res"] >= 0 for e in opens)
    exits = r.of_type("procexit")
    assert children <= {e["tid"] for e in exits}
    assert all(e["pid"] == main for e in exits if e["tid"] in children)


def test_python_threading(run_traced, tmp_path):
    target = tmp_path / f"pyth-{uuid.uuid4().hex}"
    target.write_text("x")
    code = (
        "import threading, os, sys\n"
        "def w(): open(sys.argv[1]).close()\n"
        "ts = [threading.Thread(target=w) for _ in range(3)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "print(os.getpid())\n"
    )
    r = run_traced([PYTHON, "-c", code, str(target)])
    assert r.rc == 0
    pypid = int(r.stdout)
    opens = [e for e in r.of_type("openat") if e["args"].get("name") == str(target)]
    assert len(opens) == 3
    assert all(e["pid"] == pypid and e["tid"] != pypid for e in opens)
    thread_clones = [e for e in r.of_type("clone3", "clone") if e["res"] == 0 and e["pid"] == pypid]
    assert {e["tid"] for e in opens} <= {e["tid"] for e in thread_clones}


@pytest.mark.parametrize("seccomp", [True, False])
def test_fork_vfork_exec_chain(run_traced, cbin, seccomp):
    r = run_traced([cbin("forks"), "/bin/true"], seccomp=seccomp)
    assert r.rc == 0 and r.stdout == b"forks done\n"
    parent = [e for e in r.of_type("execve") if e["args"]["exe"].endswith("forks")][0]["pid"]
    kinds = ["clone", "vfork", "fork"] if platform.machine() == "x86_64" else ["clone", "clone", "clone"]
    creations = [e for e in r.of_type("clone", "clone3", "fork", "vfork") if e["res"] and e["res"] > 0]
    assert [e["type"] for e in creations] == kinds
    for e in creations:
        assert e["tid"] == parent
        child = e["res"]
        cside = [c for c in r.events if c["tid"] == child and c["type"] == e["type"] and c["res"] == 0]
        assert len(cside) == 1
        assert cside[0]["pid"] == child  # a new process, not a thread
        assert cside[0]["args"]["ptid"] == parent
        assert not cside[0]["args"]["flags"] & F.CL_CLONE_THREAD
        execs = [x for x in r.of_type("execve") if x["tid"] == child and x["res"] == 0]
        assert len(execs) == 1 and execs[0]["args"]["exe"] == "/bin/true"
        assert execs[0]["args"]["ptid"] == parent
    # the whole chain ends with one procexit per process
    assert len(r.of_type("procexit")) == 4


def test_entry_exit_parity_survives_event_stops(run_traced, cbin):
    """Without seccomp every syscall stops twice; fork/exec event stops must not invert entry/exit."""
    prog = cbin("forks")
    a = run_traced([prog, "/bin/cat"], seccomp=True, types="openat")
    b = run_traced([prog, "/bin/cat"], seccomp=False, types="openat")
    key = lambda r: sorted((e["args"].get("name"), e["res"] >= 0) for e in r.of_type("openat"))  # noqa: E731
    assert key(a) == key(b)
    assert len(a.of_type("openat")) >= 8  # loader opens in forks and 3 cats
    assert all(isinstance(e["args"].get("name"), str) for e in b.of_type("openat"))


def test_exec_from_non_leader_thread(run_traced, cbin):
    r = run_traced([cbin("exec_thread"), "/bin/echo", "from-thread"])
    assert r.rc == 0
    assert r.stdout == b"from-thread\n"
    first = [e for e in r.of_type("execve") if e["args"]["exe"].endswith("exec_thread")][0]
    leader = first["pid"]
    thread = [e["res"] for e in r.of_type("clone3", "clone") if e["tid"] == leader and e["res"]][0]
    assert thread != leader
    execs = [e for e in r.of_type("execve") if e["args"]["exe"] == "/bin/echo"]
    assert len(execs) == 1
    # the kernel gives the exec'ing thread the leader's tid
    assert execs[0]["tid"] == leader and execs[0]["pid"] == leader and execs[0]["res"] == 0
    # events after the exec belong to the leader tid too
    after = [e for e in r.events if e["num"] > execs[0]["num"] and e["type"] == "openat"]
    assert after and all(e["tid"] == leader for e in after)


def test_opens_decoded_through_the_tables(run_traced, tmp_path):
    path = tmp_path / f"opened-{uuid.uuid4().hex}"
    code = "import sys; open(sys.argv[1], 'w').close(); open(sys.argv[1]).close()"
    r = run_traced([PYTHON, "-c", code, str(path)])
    assert r.rc == 0
    opens = [e for e in r.of_type("openat") if e["args"].get("name") == str(path)]
    assert len(opens) == 2
    assert all(e["res"] >= 0 and e["args"]["fd"] == e["res"] for e in opens)
    assert opens[0]["args"]["flags"] & F.O_CREAT and not opens[1]["args"]["flags"] & F.O_CREAT


def test_lifecycle_events_without_their_syscalls_in_the_filter(run_traced, cbin):
    """Only openat is in the seccomp set; clone3/execve/procexit still come from ptrace event stops."""
    r = run_traced([cbin("threads"), "2", "/etc/hostname"], types="openat")
    assert r.rc == 0
    assert r.stats["filter_syscalls"] == 1
    assert len(r.of_type("execve")) == 1
    assert len([e for e in r.of_type("clone3") if e["res"] == 0]) == 2
    assert len(r.of_type("procexit")) == 3


def test_failed_execve_is_an_event_and_success_is_one(run_traced):
    r = run_traced(["sh", "-c", "/nonexistent-pdigpy-bin; exec /bin/true"], types="execve")
    assert r.rc == 0
    execs = r.of_type("execve")
    failed = [e for e in execs if e["res"] is not None and e["res"] < 0]
    ok = [e for e in execs if e["res"] == 0 and e["args"]["exe"] == "/bin/true"]
    assert len(failed) == 1 and len(ok) == 1
    assert r.stats["events_by_type"]["execve"] == len(execs)


def test_snapshots_come_first_and_the_app_is_a_child_of_our_parent(run_traced):
    r = run_traced(["sh", "-c", "exec /bin/true"])
    assert r.rc == 0
    assert r.snapshots, "ancestors of pdigpy are snapshotted"
    me = os.getpid()  # the runner's parent: pdigpy is transparent
    assert me in {s["pid"] for s in r.snapshots}
    execs = r.of_type("execve")
    root = execs[0]
    assert root["args"]["ptid"] == me
    assert root["args"]["filename"].endswith("/sh")  # the path pdigpy's child exec'd
    assert [e["args"]["exe"] for e in execs if e["res"] == 0] == ["sh", "/bin/true"]
    assert all(e["args"]["ptid"] == me and e["tid"] == root["tid"] for e in execs)
    assert r.events[0]["num"] == 1
    assert [e["num"] for e in r.events] == list(range(1, len(r.events) + 1))


@pytest.mark.skipif(platform.machine() != "x86_64", reason="int 0x80 exists on x86_64 only")
def test_i386_entry_point_refused_under_seccomp_and_reported_in_both_modes(run_traced, cbin):
    prog = cbin("int80")
    r = run_traced([prog])
    out = r.stdout.decode()
    assert out.startswith("int80=-38 ")  # ENOSYS: the loop skipped it at its seccomp stop
    assert r.stats["compat_syscalls"] == 1
    assert len(r.stderr.splitlines()) == 1 and "i386" in r.stderr and "ENOSYS" in r.stderr
    r2 = run_traced([prog], seccomp=False)
    res, native = [int(x.split("=")[1]) for x in r2.stdout.decode().split()]
    assert res == native  # it ran (getpid)
    assert r2.stats["compat_syscalls"] == 1
    assert len(r2.stderr.splitlines()) == 1 and "i386" in r2.stderr


def test_no_stop_for_untraced_syscalls(run_traced, cbin):
    r = run_traced([cbin("openloop"), "2000", "getppid"], types="openat")
    assert r.rc == 0
    assert r.stats["seccomp_stops"] < 50  # the loader's opens only, none for 2000 getppid
    r2 = run_traced([cbin("openloop"), "2000", "openat"], types="openat")
    opens = [e for e in r2.of_type("openat") if e["args"].get("name") == "/nonexistent/dir/file.txt"]
    assert len(opens) == 2000 and all(e["res"] == -2 for e in opens)


NESTED_THREADS = """
import os, threading
def spawn():
    ts = [threading.Thread(target=lambda: None) for _ in range(10)]
    [t.start() for t in ts]; [t.join() for t in ts]
ts = [threading.Thread(target=spawn) for _ in range(6)]
[t.start() for t in ts]; [t.join() for t in ts]
print(os.getpid())
"""


def test_children_reported_before_their_parents_event(run_traced):
    """Threads creating threads: some first stops arrive before the parent's clone event.

    Both orders must give the same events; the stats count how often the early
    order happened (it does not happen on every run, so try a few times).
    """
    early = 0
    for _ in range(5):
        r = run_traced([PYTHON, "-c", NESTED_THREADS])
        assert r.rc == 0
        pid = int(r.stdout)
        child_side = [e for e in r.of_type("clone3", "clone") if e["res"] == 0 and e["pid"] == pid]
        parent_side = [e for e in r.of_type("clone3", "clone") if e["res"] and e["res"] > 0 and e["pid"] == pid]
        assert len(child_side) == len(parent_side) == 66
        assert {e["res"] for e in parent_side} == {e["tid"] for e in child_side}
        thread_exits = [e for e in r.of_type("procexit") if e["pid"] == pid and e["tid"] != pid]
        assert len(thread_exits) == 66
        early += r.stats["early_children"]
        if early:
            break
    assert early > 0, "the child-first order never happened in 5 runs"


RACE_APP = """
import os, sys, threading, time
def spin():
    while True:
        try:
            os.close(os.open(sys.argv[1], os.O_RDONLY))
        except OSError:
            pass
for _ in range(8):
    threading.Thread(target=spin, daemon=True).start()
time.sleep(0.3)
os._exit(3)  # every thread dies wherever it is: mid-syscall, at a stop, between stops
"""


@pytest.mark.parametrize("seccomp", [True, False])
def test_threads_dying_mid_syscall_do_not_disturb_the_tracer(run_traced, seccomp):
    for _ in range(3):
        r = run_traced([PYTHON, "-c", RACE_APP, "/etc/hostname"], seccomp=seccomp)
        assert r.rc == 3
        assert r.stderr == ""
        assert r.stats["internal_errors"] == 0
        pid = [e for e in r.of_type("execve")][-1]["pid"]
        exits = [e for e in r.of_type("procexit") if e["pid"] == pid]
        assert len(exits) == 9  # 8 threads and the main thread

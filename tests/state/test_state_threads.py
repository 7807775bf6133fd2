"""Thread-table transitions: clone/fork, threads, exec, exit and release, ancestry, creds."""

from __future__ import annotations

import gc
import tracemalloc

from pdigpy.events.procinfo import ProcInfo
from pdigpy.state.tables import State
from state_helpers import (
    PPM_O_CLOEXEC,
    PPM_O_RDONLY,
    THREAD_FLAGS,
    apply_all,
    base_state,
    clone_pair,
    ev,
    execve,
    openat,
    procexit,
)

APP = 200


def names(state: State, tid: int) -> list[str]:
    return [t.comm for t in state.ancestors(state.get_thread(tid))]


def test_root_app_is_child_of_the_snapshot_shell() -> None:
    state = base_state()
    app = state.get_thread(APP)
    assert (app.pid, app.ptid, app.comm, app.proc.exe, app.proc.args) == (
        APP, 100, "app", "/usr/bin/app", ["--serve"])
    assert app.proc.cwd == "/srv" and app.proc.exepath == "/usr/bin/app"
    assert names(state, APP) == ["bash", "systemd"]


def test_fork_copies_fds_and_process_info() -> None:
    state = base_state()
    apply_all(state, openat(APP, 3, "/etc/hosts"), *clone_pair(APP, APP, 201, comm="app"))
    parent, child = state.get_thread(APP), state.get_thread(201)
    assert child.pid == 201 and child.ptid == APP and child.parent is parent
    assert child.fds is not parent.fds and child.fds.get(3).name == "/etc/hosts"
    assert child.proc is not parent.proc and child.proc.exe == "/usr/bin/app"
    apply_all(state, openat(201, 4, "/tmp/only-child"), ev("chdir", 201, 0, res=0, path="/tmp"))
    assert parent.fds.get(4) is None and parent.proc.cwd == "/srv"
    assert child.proc.cwd == "/tmp"
    assert names(state, 201) == ["app", "bash", "systemd"]


def test_thread_shares_fds_and_cwd() -> None:
    state = base_state()
    apply_all(state, *clone_pair(APP, APP, 201, THREAD_FLAGS, comm="app"))
    leader, thread = state.get_thread(APP), state.get_thread(201)
    assert thread.pid == APP and thread.ptid == 100
    assert thread.fds is leader.fds and thread.proc is leader.proc
    state.apply(openat(201, 5, "/var/lib/db", pid=APP))
    assert leader.fds.get(5).name == "/var/lib/db"
    state.apply(ev("chdir", 201, 0, APP, res=0, path="/var"))
    assert leader.proc.cwd == "/var"
    assert names(state, 201) == ["bash", "systemd"]
    assert state.get_process(APP) is leader


def test_child_event_first_then_parent_event() -> None:
    """Whichever side of the clone arrives first creates the child; the other completes it."""
    state = base_state()
    state.apply(openat(APP, 3, "/etc/hosts"))
    parent_evt, child_evt = clone_pair(APP, APP, 201)
    child_evt.args["vpid"] = 7
    state.apply(child_evt)
    child = state.get_thread(201)
    state.apply(openat(201, 4, "/tmp/c"))
    state.apply(parent_evt)
    assert state.get_thread(201) is child and child.fds.get(4) is not None  # not re-copied
    assert child.vpid == 7 and child.fds.get(3).name == "/etc/hosts"
    assert parent_evt.thread is state.get_thread(APP) and child_evt.thread is child


def test_exec_drops_cloexec_and_replaces_image() -> None:
    state = base_state()
    apply_all(state, *clone_pair(APP, APP, 201),
              openat(201, 3, "/etc/secret", PPM_O_RDONLY | PPM_O_CLOEXEC),
              openat(201, 4, "/var/log/out"),
              execve(201, "/bin/sh", ["-c", "id"], ptid=APP, cwd="/srv", uid=1000, loginuid=5,
                     cap_effective=0x3))
    child = state.get_thread(201)
    assert child.proc.exe == "/bin/sh" and child.proc.args == ["-c", "id"] and child.comm == "sh"
    assert child.fds.get(3) is None and child.fds.get(4).name == "/var/log/out"
    assert child.euid == 1000 and child.loginuid == 5 and child.cap_effective == 0x3
    assert child.proc.exec_ts > 0
    assert state.get_thread(APP).proc.exe == "/usr/bin/app"  # parent untouched
    assert names(state, 201) == ["app", "bash", "systemd"]


def test_failed_exec_keeps_old_image() -> None:
    state = base_state()
    evt = execve(APP, "/nope", [], res=-2)
    state.apply(evt)
    assert state.get_thread(APP).proc.exe == "/usr/bin/app" and evt.thread.comm == "app"


def test_non_leader_exec_kills_other_threads() -> None:
    state = base_state()
    apply_all(state, openat(APP, 3, "/data/keep"),
              *clone_pair(APP, APP, 201, THREAD_FLAGS), *clone_pair(APP, APP, 202, THREAD_FLAGS),
              *clone_pair(APP, APP, 210))  # a child process, whose parent link must survive
    leader = state.get_thread(APP)
    # thread 202 execs: the kernel reports the exec under the leader's tid
    evt = execve(APP, "/usr/bin/python3", ["x.py"], ptid=100)
    state.apply(evt)
    assert state.get_thread(201) is None and state.get_thread(202) is None
    assert evt.thread is leader and leader.proc.exe == "/usr/bin/python3"
    assert leader.fds.get(3).name == "/data/keep"
    assert state.groups[APP].tids == {APP}
    assert state.get_thread(210).parent is leader


def test_leader_exit_reported_before_non_leader_exec() -> None:
    """ptrace may report the old leader's exit before the exec that takes over its tid."""
    state = base_state()
    apply_all(state, openat(APP, 3, "/data/keep"), *clone_pair(APP, APP, 201, THREAD_FLAGS),
              *clone_pair(APP, APP, 210))
    leader = state.get_thread(APP)
    state.apply(procexit(APP))
    evt = execve(APP, "/usr/bin/env", [], ptid=100)
    state.apply(evt)
    assert evt.thread is leader and not leader.exited and state.get_thread(APP) is leader
    assert state.get_thread(201) is None
    assert leader.fds.get(3).name == "/data/keep"
    assert state.get_thread(210).parent is leader


def test_procexit_releases_after_the_event() -> None:
    state = base_state()
    apply_all(state, *clone_pair(APP, APP, 201), openat(201, 3, "/tmp/x"))
    exit_evt = procexit(201)
    state.apply(exit_evt)
    assert exit_evt.thread.tid == 201 and exit_evt.thread.exited
    assert state.get_thread(201) is not None  # the procexit event still sees it
    state.apply(ev("getpid", APP, APP))
    assert state.get_thread(201) is None and 201 not in state.groups


def test_exited_parent_stays_an_ancestor_while_child_lives() -> None:
    state = base_state()
    apply_all(state, *clone_pair(APP, APP, 201), execve(201, "/bin/sh", [], ptid=APP),
              *clone_pair(201, 201, 202), execve(202, "/usr/bin/curl", ["x"], ptid=201),
              procexit(201), ev("getpid", 202, 202))
    assert state.get_thread(201) is None
    assert names(state, 202) == ["sh", "app", "bash", "systemd"]
    assert state.get_thread(202).parent.fds is not None  # released, fds emptied
    assert len(state.get_thread(202).parent.fds) == 0


def test_memory_stays_flat_over_many_processes() -> None:
    """10k processes forked, exec'd, exited: the tables and the heap stay bounded."""
    state = base_state()
    state.apply(openat(APP, 3, "/etc/hosts"))

    def cycle(first: int, count: int) -> None:
        for tid in range(first, first + count):
            apply_all(state, *clone_pair(APP, APP, tid),
                      execve(tid, "/bin/true", ["a", "b"], ptid=APP),
                      openat(tid, 4, "/usr/lib/x.so"), procexit(tid))
        state.apply(ev("getpid", APP, APP))

    cycle(1000, 1000)  # warm-up: caches, interned strings
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cycle(3000, 10000)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert set(state.threads) == {1, 100, APP}
    assert set(state.groups) == {1, 100, APP}
    assert after - before < 64 * 1024, after - before


def test_ancestor_chain_of_exited_daemonisers_is_capped() -> None:
    state = base_state()
    parent = APP
    for tid in range(1000, 1400):  # each generation forks the next and exits
        apply_all(state, *clone_pair(parent, parent, tid), procexit(parent) if parent != APP else
                  ev("getpid", APP, APP))
        parent = tid
    state.apply(ev("getpid", parent, parent))
    depth = sum(1 for _ in state.ancestors(state.get_thread(parent)))
    assert depth <= 128
    assert len(state.threads) <= 4


def test_unknown_tid_and_odd_input_never_raise() -> None:
    state = base_state()
    odd = [
        ev("read", 999, 3, 999, fd="x", data=None),
        ev("openat", 998, 3, fd=3, dirfd="?", name=None, flags="z"),
        ev("connect", 997, 0, res=0, fd=3, tuple="garbage", addr=42),
        ev("clone", 996, 12345, flags="bad"),
        ev("execve", 995, 0, args=b"a\x00b\x00", env=None, cwd=None, exe=None),
        ev("procexit", 31337, None),
        ev("setuid", 999, 0, res=0, uid=-1),
        ev("dup2", 999, 1, res=1, oldfd=None, newfd=1),
    ]
    for evt in odd:
        state.apply(evt)
        assert evt.thread is not None
    assert state.get_thread(999) is not None
    assert state.get_thread(995).proc.args == ["a", "b"]
    assert state.get_thread(31337) is None


def test_snapshots_in_any_order_link_parents_and_share_threads() -> None:
    state = State()
    state.add_snapshot(ProcInfo(tid=301, pid=300, ptid=100, comm="worker"))
    state.add_snapshot(ProcInfo(tid=300, pid=300, ptid=100, comm="server", cwd="/srv/"))
    state.add_snapshot(ProcInfo(tid=100, pid=100, ptid=1, comm="bash"))
    state.add_snapshot(ProcInfo(tid=1, pid=1, ptid=0, comm="init"))
    main, worker = state.get_thread(300), state.get_thread(301)
    assert worker.proc is main.proc and worker.fds is main.fds
    assert main.proc.cwd == "/srv"
    assert [t.comm for t in state.ancestors(main)] == ["bash", "init"]
    assert [t.comm for t in state.ancestors(worker)] == ["bash", "init"]


def test_credentials_and_session() -> None:
    state = base_state()
    app = state.get_thread(APP)
    apply_all(state, ev("setresuid", APP, 0, res=0, ruid=-1, euid=1000, suid=-1))
    assert (app.uid, app.euid) == (0, 1000)
    apply_all(state, ev("setuid", APP, -1, res=-1, uid=0))  # EPERM: unchanged
    assert app.euid == 1000
    state2 = base_state()
    app2 = state2.get_thread(APP)
    apply_all(state2, ev("setgid", APP, 0, res=0, gid=50), ev("setuid", APP, 0, res=0, uid=33),
              ev("capset", APP, 0, res=0, cap_inheritable=0, cap_permitted=0, cap_effective=0),
              ev("setsid", APP, APP, res=APP), ev("setpgid", APP, 0, res=0, pid=0, pgid=0))
    assert (app2.uid, app2.euid, app2.gid, app2.egid) == (33, 33, 50, 50)
    assert app2.cap_effective == 0 and app2.sid == APP and app2.pgid == APP

"""procexit without PTRACE_EVENT_EXIT stops (spawn mode): from the wait status, in Falco's order.

Spawn mode asks for exit stops only from leaders of multi-threaded processes
(see TraceLoop.exit_stops_on_demand). These tests check that every thread still
gets exactly one procexit, at the right place in the event order, and that the
stops are really saved.
"""

from __future__ import annotations

import uuid

from pdigpy.events.procinfo import ProcInfo
from pdigpy.tracer.loop import copy_info


def test_single_threaded_children_take_no_exit_stop(run_traced, cbin):
    r = run_traced([cbin("forks"), "/bin/true"])
    assert r.rc == 0 and r.stdout == b"forks done\n"
    # the app's exec, then per child (fork, vfork, raw fork): clone event, first stop, exec
    assert r.stats["event_stops"] == 1 + 3 * 3
    exits = r.of_type("procexit")
    assert len(exits) == 4 and len({e["tid"] for e in exits}) == 4
    assert all(e["args"]["status"] == 0 for e in exits)


def test_leader_exiting_first_is_reported_when_it_exits(run_traced, cbin, tmp_path):
    path = tmp_path / f"late-{uuid.uuid4().hex}"
    path.write_text("x")
    r = run_traced([cbin("exit_order"), "leader-first", str(path)])
    assert r.rc == 0
    leader = [e for e in r.of_type("execve") if e["args"]["exe"].endswith("exit_order")][0]["pid"]
    exits = [e for e in r.of_type("procexit") if e["pid"] == leader]
    assert len(exits) == 3 and len({e["tid"] for e in exits}) == 3
    leader_exit = [e for e in exits if e["tid"] == leader][0]
    late = [e for e in r.of_type("openat") if e["args"].get("name") == str(path)]
    assert len(late) == 2 and {e["tid"] for e in late} == {e["tid"] for e in exits} - {leader}
    # the leader's procexit comes when it exits, before the threads' later opens
    # (waitpid alone would report it only after the last thread)
    assert all(leader_exit["num"] < e["num"] for e in late)
    # one exit stop: the leader's, taken because it created threads
    assert r.stats["event_stops"] == 1 + 2 * 2 + 1


def test_exec_from_a_thread_reports_the_killed_threads_before_the_execve(run_traced, cbin):
    r = run_traced([cbin("exit_order"), "exec-thread", "/bin/echo", "after-exec"])
    assert r.rc == 0 and r.stdout == b"after-exec\n"
    leader = [e for e in r.of_type("execve") if e["args"]["exe"].endswith("exit_order")][0]["pid"]
    threads = [e["res"] for e in r.of_type("clone3", "clone") if e["tid"] == leader and e["res"]]
    assert len(threads) == 3
    execve = [e for e in r.of_type("execve") if e["args"]["exe"] == "/bin/echo"]
    assert len(execve) == 1 and execve[0]["tid"] == leader
    exits = [e for e in r.of_type("procexit") if e["pid"] == leader]
    before = [e for e in exits if e["num"] < execve[0]["num"]]
    # the old leader and the two idle threads die at the exec, before the execve;
    # the exec'ing thread does not die (it takes the leader's tid)
    execer = threads[1]
    assert sorted(e["tid"] for e in before) == sorted([leader, threads[0], threads[2]])
    assert execer not in {e["tid"] for e in exits}
    # and nobody is reported twice; the new image exits once more, as the leader
    after = [e for e in exits if e["num"] > execve[0]["num"]]
    assert [e["tid"] for e in after] == [leader]


def test_copy_info_is_a_shallow_copy():
    a = ProcInfo(1, 2, 3, 4, 5, "comm", "exe", "/exe", ["a"], ["K=V"], "/cwd", 6, 7, 8, 9, 10, 11, 12, 13, 14,
                 15, 16, 17, 18, 19, ["cpu=/"], 20, 21, 22, True, False, True, False, 23)
    b = copy_info(a)
    assert b == a and b is not a and b.args is a.args and b.env is a.env and b.cgroups is a.cgroups
    b.tid = 99
    assert a.tid == 1

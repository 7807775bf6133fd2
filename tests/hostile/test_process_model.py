"""Process-model stress: every process and thread the workload made is in the capture, once, under its ids.

Each workload (progs/*.c) prints what it did; the test runs it under the CLI
with ``--events`` and compares per pid/tid: clone events (caller and child
side), execve, procexit (with the exit code) and the opens of a marker file.
"""

from __future__ import annotations

import platform
from collections import Counter

import pytest

from pdigpy.events import flags as F

CLONES = ("clone", "clone3", "fork", "vfork")


def _creations(run, parent: int | None = None) -> list:
    """Caller-side clone events (res = child tid), optionally of one caller process."""
    return [e for e in run.of_type(*CLONES) if e.res and e.res > 0 and (parent is None or e.pid == parent)]


def _child_sides(run) -> dict:
    out: dict[int, list] = {}
    for e in run.of_type(*CLONES):
        if e.res == 0:
            out.setdefault(e.tid, []).append(e)
    return out


def _exits(run) -> dict:
    out: dict[int, list] = {}
    for e in run.of_type("procexit"):
        out.setdefault(e.tid, []).append(e)
    return out


def _app_pid(run, exe_suffix: str) -> int:
    return [e for e in run.of_type("execve") if e.res == 0 and str(e.args.get("exe", "")).endswith(exe_suffix)][0].pid


@pytest.mark.slow
def test_fork_storm_of_1000_children(run_pdigpy, cprog, work):
    marker = work / "storm-marker"
    marker.write_text("x")
    r = run_pdigpy([cprog("forkstorm"), "1000", str(marker)])
    assert r.rc == 0, r.stderr
    assert r.lines("forks") == [["forks", "1000"]]
    reported = {int(w[1]): int(w[2]) for w in r.lines("child")}
    assert len(reported) == 1000
    parent = _app_pid(r, "forkstorm")
    created = _creations(r, parent)
    # exactly one caller-side event per child, all from the app, naming exactly the children
    assert sorted(e.res for e in created) == sorted(reported)
    assert all(e.tid == parent for e in created)
    sides = _child_sides(r)
    for child in reported:
        assert len(sides[child]) == 1
        cs = sides[child][0]
        assert cs.pid == child and cs.args["ptid"] == parent
        assert not cs.args["flags"] & F.CL_CLONE_THREAD
    opens = r.opens_of(marker)
    assert sorted(e.pid for e in opens) == sorted(reported)  # one open per child, under its own pid
    assert all(e.tid == e.pid and e.res >= 0 for e in opens)
    exits = _exits(r)
    for child, code in reported.items():
        assert len(exits[child]) == 1, child
        assert exits[child][0].args["status"] == code << 8  # the wait status the parent saw
    assert len(exits) == 1001  # the children and the app, nothing else
    assert r.stderr == ""


@pytest.mark.slow
def test_200_threads_alive_together_created_and_joined(run_pdigpy, cprog, work):
    marker = work / "threads-marker"
    marker.write_text("x")
    r = run_pdigpy([cprog("threads_barrier"), "200", str(marker)])
    assert r.rc == 0, r.stderr
    leader = int(r.lines("leader")[0][1])
    tids = [int(w[1]) for w in r.lines("thread")]
    assert len(set(tids)) == 200 and r.lines("threads") == [["threads", "200"]]
    created = _creations(r, leader)
    assert sorted(e.res for e in created) == sorted(tids)
    assert all(e.tid == leader for e in created)
    sides = _child_sides(r)
    for tid in tids:
        assert len(sides[tid]) == 1
        assert sides[tid][0].pid == leader  # a thread of the app, not a process
        assert sides[tid][0].args["flags"] & F.CL_CLONE_THREAD
    opens = r.opens_of(marker)
    assert Counter(e.tid for e in opens) == Counter(tids)
    assert all(e.pid == leader for e in opens)
    exits = _exits(r)
    assert all(len(exits[t]) == 1 and exits[t][0].pid == leader for t in tids)
    assert set(exits) == set(tids) | {leader}


def test_exec_from_a_non_leader_thread_while_other_threads_run(run_pdigpy, cprog, work, tmp_path):
    """Workers are busy opening a marker when another thread execs: all die, the exec is the leader's.

    tests/tracer covers an exec from a thread of an idle process; here the other
    threads are inside traced syscalls when the kernel kills them, and the new
    image is judged by a rule (proc.name, proc.pname must be the new image's
    and the real parent's).
    """
    marker = work / "busy-marker"
    marker.write_text("x")
    after = work / "after-exec"
    after.write_text("after\n")
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "- rule: after exec\n  desc: d\n  condition: evt.type in (open, openat) and fd.name = " + str(after) + "\n"
        "  output: 'AFTER name=%proc.name pname=%proc.pname pid=%proc.pid tid=%thread.tid'\n  priority: WARNING\n"
    )
    prog = cprog("exec_busy")
    r = run_pdigpy(["sh", "-c", f'"$@"; echo done', "sh", prog, "3", str(marker), "/bin/cat", str(after)], rules=rules)
    assert r.rc == 0, r.stderr
    assert r.stdout.endswith("after\ndone\n")
    leader = int(r.lines("leader")[0][1])
    execer = int(r.lines("execer")[0][1])
    workers = [int(w[1]) for w in r.lines("worker")]
    assert len(workers) == 3 and execer != leader
    execs = [e for e in r.of_type("execve") if e.res == 0 and e.args.get("exe") == "/bin/cat"]
    assert len(execs) == 1
    ex = execs[0]
    assert (ex.tid, ex.pid) == (leader, leader)  # the kernel gives the exec'ing thread the leader's tid
    opens = r.opens_of(marker)
    by_tid = Counter(e.tid for e in opens)
    assert set(by_tid) == set(workers) and all(n >= 20 for n in by_tid.values())
    assert all(e.pid == leader and e.num < ex.num for e in opens)
    exits = _exits(r)
    for w in workers:
        assert len(exits[w]) == 1 and exits[w][0].pid == leader
    # the exec'ing thread's old tid is gone without a trace after the exec
    assert not [e for e in r.events if e.tid == execer and e.num > ex.num]
    post = [e for e in r.opens_of(after)]
    assert len(post) == 1 and (post[0].tid, post[0].pid) == (leader, leader)
    alert = [ln for ln in r.stderr.splitlines() if "AFTER " in ln]
    assert len(alert) == 1
    assert f"name=cat pname=sh pid={leader} tid={leader}" in alert[0]


def test_leader_exits_while_its_threads_run(run_pdigpy, cprog, work, tmp_path):
    """pthread_exit in main: the leader is a zombie while 4 threads work; the last calls exit(7)."""
    marker = work / "zombie-marker"
    marker.write_text("x")
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "- rule: zombie leader open\n  desc: d\n  condition: evt.type in (open, openat) and fd.name = " + str(marker)
        + "\n  output: 'ZL name=%proc.name pid=%proc.pid tid=%thread.tid exe=%proc.exepath'\n  priority: WARNING\n"
    )
    prog = cprog("zombie_leader")
    r = run_pdigpy([prog, "4", "25", str(marker)], rules=rules, opts=["-o", "rule_matching=all"])
    assert r.rc == 7, r.stderr  # the exit code of the process, given by a non-leader thread
    leader = int(r.lines("leader")[0][1])
    tids = {int(w[1]) for w in r.lines("thread")}
    assert len(tids) == 4 and all(w[2] == "25" for w in r.lines("thread"))
    opens = r.opens_of(marker)
    assert Counter(e.tid for e in opens) == {t: 25 for t in tids}
    assert all(e.pid == leader for e in opens)
    exits = _exits(r)
    assert len(exits[leader]) == 1  # once, when it called pthread_exit
    first_open = min(e.num for e in opens)
    assert exits[leader][0].num < first_open  # the threads waited for the leader to be a zombie
    assert all(len(exits[t]) == 1 and exits[t][0].pid == leader for t in tids)
    # the threads' events are still attributed to the (zombie) process, with its name and exe
    zl = [ln for ln in r.stderr.splitlines() if " ZL " in ln]
    assert len(zl) == 100
    assert all(f"name=zombie_leader pid={leader} " in ln and f"exe={prog}" in ln for ln in zl)


def test_vfork_exec_chain(run_pdigpy, cprog, work):
    marker = work / "vchain-marker"
    marker.write_text("x")
    depth = 6
    r = run_pdigpy([cprog("vchain"), str(depth), str(marker)])
    assert r.rc == 0, r.stderr
    levels = {int(w[1]): (int(w[3]), int(w[5])) for w in r.lines("level")}
    assert sorted(levels) == list(range(depth + 1))
    vtype = "vfork" if platform.machine() == "x86_64" else "clone"
    for lvl in range(depth):
        pid, _ = levels[lvl + 1]
        child, child_ppid = levels[lvl]
        assert child_ppid == pid
        made = [e for e in _creations(r, pid)]
        assert [(e.type, e.res) for e in made] == [(vtype, child)]
        cs = _child_sides(r)[child]
        assert len(cs) == 1 and cs[0].pid == child and cs[0].args["ptid"] == pid
        assert cs[0].args["flags"] & F.CL_CLONE_VFORK
        ex = [e for e in r.of_type("execve") if e.res == 0 and e.pid == child]
        assert len(ex) == 1 and ex[0].args["ptid"] == pid and ex[0].args["args"] == [str(lvl), str(marker)]
    opens = r.opens_of(marker)
    assert [(e.pid, e.tid) for e in opens] == [(levels[0][0], levels[0][0])]
    exits = _exits(r)
    assert all(len(exits[pid]) == 1 and exits[pid][0].args["status"] == 0 for pid, _ in levels.values())


def test_a_child_that_outlives_its_parent(run_pdigpy, cprog, work):
    """The app exits 3 at once; its orphan is traced to the end, and pdigpy exits with the app's 3."""
    marker = work / "orphan-marker"
    marker.write_text("x")
    r = run_pdigpy([cprog("orphan"), str(marker)])
    assert r.rc == 3, r.stderr
    parent, child = int(r.lines("parent")[0][1]), int(r.lines("parent")[0][3])
    assert r.lines("orphan") == [["orphan", str(child), "reparented-from", str(parent)]]
    exits = _exits(r)
    assert exits[parent][0].args["status"] == 3 << 8
    opens = r.opens_of(marker)
    assert [(e.pid, e.tid) for e in opens] == [(child, child)]
    assert exits[parent][0].num < opens[0].num  # seen after its parent was gone
    assert len(exits[child]) == 1 and exits[child][0].args["status"] == 11 << 8
    assert exits[child][0].num == r.events[-1].num  # pdigpy waited for the orphan


def test_double_fork_daemon(run_pdigpy, cprog, work):
    marker = work / "daemon-marker"
    marker.write_text("x")
    r = run_pdigpy([cprog("daemonize"), str(marker)])
    assert r.rc == 0, r.stderr
    app = int(r.lines("app")[0][1])
    first, sid = int(r.lines("first")[0][1]), int(r.lines("first")[0][3])
    daemon = int(r.lines("daemon")[0][1])
    assert sid == first
    setsids = [e for e in r.of_type("setsid") if e.pid == first]
    assert len(setsids) == 1 and setsids[0].res == first
    assert [e.res for e in _creations(r, app)] == [first]
    assert [e.res for e in _creations(r, first)] == [daemon]
    cs = _child_sides(r)[daemon][0]
    assert cs.pid == daemon and cs.args["ptid"] == first
    opens = r.opens_of(marker)
    assert [(e.pid, e.tid) for e in opens] == [(daemon, daemon)]
    exits = _exits(r)
    assert opens[0].num > exits[first][0].num and opens[0].num > exits[app][0].num
    assert [len(exits[p]) for p in (app, first, daemon)] == [1, 1, 1]
    chdirs = [e for e in r.of_type("chdir") if e.pid == daemon]
    assert len(chdirs) == 1 and chdirs[0].res == 0


def test_comm_and_argv_rewritten_by_the_process(run_pdigpy, cprog, work, tmp_path):
    """prctl(PR_SET_NAME) and an argv overwrite do not disguise the process from rules.

    Decision (docs/security.md): pdigpy names a process by what it exec'd.
    proc.name/proc.cmdline are taken at exec (and copied to fork children);
    prctl is not traced, so a later rename is not seen -- the disguise the
    kernel shows in /proc does not reach the rules.
    """
    marker = work / "disguise-marker"
    marker.write_text("x")
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "- rule: disguise\n  desc: d\n  condition: evt.type in (open, openat) and fd.name = " + str(marker) + "\n"
        "  output: 'DISG name=%proc.name cmdline=%proc.cmdline exe=%proc.exepath pid=%proc.pid'\n  priority: WARNING\n"
    )
    prog = cprog("disguise")
    r = run_pdigpy([prog, str(marker), "kworker/0:pd"], rules=rules, opts=["-o", "rule_matching=all"])
    assert r.rc == 0, r.stderr
    assert r.lines("comm") == [["comm", "kworker/0:pd"]]  # the kernel's view changed
    assert r.lines("cmdline") == [["cmdline", "kworker/0:pd"]]
    pid, child = int(r.lines("pid")[0][1]), int(r.lines("pid")[0][3])
    got = [ln for ln in r.stderr.splitlines() if "DISG " in ln]
    assert len(got) == 2
    for ln, p in zip(got, (pid, child)):
        assert f"name=disguise cmdline=disguise {marker} kworker/0:pd exe={prog} pid={p}" in ln


def test_exec_from_a_thread_after_the_leader_became_a_zombie(run_pdigpy, cprog, work, tmp_path):
    """The leader has already reported its exit when its thread execs: the leader's tid comes back
    to life with the new image, which rules see with the right name and parent."""
    after = work / "after-zombie-exec"
    after.write_text("after\n")
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "- rule: after exec\n  desc: d\n  condition: evt.type in (open, openat) and fd.name = " + str(after) + "\n"
        "  output: 'ZEXEC name=%proc.name pname=%proc.pname pid=%proc.pid tid=%thread.tid'\n  priority: WARNING\n"
    )
    r = run_pdigpy(["sh", "-c", '"$@"; echo rc=$?', "sh", cprog("zombie_exec"), "/bin/cat", str(after)], rules=rules)
    assert r.rc == 0, r.stderr
    assert r.stdout.endswith("after\nrc=0\n")
    execer, leader = int(r.lines("execer")[0][1]), int(r.lines("execer")[0][3])
    exits = _exits(r)
    ex = [e for e in r.of_type("execve") if e.res == 0 and e.args.get("exe") == "/bin/cat"]
    assert len(ex) == 1 and (ex[0].tid, ex[0].pid) == (leader, leader)
    assert [e.num < ex[0].num for e in exits[leader]] == [True, False]  # zombie exit, then the real end
    assert execer not in exits and not [e for e in r.events if e.tid == execer and e.num > ex[0].num]
    got = [ln for ln in r.stderr.splitlines() if "ZEXEC " in ln]
    assert len(got) == 1 and f"name=cat pname=sh pid={leader} tid={leader}" in got[0]

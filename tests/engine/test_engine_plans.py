"""Evaluation plans (per-type specialisation, shared checks) give exactly the alerts of the plain conditions.

Differential test on the upstream rules (all enabled) and events of the real processes of this
machine, snapshotted from /proc into a real State (as bench/engine.py does).
"""

from __future__ import annotations

import os

import pytest

from pdigpy.engine.engine import RuleEngine
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.grammar import parse_condition
from pdigpy.engine.index import static_truth
from pdigpy.events.flags import O_CREAT, O_RDONLY, O_WRONLY
from pdigpy.events.model import Event, SockAddr, SockTuple
from pdigpy.state.tables import State
from pdigpy.tracer.lifecycle import execve_args
from pdigpy.tracer.procfs import read_procinfo
from test_loader_support import UPSTREAM


@pytest.fixture(scope="module")
def world():
    state = State()
    infos = [i for i in (read_procinfo(int(p)) for p in os.listdir("/proc") if p.isdigit()) if i is not None]
    by_pid = {i.pid: i for i in infos}
    seen: set[int] = set()

    def add(info):
        if info.pid in seen:
            return
        seen.add(info.pid)
        parent = by_pid.get(info.ptid)
        if parent is not None:
            add(parent)
        state.add_snapshot(info)

    for info in infos:
        add(info)
    engine = RuleEngine(FieldRegistry(state), rule_matching="all", append_output=[], cache=False)
    assert engine.load_files([str(p) for p in UPSTREAM]).ok
    engine.enable("*")
    events = []
    num = 0

    def emit(info, etype, res, args):
        nonlocal num
        num += 1
        evt = Event(num=num, ts=num, tid=info.tid, pid=info.pid, type=etype, res=res, args=args)
        state.apply(evt)
        events.append(evt)

    paths = ["/etc/shadow", "/etc/hosts", "/root/.bashrc", "/etc/x.conf", "/usr/bin/tool", "/dev/shm/x", "/proc/1/environ"]
    for k, info in enumerate(infos[:60]):
        for j, path in enumerate(paths):
            flags = O_WRONLY | O_CREAT if j % 2 else O_RDONLY
            emit(info, "openat", 9, {"fd": 9, "dirfd": -100, "name": path, "flags": flags, "mode": 0, "dev": 0, "ino": 0})
            emit(info, "close", 0, {"res": 0, "fd": 9})
        emit(info, "socket", 5, {"fd": 5, "domain": 2, "type": 1, "proto": 0})
        dst = ["127.0.0.1", "8.8.8.8", "10.1.2.3"][k % 3]
        emit(info, "connect", 0, {"res": 0, "tuple": SockTuple("ipv4", "tcp", "10.0.0.2", 40000, dst, 4444),
                                  "fd": 5, "addr": SockAddr("ipv4", dst, 4444)})
        if info.exepath:
            emit(info, "execve", 0, execve_args(info, 0, info.exepath))
    return engine, events


def plain(engine: RuleEngine, evt: Event) -> list[str]:
    names = []
    for r in engine.enabled_rules:
        if evt.type in r.event_types:
            try:
                if r.match(evt):
                    names.append(r.name)
            except Exception:
                pass
    return names


def test_plans_equal_plain_evaluation(world):
    engine, events = world
    fired = 0
    for evt in events:
        got = [a.rule for a in engine.evaluate(evt)]
        assert got == plain(engine, evt), (evt.type, evt.args.get("name"))
        fired += len(got)
    assert fired > 0  # the corpus does fire on these events (sensitive files, writes below /etc...)


def test_first_match_plans_equal_first_plain_match(world):
    engine, events = world
    first = RuleEngine(engine.registry, rule_matching="first", append_output=[], cache=False)
    assert first.load_files([str(p) for p in UPSTREAM]).ok
    first.enable("*")
    for evt in events:
        want = plain(engine, evt)[:1]
        assert [a.rule for a in first.evaluate(evt)] == want


@pytest.mark.parametrize(
    "cond,evtype,truth",
    [
        ("evt.type = open", "open", True),
        ("evt.type = open", "close", False),
        ("evt.type != open", "close", True),
        ("proc.name = x", "open", None),
        ("evt.type = open and proc.name = x", "close", False),
        ("evt.type = open and proc.name = x", "open", None),
        ("evt.type = open or proc.name = x", "open", True),
        ("evt.type = open or proc.name = x", "close", None),
        ("not evt.num = 0", "anything", True),
        ("evt.num = 0 or evt.type in (a, b)", "b", True),
        ("not (evt.type in (a, b) and evt.num > 0)", "a", False),
    ],
)
def test_static_truth(cond, evtype, truth):
    assert static_truth(parse_condition(cond), evtype) is truth


MERGES = [
    ("fd.name startswith /a or fd.name startswith /b", "fd.name startswith anyof (/a, /b)"),
    ("fd.name = /a or fd.name = /b or proc.name = x", "(fd.name in (/a, /b) or proc.name = x)"),
    ("fd.name = /a or proc.name = x or fd.name == /b", "(fd.name in (/a, /b) or proc.name = x)"),
    ("not (proc.cmdline contains a or proc.cmdline contains 'b c')", 'not proc.cmdline contains anyof (a, "b c")'),
    ("fd.name startswith /a or fd.name endswith .x", "(fd.name startswith /a or fd.name endswith .x)"),
    ("proc.aname = a or proc.aname = b", "(proc.aname = a or proc.aname = b)"),  # ancestors: left alone
    ("fd.ip = 1.2.3.4 or fd.ip = 5.6.7.8", "(fd.ip = 1.2.3.4 or fd.ip = 5.6.7.8)"),  # endpoints: left alone
    ("fd.num = 1 or fd.num = 2", "(fd.num = 1 or fd.num = 2)"),  # not a string
    ("fd.name = val(proc.name) or fd.name = x", "(fd.name = val(proc.name) or fd.name = x)"),
    ("evt.type = open and (fd.name glob '/a*' or fd.name glob '/b*')", "(evt.type = open and fd.name glob anyof (/a*, /b*))"),
]


@pytest.mark.parametrize("cond,merged", MERGES)
def test_or_chains_on_one_string_field_are_merged(cond, merged):
    from pdigpy.engine.astfmt import ast_to_str
    from pdigpy.engine.engine import _plain_string_test, merge_or_checks

    node = merge_or_checks(parse_condition(cond), _plain_string_test(FieldRegistry()))
    assert ast_to_str(node) == merged


# ---------------------------------------------------------------- random events

_PATHS = ["/etc/shadow", "/etc/passwd", "/etc/sudoers", "/etc/x.conf", "/etc/ld.so.preload", "/root/.ssh/id_rsa",
          "/home/u/.ssh/authorized_keys", "/root/.bashrc", "/home/u/.bash_history", "/dev/shm/x", "/dev/null",
          "/dev/mem", "/proc/1/environ", "/proc/self/mem", "/usr/bin/tool", "/bin/sh", "/var/log/syslog",
          "/var/lib/rpm/Packages", "/tmp/../etc/passwd", "../../etc/shadow", "x.txt", "/sys/fs/cgroup/x/release_agent",
          "/var/spool/cron/crontabs/root", "/etc/apt/sources.list", "/lib/x86_64-linux-gnu/liblzma.so.5", "/.hidden",
          "/tmp/.x", "/usr/lib/../bin/x", "relative/path", "", "/root/.aws/credentials", "/etc/pam.d/sshd",
          "/var/run/docker.sock", "/proc/sys/kernel/core_pattern", "/boot/vmlinuz", "/opt/app/.env"]
_COMMS = ["sh", "bash", "sshd", "python3", "nc", "sudo", "cron", "dpkg", "apt", "node", "java", "vi", "tar", "curl",
          "runc", "containerd", "mysqld", "docker", "systemd", "kubelet", "find", "gcc", "ncat", "socat", "su"]
_INTS = [0, 1, 2, 3, 0o100 | 1, 0o1000 | 2, 0o2000 | 1, 0x80000, 0o777, 4, 9, 100, -1, 0o4755]
_IPS = ["127.0.0.1", "8.8.8.8", "10.1.2.3", "169.254.169.254", "0.0.0.0", "192.168.1.5"]


def _random_events(state, infos, types, rng, n):
    import dataclasses

    from pdigpy.events.schema import EVENT_SCHEMA

    events = []
    for num in range(1, n + 1):
        info = rng.choice(infos)
        etype = rng.choice(types)
        res = rng.choice([0, 0, 3, 9, -2, -13])
        if etype in ("execve", "execveat"):
            comm = rng.choice(_COMMS)
            new = dataclasses.replace(info, comm=comm, exe=comm, exepath=rng.choice(["/usr/bin/", "/tmp/", "/dev/shm/"]) + comm,
                                      args=rng.sample(["-c", "id", "-e", "/bin/sh", "x", "--pw", "1234"], 2),
                                      uid=rng.choice([0, 1000]), tty=rng.choice([0, 34816]))
            args = execve_args(new, res, new.exepath, etype)
        else:
            args = {}
            for p in EVENT_SCHEMA.get(etype, ()):
                t = p.ptype
                if t in ("FSPATH", "FSRELPATH", "CHARBUF"):
                    v = rng.choice(_PATHS)
                elif t == "SOCKTUPLE":
                    v = SockTuple("ipv4", rng.choice(["tcp", "udp"]), rng.choice(_IPS), rng.choice([0, 4444, 53, 80]),
                                  rng.choice(_IPS), rng.choice([22, 53, 443, 4444, 6667]))
                elif t == "SOCKADDR":
                    v = SockAddr("ipv4", rng.choice(_IPS), rng.choice([22, 53, 443, 4444]))
                elif t == "BYTEBUF":
                    v = rng.choice([b"", b"GET / HTTP/1.1\r\n", b"\x7fELF"])
                elif t in ("PID",):
                    v = rng.choice(infos).pid
                elif t in ("UID", "GID"):
                    v = rng.choice([0, 1000, 65534])
                elif t == "FD":
                    v = rng.choice([-1, 3, 5, 9, 100, -100])
                elif t == "ERRNO":
                    v = res
                else:
                    v = rng.choice(_INTS)
                args[p.name] = v
        evt = Event(num=num, ts=num, tid=info.tid, pid=info.pid, type=etype, res=res, args=args)
        state.apply(evt)
        events.append(evt)
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_plans_equal_plain_on_random_events(world, seed):
    """compile_plan (fields read once, memoised guards, type checks folded) against each rule's own
    compiled condition, on random events of every type the rules name, in both matching modes."""
    import random

    engine, _events = world
    state = engine.registry.state
    infos = [t for t in state.threads.values() if t.proc is not None]
    from pdigpy.events.procinfo import ProcInfo

    snaps = []
    for t in infos[:40]:
        snaps.append(ProcInfo(tid=t.tid, pid=t.pid, ptid=t.ptid, comm=t.comm, exe=t.proc.exe, exepath=t.proc.exepath,
                              args=list(t.proc.args), cwd=getattr(t.proc, "cwd", "") or "/",
                              cgroups=list(t.proc.cgroups)))
    rng = random.Random(seed)
    types = sorted(engine.event_types())
    events = _random_events(state, snaps, types, rng, 1500)
    first = RuleEngine(engine.registry, rule_matching="first", append_output=[], cache=False)
    assert first.load_files([str(p) for p in UPSTREAM]).ok
    first.enable("*")
    fired = 0
    for evt in events:
        want = plain(engine, evt)
        assert [a.rule for a in engine.evaluate(evt)] == want, (evt.type, evt.args)
        assert [a.rule for a in first.evaluate(evt)] == want[:1], (evt.type, evt.args)
        fired += len(want)
    assert fired > 0


def test_generated_plan_reads_each_field_once():
    """The generated function of openat extracts a field through its getter at most once per event."""
    state = State()
    engine = RuleEngine(FieldRegistry(state), rule_matching="all", append_output=[], cache=False)
    assert engine.load_files([str(p) for p in UPSTREAM]).ok
    engine.enable("*")
    plan = engine._plan("openat")
    ns = plan.run.__globals__
    calls: dict[str, int] = {}
    for name in [k for k in ns if k.startswith("Gf")]:
        get = ns[name]

        def counting(evt, _get=get, _name=name):
            calls[_name] = calls.get(_name, 0) + 1
            return _get(evt)

        ns[name] = counting
    info = read_procinfo(os.getpid())
    state.add_snapshot(info)
    evt = Event(num=1, ts=1, tid=info.tid, pid=info.pid, type="openat", res=9,
                args={"fd": 9, "dirfd": -100, "name": "/etc/x.conf", "flags": O_WRONLY | O_CREAT, "mode": 0, "dev": 0,
                      "ino": 0})
    state.apply(evt)
    plan.run(evt)
    assert calls and max(calls.values()) == 1
    assert "evt.type" not in plan.run.source.split("def run")[1].split("\n    if")[0]  # decided at generation


def test_plan_falls_back_to_closures_when_generation_fails(world, monkeypatch):
    """A condition too large for one generated function (RecursionError/SyntaxError from Python's
    compiler) still evaluates, through one closure per shared check and rule."""
    import pdigpy.engine.compiler as compiler

    def too_big(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded during compilation")

    monkeypatch.setattr(compiler, "compile_plan", too_big)
    engine, events = world
    fallback = RuleEngine(engine.registry, rule_matching="all", append_output=[], cache=False)
    assert fallback.load_files([str(p) for p in UPSTREAM]).ok
    fallback.enable("*")
    fired = 0
    for evt in events:
        got = [a.rule for a in fallback.evaluate(evt)]
        assert got == plain(engine, evt)
        fired += len(got)
    assert fired > 0
    assert not hasattr(fallback._plans["openat"].run, "source")  # really the closure version

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

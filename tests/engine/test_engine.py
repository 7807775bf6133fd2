"""RuleEngine.evaluate on real events: the pytest process itself, snapshotted from /proc into a real State.

Events are shaped as the tracer emits them (exit events, Falco parameter names) and pass
through State.apply like in the product, so fields resolve from real thread and fd records.
"""

from __future__ import annotations

import os
import time

import pytest

from pdigpy.engine.engine import RuleEngine, matches_wildcard
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.priority import Priority
from pdigpy.events.flags import O_RDONLY
from pdigpy.events.model import Event
from pdigpy.state.tables import State
from pdigpy.tracer.procfs import read_procinfo

RULES = """
- macro: open_read
  condition: evt.type in (open, openat) and evt.is_open_read=true and fd.num >= 0
- rule: open_hosts
  desc: reading /etc/hosts
  condition: open_read and fd.name = /etc/hosts
  output: "hosts read (file=%fd.name proc=%proc.name)"
  priority: WARNING
  tags: [network, filesystem]
- rule: open_anything
  desc: any open
  condition: open_read
  output: "opened %fd.name"
  priority: INFO
  tags: [filesystem]
- rule: exec_anything
  desc: any exec
  condition: evt.type = execve and evt.res = SUCCESS
  output: "exec %proc.name"
  priority: NOTICE
  tags: [process]
  enabled: false
"""


@pytest.fixture(scope="module")
def state() -> State:
    st = State()
    chain = []
    pid = os.getpid()
    while pid > 0:
        info = read_procinfo(pid)
        if info is None:
            break
        chain.append(info)
        pid = info.ptid
    for info in reversed(chain):
        st.add_snapshot(info)
    return st


def open_event(state: State, path: str, fd: int = 7, num: int = 1, etype: str = "openat") -> Event:
    args = {"fd": fd, "dirfd": -100, "name": path, "flags": O_RDONLY, "mode": 0, "dev": 0, "ino": 0}
    if etype == "open":
        del args["dirfd"]
    evt = Event(num=num, ts=time.time_ns(), tid=os.getpid(), pid=os.getpid(), type=etype, res=fd, args=args)
    state.apply(evt)
    return evt


def engine_for(text: str = RULES, **kw) -> RuleEngine:
    kw.setdefault("append_output", [])
    engine = RuleEngine(FieldRegistry(), hostname="test-host", cache=False, **kw)
    res = engine.load_text(text, "engine_rules.yaml")
    assert res.ok, res.report_text()
    return engine


def test_first_match_wins_by_default(state):
    engine = engine_for()
    alerts = engine.evaluate(open_event(state, "/etc/hosts"))
    assert [a.rule for a in alerts] == ["open_hosts"]


def test_rule_matching_all_fires_every_rule_in_order(state):
    engine = engine_for(rule_matching="all")
    alerts = engine.evaluate(open_event(state, "/etc/hosts"))
    assert [a.rule for a in alerts] == ["open_hosts", "open_anything"]
    assert [a.rule for a in engine.evaluate(open_event(state, "/etc/passwd"))] == ["open_anything"]


def test_alert_carries_falco_fields(state):
    engine = engine_for()
    evt = open_event(state, "/etc/hosts", fd=9)
    (alert,) = engine.evaluate(evt)
    comm = state.get_thread(os.getpid()).comm
    assert alert.time_ns == evt.ts
    assert alert.priority is Priority.WARNING
    assert alert.output == f"hosts read (file=/etc/hosts proc={comm})"
    assert alert.output_fields["fd.name"] == "/etc/hosts"
    assert alert.output_fields["proc.name"] == comm
    assert alert.output_fields["evt.time"] == evt.ts
    assert alert.tags == ["filesystem", "network"]
    assert (alert.source, alert.hostname, alert.proc_name, alert.pid) == ("syscall", "test-host", comm, os.getpid())


def test_dispatch_only_evaluates_rules_of_the_event_type(state):
    engine = engine_for()
    assert engine.evaluate(open_event(state, "/etc/hosts", etype="open"))[0].rule == "open_hosts"
    close = Event(num=2, ts=1, tid=os.getpid(), pid=os.getpid(), type="close", res=0, args={"fd": 7})
    assert engine.evaluate(close) == []
    weird = Event(num=3, ts=1, tid=os.getpid(), pid=os.getpid(), type="no_such_event", res=0)
    assert engine.evaluate(weird) == []


def test_disabled_rule_does_not_fire_until_enabled(state):
    engine = engine_for()
    info = read_procinfo(os.getpid())
    execve = Event(num=4, ts=1, tid=os.getpid(), pid=os.getpid(), type="execve", res=0,
                   args={"exe": info.exe, "args": info.args, "tid": info.tid, "pid": info.pid, "ptid": info.ptid,
                         "cwd": info.cwd, "comm": info.comm, "env": [], "filename": info.exepath})
    state.apply(execve)
    assert engine.evaluate(execve) == []
    assert "execve" not in engine.event_types()
    assert engine.enable("exec_*") == 1
    assert [a.rule for a in engine.evaluate(execve)] == ["exec_anything"]
    assert "execve" in engine.event_types()


@pytest.mark.parametrize(
    "selection,enabled",
    [
        ([{"disable": {"rule": "*"}}], set()),
        ([{"disable": {"rule": "*"}}, {"enable": {"tag": "network"}}], {"open_hosts"}),
        ([{"disable": {"tag": "filesystem"}}], set()),
        ([{"enable": {"rule": "exec_anything"}}], {"open_hosts", "open_anything", "exec_anything"}),
        ([{"disable": {"rule": "open_*"}}, {"enable": {"rule": "open_anything"}}], {"open_anything"}),
        ([{"disable": {"rule": "open"}}], {"open_hosts", "open_anything"}),  # exact name, not a substring
        ([{"enable": {"tag": "process"}}, {"disable": {"rule": "*_hosts"}}], {"open_anything", "exec_anything"}),
    ],
)
def test_rules_selection_like_falco_yaml(selection, enabled):
    engine = engine_for()
    engine.apply_rules_selection(selection)
    assert {r.name for r in engine.enabled_rules} == enabled


@pytest.mark.parametrize(
    "bad",
    [{"enable": "x"}, [{"enable": {"rulez": "x"}}], [{"toggle": {"rule": "x"}}], [{"enable": {}}], ["x"]],
)
def test_bad_rules_selection_is_a_clear_error(bad):
    with pytest.raises(ValueError):
        engine_for().apply_rules_selection(bad)


def test_selection_survives_loading_another_file():
    engine = engine_for()
    engine.disable(tag="filesystem")
    assert engine.load_text("- list: x\n  items: []\n", "more.yaml").ok
    assert not engine.is_enabled("open_anything")


@pytest.mark.parametrize("threshold,rules", [
    (Priority.DEBUG, ["open_hosts", "open_anything"]),
    (Priority.NOTICE, ["open_hosts"]),
    (Priority.ERROR, []),
])
def test_priority_threshold(state, threshold, rules):
    engine = engine_for(min_priority=threshold, rule_matching="all")
    assert [a.rule for a in engine.evaluate(open_event(state, "/etc/hosts"))] == rules


def test_exception_in_rule_is_counted_and_reported_once(state, capsys):
    text = RULES.replace("condition: open_read and fd.name", "condition: evt.type = openat and proc.name != x and fd.name")
    text = text.replace("condition: open_read\n", "condition: evt.type = openat and user.name != x\n")
    engine = engine_for(text, rule_matching="all")
    broken = []
    for n in range(3):
        evt = Event(num=10 + n, ts=1, tid=1, pid=1, type="openat", res=3,
                    args={"fd": 3, "dirfd": -100, "name": "/x", "flags": O_RDONLY, "mode": 0, "dev": 0, "ino": 0})
        evt.thread = "not a thread record"  # field extraction raises on it
        broken.append(engine.evaluate(evt))
    assert broken == [[], [], []]
    assert engine.errors_by_rule == {"open_hosts": 3, "open_anything": 3}
    err = capsys.readouterr().err
    assert err.count("rule 'open_hosts' failed") == 1 and err.count("rule 'open_anything' failed") == 1
    # the engine still works for good events
    assert engine.evaluate(open_event(state, "/etc/hosts"))[0].rule == "open_hosts"


def test_append_output_default_is_falcos_suggested_fields(state):
    engine = RuleEngine(FieldRegistry(), hostname="h", cache=False)
    assert engine.load_text(RULES, "r.yaml").ok
    (alert,) = engine.evaluate(open_event(state, "/etc/hosts"))
    assert " container_id=" in alert.output and "k8s_ns_name=" in alert.output
    assert "container.id" in alert.output_fields


def test_extra_fields_land_in_output_fields(state):
    engine = engine_for(append_output=[{"extra_fields": ["proc.pid", {"who": "%proc.name"}]}])
    (alert,) = engine.evaluate(open_event(state, "/etc/hosts"))
    assert alert.output_fields["proc.pid"] == os.getpid()
    assert alert.output_fields["who"] == state.get_thread(os.getpid()).comm


def test_bad_engine_options_are_rejected():
    with pytest.raises(ValueError):
        RuleEngine(FieldRegistry(), rule_matching="some", cache=False)
    with pytest.raises(ValueError):
        RuleEngine(FieldRegistry(), append_output=[{"bogus": 1}], cache=False)


@pytest.mark.parametrize(
    "pattern,name,ok",
    [("*", "anything", True), ("hello*world", "hello new world", True), ("hello*world", "hello new world yes", False),
     ("a*", "abc", True), ("*c", "abc", True), ("a.c", "abc", False), ("abc", "abc", True), ("ab", "abc", False),
     ("*b*", "abc", True), ("a?c", "abc", False)],
)
def test_matches_wildcard(pattern, name, ok):
    assert matches_wildcard(pattern, name) is ok


def test_describe_lists_rules_macros_and_lists():
    engine = engine_for()
    doc = engine.describe()
    names = [r["info"]["name"] for r in doc["rules"]]
    assert names == ["open_hosts", "open_anything", "exec_anything"]
    hosts = doc["rules"][0]
    assert hosts["info"]["priority"] == "Warning" and hosts["info"]["enabled"] is True
    assert hosts["details"]["events"] == ["open", "openat"]
    assert hosts["details"]["macros"] == ["open_read"]
    assert hosts["details"]["condition_compiled"].startswith("((evt.type in (open, openat)")
    assert doc["macros"][0]["details"]["used"] is True


def test_broken_output_lets_the_next_matching_rule_fire(capsys):
    text = (
        "- rule: a\n  desc: d\n  condition: evt.type = openat\n  output: by %proc.name\n  priority: INFO\n"
        "- rule: b\n  desc: d\n  condition: evt.type = openat and evt.rawres = 3\n  output: plain text\n  priority: INFO\n"
    )
    engine = engine_for(text)
    evt = Event(num=1, ts=5, tid=1, pid=1, type="openat", res=3,
                args={"fd": 3, "dirfd": -100, "name": "/x", "flags": O_RDONLY, "mode": 0, "dev": 0, "ino": 0})
    evt.thread = "not a thread record"  # proc.name cannot be extracted for the output of rule a
    assert [(a.rule, a.output) for a in engine.evaluate(evt)] == [("b", "plain text")]
    assert engine.errors_by_rule == {"a": 1}
    assert "rule 'a' failed" in capsys.readouterr().err


def test_describe_details_like_falco():
    text = (
        "- list: base\n  items: [a, b]\n- list: more\n  items: [base, c]\n"
        "- macro: inner\n  condition: proc.name in (more)\n- macro: outer\n  condition: evt.type = open and inner\n"
        "- rule: r\n  desc: d\n  condition: outer and fd.name startswith /etc\n  output: f=%fd.name p=%proc.name\n"
        "  priority: INFO\n  exceptions:\n    - name: e\n      fields: [proc.pname]\n      values: [[x]]\n"
    )
    doc = engine_for(text).describe()
    (rule,) = doc["rules"]
    d = rule["details"]
    assert d["macros"] == ["outer"] and d["lists"] == []  # direct references, like the macros' own details
    assert d["condition_operators"] == ["=", "in", "startswith"]
    assert d["condition_fields"] == ["evt.type", "fd.name", "proc.name", "proc.pname"]
    assert d["output_fields"][:2] == ["fd.name", "proc.name"]
    assert d["exception_fields"] == ["proc.pname"] and d["exception_names"] == ["e"]
    assert d["events"] == ["open"]
    macros = {m["info"]["name"]: m["details"] for m in doc["macros"]}
    assert macros["outer"]["macros"] == ["inner"] and macros["inner"]["lists"] == ["more"]
    assert macros["outer"]["events"] == ["open"] and macros["inner"]["events"] == ["*"]
    lists = {x["info"]["name"]: x for x in doc["lists"]}
    assert lists["more"]["info"]["items"] == ["c"] and lists["more"]["details"]["lists"] == ["base"]
    assert lists["more"]["details"]["items_compiled"] == ["a", "b", "c"]
    assert lists["base"]["details"]["used"] is True

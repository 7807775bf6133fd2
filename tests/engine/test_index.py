"""Event-type index: which event types a condition can match (spec §3), and LOAD_NO_EVTTYPE."""

from __future__ import annotations

import pytest

from pdigpy.engine.grammar import parse_condition
from pdigpy.engine.index import ALL, NONE, EventTypes, rule_event_types
from test_loader_support import codes, load


def types(cond: str) -> list[str]:
    return rule_event_types(parse_condition(cond)).describe()


CASES = [
    ("evt.type = open", ["open"]),
    ("evt.type == open", ["open"]),
    ("syscall.type = open", ["open"]),
    ("evt.type in (open, openat)", ["open", "openat"]),
    ("evt.type in ()", []),
    ("evt.type in open", ["open"]),
    ("evt.type != open", ["*", "!open"]),
    ("not evt.type = open", ["*", "!open"]),
    ("not not evt.type = open", ["open"]),
    ("not evt.type != open", ["open"]),
    ("evt.type in (open,openat) and proc.name=cat", ["open", "openat"]),
    ("not (evt.type=open and proc.name=cat)", ["*"]),
    ("evt.type=open and evt.type=close", []),
    ("evt.type=open or evt.type=close", ["close", "open"]),
    ("evt.type in (open, close) and evt.type in (close, read)", ["close"]),
    ("evt.type in (open, close) and not evt.type = close", ["open"]),
    ("not (evt.type = open or evt.type = close)", ["*", "!close", "!open"]),
    ("not (evt.type != open and evt.type != close)", ["close", "open"]),
    ("proc.name = cat", ["*"]),
    ("not proc.name = cat", ["*"]),
    ("proc.name = cat or evt.type = open", ["*"]),
    ("proc.name = cat and (evt.type = open or evt.type = close)", ["close", "open"]),
    ("evt.type exists", ["*"]),
    ("not evt.type exists", []),
    ("evt.type startswith open", ["*"]),
    ("evt.type intersects (open)", ["*"]),
    ("tolower(evt.type) = open", ["*"]),
    ("evt.type = val(proc.name)", ["*"]),
    ("evt.type = anyof (open, close)", ["*"]),
    ("evt.num = 0", []),
    ("evt.num < 1", []),
    ("evt.num < 0", []),
    ("evt.num <= 0", []),
    ("evt.num in (0, 0)", []),
    ("evt.num in ()", []),
    ("evt.num != 0", ["*"]),
    ("evt.num > 0", ["*"]),
    ("evt.num >= 1", ["*"]),
    ("not evt.num = 0", ["*"]),
    ("not evt.num > 0", []),
    ("evt.num = 5", ["*"]),
    ("evt.type = execve and not evt.num = 0", ["execve"]),
    ("evt.type in (execve, execveat) and not (evt.num = 0)", ["execve", "execveat"]),
    ("(evt.type = open and proc.name = a) or (evt.type = close and proc.name = b)", ["close", "open"]),
]


@pytest.mark.parametrize("cond,expected", CASES)
def test_event_types(cond, expected):
    assert types(cond) == expected


def test_set_algebra():
    a, b = EventTypes(frozenset({"x", "y"})), EventTypes(frozenset({"y"}), True)
    assert (a & b).describe() == ["x"]
    assert (a | b).describe() == ["*"]
    assert (b | EventTypes(frozenset({"z"}))).describe() == ["*", "!y"]
    assert (ALL & NONE).is_empty and (ALL | NONE).is_all
    assert "x" in a and "y" not in b and "z" in b


MACROS = """
- macro: spawned_process
  condition: (evt.type in (execve, execveat))
- macro: never_true
  condition: (evt.num=0)
- macro: always_true
  condition: (evt.num>=0)
"""


@pytest.mark.parametrize(
    "cond,expected,warn",
    [
        ("spawned_process and not never_true", ["execve", "execveat"], False),
        ("spawned_process and never_true", [], False),
        ("spawned_process and not always_true", [], False),
        ("evt.type = close", ["close"], False),
        ("evt.type=open and evt.type=close", [], False),
        ("proc.name = cat", ["*"], True),
        ("not evt.type = close", ["*", "!close"], True),
        ("spawned_process or proc.name = cat", ["*"], True),
    ],
)
def test_rules_event_types_and_no_evttype_warning(cond, expected, warn):
    text = MACROS + f"- rule: r\n  desc: d\n  condition: {cond}\n  output: o\n  priority: INFO\n"
    engine, res = load(text)
    assert res.ok, res.report_text()
    rule = next(r for r in engine.rules if r.name == "r")
    assert rule.event_types.describe() == expected
    assert ("LOAD_NO_EVTTYPE" in codes(res)) is warn
    if warn:
        w = next(w for w in res.warnings if w.code == "LOAD_NO_EVTTYPE")
        assert w.message == "Rule matches too many evt.type values. This has a significant performance penalty."
        assert w.context.locations[-1].item_type == "rule"


def test_warn_evttypes_false_suppresses_warning():
    text = "- rule: r\n  desc: d\n  condition: proc.name = cat\n  output: o\n  priority: INFO\n  warn_evttypes: false\n"
    _, res = load(text)
    assert res.ok and codes(res) == []


def test_engine_event_types_is_the_union_of_enabled_rules():
    text = MACROS + (
        "- rule: a\n  desc: d\n  condition: spawned_process\n  output: o\n  priority: INFO\n"
        "- rule: b\n  desc: d\n  condition: evt.type in (open, openat)\n  output: o\n  priority: INFO\n"
        "- rule: c\n  desc: d\n  condition: evt.type = connect\n  output: o\n  priority: INFO\n  enabled: false\n"
    )
    engine, res = load(text)
    assert res.ok
    assert engine.event_types() == frozenset({"execve", "execveat", "open", "openat"})
    engine.enable("c")
    assert "connect" in engine.event_types()
    engine.disable("*")
    assert engine.event_types() == frozenset()


def test_unrestricted_rule_makes_every_event_type_traced():
    from pdigpy.events.schema import ALL_EVENT_TYPES

    text = "- rule: r\n  desc: d\n  condition: evt.type != close and proc.name = x\n  output: o\n  priority: INFO\n"
    engine, res = load(text)
    assert engine.matches_all_event_types()
    got = engine.event_types()
    assert "close" not in got and "open" in got and got == frozenset(ALL_EVENT_TYPES) - {"close"}

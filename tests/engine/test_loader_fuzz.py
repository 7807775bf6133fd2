"""Fuzzing the loader: random and mutated rules files always end in a LoadResult, never a traceback.

Mutations start from windows of the real upstream file (delete, duplicate, swap and truncate
lines, insert junk, re-indent); random documents are built from YAML-ish building blocks.
Each example is also evaluated once, so a half-loaded ruleset must still be usable.
"""

from __future__ import annotations

import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdigpy.engine.errors import ERROR_CODES, WARNING_CODES, LoadResult
from pdigpy.events.model import Event
from test_loader_support import UPSTREAM, make_engine

LINES = UPSTREAM[0].read_text().splitlines()
JUNK = ["- ", "  - ", ":", "  condition: (", "  output: %", "  priority: bogus", "- rule:", "- macro: m", "  items: [",
        "]", "{", "&a [*a]", "  exceptions:", "    - name: e", "      values: [[a, [b]]]", "  override:", "    x: y",
        "- list: l", "  items: [a, b]", "- required_engine_version: x", "\t", "\x00", "  append: true", "...", "---",
        "  condition: evt.type = open and not (", "  condition: m and n", "'", '"', "  enabled: maybe", "- [", "#"]

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check_loads(text: str) -> LoadResult:
    engine = make_engine()
    started = time.monotonic()
    res = engine.load_text(text, "fuzz.yaml")
    assert time.monotonic() - started < 20  # no hang
    assert isinstance(res, LoadResult)
    for m in res.errors:
        assert m.code in ERROR_CODES and m.message and m.line >= 0 and m.column >= 0
    for m in res.warnings:
        assert m.code in WARNING_CODES
    res.report_text(), res.report_json(), res.log_text()
    if res.errors:
        assert not res.ok
    evt = Event(num=1, ts=1, tid=os.getpid(), pid=os.getpid(), type="openat", res=3,
                args={"fd": 3, "dirfd": -100, "name": "/etc/shadow", "flags": 1, "mode": 0, "dev": 0, "ino": 0})
    engine.evaluate(evt)  # no state attached: rules may fail, the engine must not
    engine.event_types()
    return res


@st.composite
def mutated_upstream(draw) -> str:
    start = draw(st.integers(0, len(LINES) - 1))
    lines = LINES[start:start + draw(st.integers(5, 120))]
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "dup", "swap", "junk", "indent", "truncate", "cut"]))
        if op == "delete":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "junk":
            lines.insert(i, draw(st.sampled_from(JUNK)))
        elif op == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "    ", "\t"])) + lines[i].lstrip()
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, max(0, len(lines[i]))))]
        else:
            lines = lines[:i]
    return "\n".join(lines) + "\n"


@SETTINGS
@given(mutated_upstream())
def test_mutated_upstream_never_raises(text):
    check_loads(text)


scalar = st.one_of(st.text(max_size=12), st.sampled_from(["evt.type = open", "proc.name in (l)", "INFO", "true",
                                                          "append", "replace", "%proc.name", "l", "m", "r", ""]),
                   st.integers(-5, 100), st.booleans(), st.none())
value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.sampled_from(
                                                         ["name", "fields", "comps", "values", "items", "condition"]),
                                                         inner, max_size=4)), max_leaves=12)
KEYS = ["rule", "macro", "list", "items", "condition", "output", "desc", "priority", "enabled", "tags", "exceptions",
        "append", "override", "source", "required_engine_version", "required_plugin_versions", "warn_evttypes"]
item = st.dictionaries(st.sampled_from(KEYS), value, min_size=1, max_size=6)


@SETTINGS
@given(st.lists(st.one_of(item, scalar), max_size=8))
def test_random_documents_never_raise(items):
    import yaml

    check_loads(yaml.safe_dump(items, sort_keys=False))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_random_text_never_raises(text):
    check_loads(text)


def test_deeply_nested_yaml_is_an_error_not_a_crash():
    res = check_loads("- a\n- " + "[" * 100000)  # libyaml would overflow its C stack
    assert res.errors[0].code == "LOAD_ERR_YAML_PARSE"
    assert res.errors[0].message == "yaml: error at line 2, column 203: more than 200 nested flow collections ([ or {)"
    res = check_loads("- " + "[" * 150 + "]" * 150 + "\n")  # deep but allowed
    assert res.errors[0].code == "LOAD_ERR_YAML_VALIDATE"  # an item that is a list, not a mapping


def test_deeply_nested_condition_is_an_error_not_a_crash():
    cond = "(" * 3000 + "evt.type = open" + ")" * 3000
    res = check_loads(f"- macro: m\n  condition: {cond}\n")
    assert res.errors[0].code == "LOAD_ERR_COMPILE_CONDITION"


def test_recursive_yaml_alias_is_handled():
    res = check_loads("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n"
                      "  exceptions:\n    - name: e\n      fields: [proc.name]\n      values: &v [*v]\n")
    assert not res.ok


def test_exponential_macro_expansion_is_an_error_not_a_hang():
    text = "- macro: m0\n  condition: proc.name = x\n"
    for i in range(1, 40):
        text += f"- macro: m{i}\n  condition: m{i - 1} or m{i - 1}\n"
    text += "- rule: r\n  desc: d\n  condition: evt.type = open and m39\n  output: o\n  priority: INFO\n"
    res = check_loads(text)
    (err,) = res.errors
    assert err.code == "LOAD_ERR_VALIDATE" and "after macro expansion" in err.message


def test_long_macro_chain_is_an_error_or_loads():
    text = "- macro: m0\n  condition: proc.name = x\n"
    for i in range(1, 3000):
        text += f"- macro: m{i}\n  condition: not m{i - 1}\n"
    text += "- rule: r\n  desc: d\n  condition: evt.type = open and m2999\n  output: o\n  priority: INFO\n"
    check_loads(text)


def test_describe_survives_huge_unused_macros():
    text = "- macro: m0\n  condition: proc.name = x\n"
    for i in range(1, 40):
        text += f"- macro: m{i}\n  condition: m{i - 1} or m{i - 1}\n"
    engine = make_engine()
    assert engine.load_text(text).ok
    doc = engine.describe()
    assert doc["macros"][-1]["details"]["condition_compiled"] == ""


def test_deep_block_nesting_is_an_error_not_a_crash():
    res = check_loads("- a\n" + "- " * 100000 + "x\n")
    assert res.errors[0].code == "LOAD_ERR_YAML_PARSE"
    assert res.errors[0].message == "yaml: error at line 2, column 1: block nesting deeper than 10000 columns"
    res = check_loads("- " * 2000 + "x\n")  # deep but allowed: parsed, then refused as a non-mapping item
    assert res.errors[0].code == "LOAD_ERR_YAML_VALIDATE"

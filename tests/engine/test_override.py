"""``override: {key: append|replace}`` per key, and the deprecated ``append: true``, on rules."""

from __future__ import annotations

import pytest

from pdigpy.engine.priority import Priority
from test_loader_support import codes, compiled, load

BASE = (
    "- rule: r\n  desc: legit rule description\n  condition: evt.type = open\n  output: user=%user.name\n"
    "  priority: INFO\n  tags: [a]\n"
)


def override(body: str, ops: dict[str, str]) -> str:
    lines = "".join(f"    {k}: {v}\n" for k, v in ops.items())
    return BASE + "- rule: r\n" + body + "  override:\n" + lines


OVERRIDES = [
    # (id, item body, ops, attribute, expected)
    ("desc-append", "  desc: with append\n", {"desc": "append"}, "desc", "legit rule description with append"),
    ("desc-replace", "  desc: new\n", {"desc": "replace"}, "desc", "new"),
    ("output-append", "  output: cmd=%proc.cmdline\n", {"output": "append"}, "output", "user=%user.name cmd=%proc.cmdline"),
    ("output-replace", "  output: cmd=%proc.cmdline\n", {"output": "replace"}, "output", "cmd=%proc.cmdline"),
    ("tags-append", "  tags: [c, b, a]\n", {"tags": "append"}, "tags", ("a", "b", "c")),
    ("tags-replace", "  tags: [z]\n", {"tags": "replace"}, "tags", ("z",)),
    ("priority-replace", "  priority: CRITICAL\n", {"priority": "replace"}, "priority", Priority.CRITICAL),
    ("condition-append", "  condition: and proc.name = cat\n", {"condition": "append"}, "condition",
     "evt.type = open and proc.name = cat"),
    ("condition-replace", "  condition: evt.type = close\n", {"condition": "replace"}, "condition", "evt.type = close"),
    ("warn-evttypes-replace", "  warn_evttypes: false\n", {"warn_evttypes": "replace"}, "warn_evttypes", False),
    ("skip-replace", "  skip-if-unknown-filter: true\n", {"skip-if-unknown-filter": "replace"},
     "skip_if_unknown_filter", True),
    ("capture-replace", "  capture: true\n", {"capture": "replace"}, "capture", True),
    ("capture-duration-replace", "  capture_duration: 500\n", {"capture_duration": "replace"}, "capture_duration", 500),
    ("append-and-replace", "  condition: and proc.name = cat\n  priority: ERROR\n",
     {"condition": "append", "priority": "replace"}, "priority", Priority.ERROR),
    ("append-and-replace-condition", "  condition: and proc.name = cat\n  priority: ERROR\n",
     {"condition": "append", "priority": "replace"}, "condition", "evt.type = open and proc.name = cat"),
]


@pytest.mark.parametrize("body,ops,attr,expected", [c[1:] for c in OVERRIDES], ids=[c[0] for c in OVERRIDES])
def test_rule_override(body, ops, attr, expected):
    engine, res = load(override(body, ops))
    assert res.ok, res.report_text()
    assert getattr(engine.rules[0], attr) == expected
    assert "LOAD_DEPRECATED_ITEM" not in codes(res)


def test_override_keeps_position_and_gets_new_visibility():
    text = BASE + "- macro: m\n  condition: proc.name = cat\n" + override("  condition: and m\n", {"condition": "append"})
    text += "- rule: s\n  desc: d\n  condition: evt.type = close\n  output: o\n  priority: INFO\n"
    engine, res = load(text)
    assert res.ok
    assert [r.name for r in engine.rules] == ["r", "s"]
    assert compiled(engine, "r") == "(evt.type = open and proc.name = cat)"


def test_override_enabled_replace_is_the_supported_way_to_enable():
    text = BASE.replace("  tags: [a]\n", "  enabled: false\n") + "- rule: r\n  enabled: true\n  override:\n    enabled: replace\n"
    engine, res = load(text)
    assert res.ok and not res.warnings
    assert engine.is_enabled("r")


def test_deprecated_rule_append_only_appends_condition_and_exceptions():
    text = BASE + "- rule: r\n  condition: and proc.name = cat\n  desc: ignored\n  priority: ERROR\n  append: true\n"
    engine, res = load(text)
    assert res.ok
    r = engine.rules[0]
    assert (r.condition, r.desc, r.priority) == ("evt.type = open and proc.name = cat", "legit rule description", Priority.INFORMATIONAL)
    assert codes(res) == ["LOAD_DEPRECATED_ITEM"]


def test_condition_append_is_textual_not_parenthesised():
    text = BASE.replace("evt.type = open", "evt.type = open and proc.name = a") + "- rule: r\n  condition: or proc.name = b\n  append: true\n"
    engine, res = load(text)
    assert compiled(engine, "r") == "((evt.type = open and proc.name = a) or proc.name = b)"


def test_override_of_list_and_macro_in_later_file():
    from test_loader_support import make_engine

    engine = make_engine()
    base = "- list: l\n  items: [a]\n- macro: m\n  condition: proc.name in (l)\n" + BASE.replace("evt.type = open", "evt.type = open and m")
    assert engine.load_text(base, "base.yaml").ok
    local = "- list: l\n  items: [b]\n  override:\n    items: append\n- macro: m\n  condition: or proc.name = c\n  override:\n    condition: append\n"
    res = engine.load_text(local, "local.yaml")
    assert res.ok, res.report_text()
    assert compiled(engine, "r") == "(evt.type = open and (proc.name in (a, b) or proc.name = c))"


def test_replace_of_undefined_list_is_a_definition():
    engine, res = load("- list: l\n  items: [x]\n  override:\n    items: replace\n- rule: r\n  desc: d\n  condition: evt.type=open and proc.name in (l)\n  output: o\n  priority: INFO\n")
    assert res.ok
    assert compiled(engine, "r") == "(evt.type = open and proc.name in (x))"

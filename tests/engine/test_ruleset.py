"""Lists, macros, redefinition, enabled toggles and priorities: inline rules -> Falco's compiled condition.

The expected strings are Falco's canonical AST form (what ``-L`` shows as ``condition_compiled``);
several are taken from Falco's own engine tests.
"""

from __future__ import annotations

import pytest

from pdigpy.engine.priority import Priority
from pdigpy.engine.ruleset import substitute_list
from test_loader_support import codes, compiled, load


def rule(cond: str, name: str = "r", extra: str = "") -> str:
    return f"- rule: {name}\n  desc: d\n  condition: {cond}\n  output: o\n  priority: INFO\n{extra}"


def lst(name: str, items: str, extra: str = "") -> str:
    return f"- list: {name}\n  items: {items}\n{extra}"


def macro(name: str, cond: str, extra: str = "") -> str:
    return f"- macro: {name}\n  condition: {cond}\n{extra}"


COMPILED = [
    # (id, rules text, expected compiled condition of rule "r")
    ("plain", rule("evt.type = close"), "evt.type = close"),
    ("list-in", lst("l", "[a, b]") + rule("evt.type=open and proc.name in (l)"),
     "(evt.type = open and proc.name in (a, b))"),
    ("list-after-rule", rule("evt.type=open and proc.name in (l)") + lst("l", "[a, b]"),
     "(evt.type = open and proc.name in (a, b))"),
    ("list-front", lst("l", "[a, b]") + rule("evt.type=open and proc.name in (l, c)"),
     "(evt.type = open and proc.name in (a, b, c))"),
    ("list-mid", lst("l", "[a, b]") + rule("evt.type=open and proc.name in (x, l, c)"),
     "(evt.type = open and proc.name in (x, a, b, c))"),
    ("list-end", lst("l", "[a, b]") + rule("evt.type=open and proc.name in (x, l)"),
     "(evt.type = open and proc.name in (x, a, b))"),
    ("list-whitespace", lst("l", "[a, b]") + rule("evt.type=open and proc.name in (  l  )"),
     "(evt.type = open and proc.name in (a, b))"),
    ("list-after-equals", lst("l", "[cat]") + rule("evt.type=open and proc.name=l"),
     "(evt.type = open and proc.name = cat)"),
    ("list-quoted-items", lst("l", "['a b', c, '\"d e\"']") + rule("evt.type=open and proc.cmdline in (l)"),
     '(evt.type = open and proc.cmdline in ("a b", c, "d e"))'),
    ("list-numbers-as-strings", lst("ports", "[80, 443]") + rule("evt.type=connect and fd.sport in (ports)"),
     "(evt.type = connect and fd.sport in (80, 443))"),
    ("list-empty", lst("l", "[]") + rule("evt.type=open and proc.name in (l)"), "(evt.type = open and proc.name in ())"),
    ("list-empty-middle-comma", lst("l", "[]") + rule("evt.type=open and proc.name in (a, l)"),
     "(evt.type = open and proc.name in (a))"),
    ("list-empty-front-comma", lst("l", "[]") + rule("evt.type=open and proc.name in (l, a)"),
     "(evt.type = open and proc.name in (a))"),
    ("list-similar-name-untouched", lst("my_list", "[a]") + rule("evt.type=open and proc.name in (file_my_list, my_list)"),
     "(evt.type = open and proc.name in (file_my_list, a))"),
    ("list-substring-in-value-untouched", lst("bin", "[x]") + rule("evt.type=open and fd.name startswith /bin/"),
     "(evt.type = open and fd.name startswith /bin/)"),
    ("list-in-quotes-substituted", lst("l", "[q]") + rule("evt.type=open and proc.cmdline = \"a l b\""),
     '(evt.type = open and proc.cmdline = "a q b")'),
    ("list-next-to-quote-untouched", lst("l", "[q]") + rule("evt.type=open and proc.name = \"l\""),
     "(evt.type = open and proc.name = l)"),
    ("list-in-list", lst("a", "[x, y]") + lst("b", "[a, z]") + rule("evt.type=open and proc.name in (b)"),
     "(evt.type = open and proc.name in (x, y, z))"),
    ("list-in-list-later-not-expanded", lst("b", "[a, z]") + lst("a", "[x, y]") + rule("evt.type=open and proc.name in (b)"),
     "(evt.type = open and proc.name in (x, y, z))"),
    ("list-three-levels-one-deep", lst("a", "[x]") + lst("b", "[a, y]") + lst("c", "[b, z]")
     + rule("evt.type=open and proc.name in (c)"), "(evt.type = open and proc.name in (a, y, z))"),  # Falco: one level
    ("list-append-deprecated", lst("l", "[a]") + lst("l", "[b]", "  append: true\n") + rule("evt.type=open and proc.name in (l)"),
     "(evt.type = open and proc.name in (a, b))"),
    ("list-override-append", lst("shell_binaries", "[ash, bash, csh, ksh, sh, tcsh, zsh, dash]")
     + lst("shell_binaries", "[pwsh]", "  override:\n    items: append\n")
     + rule("evt.type=open and proc.name in (shell_binaries)"),
     "(evt.type = open and proc.name in (ash, bash, csh, ksh, sh, tcsh, zsh, dash, pwsh))"),
    ("list-override-replace", lst("l", "[a]") + lst("l", "[b]", "  override:\n    items: replace\n")
     + rule("evt.type=open and proc.name in (l)"), "(evt.type = open and proc.name in (b))"),
    ("list-redefined", lst("l", "[a]") + lst("l", "[b, c]") + rule("evt.type=open and proc.name in (l)"),
     "(evt.type = open and proc.name in (b, c))"),
    ("list-append-duplicates-kept", lst("l", "[a]") + lst("l", "[a]", "  append: true\n") + rule("evt.type=open and proc.name in (l)"),
     "(evt.type = open and proc.name in (a, a))"),
    ("macro", macro("m", "evt.type = open") + rule("m and proc.name = cat"), "(evt.type = open and proc.name = cat)"),
    ("macro-as-subtree", macro("m", "evt.type = open or evt.type = openat") + rule("m and proc.name = cat"),
     "((evt.type = open or evt.type = openat) and proc.name = cat)"),
    ("macro-defined-after-rule", rule("m and proc.name = cat") + macro("m", "evt.type = open"),
     "(evt.type = open and proc.name = cat)"),
    ("macro-uses-earlier-macro", macro("a", "evt.type = open") + macro("b", "a and fd.num >= 0") + rule("b"),
     "(evt.type = open and fd.num >= 0)"),
    ("macro-nested-three", macro("a", "evt.type = open") + macro("b", "a") + macro("c", "not b") + rule("c and proc.name=x"),
     "(not evt.type = open and proc.name = x)"),
    ("macro-with-list", lst("l", "[open, openat]") + macro("m", "evt.type in (l)") + rule("m"),
     "evt.type in (open, openat)"),
    ("macro-append", macro("m", "evt.type in (open, openat)") + macro("m", "or evt.type = openat2", "  append: true\n") + rule("m"),
     "(evt.type in (open, openat) or evt.type = openat2)"),
    ("macro-override-append", macro("m", "evt.type in (open, openat)")
     + macro("m", "or evt.type = openat2", "  override:\n    condition: append\n") + rule("m"),
     "(evt.type in (open, openat) or evt.type = openat2)"),
    ("macro-override-replace", macro("m", "evt.type = open") + macro("m", "evt.type = close", "  override:\n    condition: replace\n")
     + rule("m"), "evt.type = close"),
    ("macro-redefined", macro("m", "evt.type = open") + macro("m", "evt.type = close") + rule("m"), "evt.type = close"),
    ("macro-redefined-sees-later-macro", macro("a", "evt.type = open") + macro("b", "evt.type = close")
     + macro("a", "b or evt.type = read") + rule("a"), "(evt.type = close or evt.type = read)"),
    ("macro-inside-not-and-or", macro("m", "proc.name = a") + rule("evt.type=open and not (m or proc.name = b)"),
     "(evt.type = open and not (proc.name = a or proc.name = b))"),
    ("macro-not-in-transformer-arg", rule("evt.type=open and toupper(proc.name) = X"),
     "(evt.type = open and toupper(proc.name) = X)"),
    ("rule-append-condition-textual", rule("evt.type = open and proc.name = a")
     + "- rule: r\n  condition: or proc.name = b\n  append: true\n",
     "((evt.type = open and proc.name = a) or proc.name = b)"),
    ("rule-override-append-condition", rule("evt.type = open and proc.name = a")
     + "- rule: r\n  condition: and fd.num >= 0\n  override:\n    condition: append\n",
     "(evt.type = open and proc.name = a and fd.num >= 0)"),
    ("rule-override-replace-condition", rule("evt.type = open") + "- rule: r\n  condition: evt.type = close\n  override:\n    condition: replace\n",
     "evt.type = close"),
    ("rule-redefined", rule("evt.type = open") + rule("evt.type = close"), "evt.type = close"),
    ("rule-name-with-spaces", rule("evt.type = open", name="my rule") + rule("evt.type = close"), "evt.type = close"),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in COMPILED], ids=[c[0] for c in COMPILED])
def test_compiled_condition(text, expected):
    engine, res = load(text)
    assert res.ok, res.report_text()
    assert compiled(engine, "r") == expected


SUBSTITUTIONS = [
    # (condition, list items, expected text) -- Falco's textual substitution, blanks swallowed
    ("a in (l)", ["x", "y"], "a in ( x, y )"),
    ("a in (l, b)", [], "a in (   b)"),
    ("a in (b, l)", [], "a in (b  )"),
    ("a in (b,  l  )", ["x"], "a in (b, x )"),
    ("a in (l)", ["p q"], 'a in ( "p q" )'),
    ("a=l", ["x"], "a= x "),
    ("l", ["x"], "x "),
    ("a in (ll, l)", ["x"], "a in (ll, x )"),
    ("a in (l_x)", ["x"], None),
    ("a in (xl)", ["x"], None),
]


@pytest.mark.parametrize("cond,items,expected", SUBSTITUTIONS)
def test_textual_list_substitution(cond, items, expected):
    out, used = substitute_list(cond, "l", items)
    if expected is None:
        assert (out, used) == (cond, False)
    else:
        assert (out, used) == (expected, True)


def test_list_item_equal_to_its_own_name_does_not_loop():
    out, used = substitute_list("a in (bash, x)", "bash", ["bash", "sh"])
    assert used and out == "a in ( bash, sh , x)"


def test_redefined_rule_keeps_its_first_position():
    text = rule("evt.type = open", "first") + rule("evt.type = open", "second") + rule("evt.type = close", "first")
    engine, res = load(text)
    assert [r.name for r in engine.rules] == ["first", "second"]
    assert compiled(engine, "first") == "evt.type = close"


def test_rules_see_all_macros_but_macros_only_earlier_ones():
    ok = rule("late") + macro("late", "evt.type = open")
    assert load(ok)[1].ok
    bad = macro("early", "late") + macro("late", "evt.type = open") + rule("early")
    res = load(bad)[1]
    assert res.errors[0].message == "Undefined macro 'late' used in filter."


ENABLED = [
    # (id, text, enabled?)
    ("default", rule("evt.type = open"), True),
    ("disabled", rule("evt.type = open", extra="  enabled: false\n"), False),
    ("enable-only-form", rule("evt.type = open", extra="  enabled: false\n") + "- rule: r\n  enabled: true\n", True),
    ("disable-only-form", rule("evt.type = open") + "- rule: r\n  enabled: false\n", False),
    ("override-enabled", rule("evt.type = open", extra="  enabled: false\n")
     + "- rule: r\n  enabled: true\n  override:\n    enabled: replace\n", True),
    ("append-ignores-enabled", rule("evt.type = open", extra="  enabled: false\n")
     + "- rule: r\n  condition: or evt.type = close\n  enabled: true\n  append: true\n", False),
    ("redefinition-resets", rule("evt.type = open", extra="  enabled: false\n") + rule("evt.type = open"), True),
    ("yaml-no", rule("evt.type = open", extra="  enabled: no\n"), False),
]


@pytest.mark.parametrize("text,enabled", [c[1:] for c in ENABLED], ids=[c[0] for c in ENABLED])
def test_enabled_toggles(text, enabled):
    engine, res = load(text)
    assert res.ok, res.report_text()
    assert engine.is_enabled("r") is enabled
    assert bool(engine.event_types()) is enabled


def test_enable_only_form_warns_deprecated():
    _, res = load(rule("evt.type = open") + "- rule: r\n  enabled: false\n")
    assert "LOAD_DEPRECATED_ITEM" in codes(res)
    assert "standalone 'enabled' key usage is deprecated" in res.warnings[0].message


@pytest.mark.parametrize(
    "written,expected",
    [("EMERGENCY", Priority.EMERGENCY), ("alert", Priority.ALERT), ("Critical", Priority.CRITICAL),
     ("ERROR", Priority.ERROR), ("warning", Priority.WARNING), ("NOTICE", Priority.NOTICE),
     ("info", Priority.INFORMATIONAL), ("INFORMATIONAL", Priority.INFORMATIONAL), ("Debug", Priority.DEBUG)],
)
def test_priorities(written, expected):
    engine, res = load(rule("evt.type = open").replace("INFO", written))
    assert res.ok
    assert engine.rules[0].priority is expected


@pytest.mark.parametrize("threshold,enabled", [(Priority.DEBUG, True), (Priority.NOTICE, True), (Priority.WARNING, False)])
def test_priority_threshold_keeps_less_severe_rules_out(threshold, enabled):
    engine, res = load(rule("evt.type = open").replace("INFO", "NOTICE"), min_priority=threshold)
    assert res.ok
    assert engine.is_enabled("r") is enabled
    engine.enable("*")  # selection cannot bring in rules below the threshold
    assert engine.is_enabled("r") is enabled


def test_tags_are_a_sorted_set():
    engine, _ = load(rule("evt.type = open", extra="  tags: [z, a, m, a]\n"))
    assert engine.rules[0].tags == ("a", "m", "z")


def test_output_is_trimmed_and_desc_kept():
    engine, _ = load("- rule: r\n  desc: the description\n  condition: evt.type=open\n  output: '  x=%proc.name  '\n  priority: INFO\n")
    r = engine.rules[0]
    assert (r.output, r.desc) == ("x=%proc.name", "the description")


def test_unknown_source_rule_is_skipped():
    engine, res = load(rule("ka.verb = create", extra="  source: k8s_audit\n") + rule("evt.type = open", "s"))
    assert res.ok and [r.name for r in engine.rules] == ["s"]
    assert codes(res) == ["LOAD_UNKNOWN_SOURCE"]


def test_skip_if_unknown_filter_turns_error_into_warning():
    text = rule("evt.type = open and proc.nonexistent = x", extra="  skip-if-unknown-filter: true\n")
    engine, res = load(text)
    assert res.ok and engine.rules == []
    assert codes(res) == ["LOAD_UNKNOWN_FILTER"]
    assert "proc.nonexistent" in res.warnings[0].message
    engine, res = load(text.replace("  skip-if-unknown-filter: true\n", ""))
    assert [e.code for e in res.errors] == ["LOAD_ERR_COMPILE_CONDITION"]


def test_skip_if_unknown_filter_for_outputs():
    text = "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: x=%proc.bogus\n  priority: INFO\n"
    res = load(text)[1]
    assert res.errors[0].code == "LOAD_ERR_COMPILE_OUTPUT"
    assert res.errors[0].context.locations[-1].item_type == "rule output"
    res = load(text + "  skip-if-unknown-filter: true\n")[1]
    assert res.ok and codes(res) == ["LOAD_UNKNOWN_FILTER"]


def test_unknown_event_type_is_a_compile_error():
    res = load(rule("evt.type = nosuchsyscall"))[1]
    assert res.errors[0].code == "LOAD_ERR_COMPILE_CONDITION"
    assert res.errors[0].message == "unknown event type nosuchsyscall"


def test_unused_macro_in_earlier_file_reported_again_with_later_file():
    from test_loader_support import make_engine

    engine = make_engine()
    r1 = engine.load_text(macro("m", "evt.type = open"), "one.yaml")
    r2 = engine.load_text(rule("evt.type = close"), "two.yaml")
    assert codes(r1) == ["LOAD_UNUSED_MACRO"]
    assert codes(r2) == ["LOAD_UNUSED_MACRO"]
    assert r2.warnings[0].file == "one.yaml"  # the context points at the definition


def test_later_file_overrides_earlier_file():
    from test_loader_support import make_engine

    engine = make_engine()
    assert engine.load_text(lst("l", "[a]") + rule("evt.type=open and proc.name in (l)"), "base.yaml").ok
    assert engine.load_text(lst("l", "[b]", "  override:\n    items: append\n"), "local.yaml").ok
    assert compiled(engine, "r") == "(evt.type = open and proc.name in (a, b))"


def test_failed_file_keeps_previous_ruleset():
    from test_loader_support import make_engine

    engine = make_engine()
    assert engine.load_text(rule("evt.type = open"), "good.yaml").ok
    assert not engine.load_text(rule("evt.type = open and"), "bad.yaml").ok
    assert [r.name for r in engine.rules] == ["r"] and engine.event_types() == frozenset({"open"})


def test_container_info_in_output_is_deprecated_and_dropped():
    text = "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: x=%proc.name %container.info\n  priority: INFO\n"
    engine, res = load(text)
    assert res.ok and codes(res) == ["LOAD_DEPRECATED_ITEM"]
    assert "%container.info" not in engine.rules[0].output_format


def test_append_output_suggested_fields_and_extra_output():
    engine, res = load(rule("evt.type = open", extra="  tags: [t]\n"),
                       append_output=[{"suggested_output": True}, {"match": {"tags": ["t"]}, "extra_output": "tagged"},
                                      {"match": {"rule": "other"}, "extra_output": "never"}])
    assert res.ok
    out = engine.rules[0].output_format
    assert out.startswith("o container_id=%container.id container_name=%container.name")
    assert out.endswith(" tagged")

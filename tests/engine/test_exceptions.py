"""Rule exceptions -> ``(C) and not (...)``: Falco's text building, quoting, defaults and validation."""

from __future__ import annotations

import pytest

from test_loader_support import codes, compiled, load

BASE = "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n  exceptions:\n"


def ex(body: str) -> str:
    return BASE + "".join("    " + line + "\n" for line in body.strip("\n").split("\n"))


CASES = [
    # (id, exceptions block, expected full condition text, expected compiled form)
    ("single-field-default-in", "- name: e\n  fields: proc.name\n  values: [cat, dog]",
     "(evt.type=open) and not (proc.name in (cat, dog))",
     "(evt.type = open and not proc.name in (cat, dog))"),
    ("single-field-pmatch", "- name: e\n  fields: fd.name\n  comps: pmatch\n  values: [/tmp, /var/log]",
     "(evt.type=open) and not (fd.name pmatch (/tmp, /var/log))",
     "(evt.type = open and not fd.name pmatch (/tmp, /var/log))"),
    ("single-field-modifier", "- name: e\n  fields: fd.name\n  comps: startswith anyof\n  values: [/tmp, /var]",
     "(evt.type=open) and not (fd.name startswith anyof (/tmp, /var))",
     "(evt.type = open and not fd.name startswith anyof (/tmp, /var))"),
    ("single-field-quoted-space", "- name: e\n  fields: proc.cmdline\n  values: [a b, c]",
     '(evt.type=open) and not (proc.cmdline in ("a b", c))',
     '(evt.type = open and not proc.cmdline in ("a b", c))'),
    ("single-field-no-values", "- name: e\n  fields: proc.name",
     "(evt.type=open)", "evt.type = open"),
    ("list-fields-default-equals", "- name: e\n  fields: [proc.name, fd.directory]\n  values: [[cat, /usr/bin], [apk, /usr/lib/alpine]]",
     "(evt.type=open) and not ((proc.name = cat and fd.directory = /usr/bin) or (proc.name = apk and fd.directory = /usr/lib/alpine))",
     "(evt.type = open and not ((proc.name = cat and fd.directory = /usr/bin) or (proc.name = apk and fd.directory = /usr/lib/alpine)))"),
    ("list-fields-comps", "- name: e\n  fields: [proc.name, fd.name]\n  comps: [=, startswith]\n  values: [[cat, /tmp]]",
     "(evt.type=open) and not ((proc.name = cat and fd.name startswith /tmp))",
     "(evt.type = open and not (proc.name = cat and fd.name startswith /tmp))"),
    ("list-fields-quoted-value", "- name: e\n  fields: [proc.cmdline]\n  comps: [contains]\n  values: [[curl 127.0.0.1]]",
     '(evt.type=open) and not ((proc.cmdline contains "curl 127.0.0.1"))',
     '(evt.type = open and not proc.cmdline contains "curl 127.0.0.1")'),
    ("list-fields-already-quoted", "- name: e\n  fields: [proc.cmdline]\n  comps: [=]\n  values: [[\"'a b'\"]]",
     "(evt.type=open) and not ((proc.cmdline = 'a b'))",
     '(evt.type = open and not proc.cmdline = "a b")'),
    ("list-value-nested-list", "- name: e\n  fields: [proc.name, fd.name]\n  comps: [=, in]\n  values: [[cat, [/a, /b c]]]",
     '(evt.type=open) and not ((proc.name = cat and fd.name in (/a, "/b c")))',
     '(evt.type = open and not (proc.name = cat and fd.name in (/a, "/b c")))'),
    ("list-value-list-name-with-in", "- name: e\n  fields: [fd.name]\n  comps: [in]\n  values: [[paths]]",
     "(evt.type=open) and not ((fd.name in (paths)))",
     "(evt.type = open and not fd.name in (/etc, /tmp))"),
    ("list-value-list-name-in-parens", "- name: e\n  fields: [fd.name]\n  comps: [in]\n  values: [[(paths)]]",
     "(evt.type=open) and not ((fd.name in (paths)))",
     "(evt.type = open and not fd.name in (/etc, /tmp))"),
    ("list-value-list-name-nested", "- name: e\n  fields: [fd.name]\n  comps: [in]\n  values: [[[paths]]]",
     "(evt.type=open) and not ((fd.name in (paths)))",
     "(evt.type = open and not fd.name in (/etc, /tmp))"),
    ("list-value-list-name-pmatch", "- name: e\n  fields: [fd.name]\n  comps: [pmatch]\n  values: [[paths]]",
     "(evt.type=open) and not ((fd.name pmatch (paths)))",
     "(evt.type = open and not fd.name pmatch (/etc, /tmp))"),
    ("list-value-modifier-comp", "- name: e\n  fields: [fd.name]\n  comps: [endswith oneof]\n  values: [[[.log, .txt]]]",
     "(evt.type=open) and not ((fd.name endswith oneof (.log, .txt)))",
     "(evt.type = open and not fd.name endswith oneof (.log, .txt))"),
    ("transformer-field", "- name: e\n  fields: [toupper(proc.pname)]\n  values: [[BASH]]",
     "(evt.type=open) and not ((toupper(proc.pname) = BASH))",
     "(evt.type = open and not toupper(proc.pname) = BASH)"),
    ("transformer-value", "- name: e\n  fields: [proc.name]\n  values: [[val(proc.pname)]]",
     "(evt.type=open) and not ((proc.name = val(proc.pname)))",
     "(evt.type = open and not proc.name = val(proc.pname))"),
    ("two-exceptions", "- name: a\n  fields: proc.name\n  values: [cat]\n- name: b\n  fields: [fd.name]\n  values: [[/x]]",
     "(evt.type=open) and not (proc.name in (cat)) and not ((fd.name = /x))",
     "(evt.type = open and not proc.name in (cat) and not fd.name = /x)"),
    ("list-fields-no-values", "- name: e\n  fields: [proc.name]\n  values: []",
     "(evt.type=open)", "evt.type = open"),
    ("comps-trimmed", "- name: e\n  fields: [proc.name]\n  comps: [' = ']\n  values: [[cat]]",
     "(evt.type=open) and not ((proc.name = cat))",
     "(evt.type = open and not proc.name = cat)"),
    ("numeric-field", "- name: e\n  fields: [fd.sport]\n  comps: [in]\n  values: [[[80, 443]]]",
     "(evt.type=open) and not ((fd.sport in (80, 443)))",
     "(evt.type = open and not fd.sport in (80, 443))"),
]

PATHS_LIST = "- list: paths\n  items: [/etc, /tmp]\n"


@pytest.mark.parametrize("block,full,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_exception_condition(block, full, expected):
    engine, res = load(PATHS_LIST + ex(block))
    assert not res.errors, res.report_text()
    rule = engine.rules[0]
    assert rule.full_condition == full
    assert compiled(engine, "r") == expected
    assert rule.condition == "evt.type=open"  # the written condition is kept apart


ERRORS = [
    ("values-length", "- name: e\n  fields: [proc.name, fd.name]\n  values: [[cat]]", "LOAD_ERR_VALIDATE",
     "Fields and values lists must have equal length"),
    ("values-not-list-for-list-fields", "- name: e\n  fields: [proc.name]\n  values: [cat]", "LOAD_ERR_VALIDATE",
     "Fields and values lists must have equal length"),
    ("single-field-nested-values", "- name: e\n  fields: proc.name\n  values: [[cat]]", "LOAD_ERR_VALIDATE",
     "Expected values array to contain a list of strings"),
    ("bad-operator-in-modifier", "- name: e\n  fields: [proc.name]\n  comps: [exists oneof]\n  values: [[a]]",
     "LOAD_ERR_VALIDATE", "'exists oneof' is not a supported comparison operator"),
    ("transformer-unknown-field", "- name: e\n  fields: [toupper(proc.nope)]\n  values: [[a]]", "LOAD_ERR_VALIDATE",
     "'toupper(proc.nope)' is not a supported filter field"),
    ("value-bad-for-type", "- name: e\n  fields: [fd.sport]\n  values: [[http_is_not_a_port_name_x]]",
     "LOAD_ERR_COMPILE_CONDITION", ""),
    ("values-mapping", "- name: e\n  fields: [proc.name]\n  values: [{a: b}]", "LOAD_ERR_YAML_VALIDATE", ""),
]


@pytest.mark.parametrize("block,code,fragment", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_exception_errors(block, code, fragment):
    _, res = load(ex(block))
    assert not res.ok
    assert res.errors[0].code == code, res.report_text()
    assert fragment in res.errors[0].message


def test_duplicate_exception_name_warns():
    _, res = load(ex("- name: e\n  fields: proc.name\n  values: [a]\n- name: e\n  fields: proc.name\n  values: [b]"))
    assert res.ok
    assert codes(res) == ["LOAD_EXCEPTION_NAME_NOT_UNIQUE"]
    assert res.warnings[0].message == "Multiple definitions of exception 'e' in the same rule"


APPENDS = [
    # (id, appended item, expected full condition)
    ("append-values-same-name", "- rule: r\n  exceptions:\n    - name: e\n      values: [[dog]]\n  append: true\n",
     "(evt.type=open) and not ((proc.name = cat) or (proc.name = dog))"),
    ("override-append-values", "- rule: r\n  exceptions:\n    - name: e\n      values: [[dog]]\n  override:\n    exceptions: append\n",
     "(evt.type=open) and not ((proc.name = cat) or (proc.name = dog))"),
    ("append-new-exception", "- rule: r\n  exceptions:\n    - name: n\n      fields: fd.name\n      values: [/x]\n  append: true\n",
     "(evt.type=open) and not ((proc.name = cat)) and not (fd.name in (/x))"),
    ("override-replace-exceptions", "- rule: r\n  exceptions:\n    - name: n\n      fields: fd.name\n      values: [/x]\n"
     "  override:\n    exceptions: replace\n", "(evt.type=open) and not (fd.name in (/x))"),
    ("append-condition-and-exception", "- rule: r\n  condition: and proc.name != x\n  exceptions:\n    - name: e\n"
     "      values: [[dog]]\n  append: true\n",
     "(evt.type=open and proc.name != x) and not ((proc.name = cat) or (proc.name = dog))"),
]


@pytest.mark.parametrize("item,full", [c[1:] for c in APPENDS], ids=[c[0] for c in APPENDS])
def test_exception_appends(item, full):
    text = ex("- name: e\n  fields: [proc.name]\n  values: [[cat]]") + item
    engine, res = load(text)
    assert res.ok, res.report_text()
    assert engine.rules[0].full_condition == full


APPEND_ERRORS = [
    ("append-fields-to-existing", "- rule: r\n  exceptions:\n    - name: e\n      fields: [fd.name]\n      values: [[x]]\n  append: true\n",
     "Can not append exception fields to existing exception, only values"),
    ("append-comps-to-existing", "- rule: r\n  exceptions:\n    - name: e\n      comps: [=]\n      values: [[x]]\n  append: true\n",
     "Can not append exception comps to existing exception, only values"),
    ("replace-without-fields", "- rule: r\n  exceptions:\n    - name: n\n      values: [[x]]\n  override:\n    exceptions: replace\n",
     "Rule exception must have fields property with a list of fields"),
]


@pytest.mark.parametrize("item,message", [c[1:] for c in APPEND_ERRORS], ids=[c[0] for c in APPEND_ERRORS])
def test_exception_append_errors(item, message):
    _, res = load(ex("- name: e\n  fields: [proc.name]\n  values: [[cat]]") + item)
    assert res.errors[0].code == "LOAD_ERR_VALIDATE"
    assert res.errors[0].message == message


def test_append_without_values_warns():
    text = ex("- name: e\n  fields: [proc.name]\n  values: [[cat]]") + "- rule: r\n  exceptions:\n    - name: e\n  append: true\n"
    _, res = load(text)
    assert res.ok
    assert "LOAD_APPEND_NO_VALUES" in codes(res)

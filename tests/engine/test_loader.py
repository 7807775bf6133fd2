"""Reading rules files: structure, key decoding, Falco's error/warning codes with line and column.

Each row is inline YAML -> (code, message fragment, 1-based line, 1-based column) of the first
error (or, for warning rows, of the named warning). No row needs a condition to be compiled,
so these exercise the reader and the collector alone.
"""

from __future__ import annotations

import json

import pytest

from test_loader_support import codes, load, make_engine

R = "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n"

ERRORS = [
    # (id, yaml, code, message fragment, line, column)
    ("yaml-syntax", "- rule: r\n  desc: [a\n", "LOAD_ERR_YAML_PARSE", "error at line", 3, 1),
    ("yaml-bad-indent", "- list: a\n items: [x]\n", "LOAD_ERR_YAML_PARSE", "error at line 2", 2, 2),
    ("top-mapping", "a: b\n", "LOAD_ERR_YAML_VALIDATE", "Rules content is not yaml array of objects", 0, 0),
    ("top-scalar", "just text\n", "LOAD_ERR_YAML_VALIDATE", "Rules content is not yaml", 0, 0),
    ("item-scalar", "- 1\n", "LOAD_ERR_YAML_VALIDATE", "Each element should be a yaml associative array.", 1, 3),
    ("item-seq", "- [a, b]\n", "LOAD_ERR_YAML_VALIDATE", "Unexpected element type", 1, 3),
    ("list-no-items", "- list: l\n", "LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'items'", 1, 3),
    ("list-items-scalar", "- list: l\n  items: a\n", "LOAD_ERR_YAML_VALIDATE", "Value is not a sequence", 2, 10),
    ("list-items-nested", "- list: l\n  items: [[a]]\n", "LOAD_ERR_YAML_VALIDATE", "sequence value is not scalar", 2, 11),
    ("list-name-empty", "- list: ''\n  items: []\n", "LOAD_ERR_YAML_VALIDATE", "Value must be non-empty", 1, 9),
    ("list-name-null", "- list:\n  items: []\n", "LOAD_ERR_YAML_VALIDATE", "Mapping for key 'list' is empty", 1, 3),
    ("macro-no-cond", "- macro: m\n", "LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'condition'", 1, 3),
    ("macro-cond-null", "- macro: m\n  condition:\n", "LOAD_ERR_YAML_VALIDATE", "Mapping for key 'condition' is empty", 1, 3),
    ("macro-cond-seq", "- macro: m\n  condition: [a]\n", "LOAD_ERR_YAML_VALIDATE", "Value is not a scalar value", 2, 14),
    ("macro-cond-empty", "- macro: m\n  condition: ''\n", "LOAD_ERR_YAML_VALIDATE", "Value must be non-empty", 2, 14),
    ("rule-no-output", "- rule: r\n  desc: d\n  condition: evt.type=open\n  priority: INFO\n",
     "LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'output'", 1, 3),
    ("rule-no-desc", "- rule: r\n  output: o\n  condition: evt.type=open\n  priority: INFO\n",
     "LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'desc'", 1, 3),
    ("rule-no-priority", "- rule: r\n  output: o\n  condition: evt.type=open\n  desc: d\n",
     "LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'priority'", 1, 3),
    ("rule-bad-priority", R.replace("INFO", "bogus"), "LOAD_ERR_YAML_VALIDATE", "Invalid priority", 5, 13),
    ("rule-warn-is-not-a-priority", R.replace("INFO", "warn"), "LOAD_ERR_YAML_VALIDATE", "Invalid priority", 5, 13),
    ("rule-bad-enabled", R + "  enabled: maybe\n", "LOAD_ERR_YAML_VALIDATE", "Can't decode YAML scalar value", 6, 12),
    ("rule-bad-warn-evttypes", R + "  warn_evttypes: 2\n", "LOAD_ERR_YAML_VALIDATE", "Can't decode YAML scalar value", 6, 18),
    ("rule-tags-scalar", R + "  tags: a\n", "LOAD_ERR_YAML_VALIDATE", "Value is not a sequence", 6, 9),
    ("rule-bad-capture-duration", R + "  capture_duration: soon\n", "LOAD_ERR_YAML_VALIDATE", "Can't decode YAML scalar value", 6, 21),
    ("enable-only-missing", "- rule: r\n  enabled: false\n", "LOAD_ERR_VALIDATE",
     "Rule has 'enabled' key but no rule by that name already exists", 1, 3),
    ("enable-only-no-enabled", "- rule: r\n  tags: [a]\n", "LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'enabled'", 1, 3),
    ("engine-version-word", "- required_engine_version: seven\n", "LOAD_ERR_YAML_VALIDATE",
     "Unable to parse engine version 'seven' as a semver string. Expected \"x.y.z\" semver format.", 1, 3),
    ("engine-version-too-new", "- required_engine_version: 0.99.0\n", "LOAD_ERR_VALIDATE",
     "Rules require engine version 0.99.0, but engine version is 0.62.0", 1, 3),
    ("engine-version-major", "- required_engine_version: 1.0.0\n", "LOAD_ERR_VALIDATE",
     "Rules require engine version 1.0.0", 1, 3),
    ("engine-version-int-too-new", "- required_engine_version: 99\n", "LOAD_ERR_VALIDATE",
     "Rules require engine version 0.99.0", 1, 3),
    ("plugins-not-seq", "- required_plugin_versions: foo\n", "LOAD_ERR_YAML_VALIDATE",
     "Value of required_plugin_versions must be a sequence", 1, 29),
    ("plugins-entry-scalar", "- required_plugin_versions: [foo]\n", "LOAD_ERR_YAML_VALIDATE",
     "Plugin version must be a mapping", 1, 30),
    ("plugins-no-version", "- required_plugin_versions:\n    - name: x\n", "LOAD_ERR_YAML_VALIDATE",
     "Item has no mapping for key 'version'", 2, 7),
    ("plugins-bad-semver", "- required_plugin_versions:\n    - name: x\n      version: abc\n", "LOAD_ERR_VALIDATE",
     "Invalid required version 'abc' for plugin 'x'", 2, 7),
    ("plugins-alternatives-scalar", "- required_plugin_versions:\n    - name: x\n      version: 1.0.0\n      alternatives: y\n",
     "LOAD_ERR_YAML_VALIDATE", "Value of plugin version alternatives must be a sequence", 2, 7),
    ("plugin-not-provided", "- required_plugin_versions:\n    - name: k8saudit\n      version: 0.1.0\n",
     "LOAD_ERR_VALIDATE", "Plugin 'k8saudit' (version 0.1.0) is required but not loaded", 2, 7),
    ("list-append-nothing", "- list: l\n  items: [a]\n  append: true\n", "LOAD_ERR_VALIDATE",
     "List uses 'append' or 'override.items: append' but no list by that name already exists", 1, 3),
    ("list-override-nothing", "- list: l\n  items: [a]\n  override:\n    items: append\n", "LOAD_ERR_VALIDATE",
     "no list by that name already exists", 1, 3),
    ("macro-append-nothing", "- macro: m\n  condition: a\n  append: true\n", "LOAD_ERR_VALIDATE",
     "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists", 1, 3),
    ("rule-append-nothing", "- rule: r\n  condition: and proc.name=x\n  append: true\n", "LOAD_ERR_VALIDATE",
     "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists", 1, 3),
    ("rule-replace-nothing", "- rule: r\n  priority: INFO\n  override:\n    priority: replace\n", "LOAD_ERR_VALIDATE",
     "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists", 1, 3),
    ("override-with-append", "- macro: m\n  condition: a\n  append: true\n  override:\n    condition: append\n",
     "LOAD_ERR_YAML_VALIDATE", "Keys 'override' and 'append: true' cannot be used together", 1, 3),
    ("override-bad-op", R + "- rule: r\n  condition: x\n  override:\n    condition: merge\n", "LOAD_ERR_YAML_VALIDATE",
     "Invalid override operation for key 'condition': 'merge'. Allowed values are: append replace ", 9, 16),
    ("override-priority-append", R + "- rule: r\n  priority: INFO\n  override:\n    priority: append\n",
     "LOAD_ERR_YAML_VALIDATE", "Key 'priority' cannot be appended to, use 'replace' instead", 9, 5),
    ("override-source-replace", R + "- rule: r\n  source: x\n  override:\n    source: replace\n",
     "LOAD_ERR_YAML_VALIDATE", "Key 'source' cannot be replaced", 9, 5),
    ("override-list-condition", "- list: l\n  items: []\n- list: l\n  items: [a]\n  override:\n    condition: append\n",
     "LOAD_ERR_YAML_VALIDATE", "Key 'condition' cannot be appended to, use 'replace' instead", 6, 5),
    ("override-key-missing", R + "- rule: r\n  desc: more\n  override:\n    condition: append\n", "LOAD_ERR_YAML_VALIDATE",
     "An append override for 'condition' was specified but 'condition' is not defined", 6, 3),
    ("override-unexpected-key", R + "- rule: r\n  desc: more\n  output: x\n  override:\n    desc: append\n",
     "LOAD_ERR_YAML_VALIDATE", "Unexpected key 'output': no corresponding entry under 'override' is defined.", 8, 11),
    ("exceptions-scalar", R + "  exceptions: x\n", "LOAD_ERR_YAML_VALIDATE", "Rule exceptions must be a sequence", 6, 15),
    ("exception-scalar", R + "  exceptions: [x]\n", "LOAD_ERR_YAML_VALIDATE", "Rule exception must be a mapping", 6, 16),
    ("exception-no-name", R + "  exceptions:\n    - fields: proc.name\n", "LOAD_ERR_YAML_VALIDATE",
     "Item has no mapping for key 'name'", 7, 7),
    ("exception-no-fields", R + "  exceptions:\n    - name: e\n      values: []\n", "LOAD_ERR_YAML_VALIDATE",
     "Item has no mapping for key 'fields'", 7, 7),
    ("exception-values-scalar", R + "  exceptions:\n    - name: e\n      fields: proc.name\n      values: x\n",
     "LOAD_ERR_YAML_VALIDATE", "Rule exception values must be a sequence", 9, 15),
    ("exception-comps-length", R + "  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=]\n",
     "LOAD_ERR_VALIDATE", "Fields and comps lists must have equal length", 7, 7),
    ("exception-bad-comp", R + "  exceptions:\n    - name: e\n      fields: [proc.name]\n      comps: [likes]\n",
     "LOAD_ERR_VALIDATE", "'likes' is not a supported comparison operator", 7, 7),
    ("exception-single-bad-comp", R + "  exceptions:\n    - name: e\n      fields: proc.name\n      comps: =\n",
     "LOAD_ERR_VALIDATE", "When fields is a single value, comps must be one of (in, pmatch, intersects)", 7, 7),
    ("exception-mixed-shapes", R + "  exceptions:\n    - name: e\n      fields: proc.name\n      comps: [in]\n",
     "LOAD_ERR_VALIDATE", "Fields and comps must both be strings", 7, 7),
    ("exception-unknown-field", R + "  exceptions:\n    - name: e\n      fields: [proc.nme]\n",
     "LOAD_ERR_VALIDATE", "'proc.nme' is not a supported filter field", 7, 7),
    ("exception-unknown-single-field", R + "  exceptions:\n    - name: e\n      fields: fd.nam\n",
     "LOAD_ERR_VALIDATE", "'fd.nam' is not a supported filter field", 7, 7),
    ("exception-append-new-no-fields", R + "- rule: r\n  exceptions:\n    - name: new\n      values: [[a]]\n  append: true\n",
     "LOAD_ERR_VALIDATE", "Rule exception must have fields property with a list of fields", 8, 7),
    ("exception-append-new-no-values", R + "- rule: r\n  exceptions:\n    - name: new\n      fields: [proc.name]\n  append: true\n",
     "LOAD_ERR_VALIDATE", "Rule exception must have values property with a list of values", 8, 7),
    ("source-redefined", R + R.replace("INFO", "INFO\n  source: k8s_audit"), "LOAD_ERR_VALIDATE",
     "Rule has been re-defined with a different source", 6, 3),
    ("macro-syntax-unused", "- macro: m\n  condition: evt.type = open and\n", "LOAD_ERR_COMPILE_CONDITION", "", 2, 33),
    ("macro-undefined", "- macro: m\n  condition: evt.type = open and bar\n", "LOAD_ERR_VALIDATE",
     "Undefined macro 'bar' used in filter.", 2, 34),
    ("macro-later-not-visible", "- macro: a\n  condition: b\n- macro: b\n  condition: evt.type=open\n",
     "LOAD_ERR_VALIDATE", "Undefined macro 'b' used in filter.", 2, 14),
    ("macro-self-loop", "- macro: a\n  condition: evt.type=open\n- macro: a\n  condition: a or evt.type=close\n",
     "LOAD_ERR_VALIDATE", "reference loop in macro 'a'", 4, 14),
]


@pytest.mark.parametrize("text,code,fragment,line,col", [r[1:] for r in ERRORS], ids=[r[0] for r in ERRORS])
def test_error_codes_and_positions(text, code, fragment, line, col):
    _, res = load(text)
    assert not res.ok
    err = res.errors[0]
    assert err.code == code, res.report_text()
    assert fragment in err.message
    assert (err.line, err.column) == (line, col), res.report_text()
    assert len(res.errors) == 1  # reading stops at the first error of a file
    assert err.file == "rules.yaml"
    assert err.context.locations[0].item_type == "rules content"


WARNINGS = [
    # (id, yaml, warning code, message fragment, line, column)
    ("unknown-item", "- foo: bar\n", "LOAD_UNKNOWN_ITEM", "Unknown top level item", 1, 3),
    ("unknown-key-list", "- list: l\n  items: []\n  priority: INFO\n", "LOAD_UNKNOWN_KEY",
     "Unknown key 'priority'. The key will be ignored.", 1, 3),
    ("unknown-key-engine-version", "- required_engine_version: 0.26.0\n  extra: 1\n", "LOAD_UNKNOWN_KEY", "'extra'", 1, 3),
    ("unknown-key-plugin-entry", "- required_plugin_versions:\n    - name: container\n      version: 0.4.0\n      vesion: 1\n",
     "LOAD_UNKNOWN_KEY", "'vesion'", 2, 7),
    ("unknown-key-exception", R + "  exceptions:\n    - name: e\n      fields: proc.name\n      value: [a]\n",
     "LOAD_UNKNOWN_KEY", "Unknown key 'value'", 7, 7),
    ("invalid-list-name", "- list: 'a b'\n  items: []\n", "LOAD_INVALID_LIST_NAME",
     "List has an invalid name. List names should match a regular expression", 1, 3),
    ("invalid-macro-name", "- macro: test-macro\n  condition: evt.type = close\n", "LOAD_INVALID_MACRO_NAME",
     "Macro has an invalid name. Macro names should match a regular expression", 1, 3),
    ("unused-list", "- list: l\n  items: [a]\n", "LOAD_UNUSED_LIST", "List not referred to by any other rule/macro", 1, 3),
    ("unused-macro", "- macro: m\n  condition: evt.type=open\n", "LOAD_UNUSED_MACRO",
     "Macro not referred to by any other rule/macro", 1, 3),
    ("unknown-source", R.replace("INFO", "INFO\n  source: k8s_audit"), "LOAD_UNKNOWN_SOURCE",
     "Unknown source k8s_audit, skipping", 1, 3),
    ("deprecated-list-append", "- list: l\n  items: [a]\n- list: l\n  items: [b]\n  append: true\n",
     "LOAD_DEPRECATED_ITEM", "'append' key is deprecated", 3, 3),
    ("deprecated-macro-append", "- macro: m\n  condition: evt.type=open\n- macro: m\n  condition: or evt.type=close\n  append: true\n",
     "LOAD_DEPRECATED_ITEM", "'append' key is deprecated", 3, 3),
]


@pytest.mark.parametrize("text,code,fragment,line,col", [r[1:] for r in WARNINGS], ids=[r[0] for r in WARNINGS])
def test_warning_codes_and_positions(text, code, fragment, line, col):
    _, res = load(text)
    assert res.ok, res.report_text()
    hits = [w for w in res.warnings if w.code == code]
    assert hits, res.report_text()
    assert fragment in hits[0].message
    assert (hits[0].line, hits[0].column) == (line, col)


@pytest.mark.parametrize(
    "text",
    ["", "\n", "# only a comment\n", "---\n", "---\n---\n", "- \n", "[]\n", "~\n"],
    ids=["empty", "newline", "comment", "empty-doc", "two-empty-docs", "null-item", "empty-seq", "null-doc"],
)
def test_empty_content_is_fine(text):
    engine, res = load(text)
    assert res.ok and not res.warnings, res.report_text()
    assert engine.rules == []
    assert engine.event_types() == frozenset()


def test_multiple_documents_share_one_state():
    text = "- list: a\n  items: []\n---\n- list: b\n  items: []\n"
    _, res = load(text)
    assert [w.code for w in res.warnings] == ["LOAD_UNUSED_LIST", "LOAD_UNUSED_LIST"]
    assert [w.line for w in res.warnings] == [1, 4]


@pytest.mark.parametrize(
    "version,ok",
    [("0.26.0", True), ("26", True), ("13", True), ("0.62.0", True), ("'0.57.0'", True), ("seven", False),
     ("0.63.0", False), ("1.2", False)],
)
def test_required_engine_version_forms(version, ok):
    engine, res = load(f"- required_engine_version: {version}\n")
    assert res.ok is ok, res.report_text()
    if ok:
        assert engine.required_engine_version == version.strip("'")


def test_container_plugin_requirement_is_met_by_builtin_fields():
    text = (
        "- required_plugin_versions:\n  - name: container\n    version: 0.4.0\n"
        "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.1.0\n    alternatives:\n"
        "      - name: container\n        version: 0.1.0\n"
    )
    engine, res = load(text)
    assert res.ok, res.report_text()
    reqs = engine.describe()["required_plugin_versions"]
    assert reqs[0] == {"name": "container", "version": "0.4.0", "alternatives": []}
    assert reqs[1]["alternatives"] == [{"name": "container", "version": "0.1.0"}]


def test_file_read_error_names_the_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    res = make_engine().load_files([str(missing)])
    assert not res.ok
    assert res.errors[0].code == "LOAD_ERR_FILE_READ"
    assert str(missing) in res.errors[0].message


def test_directory_loads_yaml_files_in_order_and_skips_others(tmp_path):
    (tmp_path / "b.yaml").write_text("- list: b\n  items: []\n")
    (tmp_path / "a.yml").write_text("- list: a\n  items: []\n")
    (tmp_path / "c.txt").write_text("not rules")
    res = make_engine().load_files([str(tmp_path)])
    assert [f.name for f in res.files] == [str(tmp_path / "a.yml"), str(tmp_path / "b.yaml")]


def test_load_files_stops_at_first_invalid_file(tmp_path):
    bad, good = tmp_path / "1.yaml", tmp_path / "2.yaml"
    bad.write_text("a: b\n")
    good.write_text("- list: x\n  items: []\n")
    assert len(make_engine().load_files([str(bad), str(good)]).files) == 1
    res = make_engine().load_files([str(bad), str(good)], stop_on_error=False)
    assert [f.successful for f in res.files] == [False, True]


def test_yaml_booleans_follow_yaml_cpp():
    for word, value in [("yes", True), ("No", False), ("ON", True), ("off", False), ("true", True), ("False", False)]:
        _, res = load(f"- list: l\n  items: []\n- list: l\n  items: [a]\n  append: {word}\n")
        assert res.ok
        assert ("LOAD_DEPRECATED_ITEM" in codes(res)) is value


def test_verbose_report_matches_falco_layout():
    _, res = load(R.replace("INFO", "bogus"), name="/r/x.yaml")
    assert res.report_text() == (
        "/r/x.yaml: Invalid\n"
        "1 Errors:\n"
        "In rules content: (/r/x.yaml:0:0)\n"
        "    rule 'r': (/r/x.yaml:0:2)\n"
        "    rule priority: (/r/x.yaml:4:12)\n"
        "------\n"
        "  priority: bogus\n"
        "            ^\n"
        "------\n"
        "LOAD_ERR_YAML_VALIDATE (Error validating internal structure of YAML file): Invalid priority\n"
    )


def test_report_for_warnings_only_file_goes_to_the_log():
    _, res = load("- list: l\n  items: []\n", name="w.yaml")
    assert res.report_text() == "w.yaml: Ok, with warnings\n"
    log = res.log_text()
    assert log.startswith("w.yaml: Ok, with warnings\n1 Warnings:\nIn rules content: (w.yaml:0:0)\n    list 'l': (w.yaml:0:2)\n")
    assert log.endswith("LOAD_UNUSED_LIST (Unused list): List not referred to by any other rule/macro\n")
    assert res.files[0].summary_text() == "w.yaml: Ok, with warnings\n 1 warnings: [LOAD_UNUSED_LIST (Unused list)]"


def test_json_report_shape():
    _, res = load("- list: l\n  items: []\n- macro: m\n  condition: x and\n", name="j.yaml")
    doc = json.loads(res.report_json())
    (file_res,) = doc["falco_load_results"]
    assert file_res["name"] == "j.yaml" and file_res["successful"] is False
    (err,) = file_res["errors"]
    assert err["code"] == "LOAD_ERR_COMPILE_CONDITION"
    assert err["codedesc"] == "Error compiling condition"  # errors carry the short string (Falco quirk)
    locs = err["context"]["locations"]
    assert [loc["item_type"] for loc in locs] == ["rules content", "macro", "macro condition", "condition expression"]
    assert locs[1]["item_name"] == "m"
    assert locs[1]["position"] == {"name": "j.yaml", "line": 2, "column": 2, "offset": 24}
    assert locs[3]["position"]["name"] == '"x and"'
    assert err["context"]["snippet"] == "x and\n    ^\n"


def test_json_report_warnings_carry_the_long_description():
    _, res = load("- foo: 1\n")
    warn = json.loads(res.report_json())["falco_load_results"][0]["warnings"][0]
    assert warn["code"] == "LOAD_UNKNOWN_ITEM"
    assert warn["codedesc"] == "An unknown top-level object is in the rules content. It will be ignored."


def test_condition_snippet_shows_condition_text_not_block_indicator():
    _, res = load("- macro: m\n  condition: >\n    evt.type = open and\n    proc.name = \n")
    err = res.errors[0]
    assert err.code == "LOAD_ERR_COMPILE_CONDITION"
    snippet = err.context.snippet(res.contents)
    assert snippet.startswith("evt.type = open and proc.name =")


def test_schema_warnings_for_unknown_keys_and_lowercase_priority():
    _, res = load("- list: l\n  items: []\n  bogus: 1\n")
    doc = json.loads(res.report_json())["falco_load_results"][0]
    assert doc["schema_valid"] is False and doc["schema_warnings"]


def test_invalid_utf8_names_the_byte_and_place(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"- list: ok\n  items: [a]\n- list: a\xff\n  items: []\n")
    res = make_engine().load_files([str(path)])
    (err,) = res.errors
    assert err.code == "LOAD_ERR_YAML_PARSE"
    assert err.message == "yaml: invalid UTF-8 byte 0xff at line 3, column 10"
    assert (err.line, err.column) == (3, 10)


def test_crlf_file_and_condition_error_position(tmp_path):
    path = tmp_path / "crlf.yaml"
    path.write_bytes(b"- rule: r\r\n  desc: d\r\n  condition: evt.type=open and\r\n  output: o\r\n  priority: INFO\r\n")
    res = make_engine().load_files([str(path)])
    (err,) = res.errors
    assert err.code == "LOAD_ERR_COMPILE_CONDITION"
    assert (err.line, err.column) == (3, 31)  # where the parser stopped, mapped back to the file
    expr = err.context.locations[-1]
    assert expr.item_type == "condition expression" and expr.name == '"evt.type=open and"'
    assert err.context.snippet(res.contents) == "evt.type=open and\n                ^\n"


POSITIONS = [
    # (id, yaml, 1-based line and column of the error inside the condition)
    ("plain", "- macro: m\n  condition: evt.type = open and proc.name = = x\n", (2, 46)),
    ("single-quoted", "- macro: m\n  condition: 'evt.type = open and proc.name = = x'\n", (2, 47)),
    ("folded", "- macro: m\n  condition: >\n    evt.type = open and\n    proc.name = = x\n", (4, 17)),
    ("literal", "- macro: m\n  condition: |\n    evt.type = open and\n    proc.name = = x\n", (4, 17)),
    ("unknown-field", "- rule: r\n  desc: d\n  condition: evt.type = open and proc.nme = x\n  output: o\n  priority: INFO\n",
     (3, 34)),
    ("unknown-field-folded", "- rule: r\n  desc: d\n  condition: >\n    evt.type = open\n    and proc.nme = x\n"
     "  output: o\n  priority: INFO\n", (5, 9)),
    ("undefined-macro-in-rule", "- rule: r\n  desc: d\n  condition: evt.type = open and bogus\n  output: o\n"
     "  priority: INFO\n", (3, 34)),
    ("after-a-list", "- list: l\n  items: [a, b]\n- macro: m\n  condition: proc.name in (l) and = x\n", (4, 35)),
    ("after-an-empty-list", "- list: l\n  items: []\n- macro: m\n  condition: proc.name in (x, l) and = x\n", (4, 38)),
    ("inside-a-list-points-at-it", "- list: l\n  items: [a, 'b']\n- macro: m\n  condition: proc.name = l\n", (4, 26)),
    ("rule-with-list-and-exception", "- list: l\n  items: [a]\n- rule: r\n  desc: d\n"
     "  condition: proc.name in (l) and proc.nme = x\n  output: o\n  priority: INFO\n"
     "  exceptions:\n    - name: e\n      fields: proc.name\n      values: [z]\n", (5, 35)),
    ("error-in-appended-part", "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"
     "- rule: r\n  condition: and proc.nme = x\n  override:\n    condition: append\n", (3, 14)),
    ("escapes-fall-back", '- macro: m\n  condition: "proc.name = \\"a\\" and = x"\n', (2, 14)),
]


@pytest.mark.parametrize("text,where", [p[1:] for p in POSITIONS], ids=[p[0] for p in POSITIONS])
def test_condition_errors_point_at_the_place_in_the_file(text, where):
    _, res = load(text)
    err = res.errors[0]
    assert (err.line, err.column) == where, res.report_text()
    # Falco's own (odd) position arithmetic is kept in the context chain
    assert err.context.locations[-1].item_type == "condition expression"

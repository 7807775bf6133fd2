"""Config loading and Falco-style ``-o`` overrides (pdigpy.config)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pdigpy.config import (
    ConfigError,
    apply_override,
    bundled_rules_dir,
    expand_rules_paths,
    load_config,
    parse_key_path,
    parse_value,
    resolve_rules_files,
)

NO_ENV: dict[str, str] = {}


# --------------------------------------------------------------------------- key paths


@pytest.mark.parametrize(
    "key, path",
    [
        ("json_output", ["json_output"]),
        ("file_output.enabled", ["file_output", "enabled"]),
        ("a.b[1].c", ["a", "b", 1, "c"]),
        ("append_output[]", ["append_output", None]),
        ("x[0][2]", ["x", 0, 2]),
        (r"my\.dotted\.key", ["my.dotted.key"]),
        (r"a\[0\]", ["a[0]"]),
        (r"back\\slash.k", ["back\\slash", "k"]),
    ],
)
def test_key_paths_follow_falco_syntax(key, path):
    assert parse_key_path(key) == path


@pytest.mark.parametrize("key", ["", ".a", "a..b", "a.", "a[x]", "[0]", "a]b", "a[0", r"a\q"])
def test_bad_key_paths_are_rejected(key):
    with pytest.raises(ValueError):
        parse_key_path(key)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "text, value",
    [
        ("true", True),
        ("false", False),
        ("42", 42),
        ("ALERTS.jsonl", "ALERTS.jsonl"),
        ("", ""),
        ("{a: 1, b: [x, y]}", {"a": 1, "b": ["x", "y"]}),
        ("[a, b]", ["a", "b"]),
        ("a: b", "a: b"),  # no braces: a plain string, as Falco reads it
        ("jq '{text: .output}' | curl -d @- http://x", "jq '{text: .output}' | curl -d @- http://x"),
    ],
)
def test_values_are_yaml_typed(text, value):
    assert parse_value(text) == value


# --------------------------------------------------------------------------- overrides


def test_the_documented_cli_form_sets_nested_keys():
    config = load_config(None, ["json_output=true", "file_output.enabled=true",
                                "file_output.filename=ALERTS.jsonl"], environ=NO_ENV)
    assert config.data["json_output"] is True
    assert config.data["file_output"] == {"enabled": True, "keep_alive": False, "filename": "ALERTS.jsonl"}
    assert config.source == "built-in defaults"


def test_overrides_apply_in_order_and_append_to_lists():
    data: dict = {"rules_files": ["a.yaml"]}
    apply_override(data, "rules_files[]=b.yaml")
    apply_override(data, "rules_files[0]=c.yaml")
    apply_override(data, "append_output[]={match: {rule: r}, extra_output: x=%proc.name}")
    apply_override(data, "append_output[0].extra_fields[]=proc.pid")
    assert data["rules_files"] == ["c.yaml", "b.yaml"]
    assert data["append_output"] == [{"match": {"rule": "r"}, "extra_output": "x=%proc.name", "extra_fields": ["proc.pid"]}]


def test_string_keys_take_numbers_as_strings():
    data: dict = {}
    apply_override(data, "file_output.filename=123")
    assert data["file_output"]["filename"] == "123"


@pytest.mark.parametrize(
    "item, words",
    [
        ("json_output=maybe", ["-o json_output=maybe", "true or false"]),
        ("json_ouput=true", ["unknown config key", "did you mean 'json_output'"]),
        ("file_output.enable=true", ["unknown key 'enable' in file_output", "did you mean 'enabled'"]),
        ("noequals", ["expected KEY=VALUE"]),
        ("a..b=1", ["bad key"]),
        ("priority=bogus", ["-o priority=bogus", "expected one of"]),
        ("rule_matching=some", ["first", "all"]),
        ("outputs_queue.capacity=lots", ["expected an integer"]),
        ("rules_files[5]=x", ["past the end"]),
        ("append_output[]={unclosed", ["not valid YAML"]),
    ],
)
def test_bad_overrides_give_one_line_naming_the_item(item, words):
    with pytest.raises(ConfigError) as info:
        load_config(None, [item], environ=NO_ENV)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_unknown_unrelated_keys_pass_through_for_other_layers():
    # Forwarders' sections belong to the outputs, which check them.
    config = load_config(None, ["zz_custom_forwarder.url=http://127.0.0.1:1"], environ=NO_ENV)
    assert config.data["zz_custom_forwarder"] == {"url": "http://127.0.0.1:1"}


# --------------------------------------------------------------------------- files and locations


def test_defaults_send_alerts_to_stderr_not_stdout():
    config = load_config(None, [], environ=NO_ENV)
    assert config.data["stderr_output"]["enabled"] is True
    assert config.data["stdout_output"]["enabled"] is False
    assert config.data["syslog_output"]["enabled"] is False


def test_pdigpy_config_env_is_the_default_location(tmp_path):
    cfg = tmp_path / "pdigpy.yaml"
    cfg.write_text("json_output: true\nfile_output:\n  filename: /tmp/x.jsonl\n")
    config = load_config(None, [], environ={"PDIGPY_CONFIG": str(cfg)})
    assert config.source == str(cfg)
    assert config.data["json_output"] is True
    # A file changes only the keys it sets.
    assert config.data["file_output"] == {"enabled": False, "keep_alive": False, "filename": "/tmp/x.jsonl"}


def test_missing_pdigpy_config_env_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"PDIGPY_CONFIG .*not found"):
        load_config(None, [], environ={"PDIGPY_CONFIG": str(tmp_path / "nope.yaml")})


def test_cli_config_wins_over_env_and_overrides_win_over_file(tmp_path):
    env_cfg = tmp_path / "env.yaml"
    env_cfg.write_text("json_output: true\n")
    cli_cfg = tmp_path / "cli.yaml"
    cli_cfg.write_text("json_output: false\npriority: warning\n")
    config = load_config(str(cli_cfg), ["priority=error"], environ={"PDIGPY_CONFIG": str(env_cfg)})
    assert config.source == str(cli_cfg)
    assert config.data["json_output"] is False
    assert config.data["priority"] == "error"


STOCK_FALCO_YAML = """\
rules_files:
  - {rules}/falco_rules.yaml
  - {rules}/falco_rules.local.yaml
  - {rules}/rules.d
rule_matching: first
json_output: false
json_include_output_property: true
priority: debug
stdout_output:
  enabled: true
syslog_output:
  enabled: true
file_output:
  enabled: false
  keep_alive: false
  filename: ./events.txt
plugins:
  - name: container
    library_path: libcontainer.so
load_plugins: [container]
engine:
  kind: modern_ebpf
webserver:
  enabled: true
"""


def test_a_stock_falco_yaml_is_read_as_is(tmp_path):
    rules = tmp_path / "etc-falco"
    (rules / "rules.d").mkdir(parents=True)
    (rules / "falco_rules.yaml").write_text("[]\n")
    (rules / "falco_rules.local.yaml").write_text("[]\n")
    (rules / "rules.d" / "b.yaml").write_text("[]\n")
    (rules / "rules.d" / "a.yml").write_text("[]\n")
    (rules / "rules.d" / "notes.txt").write_text("not rules\n")
    cfg = tmp_path / "falco.yaml"
    cfg.write_text(STOCK_FALCO_YAML.format(rules=rules))
    config = load_config(str(cfg), [], environ=NO_ENV)
    assert config.warnings == []  # Falco's other sections are known and ignored
    assert config.data["syslog_output"]["enabled"] is True
    # stdout_output asked for, stderr_output not mentioned: alerts once, on stdout.
    assert config.data["stdout_output"]["enabled"] is True
    assert config.data["stderr_output"]["enabled"] is False
    files = resolve_rules_files(None, config)
    assert files == [str(rules / "falco_rules.yaml"), str(rules / "falco_rules.local.yaml"),
                     str(rules / "rules.d" / "a.yml"), str(rules / "rules.d" / "b.yaml")]
    # -r overrides rules_files, as in Falco.
    only = rules / "falco_rules.yaml"
    assert resolve_rules_files([str(only)], config) == [str(only)]


def test_legacy_rules_file_key_is_honoured(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("[]\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"rules_file: {rules}\n")
    config = load_config(str(cfg), [], environ=NO_ENV)
    assert resolve_rules_files(None, config) == [str(rules)]


def test_stderr_output_can_be_kept_alongside_stdout():
    config = load_config(None, ["stdout_output.enabled=true", "stderr_output.enabled=true"], environ=NO_ENV)
    assert config.data["stdout_output"]["enabled"] is True
    assert config.data["stderr_output"]["enabled"] is True


@pytest.mark.parametrize(
    "text, words",
    [
        ("json_output: [unclosed\n", [":1:", "invalid YAML"]),
        ("- just\n- a list\n", ["YAML mapping"]),
        ("json_output: sometimes\n", [": json_output:", "true or false"]),
        ("file_output:\n  enabled: 3\n", ["file_output.enabled", "true or false"]),
    ],
)
def test_bad_config_files_name_the_file_and_key(tmp_path, text, words):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(cfg), [], environ=NO_ENV)
    message = str(info.value)
    assert str(cfg) in message and "\n" not in message
    for word in words:
        assert word in message


def test_unknown_config_file_keys_are_warnings(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("json_ouptut: true\n")
    config = load_config(str(cfg), [], environ=NO_ENV)
    assert any("json_ouptut" in w and "json_output" in w for w in config.warnings)


# --------------------------------------------------------------------------- rules paths


def test_rules_directories_load_in_name_order(tmp_path):
    rules_dir = tmp_path / "rules.d"
    rules_dir.mkdir()
    for name in ("20-b.yaml", "10-a.yaml", "30-c.yml", "README.md"):
        (rules_dir / name).write_text("[]\n")
    first = tmp_path / "first.yaml"
    first.write_text("[]\n")
    # Paths keep the order given; a directory expands in name order, YAML files only.
    assert expand_rules_paths([str(first), str(rules_dir)], "-r") == [
        str(first), *(str(rules_dir / n) for n in ("10-a.yaml", "20-b.yaml", "30-c.yml"))]


def test_missing_rules_path_names_the_flag(tmp_path):
    with pytest.raises(ConfigError, match=r"^-r .*nope\.yaml: no such rules file"):
        expand_rules_paths([str(tmp_path / "nope.yaml")], "-r")


def test_default_rules_are_the_bundled_directory():
    bundled = bundled_rules_dir()
    assert bundled is not None and (bundled / "pdigpy_rules.yaml").is_file()
    config = load_config(None, [], environ=NO_ENV)
    files = resolve_rules_files(None, config)
    assert files[0].startswith(str(bundled))
    if os.path.isfile("/etc/pdigpy/pdigpy_rules.local.yaml"):
        assert files[-1] == "/etc/pdigpy/pdigpy_rules.local.yaml"
    assert all(Path(f).is_file() for f in files)


def test_a_misspelt_key_in_a_known_section_is_a_warning(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("file_output:\n  enabled: false\n  filenme: x.txt\n")
    config = load_config(str(cfg), [], environ=NO_ENV)
    assert len(config.warnings) == 1
    assert "'filenme' in file_output" in config.warnings[0] and "'filename'" in config.warnings[0]


def test_pdigpy_own_keys_in_falco_sections_are_known(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("stderr_output:\n  enabled: true\n  color: false\n"
                   "syslog_output:\n  enabled: false\n  address: udp://127.0.0.1:514\n  ident: app\n  facility: local0\n"
                   "http_output:\n  enabled: false\n  url: http://127.0.0.1:2801/\n  mtls: false\n  echo: false\n"
                   "  compress_uploads: false\n  keep_alive: false\n  max_consecutive_timeouts: 5\n")
    config = load_config(str(cfg), ["stderr_output.color=true", "syslog_output.ident=x"], environ=NO_ENV)
    assert config.warnings == []
    assert config.data["stderr_output"]["color"] is True and config.data["syslog_output"]["ident"] == "x"


def test_an_unknown_o_key_is_a_warning_naming_the_item():
    config = load_config(None, ["totally_unknown_key=1"], environ=NO_ENV)
    assert config.warnings == ["-o totally_unknown_key=1: unknown config key 'totally_unknown_key' ignored "
                               "(neither pdigpy nor Falco has it)"]


def test_place_of_names_who_set_a_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("rules:\n  - disable: {rule: x}\n")
    assert load_config(None, ["rules[0]=5"], environ=NO_ENV).place_of("rules") == "-o rules[0]=5"
    both = load_config(str(cfg), ["rules[]=5"], environ=NO_ENV)
    assert both.place_of("rules") == f"{cfg} and -o rules[]=5"
    assert both.place_of("append_output") == str(cfg)  # not set anywhere: the config's source
    assert load_config(None, [], environ=NO_ENV).place_of("rules") == "built-in defaults"

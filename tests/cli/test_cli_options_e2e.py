"""falco.yaml keys and -o overrides that change what a real run does."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli_helpers import run_pdigpy

RULES = """\
- rule: options test open
  desc: an open of the marker
  condition: evt.type in (open, openat) and fd.name endswith .pdigpy-opt-marker
  output: "opened %fd.name by %proc.name"
  priority: WARNING
  tags: [opt_a]
- rule: options test open notice
  desc: the same open, seen by a lower-priority rule
  condition: evt.type in (open, openat) and fd.name endswith .pdigpy-opt-marker
  output: "notice %fd.name"
  priority: NOTICE
  tags: [opt_b]
"""


@pytest.fixture
def setup(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    marker = tmp_path / "m.pdigpy-opt-marker"
    marker.write_text("x\n")
    return rules, marker


def _rules_fired(stderr: str) -> list[str]:
    return [l for l in stderr.splitlines() if " opened " in l or ": Notice notice " in l]


def test_rule_matching_first_and_all(setup):
    rules, marker = setup
    first = run_pdigpy("-r", str(rules), "--", "cat", str(marker))
    assert first.returncode == 0, first.stderr
    assert len(_rules_fired(first.stderr)) == 1
    both = run_pdigpy("-r", str(rules), "-o", "rule_matching=all", "--", "cat", str(marker))
    assert len(_rules_fired(both.stderr)) == 2


def test_priority_threshold_drops_less_severe_rules(setup):
    rules, marker = setup
    res = run_pdigpy("-r", str(rules), "-o", "rule_matching=all", "-o", "priority=warning", "--", "cat", str(marker))
    fired = _rules_fired(res.stderr)
    assert len(fired) == 1 and "Warning" in fired[0]


def test_rules_selection_by_tag_from_a_config_file(setup, tmp_path):
    rules, marker = setup
    cfg = tmp_path / "pdigpy.yaml"
    cfg.write_text(f"rules_files: [{rules}]\nrule_matching: all\nrules:\n  - disable: {{tag: opt_a}}\n")
    res = run_pdigpy("-c", str(cfg), "--", "cat", str(marker))
    fired = _rules_fired(res.stderr)
    assert len(fired) == 1 and "Notice" in fired[0]
    # The same through $PDIGPY_CONFIG, and -o appends another selection.
    env = run_pdigpy("-o", "rules[]={disable: {rule: 'options test *'}}", "--", "cat", str(marker),
                     env={"PDIGPY_CONFIG": str(cfg)})
    assert env.returncode == 0, env.stderr
    assert _rules_fired(env.stderr) == []


def test_bad_rules_selection_is_one_line(setup):
    rules, _ = setup
    res = run_pdigpy("-r", str(rules), "-o", "rules[]={enable: {bogus: x}}", "--", "true")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "rules[0]" in res.stderr


def test_output_settings_errors_name_the_key():
    res = run_pdigpy("-o", "http_output.enabled=true", "-o", "http_output.url=", "--", "true")
    assert res.returncode == 2, res.stderr
    assert "http_output.url" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_message_property_and_iso_time(setup, tmp_path):
    rules, marker = setup
    out = tmp_path / "a.jsonl"
    res = run_pdigpy("-r", str(rules), "-o", "json_output=true", "-o", "json_include_message_property=true",
                     "-o", "json_include_tags_property=false", "-o", "file_output.enabled=true",
                     "-o", f"file_output.filename={out}", "-o", "stderr_output.enabled=false", "--", "cat", str(marker))
    assert res.returncode == 0, res.stderr
    [alert] = [json.loads(l) for l in out.read_text().splitlines()]
    assert alert["message"] == f"opened {marker} by cat"
    assert "tags" not in alert
    assert "opened" not in res.stderr  # stderr_output switched off


def test_no_seccomp_sees_the_same_alerts(setup):
    rules, marker = setup
    res = run_pdigpy("--no-seccomp", "-r", str(rules), "--", "sh", "-c", f"cat {marker}; cat {marker}")
    assert res.returncode == 0, res.stderr
    assert len(_rules_fired(res.stderr)) == 2


def test_events_dash_writes_the_capture_to_stderr(setup):
    rules, marker = setup
    res = run_pdigpy("-r", str(rules), "--events", "-", "--", "cat", str(marker))
    assert res.returncode == 0, res.stderr
    assert res.stdout == "x\n"
    records = [json.loads(l) for l in res.stderr.splitlines() if l.startswith('{"kind":')]
    assert records[0]["kind"] == "header" and records[0]["format"] == "pdigpy-capture"
    assert any(r["kind"] == "event" and r["type"] == "openat" and r["args"].get("name", "").endswith("pdigpy-opt-marker")
               for r in records)


UPSTREAM_RULES = Path(__file__).resolve().parents[2] / "../shared/corpus/upstream-rules/falco_rules.yaml"


@pytest.mark.skipif(os.geteuid() != 0, reason="reading /etc/shadow needs root")
def test_a_falco_config_with_falco_rules_works_as_is(tmp_path):
    """A Falco user's falco.yaml (rules_files, stdout_output on) and Falco's own stable rules."""
    assert UPSTREAM_RULES.is_file(), f"upstream rules corpus not found at {UPSTREAM_RULES}"
    cfg = tmp_path / "falco.yaml"
    cfg.write_text(f"rules_files:\n  - {UPSTREAM_RULES.resolve()}\njson_output: true\n"
                   "stdout_output:\n  enabled: true\nsyslog_output:\n  enabled: false\n")
    res = run_pdigpy("-c", str(cfg), "--", "head", "-c", "0", "/etc/shadow")
    assert res.returncode == 0, res.stderr
    [alert] = [json.loads(l) for l in res.stdout.splitlines() if l.startswith("{")]
    assert alert["rule"] == "Read sensitive file untrusted"
    assert alert["output_fields"]["fd.name"] == "/etc/shadow"
    assert alert["output_fields"]["proc.name"] == "head"
    assert '"rule":' not in res.stderr  # stdout_output asked for: once, on stdout only

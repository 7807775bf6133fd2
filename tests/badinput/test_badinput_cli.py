"""Malformed input through the real CLI: a clear complaint naming the place, a non-zero exit, no traceback.

One table row per input. A row gives the command line (``{d}`` is the row's temp directory),
the files it needs, the substrings the complaint must contain (the place: file:line:col, key,
flag or item, and the word that says what is wrong), how many non-empty stderr lines are
allowed and the exit status.

How many lines (the documented exceptions to "one line"):

- config, ``-o``, capture files, flags: exactly one line.
- rules files: Falco's own error report (file, then the context chain with ``(file:line:col)``
  positions, the offending line with a caret, then ``LOAD_ERR_... (...) : message``) plus
  pdigpy's one summary line that says how to check the file. That is Falco's format, kept for
  users who grep it; at most 14 lines for one error.

Rows marked ``xfail`` are known failures, reported to the owners of cli.py/config.py;
``strict=True`` makes the test fail as soon as one of them is fixed, so the mark gets removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from badinput_helpers import run_pdigpy, stderr_lines

RULE_OK = "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: WARNING\n"


def _rule(**over: str) -> str:
    fields = {"desc": "d", "condition": "evt.type = open", "output": "o", "priority": "WARNING"}
    fields.update(over)
    return "- rule: r\n" + "".join(f"  {k}: {v}\n" for k, v in fields.items() if v is not None)


@dataclass
class Case:
    id: str
    args: list[str]
    place: list[str]  # substrings the complaint must contain
    files: dict[str, str | bytes] = field(default_factory=dict)
    max_lines: int = 1
    code: int | None = 2  # None: an unknown key, where a warning (exit 0) or an error (exit 2) will do
    xfail: str | None = None


RULES_LINES = 14
RULES = [
    Case("rules-yaml-syntax", ["-r", "{d}/bad.yaml"], ["bad.yaml:5:", "LOAD_ERR_YAML_PARSE"],
         {"bad.yaml": _rule(priority="[")}, RULES_LINES),
    Case("rules-not-a-list", ["-r", "{d}/bad.yaml"], ["bad.yaml:0:0", "not yaml array"],
         {"bad.yaml": "rule: x\n"}, RULES_LINES),
    Case("rules-wrong-type-enabled", ["-r", "{d}/bad.yaml"], ["bad.yaml:5:11", "enabled"],
         {"bad.yaml": _rule(enabled="maybe")}, RULES_LINES),
    Case("rules-wrong-type-list-items", ["-r", "{d}/bad.yaml"], ["bad.yaml:1:", "not a sequence"],
         {"bad.yaml": "- list: l\n  items: 5\n"}, RULES_LINES),
    Case("rules-wrong-type-exceptions", ["-r", "{d}/bad.yaml"], ["bad.yaml:5:", "exceptions must be a sequence"],
         {"bad.yaml": _rule(exceptions="5")}, RULES_LINES),
    Case("rules-missing-output", ["-r", "{d}/bad.yaml"], ["bad.yaml:0:2", "'output'"],
         {"bad.yaml": _rule(output=None)}, RULES_LINES),
    Case("rules-unknown-macro", ["-r", "{d}/bad.yaml"], ["bad.yaml:0:2", "Undefined macro 'no_such_macro'"],
         {"bad.yaml": _rule(condition="evt.type = open and no_such_macro")}, RULES_LINES),
    Case("rules-bad-condition", ["-r", "{d}/bad.yaml"], ["bad.yaml:2:13", "LOAD_ERR_COMPILE_CONDITION"],
         {"bad.yaml": _rule(condition="evt.type = open and (proc.name =")}, RULES_LINES),
    Case("rules-condition-not-a-string", ["-r", "{d}/bad.yaml"], ["bad.yaml:2:13", "LOAD_ERR_COMPILE_CONDITION"],
         {"bad.yaml": _rule(condition="5")}, RULES_LINES),
    Case("rules-unknown-field", ["-r", "{d}/bad.yaml"], ["bad.yaml:2:13", "proc.nosuchfield"],
         {"bad.yaml": _rule(condition="evt.type = open and proc.nosuchfield = 1")}, RULES_LINES),
    Case("rules-bad-macro-condition", ["-r", "{d}/bad.yaml"], ["bad.yaml:", "LOAD_ERR_COMPILE_CONDITION"],
         {"bad.yaml": "- macro: m\n  condition: (\n"}, RULES_LINES),
    Case("rules-bad-priority", ["-r", "{d}/bad.yaml"], ["bad.yaml:4:12", "priority"],
         {"bad.yaml": _rule(priority="LOUD")}, RULES_LINES),
    Case("rules-bad-output-field", ["-r", "{d}/bad.yaml"], ["bad.yaml:", "nosuch.field"],
         {"bad.yaml": _rule(output='"%nosuch.field"')}, RULES_LINES),
    Case("rules-bad-engine-version", ["-r", "{d}/bad.yaml"], ["bad.yaml:0:", "semver"],
         {"bad.yaml": "- required_engine_version: abc\n"}, RULES_LINES),
    Case("rules-binary", ["-r", "{d}/bad.yaml"], ["bad.yaml", "invalid UTF-8"],
         {"bad.yaml": bytes(range(128, 256)) * 4}, RULES_LINES),
    Case("rules-missing-file", ["-r", "{d}/nope.yaml"], ["-r ", "nope.yaml", "no such rules file"]),
]

CONFIG = [
    Case("config-yaml-syntax", ["-c", "{d}/c.yaml"], ["c.yaml:2:1", "invalid YAML"], {"c.yaml": "json_output: [\n"}),
    Case("config-not-a-mapping", ["-c", "{d}/c.yaml"], ["c.yaml", "mapping", "not a list"], {"c.yaml": "- a\n- b\n"}),
    Case("config-binary", ["-c", "{d}/c.yaml"], ["c.yaml", "cannot read", "utf-8"], {"c.yaml": bytes(range(128, 256))}),
    Case("config-missing", ["-c", "{d}/nope.yaml"], ["-c ", "nope.yaml", "not found"]),
    Case("config-bool-type", ["-c", "{d}/c.yaml"], ["c.yaml: json_output", "true or false", "maybe"],
         {"c.yaml": "json_output: maybe\n"}),
    Case("config-priority-word", ["-c", "{d}/c.yaml"], ["c.yaml: priority", "loud"], {"c.yaml": "priority: loud\n"}),
    Case("config-section-type", ["-c", "{d}/c.yaml"], ["c.yaml: file_output", "mapping"], {"c.yaml": "file_output: 5\n"}),
    Case("config-int-type", ["-c", "{d}/c.yaml"], ["c.yaml: outputs_queue.capacity", "integer"],
         {"c.yaml": "outputs_queue:\n  capacity: lots\n"}),
    Case("config-rules-files-item", ["-c", "{d}/c.yaml"], ["c.yaml: rules_files", "path string"],
         {"c.yaml": "rules_files: [5]\n"}),
    Case("config-append-output-item", ["-c", "{d}/c.yaml"], ["c.yaml: append_output[0]", "mapping"],
         {"c.yaml": "append_output: [5]\n"}),
    Case("config-negative-capacity", ["-c", "{d}/c.yaml"], ["outputs_queue.capacity", "at least 0"],
         {"c.yaml": "outputs_queue:\n  capacity: -3\n"}),
    Case("config-empty-program", ["-c", "{d}/c.yaml"], ["program_output.program", "empty"],
         {"c.yaml": "program_output:\n  enabled: true\n  program: ''\n"}),
    Case("config-forwarder-unknown-key", ["-c", "{d}/c.yaml"], ["forwarders.slack.enabled", "unknown key"],
         {"c.yaml": "forwarders:\n  slack:\n    enabled: maybe\n"}),
    Case("config-unknown-output-setting", ["-c", "{d}/c.yaml"], ["file_output", "filenme"],
         {"c.yaml": "file_output:\n  enabled: false\n  filenme: x.txt\n"}, code=None),
]

OPTIONS = [
    Case("o-missing-equals", ["-o", "json_output"], ["-o json_output", "KEY=VALUE"]),
    Case("o-empty-key", ["-o", "=5"], ["-o =5", "empty key"]),
    Case("o-bad-key-path", ["-o", "a..b=1"], ["-o a..b=1", "bad key"]),
    Case("o-bad-index", ["-o", "file_output[x]=1"], ["-o file_output[x]=1", "not a number"]),
    Case("o-bool-type", ["-o", "json_output=maybe"], ["-o json_output=maybe", "true or false"]),
    Case("o-priority-word", ["-o", "priority=loud"], ["-o priority=loud", "loud"]),
    Case("o-int-type", ["-o", "outputs_queue.capacity=lots"], ["outputs_queue.capacity", "integer"]),
    Case("o-choice", ["-o", "rule_matching=some"], ["rule_matching", "first, all"]),
    Case("o-section-type", ["-o", "stderr_output=5"], ["-o stderr_output=5", "mapping"]),
    Case("o-bad-yaml-value", ["-o", "file_output={a: ["], ["-o file_output={a: [", "not valid YAML"]),
    Case("o-misspelt-key", ["-o", "jsn_output=true"], ["jsn_output", "json_output"]),
    Case("o-misspelt-subkey", ["-o", "file_output.filenme=x"], ["filenme", "filename"]),
    Case("o-bad-url", ["-o", "http_output.enabled=true", "-o", "http_output.url=notaurl"],
         ["http_output.url", "notaurl"]),
    Case("o-unwritable-file-output", ["-o", "file_output.enabled=true", "-o", "file_output.filename={d}/no/dir/x"],
         ["file_output.filename", "No such file"]),
    Case("o-negative-timeout", ["-o", "output_timeout=-5"], ["output_timeout", "-5"]),
    Case("o-rules-selection-item", ["-o", "rules[0]=5"], ["-o rules[0]=5", "enable"]),
    Case("o-append-output-item", ["-o", "append_output[]=5"], ["-o append_output[]=5", "mapping"]),
    Case("o-unknown-key", ["-o", "totally_unknown_key=1"], ["totally_unknown_key"], code=None),
]

CAPTURE_HEADER = {"kind": "header", "format": "pdigpy-capture", "version": 1, "created_ns": 1,
                  "hostname": "h", "arch": "x86_64", "users": {}, "groups": {}, "meta": {}}
HEADER_LINE = json.dumps(CAPTURE_HEADER) + "\n"
EVENT_LINE = json.dumps({"kind": "event", "num": 1, "ts": 1, "tid": 7, "pid": 7, "type": "openat",
                         "res": 3, "args": {"fd": 3, "name": "/tmp/x", "flags": 1}}) + "\n"

CAPTURES = [
    Case("capture-truncated", ["replay", "{d}/cap.jsonl"], ["cap.jsonl:2", "truncated"],
         {"cap.jsonl": HEADER_LINE + EVENT_LINE[:40]}),
    Case("capture-empty", ["replay", "{d}/cap.jsonl"], ["cap.jsonl:1", "empty capture"], {"cap.jsonl": ""}),
    Case("capture-garbage", ["replay", "{d}/cap.jsonl"], ["cap.jsonl:1", "invalid JSON"],
         {"cap.jsonl": "hello world\nfoo\n"}),
    Case("capture-binary", ["replay", "{d}/cap.jsonl"], ["cap.jsonl:1", "not UTF-8"],
         {"cap.jsonl": bytes(range(128, 256)) + b"\n"}),
    Case("capture-wrong-version", ["replay", "{d}/cap.jsonl"], ["cap.jsonl:1", "version 99"],
         {"cap.jsonl": HEADER_LINE.replace('"version": 1', '"version": 99')}),
    Case("capture-wrong-format", ["replay", "{d}/cap.jsonl"], ["cap.jsonl:1", "format"],
         {"cap.jsonl": HEADER_LINE.replace("pdigpy-capture", "scap")}),
    Case("capture-no-header", ["replay", "{d}/cap.jsonl"], ["cap.jsonl:1", "not a capture header"],
         {"cap.jsonl": EVENT_LINE}),
    Case("capture-bad-record", ["replay", "{d}/cap.jsonl"], ["cap.jsonl:2", "'num' must be an integer"],
         {"cap.jsonl": HEADER_LINE + '{"kind":"event","num":"x"}\n'}),
    Case("capture-bad-res", ["replay", "{d}/cap.jsonl"], ["cap.jsonl:2", "'res'"],
         {"cap.jsonl": HEADER_LINE + EVENT_LINE.replace('"res": 3', '"res": "x"')}),
    Case("capture-bad-base64", ["replay", "{d}/cap.jsonl"], ["cap.jsonl:3", "base64"],
         {"cap.jsonl": HEADER_LINE + EVENT_LINE + EVENT_LINE.replace('"fd": 3', '"fd": {"$b": "!!"}')}),
    Case("capture-unknown-kind", ["replay", "{d}/cap.jsonl"], ["cap.jsonl:2", "unknown record kind"],
         {"cap.jsonl": HEADER_LINE + '{"kind":"blob"}\n'}),
    Case("capture-bad-gzip", ["replay", "{d}/cap.jsonl.gz"], ["cap.jsonl.gz:1", "cannot read"],
         {"cap.jsonl.gz": b"\x1f\x8b\x08\x00garbage"}),
    Case("capture-not-gzip", ["replay", "{d}/cap.jsonl.gz"], ["cap.jsonl.gz:1", "cannot read"],
         {"cap.jsonl.gz": HEADER_LINE}),
    Case("capture-missing", ["replay", "{d}/nope.jsonl"], ["nope.jsonl", "no such capture file"]),
    Case("capture-missing-argument", ["replay"], ["CAPTURE", "pdigpy replay -h"]),
]

COMMAND_LINES = [
    Case("flag-unknown", ["--bogus", "--", "/bin/true"], ["--bogus", "pdigpy -h"]),
    Case("flag-unknown-replay", ["replay", "{d}/x.jsonl", "--bogus"], ["--bogus", "pdigpy replay -h"]),
    Case("command-without-dashdash", ["/bin/true"], ["after --", "/bin/true"]),
    Case("nothing-to-trace", [], ["nothing to trace", "-p PID"]),
    Case("nothing-after-dashdash", ["--"], ["nothing after --"]),
    Case("pid-not-a-number", ["-p", "abc"], ["-p", "'abc'", "process id"]),
    Case("pid-zero", ["-p", "0"], ["-p", "'0'"]),
    Case("pid-nonexistent", ["-p", "4194303"], ["4194303", "no such process"], code=1),
    Case("pid-and-command", ["-p", "1", "--", "/bin/true"], ["either -p PID or -- COMMAND"]),
    Case("follow-without-pid", ["--follow", "--", "/bin/true"], ["--follow", "-p PID"]),
    Case("fail-on-bad-priority", ["--fail-on", "loud", "--", "/bin/true"], ["--fail-on", "'loud'", "warning"]),
    Case("fail-on-missing-value", ["--fail-on"], ["--fail-on", "expected one argument"]),
    Case("stats-interval-not-a-number", ["--stats-interval", "x", "--", "/bin/true"], ["--stats-interval", "'x'"]),
    Case("stats-interval-negative", ["--stats-interval", "-1", "--", "/bin/true"], ["--stats-interval"]),
    Case("stats-interval-infinite", ["--stats-interval", "inf", "--", "/bin/true"], ["--stats-interval", "inf"]),
    Case("stats-interval-huge", ["--stats-interval", "1e300", "--", "/bin/true"], ["--stats-interval", "1e300"]),
    Case("stats-interval-zero", ["--stats-interval", "0", "--", "/bin/true"], ["--stats-interval", "positive"]),
    Case("stats-file-unwritable", ["--stats-file", "{d}/no/dir/s", "--", "/bin/true"], ["--stats-file", "cannot write"]),
    Case("events-unwritable", ["--events", "{d}/no/dir/e", "--", "/bin/true"], ["--events", "cannot write"]),
    Case("list-unknown-source", ["--list=k8s"], ["--list=k8s", "--list=syscall"]),
    Case("list-rules-with-command", ["-L", "--", "/bin/true"], ["-L", "drop the"]),
    Case("exclusive-modes", ["--list", "--print-filter"], ["cannot be combined"]),
    Case("junit-unwritable", ["--junit-xml", "{d}/no/dir/j.xml", "--", "/bin/true"], ["--junit-xml", "cannot write"]),
]

ALL = RULES + CONFIG + OPTIONS + CAPTURES + COMMAND_LINES
# A live run needs a command; rows that are about the inputs (not the command line) get one.
_NEEDS_COMMAND = {c.id for c in RULES + CONFIG + OPTIONS}


def _params():
    for case in ALL:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input_gets_one_clear_complaint(case: Case, tmp_path: Path) -> None:
    for name, content in case.files.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    args = [a.replace("{d}", str(tmp_path)) for a in case.args]
    if case.id in _NEEDS_COMMAND:
        args += ["--", "/bin/true"]
    proc = run_pdigpy(args, cwd=tmp_path)
    err = proc.stderr.decode("utf-8", "replace")
    lines = stderr_lines(proc)
    assert "Traceback" not in err and "internal error" not in err, err
    assert proc.stdout == b"", "pdigpy wrote on stdout, which belongs to the app"
    assert lines, f"no complaint at all (exit {proc.returncode})"
    if case.code is None:  # a warning and a run, or an error
        assert proc.returncode in (0, 2), err
        assert proc.returncode == 2 or "warning" in err.lower(), err
    else:
        assert proc.returncode != 0, f"exit 0 for bad input {args}; stderr: {err!r}"
        assert proc.returncode == case.code, err
    assert len(lines) <= case.max_lines, f"{len(lines)} lines: {err}"
    for needle in case.place:
        assert needle.lower() in err.lower(), f"{needle!r} not named in {err!r}"
    last = lines[-1]
    assert last.startswith(("pdigpy:", "pdigpy replay:")), last


def test_rules_report_ends_with_the_fix_line(tmp_path: Path) -> None:
    """The multi-line Falco report is followed by pdigpy's own line saying how to check the file."""
    (tmp_path / "bad.yaml").write_text(_rule(priority="LOUD"))
    proc = run_pdigpy(["-r", str(tmp_path / "bad.yaml"), "--", "/bin/true"], cwd=tmp_path)
    lines = stderr_lines(proc)
    assert lines[0] == f"{tmp_path / 'bad.yaml'}: Invalid"
    assert lines[-1] == "pdigpy: the rules have errors (above); fix them, and check a file with pdigpy -V FILE"
    assert proc.returncode == 2


def test_the_good_twins_are_accepted(tmp_path: Path) -> None:
    """The table's inputs differ from valid ones only in the fault: the valid forms run (exit 0)."""
    (tmp_path / "ok.yaml").write_text(RULE_OK)
    (tmp_path / "c.yaml").write_text("json_output: true\npriority: warning\noutputs_queue:\n  capacity: 5\n")
    (tmp_path / "cap.jsonl").write_text(HEADER_LINE + EVENT_LINE)
    live = run_pdigpy(["-r", str(tmp_path / "ok.yaml"), "-c", str(tmp_path / "c.yaml"),
                       "-o", "json_output=false", "-o", "priority=error",
                       "--fail-on", "warning", "--", "/bin/true"], cwd=tmp_path)
    assert live.returncode == 0, live.stderr
    replay = run_pdigpy(["replay", str(tmp_path / "cap.jsonl"), "-r", str(tmp_path / "ok.yaml")], cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr

"""Which loaded rules turn the per-open dev/ino stat on (pdigpy.app._set_fd_stat), decided on the
real engine with real rules files: the fields that name dev/ino always do; evt.args only on a
rule that can match an open, since no other event carries an open's dev/ino."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pdigpy import app
from pdigpy.config import load_config, resolve_rules_files
from pdigpy.engine.engine import RuleEngine
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.tracer import decode

REPO = Path(__file__).resolve().parents[2]


def _stat_after_loading(tmp_path: Path, rules_text: str | None, events: str | None = None) -> bool:
    paths = [str(REPO / "rules")]
    if rules_text is not None:
        extra = tmp_path / "extra.yaml"
        extra.write_text(rules_text)
        paths.append(str(extra))
    config = load_config(None, [])
    engine = RuleEngine(FieldRegistry(), cache=False)
    result = engine.load_files(resolve_rules_files(paths, config))
    assert result.ok, result.report_text()
    before = decode.FD_STAT
    try:
        decode.set_fd_stat(not before)  # the call below must decide, not inherit
        app._set_fd_stat(argparse.Namespace(events=events), config, engine)
        return decode.FD_STAT
    finally:
        decode.set_fd_stat(before)


RULE = """
- rule: extra
  desc: test rule
  condition: evt.type in ({types}) and proc.name = never-such-process
  output: "extra {output}"
  priority: WARNING
"""


@pytest.mark.parametrize(
    ("types", "output", "expected"),
    [
        (None, None, False),  # our default rules: nothing shows an open's dev/ino
        ("setuid", "%evt.args", False),  # whole arguments of an event without dev/ino
        ("openat", "%evt.args", True),  # whole arguments of an open
        ("openat", "%evt.arg[6]", True),
        ("setuid", "%fd.ino", True),  # the field itself, whatever the event
        ("openat", "%fd.name %evt.arg.flags", False),
    ("mount", "%evt.arg.dev", False),  # mount's dev is its source device
    ("openat", "%evt.arg.ino", True),
    ],
)
def test_stat_follows_what_the_rules_can_show(tmp_path, types, output, expected):
    text = None if types is None else RULE.format(types=types, output=output)
    assert _stat_after_loading(tmp_path, text) is expected


def test_a_capture_keeps_the_stat_on(tmp_path):
    assert _stat_after_loading(tmp_path, None, events=str(tmp_path / "cap.jsonl")) is True

"""The per-open stat for dev/ino (pdigpy.tracer.decode.FD_STAT) is on exactly when something can
show those values: a rule or output format naming fd.ino/fd.dev, an append_output entry, or a
capture (--events), which a later replay may read with any rules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli_helpers import run_pdigpy

SUFFIX = ".pdigpy-fdstat-marker"


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / f"m{os.getpid()}{SUFFIX}"
    path.write_text("x\n")
    return path


def _rules(tmp_path: Path, output: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(f"""\
- rule: fdstat marker opened
  desc: an open of the test marker
  condition: evt.type in (open, openat, openat2) and fd.name endswith {SUFFIX}
  output: "{output}"
  priority: WARNING
""")
    return path


def _alert_outputs(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Warning marker open " in line]


def test_a_rule_output_with_fd_ino_shows_the_real_inode(tmp_path, marker):
    rules = _rules(tmp_path, "marker open ino=%fd.ino dev=%fd.dev file=%fd.name")
    res = run_pdigpy("-r", str(rules), "--", "cat", str(marker))
    assert res.returncode == 0, res.stderr
    lines = _alert_outputs(res.stderr)
    assert len(lines) == 1, res.stderr
    ino = os.stat(marker).st_ino
    assert ino != 0 and f"ino={ino} " in lines[0]


def test_append_output_with_fd_ino_keeps_the_stat_on(tmp_path, marker):
    rules = _rules(tmp_path, "marker open file=%fd.name")
    config = tmp_path / "falco.yaml"
    config.write_text("append_output:\n  - extra_output: \"ino=%fd.ino\"\n")
    res = run_pdigpy("-c", str(config), "-r", str(rules), "--", "cat", str(marker))
    assert res.returncode == 0, res.stderr
    lines = _alert_outputs(res.stderr)
    assert len(lines) == 1, res.stderr
    assert f"ino={os.stat(marker).st_ino}" in lines[0]


@pytest.mark.parametrize("custom_rules", [False, True], ids=["default-rules", "rules-without-fd-ino"])
def test_a_capture_always_has_dev_and_ino(tmp_path, marker, custom_rules):
    capture = tmp_path / "capture.jsonl"
    rule_args = ["-r", str(_rules(tmp_path, "marker open file=%fd.name"))] if custom_rules else []
    res = run_pdigpy(*rule_args, "--events", str(capture), "--", "cat", str(marker))
    assert res.returncode == 0, res.stderr
    opens = [r for r in map(json.loads, capture.read_text().splitlines())
             if r.get("kind") == "event" and r["type"] in ("open", "openat", "openat2")
             and r["args"].get("name") == str(marker)]
    assert len(opens) == 1
    st = os.stat(marker)
    assert opens[0]["args"]["ino"] == st.st_ino != 0
    assert opens[0]["args"]["dev"] != 0

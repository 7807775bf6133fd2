"""Run the real ``pdigpy`` on the bounds helper with a capture and an alerts file; read both back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pdigpy.events.capture import read_capture
from pdigpy.events.model import Event

HERE = Path(__file__).resolve().parent
RULES = """\
- rule: h2 bounds open
  desc: an open of a file whose name carries the test's marker
  condition: evt.type in (open, openat) and fd.name contains "h2bounds"
  output: "opened %fd.name res=%evt.res"
  priority: WARNING
- rule: h2 bounds exec
  desc: an exec of /bin/true by the bounds helper
  condition: evt.type = execve and proc.name = true and proc.pname = bounds_prog
  output: "exec %proc.cmdline"
  priority: WARNING
"""


@dataclass
class Traced:
    code: int
    stderr: str
    events: list[Event] = field(default_factory=list)
    records: list[tuple[str, object]] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    capture: Path | None = None
    rules: Path | None = None


def pdigpy_argv() -> list[str]:
    script = Path(sys.executable).with_name("pdigpy")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "pdigpy"]


def trace(work: Path, argv: list[str | bytes], timeout: float = 300) -> Traced:
    """``pdigpy -r RULES --events CAP -o json_output=true`` (alerts to a file) -- argv."""
    rules = work / "bounds-rules.yaml"
    rules.write_text(RULES)
    capture = work / "bounds-capture.jsonl"
    alerts = work / "bounds-alerts.json"
    for p in (capture, alerts):
        p.unlink(missing_ok=True)
    env = dict(os.environ)
    env.pop("PDIGPY_CONFIG", None)
    proc = subprocess.run(
        [*pdigpy_argv(), "-r", str(rules), "--events", str(capture), "--no-summary",
         "-o", "json_output=true", "-o", "stderr_output.enabled=false", "-o", "file_output.enabled=true",
         "-o", f"file_output.filename={alerts}", "--", *argv],
        capture_output=True, env=env, timeout=timeout, cwd=work)
    records = list(read_capture(capture))
    out = Traced(proc.returncode, proc.stderr.decode("utf-8", "replace"), records=records,
                 events=[v for k, v in records if k == "event"], capture=capture, rules=rules)
    if alerts.exists():
        out.alerts = [json.loads(line) for line in alerts.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def replay_alerts(traced: Traced, work: Path) -> list[dict]:
    """``pdigpy replay`` of the capture with the same rules: the alerts as JSON objects."""
    env = dict(os.environ)
    env.pop("PDIGPY_CONFIG", None)
    proc = subprocess.run([*pdigpy_argv(), "replay", str(traced.capture), "-r", str(traced.rules),
                           "--no-summary", "-o", "json_output=true"],
                          capture_output=True, env=env, timeout=300, cwd=work)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stderr.decode("utf-8").splitlines() if line.startswith("{")]

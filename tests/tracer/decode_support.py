"""Helpers for the decoder tests: trace a real command and get typed Event objects back.

The Tracer runs in its own Python process (ptrace wants the tracer to be a
process of its own, and pytest must not be disturbed); it pickles the events
(Event, SockTuple and SockAddr are plain dataclasses) for the test to inspect
with their real types, which JSON would flatten.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_RUNNER = r"""
import pickle, sys
from pdigpy.tracer.session import Tracer, TraceOptions

class Sink:
    def __init__(self):
        self.events = []
        self.snaps = []
    def on_event(self, evt):
        evt.thread = None
        evt.fdinfo = None
        self.events.append(evt)
    def on_snapshot(self, info):
        self.snaps.append(info)

out, types, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
sink = Sink()
opts = TraceOptions(event_types=None if types == "all" else frozenset(types.split(",")))
rc = Tracer(sink, opts).run_command(cmd)
with open(out, "wb") as fh:
    pickle.dump((rc, sink.events, sink.snaps), fh)
"""


@dataclass
class Run:
    rc: int
    events: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)
    stdout: bytes = b""
    stderr: str = ""

    def of_type(self, *types: str) -> list:
        return [e for e in self.events if e.type in types]

    def opens_of(self, name_suffix: str) -> list:
        return [e for e in self.of_type("open", "openat", "openat2", "creat")
                if (e.args.get("name") or "").endswith(name_suffix)]


def trace(argv: list[str], types: str, tmp_path: Path, timeout: float = 60, cwd: str | None = None) -> Run:
    out = tmp_path / "events.pickle"
    p = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(out), types, *argv],
        capture_output=True,
        timeout=timeout,
        cwd=cwd,
    )
    assert out.exists(), f"tracer produced no events: rc={p.returncode} stderr={p.stderr.decode(errors='replace')}"
    with open(out, "rb") as fh:
        rc, events, snaps = pickle.load(fh)
    return Run(rc, events, snaps, p.stdout, p.stderr.decode(errors="replace"))


def compile_c(source: str, tmp_path: Path, name: str = "prog") -> str:
    """Compile a C program into tmp_path; the test fails (not skips) without gcc."""
    assert shutil.which("gcc"), "gcc is required for the decoder tests"
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    exe = tmp_path / name
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(src)], check=True, capture_output=True)
    return str(exe)

"""Helpers of the tracer tests (a module with a unique name: several test
directories have a conftest.py, so ``from conftest import`` is ambiguous)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HELPERS = REPO / "tests" / "helpers"
RUNNER = HELPERS / "run_tracer.py"
PYTHON = sys.executable


@dataclass
class Traced:
    rc: int
    stdout: bytes
    stderr: str
    events: list[dict] = field(default_factory=list)
    snapshots: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    def of_type(self, *types: str) -> list[dict]:
        return [e for e in self.events if e["type"] in types]


def read_events(path: Path) -> tuple[list[dict], list[dict]]:
    events, snaps = [], []
    if not path.exists():
        return events, snaps
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        (snaps if rec["type"] == "snapshot" else events).append(rec)
    return events, snaps


def runner_argv(events: Path, stats: Path | None = None, seccomp: bool = True, types: str | None = None,
                attach: int | None = None, follow: bool = False) -> list[str]:
    argv = [PYTHON, str(RUNNER), "--events", str(events)]
    if stats is not None:
        argv += ["--stats", str(stats)]
    if not seccomp:
        argv.append("--no-seccomp")
    if types:
        argv += ["--types", types]
    if follow:
        argv.append("--follow")
    if attach:
        argv += ["--attach", str(attach)]
    return argv


def children_of(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            data = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        rest = data[data.rfind(b")") + 2 :].split()
        if int(rest[1]) == pid:
            out.append(int(name))
    return out


def proc_state(pid: int) -> str | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()[0].decode()


def wait_for(pred, timeout: float = 10.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Started:
    """A tracer subprocess running an app, for tests that signal one of them."""

    def __init__(self, argv: list[str], tmp_path: Path, seccomp: bool = True, types: str | None = None,
                 attach: int | None = None) -> None:
        self.events_path = tmp_path / f"events-{time.monotonic_ns()}.jsonl"
        cmd = runner_argv(self.events_path, None, seccomp, types, attach)
        if attach is None:
            cmd += ["--"] + list(argv)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def readline(self, timeout: float = 20.0) -> bytes:
        """One line of the app's stdout (the tracer writes none)."""
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError("no output from the traced app")
        return self.proc.stdout.readline()

    def app_pid(self) -> int:
        return wait_for(lambda: (children_of(self.proc.pid) or [0])[0], what="the app process")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 30.0) -> tuple[int, bytes, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err.decode(errors="replace")

    def events(self) -> list[dict]:
        return read_events(self.events_path)[0]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

"""Fixtures for the hostile-workload tests: C workloads compiled by gcc, pdigpy's CLI run on them.

Every workload is a small C program in progs/ that prints exactly what it did
(pids, tids, counts, results). The test runs it under the real CLI
(``pdigpy --events FILE -- prog ...``), reads the capture back with
``pdigpy.events.capture.read_capture`` and compares, per pid/tid, the events
with what the program says it did. Nothing is mocked.

Workloads that touch files use unique names below a per-test directory whose
name starts with ``pdigpy-hostile-``; processes a test leaves behind are found
by a unique marker in their argv and killed at teardown.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROGS = Path(__file__).resolve().parent / "progs"
PDIGPY = [sys.executable, "-m", "pdigpy"]


@pytest.fixture(scope="session")
def cprog(tmp_path_factory):
    """cprog("forkstorm") -> path of progs/forkstorm.c compiled with gcc (extra flags allowed)."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required to build the hostile workloads")
    out = tmp_path_factory.mktemp("hostile-bin")
    built: dict[tuple, str] = {}

    def get(name: str, *flags: str) -> str:
        key = (name, flags)
        if key not in built:
            exe = out / (name + ("-" + "-".join(f.strip("-") for f in flags) if flags else ""))
            p = subprocess.run(["gcc", "-O2", "-pthread", *flags, "-o", str(exe), str(PROGS / f"{name}.c")],
                               capture_output=True, text=True)
            if p.returncode != 0:
                pytest.fail(f"gcc {name}.c failed:\n{p.stderr}")
            built[key] = str(exe)
        return built[key]

    return get


@pytest.fixture
def work(tmp_path):
    """A fresh directory for marker files, named so that leftovers are recognisable."""
    d = Path("/tmp") / f"pdigpy-hostile-{uuid.uuid4().hex[:12]}"
    d.mkdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    events: list = field(default_factory=list)  # pdigpy.events.model.Event
    snapshots: list = field(default_factory=list)

    def of_type(self, *types: str) -> list:
        return [e for e in self.events if e.type in types]

    def opens_of(self, path: str | Path) -> list:
        p = str(path)
        return [e for e in self.events if e.type in ("open", "openat", "openat2") and e.args.get("name") == p]

    def lines(self, prefix: str) -> list[list[str]]:
        """stdout lines starting with ``prefix``, split into words."""
        return [ln.split() for ln in self.stdout.splitlines() if ln.startswith(prefix + " ") or ln == prefix]

    def alerts(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if not ln.startswith("pdigpy:") and ": " in ln
                and any(p in ln for p in ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice",
                                          "Informational", "Debug"))]


def read_events(path: Path) -> tuple[list, list]:
    from pdigpy.events.capture import read_capture

    events, snaps = [], []
    for kind, value in read_capture(path):
        if kind == "event":
            events.append(value)
        elif kind == "snapshot":
            snaps.append(value)
    return events, snaps


def pdigpy_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.pop("PDIGPY_CONFIG", None)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if extra:
        env.update(extra)
    return env


def pdigpy_cmd(events: Path | None, rules: Path | None, opts: list[str] | None, argv: list[str]) -> list[str]:
    cmd = list(PDIGPY)
    if events is not None:
        cmd += ["--events", str(events)]
    if rules is not None:
        cmd += ["-r", str(rules)]
    cmd += list(opts or [])
    return cmd + ["--"] + list(argv)


@pytest.fixture
def run_pdigpy(tmp_path):
    """run_pdigpy(argv, rules=None, opts=None, timeout=120, capture=True) -> Run (the CLI, to the end)."""

    def run(argv: list[str], rules: Path | None = None, opts: list[str] | None = None, timeout: float = 120,
            capture: bool = True, env: dict | None = None) -> Run:
        ev = tmp_path / f"capture-{uuid.uuid4().hex[:8]}.jsonl" if capture else None
        p = subprocess.run(pdigpy_cmd(ev, rules, opts, argv), capture_output=True, timeout=timeout,
                           env=pdigpy_env(env), stdin=subprocess.DEVNULL)
        events, snaps = read_events(ev) if ev is not None and ev.exists() else ([], [])
        return Run(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), events, snaps)

    return run


class Started:
    """pdigpy running an app in the background, for tests that signal or kill one of them.

    Reader threads collect stdout (line by line, so that readline() never waits
    on data a buffer already holds) and stderr.
    """

    def __init__(self, argv: list[str], tmp_path: Path, rules: Path | None, opts: list[str] | None,
                 env: dict | None) -> None:
        import queue
        import threading

        self.events_path = tmp_path / f"capture-{uuid.uuid4().hex[:8]}.jsonl"
        self.proc = subprocess.Popen(pdigpy_cmd(self.events_path, rules, opts, argv), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=pdigpy_env(env))
        self._lines: queue.Queue = queue.Queue()
        self._err: list[bytes] = []
        self._readers = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for th in self._readers:
            th.start()

    def _read_out(self) -> None:
        for line in iter(self.proc.stdout.readline, b""):
            self._lines.put(line.decode(errors="replace"))

    def _read_err(self) -> None:
        self._err.append(self.proc.stderr.read())

    def readline(self, timeout: float = 30.0) -> str:
        """The next line of the app's stdout (pdigpy writes none there)."""
        import queue

        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no output from the traced app") from None

    def wait(self, timeout: float = 60.0) -> Run:
        """Wait for pdigpy to exit; stdout holds the lines readline() did not take."""
        self.proc.wait(timeout=timeout)
        for th in self._readers:
            th.join(timeout)
        rest = []
        while not self._lines.empty():
            rest.append(self._lines.get())
        events, snaps = read_events(self.events_path) if self.events_path.exists() else ([], [])
        return Run(self.proc.returncode, "".join(rest), b"".join(self._err).decode(errors="replace"), events, snaps)

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def start_pdigpy(tmp_path):
    started: list[Started] = []

    def start(argv: list[str], rules: Path | None = None, opts: list[str] | None = None,
              env: dict | None = None) -> Started:
        s = Started(argv, tmp_path, rules, opts, env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()


def procs_with_marker(marker: str) -> list[int]:
    """Live (non-zombie) processes whose argv contains ``marker``."""
    found = []
    needle = marker.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if needle not in Path(f"/proc/{name}/cmdline").read_bytes():
                continue
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        if stat[stat.rfind(b")") + 2:].split()[0] != b"Z":
            found.append(int(name))
    return found


@pytest.fixture
def marker_reaper():
    """marker_reaper(m): processes carrying ``m`` in argv are SIGKILLed at teardown (if a test failed)."""
    markers: list[str] = []
    yield markers.append
    for m in markers:
        for pid in procs_with_marker(m):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def wait_for(pred, timeout: float = 10.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def proc_state(pid: int) -> str | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return data[data.rfind(b")") + 2:].split()[0].decode()


def write_rules(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def helpers():
    """The module-level helpers, for tests (test modules must not import conftest)."""

    class H:
        procs_with_marker = staticmethod(procs_with_marker)
        wait_for = staticmethod(wait_for)
        proc_state = staticmethod(proc_state)
        read_events = staticmethod(read_events)
        write_rules = staticmethod(write_rules)

    return H

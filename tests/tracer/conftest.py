"""Fixtures for tracer tests: compiled C helpers and a Tracer run in a subprocess.

Every test traces real processes. The Tracer runs in its own Python process
(tests/helpers/run_tracer.py) so that it is the main thread of a process,
can be signalled and SIGKILLed, and cannot disturb pytest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from tracer_helpers import HELPERS, Started, Traced, read_events, runner_argv


@pytest.fixture(scope="session")
def cbin(tmp_path_factory):
    """cbin("threads") -> path of tests/helpers/threads.c compiled with gcc."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required to build the tracer test helpers")
    out = tmp_path_factory.mktemp("cbin")
    built: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in built:
            exe = out / name
            subprocess.run(
                ["gcc", "-O2", "-pthread", "-o", str(exe), str(HELPERS / f"{name}.c")],
                check=True,
                capture_output=True,
            )
            built[name] = str(exe)
        return built[name]

    return get


@pytest.fixture
def run_traced(tmp_path):
    """run_traced(argv, seccomp=True, types=None, timeout=60, stdin=None) -> Traced."""

    def run(argv: list[str], seccomp: bool = True, types: str | None = None, timeout: float = 60,
            stdin: bytes | None = None, prefix: list[str] | None = None, env: dict | None = None) -> Traced:
        ev = tmp_path / f"events-{time.monotonic_ns()}.jsonl"
        st = tmp_path / f"stats-{time.monotonic_ns()}.json"
        cmd = (prefix or []) + runner_argv(ev, st, seccomp, types) + ["--"] + list(argv)
        full_env = dict(os.environ, **env) if env else None
        p = subprocess.run(cmd, input=stdin or b"", capture_output=True, timeout=timeout, env=full_env)
        events, snaps = read_events(ev)
        stats = json.loads(st.read_text()) if st.exists() else {}
        return Traced(p.returncode, p.stdout, p.stderr.decode(errors="replace"), events, snaps, stats)

    return run


@pytest.fixture
def start_traced(tmp_path):
    started: list[Started] = []

    def start(argv: list[str], **kw) -> Started:
        s = Started(argv, tmp_path, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()

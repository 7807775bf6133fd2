"""Run the real ``pdigpy`` command on a malformed input and judge its complaint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def pdigpy_argv() -> list[str]:
    script = Path(sys.executable).with_name("pdigpy")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "pdigpy"]


def run_pdigpy(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PDIGPY_CONFIG", None)
    return subprocess.run([*pdigpy_argv(), *args], capture_output=True, env=env, cwd=cwd,
                          timeout=timeout)


def stderr_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]

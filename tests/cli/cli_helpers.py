"""Run the real ``pdigpy`` command in a subprocess (shared by the tests/cli modules)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def pdigpy_argv() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m pdigpy``."""
    script = Path(sys.executable).with_name("pdigpy")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "pdigpy"]


def run_pdigpy(*args: str, env: dict[str, str] | None = None, cwd: str | Path | None = None,
               timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("PDIGPY_CONFIG", None)
    if env:
        full_env.update(env)
    return subprocess.run([*pdigpy_argv(), *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, input=input)

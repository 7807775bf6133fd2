"""Fixtures for the bounds tests: the helper program, and pdigpy run on it with a capture."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bounds_helpers import HERE


@pytest.fixture(scope="session")
def bounds_prog(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("bounds-bin") / "bounds_prog"
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(exe), str(HERE / "bounds_prog.c"), "-lpthread"],
                   check=True, capture_output=True)
    return exe

"""Fixtures shared by the on-demand state tests (test_needs_on_demand*.py)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

NEEDS_WORKLOAD_SRC = Path(__file__).with_name("needs_on_demand_workload.c")


@pytest.fixture(scope="session")
def needs_workload(tmp_path_factory) -> Path:
    """needs_on_demand_workload.c, built once: it exercises every state group."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    out = tmp_path_factory.mktemp("needs") / "needs_on_demand_workload"
    subprocess.run(["gcc", "-O1", "-o", str(out), str(NEEDS_WORKLOAD_SRC)], check=True)
    return out


@pytest.fixture
def needs_workdir():
    """A unique /tmp/pdigpy-needs-* tree (a/b/f) that the workload walks; removed afterwards."""
    path = Path("/tmp") / f"pdigpy-needs-{uuid.uuid4().hex[:8]}"
    (path / "a" / "b").mkdir(parents=True)
    (path / "a" / "b" / "f").write_text("f\n")
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)

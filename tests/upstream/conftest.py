"""Fixtures for the upstream-rules live tests: the compiled action helper, the ECS metadata
endpoint, a private work directory and the resources some actions need, all cleaned up
even when a test fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from ecs_metadata import MetadataServer
from upstream_ctx import Ctx

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def actions_bin(tmp_path_factory) -> Path:
    """tests/upstream/actions.c, compiled once per session."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler for tests/upstream/actions.c")
    out = tmp_path_factory.mktemp("upstream-actions") / "actions"
    subprocess.run([gcc, "-O1", "-Wall", "-Werror", "-o", str(out), str(HERE / "actions.c")], check=True)
    return out


@pytest.fixture(scope="session")
def ecs_endpoint():
    """A local ECS task metadata endpoint (v4) for the session; yields the URI."""
    server = MetadataServer()
    try:
        yield server.uri
    finally:
        server.close()


@pytest.fixture
def ctx(actions_bin):
    work = Path(tempfile.mkdtemp(prefix="pdigpy-upstream-"))
    os.chmod(work, 0o755)  # world-readable: some actions run as nobody
    c = Ctx(work=work, actions=actions_bin)
    try:
        yield c
    finally:
        c.close()

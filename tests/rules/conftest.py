"""Fixtures for the default-rules tests: a private work directory removed even on failure."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def work():
    """A fresh directory under /tmp, world-readable (some tests run programs as nobody)."""
    path = Path(tempfile.mkdtemp(prefix="pdigpy-rules-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cleanup():
    """Paths to remove after the test, whatever happens (files the app creates outside `work`)."""
    paths: list[Path] = []
    try:
        yield paths
    finally:
        for p in paths:
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink()
            except FileNotFoundError:
                pass

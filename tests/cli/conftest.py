"""Fixtures for the command-line tests."""

from __future__ import annotations

import pytest

from cli_helpers import run_pdigpy


@pytest.fixture
def pdigpy():
    return run_pdigpy

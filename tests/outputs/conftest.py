from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from outputs_helpers import Receiver  # noqa: E402


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def utc_tz():
    """Run with TZ=UTC so Falco's local-time prefix is predictable."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def hubs():
    """Hubs made by a test are closed at the end even if it fails."""
    made = []
    yield made
    for hub in made:
        hub.close(1.0, report=False)

"""Paths at the kernel's limits and file names that are not UTF-8, from the event to the alert.

Limits (docs/limits.md): a path argument is read up to PATH_MAX = 4096 bytes. The kernel accepts
at most 4095 bytes plus the NUL, so every path of a call that can succeed is read whole; a
longer one (refused with ENAMETOOLONG) is kept to its first 4096 bytes. Bytes that are not UTF-8
become lone surrogates (os.fsdecode) in events, the state and the capture, so they survive a
replay exactly; alert text and JSON are UTF-8 with U+FFFD for each such byte.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from bounds_helpers import replay_alerts, trace

PATH_MAX = 4096
MARK = "h2bounds-"


def _deep_dir(base: Path, room: int) -> str:
    """A real directory under ``base`` whose path leaves ``room`` bytes for '/' + a file name."""
    path = str(base)
    comp = "d" * 200  # below NAME_MAX (255)
    while len(path) + 1 + len(comp) + 1 + room < PATH_MAX - 1:
        path += "/" + comp
    os.makedirs(path)
    return path


@pytest.fixture
def deep(tmp_path: Path):
    d = _deep_dir(tmp_path, 60)
    yield d
    shutil.rmtree(tmp_path / ("d" * 200), ignore_errors=True)


def _openats(traced, marker: str = MARK):
    return [e for e in traced.events if e.type in ("open", "openat") and marker in (e.args.get("name") or "")]


def test_path_of_exactly_4095_bytes_is_decoded_whole(tmp_path, deep, bounds_prog) -> None:
    ok = deep + "/" + MARK + "f" * (PATH_MAX - 1 - len(deep) - 1 - len(MARK))
    assert len(os.fsencode(ok)) == PATH_MAX - 1
    traced = trace(tmp_path, [str(bounds_prog), "open", ok])
    assert traced.code == 0, traced.stderr
    (evt,) = _openats(traced)
    assert evt.res >= 0 and evt.args["name"] == ok
    (alert,) = traced.alerts
    assert alert["output_fields"]["fd.name"] == ok
    assert alert["output_fields"]["evt.res"] == "SUCCESS"
    assert os.path.exists(ok)


def test_paths_longer_than_path_max_fail_and_are_cut_at_4096_bytes(tmp_path, deep, bounds_prog) -> None:
    ok = deep + "/" + MARK + "f" * (PATH_MAX - 1 - len(deep) - 1 - len(MARK))
    just_over = ok + "g"  # 4096 bytes: no room for the NUL
    far_over = deep + "/" + MARK + "x" * 6000  # a path of 10k bytes
    traced = trace(tmp_path, [str(bounds_prog), "open", just_over, far_over])
    assert traced.code == 0, traced.stderr
    assert traced.stderr.split()[:2] == [str(-errno.ENAMETOOLONG)] * 2
    first, second = _openats(traced)
    assert first.res == second.res == -errno.ENAMETOOLONG
    assert first.args["name"] == just_over  # 4096 bytes: whole, by luck of the limit
    assert second.args["name"] == far_over[:PATH_MAX]  # cut: the kernel refused it anyway
    for alert in traced.alerts:
        assert alert["output_fields"]["evt.res"] == "ENAMETOOLONG"
        assert alert["output_fields"]["fd.name"].startswith(deep)


def test_no_successful_call_carries_a_cut_path(tmp_path, deep, bounds_prog) -> None:
    """The only paths that reach the 4096-byte cap belong to calls the kernel refused."""
    ok = deep + "/" + MARK + "f" * (PATH_MAX - 1 - len(deep) - 1 - len(MARK))
    traced = trace(tmp_path, [str(bounds_prog), "open", ok, ok + "/" + "y" * 300, ok + "z" * 300])
    capped = [e for e in _openats(traced) if len(os.fsencode(e.args["name"])) >= PATH_MAX]
    assert len(capped) == 2
    assert all(e.res == -errno.ENAMETOOLONG for e in capped)
    # The documented surprise (docs/limits.md): a refused path cut right after a '/' keeps the
    # slash in the event, but fd.name is normalised without it, so the alert names the real
    # 4095-byte file; only evt.res (ENAMETOOLONG) tells the two alerts apart.
    assert capped[0].args["name"] == ok + "/"
    by_res = {a["output_fields"]["evt.res"]: a["output_fields"]["fd.name"] for a in traced.alerts}
    assert by_res["SUCCESS"] == ok
    assert ok in {a["output_fields"]["fd.name"] for a in traced.alerts if a["output_fields"]["evt.res"] != "SUCCESS"}


NOT_UTF8 = b"h2bounds-\xff\xfe-caf\xe9.txt"


def test_non_utf8_name_round_trips_event_capture_replay_alert(tmp_path, bounds_prog) -> None:
    path = os.fsencode(tmp_path) + b"/" + NOT_UTF8
    traced = trace(tmp_path, [str(bounds_prog), "open", path])
    assert traced.code == 0, traced.stderr
    (evt,) = _openats(traced)
    # event and state: the exact bytes, as lone surrogates
    assert os.fsencode(evt.args["name"]) == path
    exec_evt = next(e for e in traced.events if e.type == "execve")
    assert os.fsencode(exec_evt.args["args"][-1]) == path
    # capture: ASCII JSON with \udcXX escapes for the bad bytes (read back identically above)
    raw = traced.capture.read_bytes()
    assert raw.isascii() and b"\\udcff\\udcfe" in raw
    # alert JSON: valid UTF-8, each bad byte one U+FFFD; a replay gives the same alert
    (alert,) = traced.alerts
    expected = os.fsdecode(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    assert alert["output_fields"]["fd.name"] == expected
    assert expected.count("\ufffd") == 3
    replayed = replay_alerts(traced, tmp_path)
    assert [a["output_fields"] for a in replayed] == [alert["output_fields"]]
    assert [a["output"] for a in replayed] == [alert["output"]]
    os.unlink(path)

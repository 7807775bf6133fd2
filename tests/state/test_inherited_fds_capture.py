"""Snapshot fds in the capture (written, read back, validated) and how the state installs them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pdigpy.events.capture import CaptureError, CaptureWriter, read_capture
from pdigpy.events.model import Event
from pdigpy.events.procinfo import ProcFd, ProcInfo
from pdigpy.state.tables import State

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "cli"))
from cli_helpers import run_pdigpy  # noqa: E402

FDS = [
    ProcFd(0, "pipe", "pipe:[77]", ino=77),
    ProcFd(1, "file", "/var/log/caf\udce9.log", openflags=2 | 8, ino=12, dev=65024),
    ProcFd(3, "ipv4", "127.0.0.1:8080", l4proto="tcp", sip="127.0.0.1", sport=8080, is_server=True,
           cloexec=True),
    ProcFd(4, "ipv6", "::1:40000->::1:8080", l4proto="tcp", cip="::1", cport=40000, sip="::1", sport=8080,
           connected=True),
    ProcFd(5, "unix", "/run/app.sock", connected=True),
    ProcFd(6, "pidfd", pid=4242, cloexec=True),
    ProcFd(7, "directory", "/srv", openflags=1 | (1 << 10)),
]


def _write(path: Path, infos: list[ProcInfo]) -> None:
    with CaptureWriter(path) as w:
        w.write_header({"test": "fds"})
        for info in infos:
            w.write_snapshot(info)


def test_fds_round_trip_and_absent_fds_stay_absent(tmp_path):
    path = tmp_path / "cap.jsonl"
    with_fds = ProcInfo(tid=10, pid=10, ptid=1, comm="srv", fds=list(FDS))
    without = ProcInfo(tid=11, pid=10, ptid=1, comm="srv")
    _write(path, [with_fds, without])
    lines = path.read_text().splitlines()
    assert '"fds"' not in lines[2]  # no fds: no key, as older captures have it
    first = json.loads(lines[1])["info"]["fds"]
    assert first[0] == {"num": 0, "type": "pipe", "name": "pipe:[77]", "ino": 77}  # defaults left out
    snaps = [v for k, v in read_capture(path) if k == "snapshot"]
    assert snaps == [with_fds, without]
    assert snaps[1].fds is None


def test_a_newer_writers_fd_fields_are_ignored(tmp_path):
    path = tmp_path / "cap.jsonl"
    _write(path, [ProcInfo(tid=10, pid=10, ptid=1, fds=[ProcFd(3, "file", "/x")])])
    lines = path.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["info"]["fds"][0]["future_field"] = [1, 2]
    lines[1] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")
    snap = next(v for k, v in read_capture(path) if k == "snapshot")
    assert snap.fds == [ProcFd(3, "file", "/x")]


@pytest.mark.parametrize("fds, message", [
    ({"num": 3}, "snapshot record: 'fds' must be a list"),
    (["x"], "snapshot record: fds[0] must be an object"),
    ([{"num": -1, "type": "file"}], "snapshot record: fds[0]: 'num' must be a non-negative integer"),
    ([{"num": 3}], "snapshot record: fds[0]: 'type' must be a non-empty string"),
    ([{"num": 3, "type": "ipv4", "is_server": "yes"}], "snapshot record: fds[0]: 'is_server' must be a boolean"),
    ([{"num": 3, "type": "ipv4", "sport": True}], "snapshot record: fds[0]: 'sport' must be an integer"),
    ([{"num": 3, "type": "file"}, {"num": 4, "type": "file", "name": 7}],
     "snapshot record: fds[1]: 'name' must be a string"),
])
def test_bad_fd_records_are_one_line_with_the_place(tmp_path, fds, message):
    path = tmp_path / "bad.jsonl"
    _write(path, [ProcInfo(tid=10, pid=10, ptid=1)])
    lines = path.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["info"]["fds"] = fds
    lines[1] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CaptureError) as err:
        list(read_capture(path))
    assert str(err.value) == f"{path}:2: {message}"


def test_replay_of_a_capture_with_bad_fds_is_one_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    _write(path, [ProcInfo(tid=10, pid=10, ptid=1)])
    lines = path.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["info"]["fds"] = [{"num": "three", "type": "file"}]
    lines[1] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")
    rules = tmp_path / "r.yaml"
    rules.write_text("- rule: r\n  desc: d\n  condition: evt.type = write\n  output: o\n  priority: INFO\n")
    res = run_pdigpy("replay", str(path), "-r", str(rules))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert f"{path}:2:" in res.stderr and "'num' must be a non-negative integer" in res.stderr


def _probe(state: State, num: int, tid: int, fd: int) -> Event:
    evt = Event(num, 1000 + num, tid, 10, "read", 0, {"fd": fd})
    state.apply(evt)
    return evt


def test_state_installs_snapshot_fds_for_every_thread_of_the_process():
    state = State()
    # a thread's snapshot may come before the leader's (attach order); fds ride on the leader's
    state.add_snapshot(ProcInfo(tid=12, pid=10, ptid=1, comm="srv"))
    state.add_snapshot(ProcInfo(tid=10, pid=10, ptid=1, comm="srv", fds=list(FDS)))
    state.add_snapshot(ProcInfo(tid=13, pid=10, ptid=1, comm="srv"))
    assert state.errors == 0, state.last_error
    for tid in (10, 12, 13):
        assert state.get_thread(tid).fds is state.get_thread(10).fds
    listener = _probe(state, 1, 12, 3).fdinfo
    assert (listener.type, listener.typechar, listener.name, listener.nameraw, listener.is_server,
            listener.sport, listener.l4proto, listener.cloexec) == (
        "ipv4", "4", "127.0.0.1:8080", "", True, 8080, "tcp", True)
    log = _probe(state, 2, 13, 1).fdinfo
    assert (log.type, log.typechar, log.name, log.nameraw, log.openflags, log.ino, log.dev) == (
        "file", "f", "/var/log/caf\udce9.log", "/var/log/caf\udce9.log", 10, 12, 65024)
    assert _probe(state, 3, 10, 7).fdinfo.typechar == "d"
    assert state.get_thread(10).fds.get(6).extra == {"pid": 4242}  # as pidfd_open's handler keeps it
    assert _probe(state, 4, 10, 9).fdinfo is None  # not in the snapshot: unknown


def test_snapshot_fds_are_the_truth_at_their_stop_and_none_keeps_the_table():
    state = State()
    state.add_snapshot(ProcInfo(tid=10, pid=10, ptid=1, fds=[ProcFd(3, "file", "/a"), ProcFd(4, "file", "/b")]))
    state.add_snapshot(ProcInfo(tid=10, pid=10, ptid=1))  # fds not read: keep what is known
    assert [n for n in state.get_thread(10).fds] == [3, 4]
    state.add_snapshot(ProcInfo(tid=10, pid=10, ptid=1, fds=[ProcFd(4, "pipe", "pipe:[9]", ino=9)]))
    table = state.get_thread(10).fds
    assert [n for n in table] == [4] and table.get(4).type == "pipe"
    state.add_snapshot(ProcInfo(tid=10, pid=10, ptid=1, fds=[]))  # read, and nothing open
    assert len(state.get_thread(10).fds) == 0


def test_root_snapshot_then_execve_keeps_the_inherited_fds_but_cloexec_ones():
    """Spawn mode's order: the root's snapshot (with fds), then its execve event."""
    state = State()
    state.add_snapshot(ProcInfo(tid=1, pid=1, ptid=0, comm="init"))
    state.add_snapshot(ProcInfo(tid=20, pid=20, ptid=1, comm="app",
                                fds=[ProcFd(0, "pipe", "pipe:[5]", ino=5), ProcFd(3, "file", "/log", openflags=2),
                                     ProcFd(9, "file", "/stale", cloexec=True)]))
    evt = Event(1, 5, 20, 20, "execve", 0, {"exe": "app", "args": [], "pid": 20, "ptid": 1, "comm": "app"})
    state.apply(evt)
    assert state.errors == 0, state.last_error
    assert [n for n in evt.thread.fds] == [0, 3]
    assert evt.thread.parent.comm == "init"
    assert _probe(state, 2, 20, 3).fdinfo.name == "/log"

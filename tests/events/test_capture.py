"""Capture files: exact round trip of events and snapshots, clear errors on bad files."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdigpy.events.capture import CaptureError, CaptureWriter, read_capture
from pdigpy.events.model import Event, SockAddr, SockTuple
from pdigpy.events.procinfo import ProcInfo
from pdigpy.state.users import UserDb

NOT_UTF8 = os.fsdecode(b"/tmp/caf\xe9/\xff\xfe-\x80")  # latin-1 bytes: lone surrogates


def event_fields(evt: Event) -> tuple:
    return (evt.num, evt.ts, evt.tid, evt.pid, evt.type, evt.res, evt.cpu, evt.args)


def sample_events() -> list[Event]:
    return [
        Event(1, 1_700_000_000_123_456_789, 42, 42, "openat", 3,
              {"fd": 3, "dirfd": -100, "name": NOT_UTF8, "flags": 4097, "mode": 0o644,
               "dev": 0, "ino": 12345}),
        Event(2, 1_700_000_000_223_456_789, 42, 42, "write", 5,
              {"res": 5, "data": b"\x00\xffhi\n", "fd": 3, "size": 5}),
        Event(3, 1_700_000_000_323_456_789, 43, 42, "connect", -115,
              {"res": -115, "tuple": SockTuple("ipv6", "tcp", "::1", 40000, "::1", 443),
               "fd": 4, "addr": SockAddr("ipv6", "::1", 443)}),
        Event(4, 1_700_000_000_423_456_789, 44, 44, "execve", 0,
              {"res": 0, "exe": "/bin/sh", "args": ["-c", "echo \u00e9 " + NOT_UTF8],
               "env": ["A=1", "B=" + NOT_UTF8], "cgroups": [], "uid": 0}),
        Event(5, 1_700_000_000_523_456_789, 44, 44, "sendto", None,
              {"res": None, "data": b"", "fd": 5, "size": 0,
               "tuple": SockTuple("unix", "", "", 0, "", 0, "@abstract\x00x")}, cpu=1),
        Event(6, 1_700_000_000_623_456_789, 44, 44, "procexit", None,
              {"status": 0, "ret": 0, "sig": 0, "core": 0, "reaper_tid": 0}),
    ]


def sample_snapshot() -> ProcInfo:
    return ProcInfo(tid=10, pid=10, ptid=1, comm="bash", exe="-bash", exepath="/usr/bin/bash",
                    args=["-l", NOT_UTF8], env=["HOME=/root"], cwd="/root", uid=1000,
                    euid=1000, loginuid=-1, cap_effective=0x1FFFFFFFFFF,
                    cgroups=["0::/user.slice"], exe_writable=True)


def write_capture(path: Path | str, events: list[Event], snapshots: list[ProcInfo] = (),
                  meta: dict | None = None) -> None:
    users = UserDb.from_tables({0: ("root", "/root", "/bin/bash"), 1000: ("al", "/home/al", "/bin/sh")},
                               {0: "root", 1000: "al"})
    with CaptureWriter(path) as writer:
        writer.write_header(meta or {"command": ["sh", "-c", "x"]}, users=users)
        for info in snapshots:
            writer.write_snapshot(info)
        for evt in events:
            writer.write_event(evt)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_round_trip_is_exact(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"cap{suffix}"
    events = sample_events()
    snap = sample_snapshot()
    write_capture(path, events, [snap], meta={"command": ["x"], "container": {"id": "abc"}})
    records = list(read_capture(path))
    kinds = [kind for kind, _ in records]
    assert kinds == ["header", "snapshot"] + ["event"] * len(events)
    header = records[0][1]
    assert header["format"] == "pdigpy-capture" and header["version"] == 1
    assert header["meta"]["container"] == {"id": "abc"}
    assert {"hostname", "arch", "pdigpy_version", "created_ns", "created"} <= set(header)
    assert UserDb.from_header(header).user_name(1000) == "al"
    assert records[1][1] == snap
    for original, (_, copy) in zip(events, records[2:]):
        assert event_fields(copy) == event_fields(original)
    # the non-UTF-8 name survives as the very same bytes
    assert os.fsencode(records[2][1].args["name"]) == b"/tmp/caf\xe9/\xff\xfe-\x80"


def test_file_is_ascii_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "cap.jsonl"
    write_capture(path, sample_events())
    raw = path.read_bytes()
    raw.decode("ascii")  # ensure_ascii: no raw surrogates or latin-1 bytes on disk
    lines = raw.splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)
    first_event = json.loads(lines[1])
    assert first_event["kind"] == "event" and first_event["type"] == "openat"


def test_writer_on_a_text_stream() -> None:
    stream = io.StringIO()
    writer = CaptureWriter(stream)
    writer.write_header({})
    writer.write_event(sample_events()[1])
    writer.close()
    lines = stream.getvalue().splitlines()
    assert json.loads(lines[1])["args"]["data"] == {"$b": "AP9oaQo="}


def _lines(tmp_path: Path) -> tuple[Path, list[bytes]]:
    path = tmp_path / "cap.jsonl"
    write_capture(path, sample_events())
    return path, path.read_bytes().splitlines(keepends=True)


def _expect_error(path: Path, line: int, fragment: str) -> CaptureError:
    with pytest.raises(CaptureError) as info:
        for _ in read_capture(path):
            pass
    err = info.value
    assert err.line == line, str(err)
    assert str(err).startswith(f"{path}:{line}: ")
    assert fragment in str(err)
    assert "\n" not in str(err)
    return err


def test_truncated_last_line(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path)
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][:25])
    _expect_error(path, len(lines), "truncated")


def test_unknown_kind_and_bad_values(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path)
    bad = json.loads(lines[2])
    bad["kind"] = "blob"
    path.write_bytes(lines[0] + lines[1] + json.dumps(bad).encode() + b"\n")
    _expect_error(path, 3, "unknown record kind 'blob'")
    bad = json.loads(lines[2])
    bad["args"]["data"] = {"$b": "!!"}
    path.write_bytes(lines[0] + lines[1] + json.dumps(bad).encode() + b"\n")
    _expect_error(path, 3, "'data'")
    bad = json.loads(lines[1])
    del bad["tid"]
    path.write_bytes(lines[0] + json.dumps(bad).encode() + b"\n")
    _expect_error(path, 2, "'tid' must be an integer")


def test_bad_version_and_not_a_capture(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path)
    header = json.loads(lines[0])
    header["version"] = 7
    path.write_bytes(json.dumps(header).encode() + b"\n" + b"".join(lines[1:]))
    _expect_error(path, 1, "version 7 is not supported")
    path.write_bytes(b"".join(lines[1:]))
    _expect_error(path, 1, "not a capture header")
    path.write_bytes(b"")
    _expect_error(path, 1, "empty capture")
    path.write_bytes(lines[0] + b"{not json}\n")
    _expect_error(path, 2, "invalid JSON")
    path.write_bytes(lines[0] + b"\xff\xfe\n")
    _expect_error(path, 2, "")


def test_missing_file_and_bad_gzip(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot open"):
        list(read_capture(tmp_path / "none.jsonl"))
    gz = tmp_path / "bad.jsonl.gz"
    gz.write_bytes(b"not gzip at all")
    with pytest.raises(CaptureError, match="cannot read"):
        list(read_capture(gz))
    ok = tmp_path / "ok.jsonl.gz"
    write_capture(ok, sample_events())
    data = gzip.decompress(ok.read_bytes())
    assert data.startswith(b'{"kind":"header"')


text_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20) | \
    st.binary(max_size=20).map(os.fsdecode)
arg_values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1), text_values, st.none(),
    st.binary(max_size=40), st.lists(text_values, max_size=4),
    st.builds(SockTuple, st.sampled_from(["ipv4", "ipv6", "unix"]), st.sampled_from(["tcp", "udp", ""]),
              text_values, st.integers(0, 65535), text_values, st.integers(0, 65535), text_values),
    st.builds(SockAddr, st.sampled_from(["ipv4", "unix"]), text_values, st.integers(0, 65535), text_values),
)


@settings(max_examples=60, deadline=None)
@given(args=st.dictionaries(st.text(min_size=1, max_size=8), arg_values, max_size=6),
       res=st.none() | st.integers(-4095, 2**31))
def test_round_trip_property(tmp_path_factory, args, res) -> None:
    path = tmp_path_factory.mktemp("cap") / "p.jsonl"
    evt = Event(7, 1, 2, 3, "anything", res, args)
    write_capture(path, [evt])
    (_, copy), = [r for r in read_capture(path) if r[0] == "event"]
    assert event_fields(copy) == event_fields(evt)


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(min_value=1, max_value=400))
def test_any_cut_gives_capture_error_or_prefix(tmp_path_factory, cut) -> None:
    """Cutting a capture anywhere yields a prefix of its records, then a CaptureError naming a line."""
    path = tmp_path_factory.mktemp("cap") / "c.jsonl"
    write_capture(path, sample_events())
    data = path.read_bytes()
    path.write_bytes(data[: min(cut * 3, len(data) - 1)])
    got = []
    try:
        for record in read_capture(path):
            got.append(record)
    except CaptureError as err:
        assert err.line >= 1 and str(err).startswith(str(path))
    assert [k for k, _ in got] == (["header"] + ["event"] * (len(got) - 1) if got else [])


def test_snapshot_ignores_unknown_fields_but_needs_ids(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path)
    snap = {"kind": "snapshot", "info": dict(dataclasses.asdict(sample_snapshot()), future_field=1)}
    path.write_bytes(lines[0] + json.dumps(snap).encode() + b"\n")
    (_, info), = [r for r in read_capture(path) if r[0] == "snapshot"]
    assert info == sample_snapshot()
    del snap["info"]["pid"]
    path.write_bytes(lines[0] + json.dumps(snap).encode() + b"\n")
    _expect_error(path, 2, "'pid' must be an integer")

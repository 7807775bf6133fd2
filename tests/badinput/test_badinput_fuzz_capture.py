"""Fuzzing the capture reader: mutated and random capture files, replayed into a fresh State.

Reading any file ends in records or a CaptureError naming file and line; never another
exception or a hang. Records that do decode are then applied to a State, as ``pdigpy
replay`` does, and the State must not raise either (its contract: odd input is counted, not
thrown). tests/events/test_capture.py already covers the round trip and cutting a file at every
length; this adds byte-level mutations, line shuffles and structurally random records.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdigpy.events.capture import CaptureError, CaptureWriter, read_capture
from pdigpy.events.model import Event, SockAddr, SockTuple
from pdigpy.events.procinfo import ProcInfo
from pdigpy.state.tables import State
from pdigpy.state.users import UserDb

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _seed_capture() -> bytes:
    users = UserDb.from_tables({0: ("root", "/root", "/bin/sh")}, {0: "root"})
    events = [
        Event(1, 10, 100, 100, "clone", 101, {"res": 101, "exe": "/bin/sh", "args": ["-c", "x"], "flags": 0}),
        Event(2, 11, 101, 101, "execve", 0, {"res": 0, "exe": "/bin/cat", "args": ["/etc/\udcff"],
                                             "env": ["A=1"], "cwd": "/"}),
        Event(3, 12, 101, 101, "openat", 3, {"fd": 3, "dirfd": -100, "name": "/tmp/\udcfe", "flags": 1}),
        Event(4, 13, 101, 101, "connect", 0, {"fd": 3, "tuple": SockTuple("ipv4", "tcp", "1.2.3.4", 1, "5.6.7.8", 2),
                                              "addr": SockAddr("ipv4", "5.6.7.8", 2)}),
        Event(5, 14, 101, 101, "write", 2, {"fd": 3, "data": b"\x00\xff", "size": 2}),
        Event(6, 15, 101, 101, "dup2", 4, {"oldfd": 3, "newfd": 4}),
        Event(7, 16, 101, 101, "procexit", None, {"status": 0}),
    ]
    with tempfile.NamedTemporaryFile("w+b", suffix=".jsonl") as fh:
        with CaptureWriter(fh.name) as writer:
            writer.write_header({"command": ["sh"]}, users=users)
            writer.write_snapshot(ProcInfo(tid=100, pid=100, ptid=1, comm="sh", exe="sh", args=["-c", "x"]))
            for evt in events:
                writer.write_event(evt)
        return open(fh.name, "rb").read()


SEED = _seed_capture()
SEED_LINES = SEED.splitlines(keepends=True)


def replay_bytes(data: bytes, suffix: str = ".jsonl") -> tuple[int, CaptureError | None]:
    """Read ``data`` as a capture and apply its records to a State; (records, the error or None)."""
    fd, path = tempfile.mkstemp(suffix=suffix)
    try:
        os.write(fd, data)
        os.close(fd)
        count = 0
        state = None
        try:
            for kind, value in read_capture(path):
                count += 1
                if kind == "header":
                    assert state is None
                    state = State.from_capture_header(value)
                elif kind == "snapshot":
                    assert isinstance(value, ProcInfo)
                    state.add_snapshot(value)
                else:
                    assert isinstance(value, Event)
                    state.apply(value)
        except CaptureError as exc:
            assert exc.line >= 0 and str(exc).startswith(f"{path}:{exc.line}: "), str(exc)
            assert "\n" not in str(exc)
            return count, exc
        return count, None
    finally:
        os.unlink(path)


def test_the_seed_replays_cleanly() -> None:
    count, error = replay_bytes(SEED)
    assert error is None and count == len(SEED_LINES)


mutation = st.tuples(st.sampled_from(["flip", "delete", "insert", "truncate"]),
                     st.integers(0, len(SEED) - 1), st.binary(min_size=1, max_size=4))


def _mutate(data: bytes, ops) -> bytes:
    buf = bytearray(data)
    for op, pos, blob in ops:
        pos %= max(len(buf), 1)
        if op == "flip" and buf:
            buf[pos] ^= blob[0] or 1
        elif op == "delete":
            del buf[pos:pos + len(blob)]
        elif op == "insert":
            buf[pos:pos] = blob
        else:
            del buf[pos:]
    return bytes(buf)


@SETTINGS
@given(st.lists(mutation, min_size=1, max_size=4))
def test_byte_mutations_replay_or_fail_cleanly(ops) -> None:
    replay_bytes(_mutate(SEED, ops))


@SETTINGS
@given(st.lists(st.integers(0, len(SEED_LINES) - 1), max_size=len(SEED_LINES) + 3))
def test_line_shuffles_replay_or_fail_cleanly(order) -> None:
    count, error = replay_bytes(b"".join(SEED_LINES[i] for i in order))
    if order and order[0] != 0:
        assert error is not None and error.line == 1  # no header first


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_random_bytes_as_gzip_or_plain_fail_cleanly(data) -> None:
    replay_bytes(data)
    replay_bytes(b"\x1f\x8b" + data, suffix=".jsonl.gz")


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**65, 2**65), st.floats(allow_nan=False),
                         st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["$b", "$t", "$a", "$d", "$r", "$x", "k"]), inner, max_size=2)), max_leaves=8)
tagged = st.one_of(
    st.binary(max_size=8).map(lambda b: {"$b": base64.b64encode(b).decode()}),
    st.lists(json_scalars, min_size=7, max_size=7).map(lambda v: {"$t": v}),
    st.lists(json_scalars, min_size=4, max_size=4).map(lambda v: {"$a": v}),
)
ARG_NAMES = ["fd", "res", "name", "dirfd", "flags", "newfd", "oldfd", "exe", "args", "env", "cwd", "tuple",
             "data", "addr", "pid", "uid", "gid", "ptid", "status", "path", "comm"]
EVENT_TYPES = ["openat", "open", "close", "dup", "dup2", "execve", "clone", "clone3", "fork", "vfork",
               "procexit", "connect", "accept", "socket", "pipe", "setuid", "chdir", "fcntl", "write", "bogus"]
events = st.fixed_dictionaries(
    {"kind": st.just("event"), "num": st.integers(0, 2**64), "ts": st.integers(-1, 2**64),
     "tid": st.integers(-5, 2**32), "pid": st.integers(-5, 2**32), "type": st.sampled_from(EVENT_TYPES)},
    optional={"res": st.one_of(st.none(), st.integers(-2**63, 2**63)), "cpu": json_scalars,
              "args": st.dictionaries(st.sampled_from(ARG_NAMES), st.one_of(json_values, tagged), max_size=6)})
snapshots = st.fixed_dictionaries(
    {"kind": st.just("snapshot"),
     "info": st.fixed_dictionaries({"tid": st.integers(-1, 300), "pid": st.integers(-1, 300),
                                    "ptid": st.integers(-1, 300)},
                                   optional={"args": json_values, "env": json_values, "comm": json_values,
                                             "uid": json_values, "fdlimit": json_values, "junk": json_values})})
records = st.lists(st.one_of(events, snapshots, json_values), max_size=12)


@SETTINGS
@given(records)
def test_random_records_after_a_valid_header_replay_or_fail_cleanly(recs) -> None:
    body = b"".join(json.dumps(r).encode() + b"\n" for r in recs)
    replay_bytes(SEED_LINES[0] + body)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(EVENT_TYPES[:-1]), min_size=1, max_size=30), st.integers(100, 103))
def test_well_typed_records_in_odd_orders_replay_cleanly(types, tid) -> None:
    """Valid records in nonsense orders (exit before clone, dup of unknown fds ...) are read without error."""
    body = b"".join(json.dumps({"kind": "event", "num": i, "ts": i, "tid": tid, "pid": 100, "type": t,
                                "res": 3, "args": {"fd": 3, "newfd": 4, "oldfd": 3, "res": 3,
                                                   "name": "/x", "exe": "/x", "args": []}}).encode() + b"\n"
                    for i, t in enumerate(types, start=1))
    count, error = replay_bytes(SEED_LINES[0] + body)
    assert error is None and count == len(types) + 1

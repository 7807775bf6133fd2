"""The event schema: every event type is typed, categorised and produced by some row."""

from pdigpy.events.flags import FLAG_SETS
from pdigpy.events.schema import (
    ALL_EVENT_TYPES,
    EVENT_CATEGORY,
    EVENT_SCHEMA,
    PARAM_INDEX,
    category_for,
)
from pdigpy.tracer.syscalls.table import table_for

KNOWN_TYPES = {
    "FD", "PID", "ERRNO", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
    "FSPATH", "FSRELPATH", "CHARBUF", "BYTEBUF", "SOCKTUPLE", "SOCKADDR", "FLAGS8", "FLAGS16", "FLAGS32",
    "ENUMFLAGS8", "ENUMFLAGS16", "ENUMFLAGS32", "MODE", "UID", "GID", "SIGTYPE", "ABSTIME", "RELTIME", "DYN",
    "SIGSET",
}
SYNTHESIZED = {"procexit"}  # built by the wait loop at PTRACE_EVENT_EXIT, not by a syscall row


def test_params_are_typed_and_flagsets_exist():
    for event, params in EVENT_SCHEMA.items():
        names = [p.name for p in params]
        assert len(names) == len(set(names)), event
        for p in params:
            assert p.ptype in KNOWN_TYPES, (event, p)
            assert p.flagset is None or p.flagset in FLAG_SETS, (event, p)
            assert p.fmt in ("dec", "hex", "oct"), (event, p)


def test_every_event_type_has_rows_on_x86_64():
    produced = {s.event for s in table_for("x86_64").by_name.values()}
    assert ALL_EVENT_TYPES - SYNTHESIZED <= produced
    assert produced <= ALL_EVENT_TYPES


def test_every_event_type_has_a_category():
    assert set(EVENT_CATEGORY) == set(ALL_EVENT_TYPES)
    assert category_for("openat") == "file"
    assert category_for("connect") == "net"
    assert category_for("read", "4") == "net"
    assert category_for("write", "f") == "file"
    assert category_for("execve") == "process"


def test_falco_layouts_of_rule_relevant_events():
    def names(t):
        return [p.name for p in EVENT_SCHEMA[t]]

    assert names("openat") == ["fd", "dirfd", "name", "flags", "mode", "dev", "ino"]
    assert names("connect") == ["res", "tuple", "fd", "addr"]
    assert names("execve")[:3] == ["res", "exe", "args"] and names("execve")[-1] == "filename"
    assert "filename" not in names("execveat")
    assert names("ptrace") == ["res", "addr", "data", "request", "pid"]
    assert names("symlinkat") == ["res", "target", "linkdirfd", "linkpath"]
    assert names("dup2") == ["res", "oldfd", "newfd"]
    assert PARAM_INDEX["openat"]["name"] == 2

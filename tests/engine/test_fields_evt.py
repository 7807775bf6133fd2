"""evt.* fields, table-driven, on events of the real sleep process passed through the State."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from fields_support import start_chain, stop_chain

import pdigpy.engine.format as fmt
from pdigpy.engine.fields.base import FieldError
from pdigpy.engine.fields.registry import FieldRegistry

AT_FDCWD = -100
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_TMPFILE, O_F_CREATED = 1, 2, 3, 4, 256, 8192, 16384
TS = 1470327477881781397  # 2016-08-04T16:17:57.881781397Z


@pytest.fixture
def chain(tmp_path):
    c = start_chain(tmp_path, "evt-" + uuid.uuid4().hex[:8])
    yield c
    stop_chain(c)


@pytest.fixture
def utc():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def get(reg, name, evt, arg=None):
    return reg.bind(name, arg).extract(evt)


def test_time_and_identity_fields(chain, utc):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("getpid", res=chain.sleep_pid, ts=TS, num=42)
    table = {
        "evt.num": 42, "evt.type": "getpid", "syscall.type": "getpid", "evt.time": "16:17:57.881781397",
        "evt.time.s": "16:17:57", "evt.time.iso8601": "2016-08-04T16:17:57.881781397+0000",
        "evt.datetime": "2016-08-04 16:17:57.881781397", "evt.datetime.s": "2016-08-04 16:17:57",
        "evt.rawtime": TS, "evt.rawtime.s": 1470327477, "evt.rawtime.ns": 881781397, "evt.dir": "<",
        "evt.source": "syscall", "evt.res": "SUCCESS", "evt.rawres": chain.sleep_pid, "evt.failed": False,
        "evt.is_open_read": False, "evt.count": 1, "evt.type.is.getpid": 1, "evt.type.is.open": 0,
    }
    for name, want in table.items():
        assert get(reg, name, e) == want, name
    # the JSON value of time fields is the ns timestamp
    assert reg.bind("evt.time").extra["json"](e) == TS


def test_reltime_from_first_event(chain):
    reg = FieldRegistry(state=chain.state)
    bf = reg.bind("evt.reltime")
    assert bf.extract(chain.event("getpid", ts=1_000)) == 0
    assert bf.extract(chain.event("getpid", ts=3_500_000_000, num=2)) == 3_499_999_000
    assert reg.bind("evt.reltime.s").extract(chain.event("getpid", ts=3_500_000_000, num=3)) == 3


@pytest.mark.parametrize(
    "etype, flags, mode, res, read, write, exec_, create",
    [
        ("openat", O_RDONLY, 0, 3, True, False, False, False),
        ("openat", O_WRONLY | O_CREAT | O_TRUNC, 0o644, 3, False, True, False, False),
        ("openat", O_RDWR | O_CREAT | O_F_CREATED, 0o755, 3, True, True, True, True),
        ("open", O_WRONLY | O_TMPFILE, 0o700, 3, False, True, True, True),
        ("open", O_WRONLY | O_TMPFILE, 0o600, -1, False, True, False, False),
        ("openat2", O_RDONLY, 0o777, 3, True, False, False, False),
    ],
)
def test_open_predicates(chain, etype, flags, mode, res, read, write, exec_, create):
    reg = FieldRegistry(state=chain.state)
    args = {"fd": res, "name": "/tmp/x", "flags": flags, "mode": mode}
    if etype != "open":
        args["dirfd"] = AT_FDCWD
    e = chain.event(etype, res=res, args=args)
    assert [get(reg, n, e) for n in ("evt.is_open_read", "evt.is_open_write", "evt.is_open_exec",
                                     "evt.is_open_create")] == [read, write, exec_, create]


def test_creat_is_open_exec_by_mode(chain):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("creat", res=3, args={"fd": 3, "name": "/tmp/y", "mode": 0o755, "dev": 0, "ino": 0,
                                          "creat_flags": 0})
    assert get(reg, "evt.is_open_exec", e) is True
    assert get(reg, "evt.is_open_read", e) is False


def test_args_rendering(chain):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("openat", res=-2, args={"fd": -2, "dirfd": AT_FDCWD, "name": "nofile",
                                            "flags": O_WRONLY | O_CREAT | O_TRUNC, "mode": 0o644, "dev": 0, "ino": 0})
    assert get(reg, "evt.arg.flags", e) == "O_TRUNC|O_CREAT|O_WRONLY"
    assert get(reg, "evt.arg", e, "2") == chain.cwd + "/nofile"  # name, resolved against the cwd
    assert get(reg, "evt.arg.dirfd", e) == "AT_FDCWD"
    assert get(reg, "evt.rawarg.flags", e) == O_WRONLY | O_CREAT | O_TRUNC
    assert reg.bind("evt.rawarg.flags").type == "uint"
    assert get(reg, "evt.arg.uid", e) is None  # this event has no such parameter
    assert get(reg, "evt.arg", e, "20") is None
    args = get(reg, "evt.args", e)
    assert args.startswith("fd=-2(ENOENT) dirfd=-100(AT_FDCWD) name=nofile(")
    assert "flags=" in args and "O_TRUNC|O_CREAT|O_WRONLY" in args
    assert get(reg, "evt.res", e) == "ENOENT"
    assert get(reg, "evt.category", e) == "file"


def test_arg_uid_renders_user_name(chain):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("setuid", res=0, args={"res": 0, "uid": 0})
    assert get(reg, "evt.arg.uid", e) == "root"
    assert get(reg, "evt.rawarg.uid", e) == 0


def test_unknown_argument_name_is_a_compile_error():
    with pytest.raises(FieldError, match="unknown event argument nosuchparam"):
        FieldRegistry().bind("evt.arg.nosuchparam")
    with pytest.raises(FieldError, match="requires an argument"):
        FieldRegistry().bind("evt.arg")


def test_hostname_from_falco_hostname(monkeypatch, chain):
    monkeypatch.setattr(fmt, "_hostname", None)
    monkeypatch.setenv("FALCO_HOSTNAME", "h-" + chain.marker)
    reg = FieldRegistry(state=chain.state)
    assert get(reg, "evt.hostname", chain.event("getpid")) == "h-" + chain.marker
    monkeypatch.setattr(fmt, "_hostname", None)


def test_result_missing_when_no_exit_stop(chain):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("getpid", res=None)
    assert get(reg, "evt.res", e) is None
    assert get(reg, "evt.rawres", e) is None
    assert get(reg, "evt.failed", e) is None


def test_memoised_flag_rendering_tracks_the_value(chain):
    reg = FieldRegistry(state=chain.state)
    bf = reg.bind("evt.arg.flags")
    args = {"fd": 3, "dirfd": AT_FDCWD, "name": "/tmp/x", "mode": 0}
    assert bf.extract(chain.event("openat", res=3, args={**args, "flags": O_RDONLY})) == "O_RDONLY"
    assert bf.extract(chain.event("openat", res=4, args={**args, "fd": 4, "flags": O_RDWR}, num=2)) == "O_RDWR"
    assert bf.extract(chain.event("openat", res=5, args={**args, "fd": 5, "flags": O_RDONLY}, num=3)) == "O_RDONLY"
    # a path parameter is never memoised: it depends on the thread's cwd
    name = reg.bind("evt.arg.name")
    assert name.extract(chain.event("openat", res=6, args={**args, "fd": 6, "name": "rel", "flags": 1}, num=4)) \
        == chain.cwd + "/rel"


def test_io_classification(chain):
    reg = FieldRegistry(state=chain.state)
    r = chain.event("read", res=1, args={"res": 1, "data": b"x", "fd": 0, "size": 1})
    w = chain.event("write", res=1, args={"res": 1, "data": b"x", "fd": 1, "size": 1}, num=2)
    o = chain.event("getpid", res=1, num=3)
    assert [get(reg, "evt.is_io", x) for x in (r, w, o)] == [True, True, False]
    assert [get(reg, "evt.is_io_read", x) for x in (r, w, o)] == [True, False, False]
    assert [get(reg, "evt.is_io_write", x) for x in (r, w, o)] == [False, True, False]
    assert [get(reg, "evt.io_dir", x) for x in (r, w, o)] == ["r", "w", None]


def test_path_tables_use_schema_parameter_names():
    """fs.path.* and evt.abspath name event parameters: they must be the schema's names."""
    from pdigpy.engine.fields import fs
    from pdigpy.events.schema import EVENT_SCHEMA

    pairs = [(t, n) for t, spec in fs._NAME.items() for n in spec if n]
    pairs += [(t, n) for t, spec in fs._SRC_TGT.items() for n in spec if n]
    checked = 0
    for etype, name in pairs:
        if etype in EVENT_SCHEMA:
            assert name in [p.name for p in EVENT_SCHEMA[etype]], (etype, name)
            checked += 1
    assert checked > 30


def test_nthreads_from_the_state(chain):
    reg = FieldRegistry(state=chain.state)
    assert get(reg, "proc.nthreads", chain.event("getpid", res=1)) == 1

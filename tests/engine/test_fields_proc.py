"""proc.* and thread.* on a real process chain (pytest -> sh -> sleep) read from /proc."""

from __future__ import annotations

import os
import uuid

import pytest
from fields_support import start_chain, stop_chain

from pdigpy.engine.fields.base import FieldError
from pdigpy.engine.fields.proc import cap_names
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.events.model import Event
from pdigpy.tracer.procfs import read_procinfo


@pytest.fixture
def chain(tmp_path):
    c = start_chain(tmp_path, "m-" + uuid.uuid4().hex[:8])
    yield c
    stop_chain(c)


def x(reg, name, arg, evt):
    return reg.bind(name, arg).extract(evt)


def test_process_fields_present(chain):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("getpid", res=chain.sleep_pid)
    me = read_procinfo(os.getpid())
    sleep_exe = read_procinfo(chain.sleep_pid).exepath
    table = [
        ("proc.name", None, "sleep"),
        ("proc.pname", None, "sh"),
        ("proc.exe", None, "sleep"),
        ("proc.exepath", None, sleep_exe),
        ("proc.args", None, "30"),
        ("proc.args", "0", "30"),
        ("proc.args", "5", ""),
        ("proc.cmdline", None, "sleep 30"),
        ("proc.pcmdline", None, "sh -c sleep 30; true"),
        ("proc.exeline", None, "sleep 30"),
        ("proc.cmdnargs", None, 1),
        ("proc.cmdlenargs", None, 2),
        ("proc.cwd", None, chain.cwd + "/"),
        ("proc.pid", None, chain.sleep_pid),
        ("proc.ppid", None, chain.sh_pid),
        ("proc.aname", "0", "sleep"),
        ("proc.aname", "1", "sh"),
        ("proc.aname", "2", me.comm),
        ("proc.apid", "1", chain.sh_pid),
        ("proc.apid", "2", os.getpid()),
        ("proc.aexepath", "2", me.exepath),
        ("proc.pexe", None, "sh"),
        ("proc.env", "PDIGPY_FIELD_TEST", chain.marker),
        ("proc.env", "NO_SUCH_VARIABLE_X", None),
        ("proc.aenv", "PDIGPY_FIELD_TEST", chain.marker),
        ("thread.tid", None, chain.sleep_pid),
        ("thread.ismain", None, True),
        ("proc.is_exe_from_memfd", None, False),
        ("proc.tty", None, read_procinfo(chain.sleep_pid).tty),
        ("user.uid", None, os.geteuid()),
        ("group.gid", None, os.getegid()),
    ]
    for name, arg, want in table:
        assert x(reg, name, arg, e) == want, (name, arg)
    assert chain.marker in x(reg, "proc.env", None, e)
    assert x(reg, "proc.exe_ino", None, e) == os.stat(sleep_exe).st_ino
    assert x(reg, "proc.exe_ino.ctime", None, e) == os.stat(sleep_exe).st_ctime_ns
    assert x(reg, "proc.exe_ino.mtime", None, e) == os.stat(sleep_exe).st_mtime_ns
    dur = x(reg, "proc.duration", None, e)
    assert 0 <= dur < 60 * 10**9
    assert x(reg, "proc.exe_ino.ctime_duration_proc_start", None, e) > 0


def test_ancestors_any_of_and_output(chain):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("getpid", res=chain.sleep_pid)
    bf = reg.bind("proc.aname", None)
    assert bf.any_of and bf.is_list
    values = bf.extract(e)
    assert values[0] == "sh"  # from the parent up, not the process itself
    assert "sleep" not in values[:1]
    assert values[1] == read_procinfo(os.getpid()).comm
    assert values[-1] == read_procinfo(1).comm
    assert bf.display(e) == " ".join(values)
    apid = reg.bind("proc.apid", None)
    assert apid.extract(e)[0] == chain.sh_pid
    assert apid.display(e) == str(chain.sleep_pid)  # Falco prints the current pid
    # deeper than the tree: missing
    assert x(reg, "proc.aname", "200", e) is None


def test_capabilities_names(chain):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("getpid", res=chain.sleep_pid)
    eff = read_procinfo(chain.sleep_pid).cap_effective
    text = x(reg, "thread.cap_effective", None, e)
    assert text == cap_names(eff)
    if os.geteuid() == 0:
        assert "CAP_SYS_ADMIN" in text.split() and "CAP_CHOWN" == text.split()[0]
    assert cap_names(0) == ""
    assert cap_names((1 << 21) | (1 << 0)) == "CAP_CHOWN CAP_SYS_ADMIN"
    assert cap_names(1 << 39) == "CAP_BPF"


def test_loginuid_and_session(chain):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("getpid", res=chain.sleep_pid)
    with open(f"/proc/{chain.sleep_pid}/loginuid") as f:
        raw = int(f.read())
    want = -1 if raw == 4294967295 else raw
    assert x(reg, "user.loginuid", None, e) == want
    if want == -1:
        assert x(reg, "user.loginname", None, e) == "<NA>"
    info = read_procinfo(chain.sleep_pid)
    assert x(reg, "proc.sid", None, e) == info.sid
    leader = read_procinfo(info.sid)
    if leader is not None and chain.state.get_thread(info.sid) is not None:
        assert x(reg, "proc.sname", None, e) == leader.comm
    assert x(reg, "proc.is_vpgid_leader", None, e) == (info.vpgid == info.vpid)


def test_missing_thread_means_missing_values():
    reg = FieldRegistry()
    e = Event(num=1, ts=1, tid=999999, pid=999999, type="getpid", res=0)
    for name, arg in [("proc.name", None), ("proc.pname", None), ("proc.aname", "2"), ("proc.aname", None),
                      ("proc.cwd", None), ("proc.duration", None), ("thread.cap_effective", None),
                      ("user.name", None), ("user.loginuid", None), ("group.name", None), ("proc.args", "0")]:
        assert x(reg, name, arg, e) is None, name


def test_root_process_has_no_parent(chain):
    reg = FieldRegistry(state=chain.state)
    init = Event(num=1, ts=1, tid=1, pid=1, type="getpid", res=1)
    chain.state.apply(init)
    assert x(reg, "proc.pid", None, init) == 1
    assert x(reg, "proc.pname", None, init) is None
    assert x(reg, "proc.aname", None, init) == []


def test_bad_arguments():
    reg = FieldRegistry()
    with pytest.raises(FieldError):
        reg.bind("proc.aname", "x")
    with pytest.raises(FieldError, match="nonexistent field proc.namex"):
        reg.bind("proc.namex", None)
    with pytest.raises(FieldError):
        reg.bind("proc.name", "1")


def test_thread_of_a_process_reads_level_0_from_the_main_thread(chain):
    """A clone(CLONE_THREAD) child renamed with prctl: proc.name is the thread's, aname[0] the process's."""
    reg = FieldRegistry(state=chain.state)
    main = chain.state.get_thread(chain.sleep_pid)
    from pdigpy.state.records import ThreadInfo

    worker = ThreadInfo(tid=chain.sleep_pid + 100000, pid=main.pid, ptid=main.ptid, comm="worker-1",
                        proc=main.proc, fds=main.fds, parent=main.parent)
    e = Event(num=1, ts=1, tid=worker.tid, pid=worker.pid, type="getpid", res=1, thread=worker)
    assert x(reg, "proc.name", None, e) == "worker-1"
    assert x(reg, "proc.aname", "0", e) == "sleep"
    assert x(reg, "proc.aname", "1", e) == "sh"
    assert x(reg, "thread.ismain", None, e) is False

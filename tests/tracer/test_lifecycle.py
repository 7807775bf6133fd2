"""Lifecycle event builders: procexit from real wait statuses, execve/clone from real ProcInfo."""

import os
import signal
import subprocess
import sys

from pdigpy.events import flags as F
from pdigpy.events.schema import EVENT_SCHEMA
from pdigpy.tracer.lifecycle import clone_args, execve_args, execve_flags, ppm_clone_flags, procexit_args
from pdigpy.tracer.procfs import read_procinfo


def _status_of(argv) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    return os.waitpid(pid, 0)[1]


def test_procexit_from_exit_code_and_signals():
    st = _status_of(["sh", "-c", "exit 42"])
    assert procexit_args(st) == {"status": st, "ret": 42, "sig": 0, "core": 0, "reaper_tid": 0}
    st = _status_of(["sh", "-c", "kill -TERM $$"])
    assert procexit_args(st)["sig"] == signal.SIGTERM and procexit_args(st)["ret"] == 0
    assert list(procexit_args(st)) == [p.name for p in EVENT_SCHEMA["procexit"]]


def test_ppm_clone_flags_of_real_clone_values():
    # glibc pthread_create: CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
    linux = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000 | 0x100000 | 0x200000
    got = ppm_clone_flags(linux)
    assert F.render_flags("clone_flags", got) == (
        "CLONE_FILES|CLONE_FS|CLONE_PARENT_SETTID|CLONE_SIGHAND|CLONE_SYSVSEM|CLONE_THREAD|CLONE_VM|"
        "CLONE_CHILD_CLEARTID|CLONE_SETTLS"
    )
    assert ppm_clone_flags(0x4000 | 0x100 | signal.SIGCHLD) == F.CL_CLONE_VFORK | F.CL_CLONE_VM
    assert ppm_clone_flags(0x10000000 | 0x20000000 | 0x40000000) == (
        F.CL_CLONE_NEWUSER | F.CL_CLONE_NEWPID | F.CL_CLONE_NEWNET)


def test_execve_and_clone_args_follow_the_schema():
    p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        info = None
        for _ in range(500):
            info = read_procinfo(p.pid)
            if info and info.args[:1] == ["-c"]:
                break
        ex = execve_args(info, 0, sys.executable)
        assert list(ex) == [q.name for q in EVENT_SCHEMA["execve"]]
        assert ex["filename"] == sys.executable and ex["args"] == ["-c", "import sys; sys.stdin.read()"]
        assert ex["flags"] == execve_flags(info)
        exat = execve_args(info, -13, None, "execveat")
        assert list(exat) == [q.name for q in EVENT_SCHEMA["execveat"]] and exat["res"] == -13
        cl = clone_args(info, F.CL_CLONE_VM, res=1234)
        assert list(cl) == [q.name for q in EVENT_SCHEMA["clone"]]
        assert (cl["res"], cl["flags"], cl["tid"], cl["vpid"]) == (1234, F.CL_CLONE_VM, p.pid, p.pid)
    finally:
        p.kill()
        p.wait()


def test_execve_flags_bits():
    from pdigpy.events.procinfo import ProcInfo

    info = ProcInfo(tid=1, pid=1, ptid=0, exe_writable=True, exe_from_memfd=True)
    assert execve_flags(info) == F.EXE_WRITABLE | F.EXE_FROM_MEMFD
    assert execve_flags(ProcInfo(tid=1, pid=1, ptid=0)) == 0

"""Build events the way the tracer builds them (Falco exit-event params by name).

These are the State's real input, data rather than a mock: the tracer hands
the same Event objects to State.apply().
"""

from __future__ import annotations

import itertools
from typing import Any

from pdigpy.events.model import Event
from pdigpy.events.procinfo import ProcInfo
from pdigpy.state.tables import State

PPM_O_RDONLY = 1
PPM_O_WRONLY = 2
PPM_O_RDWR = 3
PPM_O_CREAT = 4
PPM_O_DIRECTORY = 1024
PPM_O_CLOEXEC = 4096

CL_FILES = 1 << 0
CL_FS = 1 << 1
CL_SIGHAND = 1 << 11
CL_THREAD = 1 << 13
CL_VM = 1 << 15
THREAD_FLAGS = CL_FILES | CL_FS | CL_SIGHAND | CL_THREAD | CL_VM

_nums = itertools.count(1)


def ev(_etype: str, _tid: int, _res: int | None, _pid: int | None = None, **args: Any) -> Event:
    """One event; keyword arguments are its Falco params (res, fd, pid ... included)."""
    num = next(_nums)
    return Event(num=num, ts=1_700_000_000_000_000_000 + num * 1000, tid=_tid,
                 pid=_pid if _pid is not None else _tid, type=_etype, res=_res, args=args)


def clone_pair(parent_tid: int, parent_pid: int, child: int, flags: int = 0,
               child_pid: int | None = None, child_ptid: int | None = None,
               comm: str = "") -> tuple[Event, Event]:
    """The two clone events of one fork/clone: the caller's (res=child) and the child's (res=0)."""
    is_thread = bool(flags & CL_THREAD)
    cpid = child_pid if child_pid is not None else (parent_pid if is_thread else child)
    parent_evt = ev("clone", parent_tid, child, parent_pid, res=child, flags=flags,
                    tid=parent_tid, pid=parent_pid, comm=comm)
    child_evt = ev("clone", child, 0, cpid, res=0, flags=flags, tid=child, pid=cpid, comm=comm,
                   ptid=child_ptid if child_ptid is not None else parent_pid)
    return parent_evt, child_evt


def execve(tid: int, exe: str, args: list[str], pid: int | None = None, ptid: int | None = None,
           cwd: str | None = None, comm: str | None = None, res: int = 0, **extra: Any) -> Event:
    params: dict[str, Any] = {"exe": exe, "args": args, "tid": tid,
                              "pid": pid if pid is not None else tid,
                              "comm": comm if comm is not None else exe.rsplit("/", 1)[-1][:15],
                              "env": ["PATH=/usr/bin"], "uid": 0, "gid": 0,
                              "trusted_exepath": exe, "filename": exe}
    if ptid is not None:
        params["ptid"] = ptid
    if cwd is not None:
        params["cwd"] = cwd
    params.update(extra)
    return ev("execve", tid, res, params["pid"], res=res, **params)


def openat(tid: int, res: int, name: str, flags: int = PPM_O_RDONLY, dirfd: int = -100,
           pid: int | None = None) -> Event:
    return ev("openat", tid, res, pid, fd=res, dirfd=dirfd, name=name, flags=flags,
              mode=0, dev=0, ino=0)


def procexit(tid: int, pid: int | None = None) -> Event:
    return ev("procexit", tid, None, pid, status=0, ret=0, sig=0, core=0)


def base_state() -> State:
    """init(1) <- bash(100, snapshot) <- app(200, exec'd by the tracer's spawn)."""
    state = State()
    state.add_snapshot(ProcInfo(tid=1, pid=1, ptid=0, comm="systemd", exe="/sbin/init",
                                exepath="/usr/lib/systemd/systemd", cwd="/"))
    state.add_snapshot(ProcInfo(tid=100, pid=100, ptid=1, comm="bash", exe="-bash",
                                exepath="/usr/bin/bash", cwd="/root", uid=0, euid=0))
    state.apply(execve(200, "/usr/bin/app", ["--serve"], ptid=100, cwd="/srv"))
    return state


def apply_all(state: State, *events: Event) -> list[Event]:
    for evt in events:
        state.apply(evt)
    return list(events)

"""The records of the state tables, as field extraction reads them.

A ThreadInfo is one traced thread. Threads of one process share the same
``fds`` (an FdTable) and the same ``proc`` (ProcShared: cwd, exe, args ...);
a fork copies them. ``parent`` points at the parent process's main thread
record, so ancestors are a walk up ``parent`` (proc.aname[N], proc.apid[N]).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, eq=False)
class FdInfo:
    """One open fd of a process: what Falco's ``fd.*`` fields read."""

    num: int
    type: str  # Falco's fd.type: file, directory, ipv4, ipv6, unix, pipe, event, signalfd,
    #            eventpoll, inotify, timerfd, netlink, bpf, userfaultfd, io_uring, memfd, pidfd
    typechar: str  # Falco's fd.typechar: f d 4 6 u p e s l i t n b r m P o
    name: str = ""  # file: absolute path; ipv4/6: "cip:cport->sip:sport"; unix: path
    nameraw: str = ""  # the path as the syscall passed it
    openflags: int = 0  # PPM open flags
    ino: int = 0
    dev: int = 0
    # sockets
    l4proto: str = ""  # tcp, udp, raw, icmp
    cip: str = ""
    cport: int = 0
    sip: str = ""
    sport: int = 0
    is_server: bool = False
    connected: bool = False
    cloexec: bool = False
    extra: dict[str, Any] | None = None


@dataclass(slots=True, eq=False)
class ProcShared:
    """What all threads of one process share, replaced on execve."""

    exe: str = ""
    exepath: str = ""
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    cwd: str = "/"  # with no trailing "/"; proc.cwd adds it
    exe_ino: int = 0
    exe_ino_ctime: int = 0
    exe_ino_mtime: int = 0
    exe_writable: bool = False
    exe_upper_layer: bool = False
    exe_lower_layer: bool = False
    exe_from_memfd: bool = False
    start_ts: int = 0  # process start (ns since epoch)
    exec_ts: int = 0  # last successful execve
    fdlimit: int = 0
    cgroups: list[str] = field(default_factory=list)
    pidns_init_start_ts: int = 0


@dataclass(slots=True, eq=False)
class ThreadInfo:
    """One traced thread: what Falco's ``proc.*``/``thread.*``/``user.*`` fields read."""

    tid: int
    pid: int
    ptid: int  # parent pid
    comm: str = ""
    vtid: int = 0
    vpid: int = 0
    uid: int = 0
    gid: int = 0
    euid: int = 0
    egid: int = 0
    loginuid: int = -1
    tty: int = 0
    sid: int = 0
    pgid: int = 0
    vpgid: int = 0
    cap_inheritable: int = 0
    cap_permitted: int = 0
    cap_effective: int = 0
    start_ts: int = 0  # thread start
    proc: ProcShared = field(default_factory=ProcShared)
    fds: Any = None  # pdigpy.state.fds.FdTable, shared by the process's threads
    parent: ThreadInfo | None = None  # main thread of the parent process, if known
    exited: bool = False

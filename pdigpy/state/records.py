"""The records of the state tables, as field extraction reads them.

A ThreadInfo is one traced thread. Threads of one process share the same
``fds`` (an FdTable) and the same ``proc`` (ProcShared: cwd, exe, args ...);
a fork copies them. ``parent`` points at the parent process's main thread
record, so ancestors are a walk up ``parent`` (proc.aname[N], proc.apid[N]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


_FACTORY: Any = object()  # default of a written-out __init__ parameter whose field has a default_factory


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class FdInfo:
    """FdInfo(num, type, typechar, name, nameraw, openflags, ino, dev, l4proto, cip, cport, sip, sport, is_server, connected, cloexec, extra)."""

    __slots__ = ("num", "type", "typechar", "name", "nameraw", "openflags", "ino", "dev", "l4proto", "cip", "cport", "sip", "sport", "is_server", "connected", "cloexec", "extra")
    num: int
    type: str  # Falco's fd.type: file, directory, ipv4, ipv6, unix, pipe, event, signalfd,
    #            eventpoll, inotify, timerfd, netlink, bpf, userfaultfd, io_uring, memfd, pidfd
    typechar: str  # Falco's fd.typechar: f d 4 6 u p e s l i t n b r m P o
    name: str  # file: absolute path; ipv4/6: "cip:cport->sip:sport"; unix: path
    nameraw: str  # the path as the syscall passed it
    openflags: int  # PPM open flags
    ino: int
    dev: int
    # sockets
    l4proto: str  # tcp, udp, raw, icmp
    cip: str
    cport: int
    sip: str
    sport: int
    is_server: bool
    connected: bool
    cloexec: bool
    extra: dict[str, Any] | None

    def __init__(
        self,
        num: int,
        type: str,
        typechar: str,
        name: str = "",
        nameraw: str = "",
        openflags: int = 0,
        ino: int = 0,
        dev: int = 0,
        l4proto: str = "",
        cip: str = "",
        cport: int = 0,
        sip: str = "",
        sport: int = 0,
        is_server: bool = False,
        connected: bool = False,
        cloexec: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.num = num
        self.type = type
        self.typechar = typechar
        self.name = name
        self.nameraw = nameraw
        self.openflags = openflags
        self.ino = ino
        self.dev = dev
        self.l4proto = l4proto
        self.cip = cip
        self.cport = cport
        self.sip = sip
        self.sport = sport
        self.is_server = is_server
        self.connected = connected
        self.cloexec = cloexec
        self.extra = extra

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(num={self.num!r}, type={self.type!r}, typechar={self.typechar!r}, name={self.name!r}, nameraw={self.nameraw!r}, openflags={self.openflags!r}, ino={self.ino!r}, dev={self.dev!r}, l4proto={self.l4proto!r}, cip={self.cip!r}, cport={self.cport!r}, sip={self.sip!r}, sport={self.sport!r}, is_server={self.is_server!r}, connected={self.connected!r}, cloexec={self.cloexec!r}, extra={self.extra!r})"


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class ProcShared:
    """What all threads of one process share, replaced on execve."""

    __slots__ = ("exe", "exepath", "args", "env", "cwd", "exe_ino", "exe_ino_ctime", "exe_ino_mtime", "exe_writable", "exe_upper_layer", "exe_lower_layer", "exe_from_memfd", "start_ts", "exec_ts", "fdlimit", "cgroups", "pidns_init_start_ts")
    exe: str
    exepath: str
    args: list[str]
    env: list[str]
    cwd: str  # with no trailing "/"; proc.cwd adds it
    exe_ino: int
    exe_ino_ctime: int
    exe_ino_mtime: int
    exe_writable: bool
    exe_upper_layer: bool
    exe_lower_layer: bool
    exe_from_memfd: bool
    start_ts: int  # process start (ns since epoch)
    exec_ts: int  # last successful execve
    fdlimit: int
    cgroups: list[str]
    pidns_init_start_ts: int

    def __init__(
        self,
        exe: str = "",
        exepath: str = "",
        args: list[str] = _FACTORY,
        env: list[str] = _FACTORY,
        cwd: str = "/",
        exe_ino: int = 0,
        exe_ino_ctime: int = 0,
        exe_ino_mtime: int = 0,
        exe_writable: bool = False,
        exe_upper_layer: bool = False,
        exe_lower_layer: bool = False,
        exe_from_memfd: bool = False,
        start_ts: int = 0,
        exec_ts: int = 0,
        fdlimit: int = 0,
        cgroups: list[str] = _FACTORY,
        pidns_init_start_ts: int = 0,
    ) -> None:
        self.exe = exe
        self.exepath = exepath
        self.args = list() if args is _FACTORY else args
        self.env = list() if env is _FACTORY else env
        self.cwd = cwd
        self.exe_ino = exe_ino
        self.exe_ino_ctime = exe_ino_ctime
        self.exe_ino_mtime = exe_ino_mtime
        self.exe_writable = exe_writable
        self.exe_upper_layer = exe_upper_layer
        self.exe_lower_layer = exe_lower_layer
        self.exe_from_memfd = exe_from_memfd
        self.start_ts = start_ts
        self.exec_ts = exec_ts
        self.fdlimit = fdlimit
        self.cgroups = list() if cgroups is _FACTORY else cgroups
        self.pidns_init_start_ts = pidns_init_start_ts

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(exe={self.exe!r}, exepath={self.exepath!r}, args={self.args!r}, env={self.env!r}, cwd={self.cwd!r}, exe_ino={self.exe_ino!r}, exe_ino_ctime={self.exe_ino_ctime!r}, exe_ino_mtime={self.exe_ino_mtime!r}, exe_writable={self.exe_writable!r}, exe_upper_layer={self.exe_upper_layer!r}, exe_lower_layer={self.exe_lower_layer!r}, exe_from_memfd={self.exe_from_memfd!r}, start_ts={self.start_ts!r}, exec_ts={self.exec_ts!r}, fdlimit={self.fdlimit!r}, cgroups={self.cgroups!r}, pidns_init_start_ts={self.pidns_init_start_ts!r})"


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class ThreadInfo:
    """ThreadInfo(tid, pid, ptid, comm, vtid, vpid, uid, gid, euid, egid, loginuid, tty, sid, pgid, vpgid, cap_inheritable, cap_permitted, cap_effective, start_ts, proc, fds, parent, exited)."""

    __slots__ = ("tid", "pid", "ptid", "comm", "vtid", "vpid", "uid", "gid", "euid", "egid", "loginuid", "tty", "sid", "pgid", "vpgid", "cap_inheritable", "cap_permitted", "cap_effective", "start_ts", "proc", "fds", "parent", "exited")
    tid: int
    pid: int
    ptid: int  # parent pid
    comm: str
    vtid: int
    vpid: int
    uid: int
    gid: int
    euid: int
    egid: int
    loginuid: int
    tty: int
    sid: int
    pgid: int
    vpgid: int
    cap_inheritable: int
    cap_permitted: int
    cap_effective: int
    start_ts: int  # thread start
    proc: ProcShared
    fds: Any  # pdigpy.state.fds.FdTable, shared by the process's threads
    parent: ThreadInfo | None  # main thread of the parent process, if known
    exited: bool

    def __init__(
        self,
        tid: int,
        pid: int,
        ptid: int,
        comm: str = "",
        vtid: int = 0,
        vpid: int = 0,
        uid: int = 0,
        gid: int = 0,
        euid: int = 0,
        egid: int = 0,
        loginuid: int = -1,
        tty: int = 0,
        sid: int = 0,
        pgid: int = 0,
        vpgid: int = 0,
        cap_inheritable: int = 0,
        cap_permitted: int = 0,
        cap_effective: int = 0,
        start_ts: int = 0,
        proc: ProcShared = _FACTORY,
        fds: Any = None,
        parent: ThreadInfo | None = None,
        exited: bool = False,
    ) -> None:
        self.tid = tid
        self.pid = pid
        self.ptid = ptid
        self.comm = comm
        self.vtid = vtid
        self.vpid = vpid
        self.uid = uid
        self.gid = gid
        self.euid = euid
        self.egid = egid
        self.loginuid = loginuid
        self.tty = tty
        self.sid = sid
        self.pgid = pgid
        self.vpgid = vpgid
        self.cap_inheritable = cap_inheritable
        self.cap_permitted = cap_permitted
        self.cap_effective = cap_effective
        self.start_ts = start_ts
        self.proc = ProcShared() if proc is _FACTORY else proc
        self.fds = fds
        self.parent = parent
        self.exited = exited

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(tid={self.tid!r}, pid={self.pid!r}, ptid={self.ptid!r}, comm={self.comm!r}, vtid={self.vtid!r}, vpid={self.vpid!r}, uid={self.uid!r}, gid={self.gid!r}, euid={self.euid!r}, egid={self.egid!r}, loginuid={self.loginuid!r}, tty={self.tty!r}, sid={self.sid!r}, pgid={self.pgid!r}, vpgid={self.vpgid!r}, cap_inheritable={self.cap_inheritable!r}, cap_permitted={self.cap_permitted!r}, cap_effective={self.cap_effective!r}, start_ts={self.start_ts!r}, proc={self.proc!r}, fds={self.fds!r}, parent={self.parent!r}, exited={self.exited!r})"

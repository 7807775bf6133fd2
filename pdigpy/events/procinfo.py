"""What a process looks like at a ptrace stop.

Carried as the parameters of execve/execveat and clone/fork/vfork/clone3
events (as Falco's exit events carry them) and as snapshot records for
processes that existed before tracing began, so that the state layer and an
offline replay rebuild the same thread table from the event stream alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


_FACTORY: Any = object()  # default of a written-out __init__ parameter whose field has a default_factory


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class ProcInfo:
    """ProcInfo(tid, pid, ptid, vtid, vpid, comm, exe, exepath, args, env, cwd, uid, gid, euid, egid, loginuid, tty, sid, pgid, vpgid, start_ts, cap_inheritable, cap_permitted, cap_effective, fdlimit, cgroups, exe_ino, exe_ino_ctime, exe_ino_mtime, exe_writable, exe_upper_layer, exe_lower_layer, exe_from_memfd, pidns_init_start_ts)."""

    __slots__ = ("tid", "pid", "ptid", "vtid", "vpid", "comm", "exe", "exepath", "args", "env", "cwd", "uid", "gid", "euid", "egid", "loginuid", "tty", "sid", "pgid", "vpgid", "start_ts", "cap_inheritable", "cap_permitted", "cap_effective", "fdlimit", "cgroups", "exe_ino", "exe_ino_ctime", "exe_ino_mtime", "exe_writable", "exe_upper_layer", "exe_lower_layer", "exe_from_memfd", "pidns_init_start_ts")
    tid: int
    pid: int  # tgid
    ptid: int  # parent's pid as pdigpy presents it (see docs/events.md)
    vtid: int
    vpid: int
    comm: str
    exe: str  # argv[0] as given
    exepath: str  # /proc/PID/exe, symlinks resolved
    args: list[str]  # argv[1:]
    env: list[str]  # "K=V" items
    cwd: str  # without the trailing "/" that proc.cwd adds
    uid: int  # real
    gid: int
    euid: int
    egid: int
    loginuid: int  # -1 when unset (4294967295 in /proc)
    tty: int  # tty_nr from /proc/PID/stat
    sid: int
    pgid: int
    vpgid: int
    start_ts: int  # ns since epoch
    cap_inheritable: int
    cap_permitted: int
    cap_effective: int
    fdlimit: int
    cgroups: list[str]  # "subsys=/path"
    exe_ino: int
    exe_ino_ctime: int  # ns since epoch
    exe_ino_mtime: int
    exe_writable: bool
    exe_upper_layer: bool
    exe_lower_layer: bool
    exe_from_memfd: bool
    pidns_init_start_ts: int

    def __init__(
        self,
        tid: int,
        pid: int,
        ptid: int,
        vtid: int = 0,
        vpid: int = 0,
        comm: str = "",
        exe: str = "",
        exepath: str = "",
        args: list[str] = _FACTORY,
        env: list[str] = _FACTORY,
        cwd: str = "",
        uid: int = 0,
        gid: int = 0,
        euid: int = 0,
        egid: int = 0,
        loginuid: int = -1,
        tty: int = 0,
        sid: int = 0,
        pgid: int = 0,
        vpgid: int = 0,
        start_ts: int = 0,
        cap_inheritable: int = 0,
        cap_permitted: int = 0,
        cap_effective: int = 0,
        fdlimit: int = 0,
        cgroups: list[str] = _FACTORY,
        exe_ino: int = 0,
        exe_ino_ctime: int = 0,
        exe_ino_mtime: int = 0,
        exe_writable: bool = False,
        exe_upper_layer: bool = False,
        exe_lower_layer: bool = False,
        exe_from_memfd: bool = False,
        pidns_init_start_ts: int = 0,
    ) -> None:
        self.tid = tid
        self.pid = pid
        self.ptid = ptid
        self.vtid = vtid
        self.vpid = vpid
        self.comm = comm
        self.exe = exe
        self.exepath = exepath
        self.args = list() if args is _FACTORY else args
        self.env = list() if env is _FACTORY else env
        self.cwd = cwd
        self.uid = uid
        self.gid = gid
        self.euid = euid
        self.egid = egid
        self.loginuid = loginuid
        self.tty = tty
        self.sid = sid
        self.pgid = pgid
        self.vpgid = vpgid
        self.start_ts = start_ts
        self.cap_inheritable = cap_inheritable
        self.cap_permitted = cap_permitted
        self.cap_effective = cap_effective
        self.fdlimit = fdlimit
        self.cgroups = list() if cgroups is _FACTORY else cgroups
        self.exe_ino = exe_ino
        self.exe_ino_ctime = exe_ino_ctime
        self.exe_ino_mtime = exe_ino_mtime
        self.exe_writable = exe_writable
        self.exe_upper_layer = exe_upper_layer
        self.exe_lower_layer = exe_lower_layer
        self.exe_from_memfd = exe_from_memfd
        self.pidns_init_start_ts = pidns_init_start_ts

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(tid={self.tid!r}, pid={self.pid!r}, ptid={self.ptid!r}, vtid={self.vtid!r}, vpid={self.vpid!r}, comm={self.comm!r}, exe={self.exe!r}, exepath={self.exepath!r}, args={self.args!r}, env={self.env!r}, cwd={self.cwd!r}, uid={self.uid!r}, gid={self.gid!r}, euid={self.euid!r}, egid={self.egid!r}, loginuid={self.loginuid!r}, tty={self.tty!r}, sid={self.sid!r}, pgid={self.pgid!r}, vpgid={self.vpgid!r}, start_ts={self.start_ts!r}, cap_inheritable={self.cap_inheritable!r}, cap_permitted={self.cap_permitted!r}, cap_effective={self.cap_effective!r}, fdlimit={self.fdlimit!r}, cgroups={self.cgroups!r}, exe_ino={self.exe_ino!r}, exe_ino_ctime={self.exe_ino_ctime!r}, exe_ino_mtime={self.exe_ino_mtime!r}, exe_writable={self.exe_writable!r}, exe_upper_layer={self.exe_upper_layer!r}, exe_lower_layer={self.exe_lower_layer!r}, exe_from_memfd={self.exe_from_memfd!r}, pidns_init_start_ts={self.pidns_init_start_ts!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.tid, self.pid, self.ptid, self.vtid, self.vpid, self.comm, self.exe, self.exepath, self.args, self.env, self.cwd, self.uid, self.gid, self.euid, self.egid, self.loginuid, self.tty, self.sid, self.pgid, self.vpgid, self.start_ts, self.cap_inheritable, self.cap_permitted, self.cap_effective, self.fdlimit, self.cgroups, self.exe_ino, self.exe_ino_ctime, self.exe_ino_mtime, self.exe_writable, self.exe_upper_layer, self.exe_lower_layer, self.exe_from_memfd, self.pidns_init_start_ts) == (other.tid, other.pid, other.ptid, other.vtid, other.vpid, other.comm, other.exe, other.exepath, other.args, other.env, other.cwd, other.uid, other.gid, other.euid, other.egid, other.loginuid, other.tty, other.sid, other.pgid, other.vpgid, other.start_ts, other.cap_inheritable, other.cap_permitted, other.cap_effective, other.fdlimit, other.cgroups, other.exe_ino, other.exe_ino_ctime, other.exe_ino_mtime, other.exe_writable, other.exe_upper_layer, other.exe_lower_layer, other.exe_from_memfd, other.pidns_init_start_ts)  # type: ignore[attr-defined]
        return NotImplemented

"""What a process looks like at a ptrace stop.

Carried as the parameters of execve/execveat and clone/fork/vfork/clone3
events (as Falco's exit events carry them) and as snapshot records for
processes that existed before tracing began, so that the state layer and an
offline replay rebuild the same thread table from the event stream alone.

A snapshot of a process's main thread may also carry the process's open fds
(``ProcInfo.fds``, a list of ``ProcFd``), read from /proc at a ptrace stop:
the fds an attached process had before the attach, and the fds the spawned
app inherited. ``fds`` is None when they were not read (every other
snapshot, every event, older captures); the state then keeps the fd table
it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ProcInfo:
    """A process's identity and attributes, as execve/clone events and snapshots carry them."""

    tid: int
    pid: int  # tgid
    ptid: int  # parent's pid as pdigpy presents it (see docs/events.md)
    vtid: int = 0
    vpid: int = 0
    comm: str = ""
    exe: str = ""  # argv[0] as given
    exepath: str = ""  # /proc/PID/exe, symlinks resolved
    args: list[str] = field(default_factory=list)  # argv[1:]
    env: list[str] = field(default_factory=list)  # "K=V" items
    cwd: str = ""  # without the trailing "/" that proc.cwd adds
    uid: int = 0  # real
    gid: int = 0
    euid: int = 0
    egid: int = 0
    loginuid: int = -1  # -1 when unset (4294967295 in /proc)
    tty: int = 0  # tty_nr from /proc/PID/stat
    sid: int = 0
    pgid: int = 0
    vpgid: int = 0
    start_ts: int = 0  # ns since epoch
    cap_inheritable: int = 0
    cap_permitted: int = 0
    cap_effective: int = 0
    fdlimit: int = 0
    cgroups: list[str] = field(default_factory=list)  # "subsys=/path"
    exe_ino: int = 0
    exe_ino_ctime: int = 0  # ns since epoch
    exe_ino_mtime: int = 0
    exe_writable: bool = False
    exe_upper_layer: bool = False
    exe_lower_layer: bool = False
    exe_from_memfd: bool = False
    pidns_init_start_ts: int = 0
    fds: list[ProcFd] | None = None  # additive: open fds read from /proc (see module doc)


@dataclass(slots=True)
class ProcFd:
    """One open fd of a process, as the state's FdInfo for the same kind of fd.

    Values follow Falco (docs/events.md §6): ``type`` is fd.type (file,
    directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify,
    timerfd, netlink, bpf, userfaultfd, io_uring, memfd, pidfd, unknown);
    ``name`` is fd.name (a file's absolute path, "cip:cport->sip:sport" of a
    connected IP socket, "ip:port" of a bound or listening one, a unix
    socket's path, "pipe:[ino]", "memfd:NAME"); ``openflags`` are PPM open
    flags (files and directories only).
    """

    num: int
    type: str
    name: str = ""
    openflags: int = 0
    cloexec: bool = False
    ino: int = 0
    dev: int = 0
    l4proto: str = ""  # ipv4/ipv6 sockets: tcp, udp, raw, icmp
    cip: str = ""
    cport: int = 0
    sip: str = ""
    sport: int = 0
    is_server: bool = False
    connected: bool = False
    pid: int = 0  # pidfd: the process it refers to

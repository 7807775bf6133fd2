"""Event type -> state transition, one small function per kind of syscall.

``HANDLERS`` maps a Falco event type to ``fn(state, evt, thread)``; ``thread``
is evt.tid's record (already set as evt.thread). A handler updates the tables
when the syscall succeeded and sets ``evt.fdinfo`` to the fd the event is
about. Events with no handler but an fd parameter (``FD_PARAM``) only get
their fdinfo looked up. Lifecycle events (clone, execve, procexit) are in
``LIFECYCLE_HANDLERS``: they decide themselves which record is evt.thread.

Parameter names are Falco's exit-event names (spec §4.0). A result of None
means the tracer took no exit stop: nothing is learnt, nothing is changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pdigpy.events.model import Event, SockAddr, SockTuple, l4proto
from pdigpy.state import threads as thr
from pdigpy.state.fds import (
    AT_FDCWD,
    PPM_O_CLOEXEC,
    PPM_O_CREAT,
    PPM_O_TRUNC,
    PPM_O_WRONLY,
    UNKNOWN_DIR,
    dup_fd,
    failed_open_fd,
    file_fd,
    ip_fd_name,
    join_path,
    simple_fd,
)
from pdigpy.state.records import FdInfo, ThreadInfo

if TYPE_CHECKING:
    from pdigpy.state.tables import State

Handler = Callable[["State", Event, ThreadInfo], None]

LINUX_O_CLOEXEC = 0o2000000  # == SOCK_CLOEXEC, EFD_CLOEXEC, SFD_CLOEXEC, TFD_CLOEXEC, EPOLL_CLOEXEC
EINPROGRESS = 115

PPM_AF_UNIX = 1
PPM_AF_INET = 2
PPM_AF_INET6 = 10
PPM_AF_NETLINK = 16

PPM_FCNTL_F_DUPFD = 1
PPM_FCNTL_F_DUPFD_CLOEXEC = 26

# bpf(2) commands that return a new fd.
BPF_FD_COMMANDS = frozenset({
    0,  # BPF_MAP_CREATE
    5,  # BPF_PROG_LOAD
    7,  # BPF_OBJ_GET
    13, 14,  # BPF_PROG_GET_FD_BY_ID, BPF_MAP_GET_FD_BY_ID
    17,  # BPF_RAW_TRACEPOINT_OPEN
    18, 19,  # BPF_BTF_LOAD, BPF_BTF_GET_FD_BY_ID
    28,  # BPF_LINK_CREATE
    29, 30,  # BPF_LINK_GET_FD_BY_ID, BPF_ENABLE_STATS
    31,  # BPF_ITER_CREATE
    36,  # BPF_TOKEN_CREATE
})


def _result(evt: Event, name: str = "fd") -> int | None:
    """The syscall's return value: res, else the event's leading fd/res param."""
    res = evt.res
    if res is None:
        value = evt.args.get(name)
        if isinstance(value, int):
            return value
        return None
    return res


def _cloexec(flags: Any, ppm_bit: int = PPM_O_CLOEXEC) -> bool:
    """Close-on-exec from a flags param, whether Falco converted it (PPM) or not.

    The PPM bit and Linux's O_CLOEXEC bit never carry another meaning in the
    flag sets used here, so testing both is safe.
    """
    return isinstance(flags, int) and bool(flags & (ppm_bit | LINUX_O_CLOEXEC))


# ---------------------------------------------------------------- files


def _dir_base(thread: ThreadInfo, dirfd: Any) -> str:
    if dirfd is None or dirfd == AT_FDCWD:
        return thread.proc.cwd
    info = thread.fds.fds.get(dirfd)
    return info.name if info is not None and info.name else UNKNOWN_DIR


def _resolve(thread: ThreadInfo, name: str, dirfd: Any = AT_FDCWD) -> str:
    if name.startswith("/"):
        return join_path("/", name)
    return join_path(_dir_base(thread, dirfd), name)


def on_open(state: State, evt: Event, thread: ThreadInfo) -> None:
    args = evt.args
    name = args.get("name")
    if not isinstance(name, str):
        name = args.get("path") if isinstance(args.get("path"), str) else ""
    flags = args.get("flags")
    if evt.type == "creat":
        flags = PPM_O_CREAT | PPM_O_WRONLY | PPM_O_TRUNC
    flags = flags if isinstance(flags, int) else 0
    path = _resolve(thread, name, args.get("dirfd", AT_FDCWD))
    res = _result(evt)
    if res is None:
        evt.fdinfo = None
        return
    if res < 0:
        evt.fdinfo = failed_open_fd(path, name, flags)
        return
    evt.fdinfo = thread.fds.add(file_fd(res, path, name, flags,
                                        dev=args.get("dev") or 0, ino=args.get("ino") or 0))


def on_open_by_handle(state: State, evt: Event, thread: ThreadInfo) -> None:
    args = evt.args
    path = args.get("path") if isinstance(args.get("path"), str) else ""
    flags = args.get("flags") if isinstance(args.get("flags"), int) else 0
    res = _result(evt)
    if res is None:
        return
    if res < 0:
        evt.fdinfo = failed_open_fd(path, path, flags)
        return
    evt.fdinfo = thread.fds.add(file_fd(res, join_path("/", path) if path else "", path, flags))


def on_memfd_create(state: State, evt: Event, thread: ThreadInfo) -> None:
    res = _result(evt)
    if res is None or res < 0:
        return
    name = evt.args.get("name") or ""
    flags = evt.args.get("flags")
    # memfd_create's flags are Falco's memfd set: MFD_CLOEXEC is bit 0 in both
    evt.fdinfo = thread.fds.add(simple_fd(res, "memfd", f"memfd:{name}",
                                          cloexec=isinstance(flags, int) and bool(flags & 1)))


# ---------------------------------------------------------------- simple fd kinds


def _make_simple(ftype: str, cloexec_bit: int | None = PPM_O_CLOEXEC,
                 always_cloexec: bool = False) -> Handler:
    def handler(state: State, evt: Event, thread: ThreadInfo) -> None:
        res = _result(evt, "res")
        if res is None or res < 0:
            return
        cloexec = always_cloexec or (
            cloexec_bit is not None and _cloexec(evt.args.get("flags"), cloexec_bit))
        evt.fdinfo = thread.fds.add(simple_fd(res, ftype, cloexec=cloexec))
    handler.__name__ = f"on_{ftype}"
    return handler


def on_pipe(state: State, evt: Event, thread: ThreadInfo) -> None:
    res = _result(evt, "res")
    if res is None or res < 0:
        return
    args = evt.args
    ino = args.get("ino") if isinstance(args.get("ino"), int) else 0
    cloexec = _cloexec(args.get("flags"))
    name = f"pipe:[{ino}]" if ino else ""
    first = None
    for key in ("fd1", "fd2"):
        num = args.get(key)
        if isinstance(num, int) and num >= 0:
            info = thread.fds.add(simple_fd(num, "pipe", name, cloexec=cloexec, ino=ino))
            first = first or info
    evt.fdinfo = first


def on_bpf(state: State, evt: Event, thread: ThreadInfo) -> None:
    res = _result(evt)
    cmd = evt.args.get("cmd")
    if res is None or res < 0 or cmd not in BPF_FD_COMMANDS:
        return
    evt.fdinfo = thread.fds.add(simple_fd(res, "bpf", cloexec=True))  # bpf fds are O_CLOEXEC


def on_pidfd_open(state: State, evt: Event, thread: ThreadInfo) -> None:
    res = _result(evt)
    if res is None or res < 0:
        return
    info = simple_fd(res, "pidfd", cloexec=True)  # pidfds are always O_CLOEXEC
    pid = evt.args.get("pid")
    if isinstance(pid, int):
        info.extra = {"pid": pid}
    evt.fdinfo = thread.fds.add(info)


def on_pidfd_getfd(state: State, evt: Event, thread: ThreadInfo) -> None:
    """A copy of another process's fd: copy its entry when we know both ends."""
    res = _result(evt)
    if res is None or res < 0:
        return
    args = evt.args
    source = None
    pidfd = thread.fds.fds.get(args.get("pid_fd"))
    if pidfd is not None and pidfd.extra:
        target = thr.process_main(state, pidfd.extra.get("pid", -1))
        if target is not None and target.fds is not None:
            source = target.fds.fds.get(args.get("target_fd"))
    if source is None:
        thread.fds.remove(res)
        return
    evt.fdinfo = thread.fds.add(dup_fd(source, res, cloexec=True))


# ---------------------------------------------------------------- dup, fcntl, close


def _dup_into(thread: ThreadInfo, evt: Event, oldfd: Any, newfd: int, cloexec: bool) -> None:
    fds = thread.fds
    source = fds.fds.get(oldfd)
    if source is None:
        # unknown source: leave no stale entry under the new number
        fds.remove(newfd)
        evt.fdinfo = None
        return
    if oldfd == newfd:
        evt.fdinfo = source
        return
    evt.fdinfo = fds.add(dup_fd(source, newfd, cloexec))


def on_dup(state: State, evt: Event, thread: ThreadInfo) -> None:
    args = evt.args
    oldfd = args.get("oldfd", args.get("fd"))
    res = _result(evt, "res")
    if res is None or res < 0:
        evt.fdinfo = thread.fds.fds.get(oldfd)
        return
    _dup_into(thread, evt, oldfd, res, evt.type == "dup3" and _cloexec(args.get("flags")))


def on_fcntl(state: State, evt: Event, thread: ThreadInfo) -> None:
    args = evt.args
    fd = args.get("fd")
    cmd = args.get("cmd")
    res = _result(evt, "res")
    if cmd in (PPM_FCNTL_F_DUPFD, PPM_FCNTL_F_DUPFD_CLOEXEC) and res is not None and res >= 0:
        _dup_into(thread, evt, fd, res, cmd == PPM_FCNTL_F_DUPFD_CLOEXEC)
        return
    evt.fdinfo = thread.fds.fds.get(fd)


def on_close(state: State, evt: Event, thread: ThreadInfo) -> None:
    # close() frees the number whatever it returns (EINTR/EIO included; EBADF
    # means there was nothing to free), so the result is not needed: the
    # tracer may skip the exit stop.
    fd = evt.args.get("fd")
    evt.fdinfo = thread.fds.remove(fd)


# ---------------------------------------------------------------- sockets


def on_socket(state: State, evt: Event, thread: ThreadInfo) -> None:
    res = _result(evt)
    if res is None or res < 0:
        return
    args = evt.args
    domain = args.get("domain")
    socktype = args.get("type") if isinstance(args.get("type"), int) else 0
    proto = args.get("proto") if isinstance(args.get("proto"), int) else 0
    cloexec = bool(socktype & LINUX_O_CLOEXEC)
    if domain == PPM_AF_INET:
        info = simple_fd(res, "ipv4", cloexec=cloexec)
        info.l4proto = l4proto(socktype, proto)
    elif domain == PPM_AF_INET6:
        info = simple_fd(res, "ipv6", cloexec=cloexec)
        info.l4proto = l4proto(socktype, proto)
    elif domain == PPM_AF_UNIX:
        info = simple_fd(res, "unix", cloexec=cloexec)
    elif domain == PPM_AF_NETLINK:
        info = simple_fd(res, "netlink", cloexec=cloexec)
    else:
        info = simple_fd(res, "unknown", cloexec=cloexec)
    evt.fdinfo = thread.fds.add(info)


def on_socketpair(state: State, evt: Event, thread: ThreadInfo) -> None:
    res = _result(evt, "res")
    if res is None or res < 0:
        return
    args = evt.args
    socktype = args.get("type") if isinstance(args.get("type"), int) else 0
    cloexec = bool(socktype & LINUX_O_CLOEXEC)
    first = None
    for key in ("fd1", "fd2"):
        num = args.get(key)
        if isinstance(num, int) and num >= 0:
            info = thread.fds.add(simple_fd(num, "unix", cloexec=cloexec))
            first = first or info
    evt.fdinfo = first


def _set_peer(info: FdInfo, tup: Any, addr: Any, server_side: bool) -> None:
    """Fill client/server ends and fd.name from a tuple (or the bare address)."""
    if isinstance(tup, SockTuple):
        if tup.family == "unix":
            info.name = tup.path or (addr.path if isinstance(addr, SockAddr) else "")
            return
        if tup.family in ("ipv4", "ipv6"):
            if info.type != tup.family:
                # includes IPv4 over a dual-stack IPv6 socket, which Falco reports as ipv4
                info.type, info.typechar = tup.family, "4" if tup.family == "ipv4" else "6"
            info.cip, info.cport, info.sip, info.sport = tup.sip, tup.sport, tup.dip, tup.dport
            if tup.l4proto:
                info.l4proto = tup.l4proto
            info.name = ip_fd_name(info.cip, info.cport, info.sip, info.sport)
            return
    if isinstance(addr, SockAddr):
        if addr.family == "unix":
            info.name = addr.path
        elif addr.family in ("ipv4", "ipv6"):
            if server_side:
                info.cip, info.cport = addr.ip, addr.port
            else:
                info.sip, info.sport = addr.ip, addr.port
                if not info.cip:
                    info.cip = "0.0.0.0" if addr.family == "ipv4" else "::"
            info.name = ip_fd_name(info.cip, info.cport, info.sip, info.sport)


def _mark_name_changed(info: FdInfo, evt: Event) -> None:
    """fd.name_changed contract with the field layer: the event that renamed the fd."""
    if info.extra is None:
        info.extra = {}
    info.extra["name_changed_num"] = evt.num


def on_send_recv(state: State, evt: Event, thread: ThreadInfo) -> None:
    """sendto/sendmsg/recvfrom/recvmsg: an unconnected datagram socket takes the
    peer of each datagram as its name (Falco's fd.name_changed case)."""
    args = evt.args
    info = thread.fds.fds.get(args.get("fd"))
    evt.fdinfo = info
    tup = args.get("tuple")
    if info is None or not isinstance(tup, SockTuple) or tup.family not in ("ipv4", "ipv6"):
        return
    if info.type not in ("ipv4", "ipv6") or (info.connected and info.l4proto == "tcp"):
        return
    res = evt.res
    if res is not None and res < 0:
        return
    name = ip_fd_name(tup.sip, tup.sport, tup.dip, tup.dport)
    if name != info.name:
        _set_peer(info, tup, None, server_side=False)
        _mark_name_changed(info, evt)


def on_connect(state: State, evt: Event, thread: ThreadInfo) -> None:
    args = evt.args
    fd = args.get("fd")
    info = thread.fds.fds.get(fd)
    res = evt.res
    if info is None:
        if not isinstance(fd, int) or fd < 0:
            return
        # a socket we did not see created (inherited): learn what the event says
        tup = args.get("tuple")
        family = tup.family if isinstance(tup, SockTuple) else (
            args["addr"].family if isinstance(args.get("addr"), SockAddr) else "unknown")
        if family not in ("ipv4", "ipv6", "unix"):
            family = "unknown"
        info = thread.fds.add(simple_fd(fd, family))
    evt.fdinfo = info
    if res is None or (res < 0 and res != -EINPROGRESS):
        return
    before = info.name
    _set_peer(info, args.get("tuple"), args.get("addr"), server_side=False)
    info.connected = res == 0
    if info.name != before:
        _mark_name_changed(info, evt)


def on_accept(state: State, evt: Event, thread: ThreadInfo) -> None:
    res = _result(evt)
    if res is None or res < 0:
        return
    args = evt.args
    tup = args.get("tuple")
    family = tup.family if isinstance(tup, SockTuple) else "unknown"
    if family not in ("ipv4", "ipv6", "unix"):
        family = "unknown"
    info = simple_fd(res, family, cloexec=_cloexec(args.get("flags")))
    info.is_server = True
    info.connected = True
    if isinstance(tup, SockTuple):
        _set_peer(info, tup, None, server_side=True)
        if not info.l4proto and family in ("ipv4", "ipv6"):
            info.l4proto = "tcp"
    evt.fdinfo = thread.fds.add(info)


def on_bind(state: State, evt: Event, thread: ThreadInfo) -> None:
    args = evt.args
    info = thread.fds.fds.get(args.get("fd"))
    evt.fdinfo = info
    res = evt.res
    if info is None or res is None or res < 0:
        return
    addr = args.get("addr")
    if isinstance(addr, SockAddr):
        if addr.family == "unix":
            info.name = addr.path
        elif addr.family in ("ipv4", "ipv6"):
            # a bound socket is (usually) a server: the address is its server end
            info.sip, info.sport = addr.ip, addr.port
            info.name = f"{addr.ip}:{addr.port}"


def on_listen(state: State, evt: Event, thread: ThreadInfo) -> None:
    info = thread.fds.fds.get(evt.args.get("fd"))
    evt.fdinfo = info
    if info is not None and evt.res is not None and evt.res >= 0:
        info.is_server = True


# ---------------------------------------------------------------- cwd, credentials


def on_chdir(state: State, evt: Event, thread: ThreadInfo) -> None:
    if evt.res is None or evt.res < 0:
        return
    path = evt.args.get("path")
    if isinstance(path, str):
        thread.proc.cwd = _resolve(thread, path)


def on_fchdir(state: State, evt: Event, thread: ThreadInfo) -> None:
    info = thread.fds.fds.get(evt.args.get("fd"))
    evt.fdinfo = info
    if evt.res is None or evt.res < 0:
        return
    thread.proc.cwd = info.name if info is not None and info.name else UNKNOWN_DIR


def _id(value: Any) -> int | None:
    """A uid/gid param; -1 (or its unsigned form) means "unchanged"."""
    if not isinstance(value, int) or value in (-1, thr.UNKNOWN_ID):
        return None
    return value


def _succeeded(evt: Event) -> bool:
    return evt.res is not None and evt.res >= 0


def on_setuid(state: State, evt: Event, thread: ThreadInfo) -> None:
    uid = _id(evt.args.get("uid"))
    if uid is None or not _succeeded(evt):
        return
    if thread.euid == 0:
        thread.uid = uid  # privileged setuid sets real, effective and saved
    thread.euid = uid


def on_setgid(state: State, evt: Event, thread: ThreadInfo) -> None:
    gid = _id(evt.args.get("gid"))
    if gid is None or not _succeeded(evt):
        return
    if thread.euid == 0:
        thread.gid = gid
    thread.egid = gid


def on_setresuid(state: State, evt: Event, thread: ThreadInfo) -> None:
    if not _succeeded(evt):
        return
    args = evt.args
    ruid = _id(args.get("ruid"))
    euid = _id(args.get("euid"))
    if ruid is not None:
        thread.uid = ruid
    if euid is not None:
        thread.euid = euid


def on_setresgid(state: State, evt: Event, thread: ThreadInfo) -> None:
    if not _succeeded(evt):
        return
    args = evt.args
    rgid = _id(args.get("rgid"))
    egid = _id(args.get("egid"))
    if rgid is not None:
        thread.gid = rgid
    if egid is not None:
        thread.egid = egid


def on_capset(state: State, evt: Event, thread: ThreadInfo) -> None:
    if not _succeeded(evt):
        return
    for name in ("cap_inheritable", "cap_permitted", "cap_effective"):
        value = evt.args.get(name)
        if isinstance(value, int):
            setattr(thread, name, value)


def _process_threads(state: State, pid: int) -> list[ThreadInfo]:
    group = state.groups.get(pid)
    if group is None:
        return []
    return [t for t in (state.threads.get(tid) for tid in group.tids) if t is not None]


def on_setsid(state: State, evt: Event, thread: ThreadInfo) -> None:
    res = evt.res
    if res is None or res < 0:
        return
    for member in _process_threads(state, thread.pid) or [thread]:
        member.sid = res
        member.pgid = res
        if member.vpid == member.pid or not member.vpid:
            member.vpgid = res


def on_setpgid(state: State, evt: Event, thread: ThreadInfo) -> None:
    if not _succeeded(evt):
        return
    args = evt.args
    pid = args.get("pid")
    pgid = args.get("pgid")
    target = thread.pid if not isinstance(pid, int) or pid == 0 else pid
    new = target if not isinstance(pgid, int) or pgid == 0 else pgid
    for member in _process_threads(state, target):
        member.pgid = new
        if member.vpid == member.pid or not member.vpid:
            member.vpgid = new


# ---------------------------------------------------------------- tables

HANDLERS: dict[str, Handler] = {
    "open": on_open, "openat": on_open, "openat2": on_open, "creat": on_open,
    "open_by_handle_at": on_open_by_handle,
    "memfd_create": on_memfd_create,
    "pipe": on_pipe, "pipe2": on_pipe,
    "eventfd": _make_simple("event"), "eventfd2": _make_simple("event"),
    "signalfd": _make_simple("signalfd"), "signalfd4": _make_simple("signalfd"),
    "timerfd_create": _make_simple("timerfd"),
    "inotify_init": _make_simple("inotify"), "inotify_init1": _make_simple("inotify"),
    "epoll_create": _make_simple("eventpoll", None),
    "epoll_create1": _make_simple("eventpoll", 1),  # Falco's EPOLL_CLOEXEC is bit 0
    "io_uring_setup": _make_simple("io_uring", None, always_cloexec=True),
    "userfaultfd": _make_simple("userfaultfd"),
    "pidfd_open": on_pidfd_open, "pidfd_getfd": on_pidfd_getfd,
    "bpf": on_bpf,
    "dup": on_dup, "dup2": on_dup, "dup3": on_dup,
    "fcntl": on_fcntl,
    "close": on_close,
    "socket": on_socket, "socketpair": on_socketpair,
    "connect": on_connect, "accept": on_accept, "accept4": on_accept,
    "bind": on_bind, "listen": on_listen,
    "sendto": on_send_recv, "sendmsg": on_send_recv,
    "recvfrom": on_send_recv, "recvmsg": on_send_recv,
    "chdir": on_chdir, "fchdir": on_fchdir,
    "setuid": on_setuid, "setgid": on_setgid,
    "setresuid": on_setresuid, "setresgid": on_setresgid,
    "setreuid": on_setresuid, "setregid": on_setresgid,
    "capset": on_capset,
    "setsid": on_setsid, "setpgid": on_setpgid,
}

LIFECYCLE_HANDLERS: dict[str, Callable[["State", Event], None]] = {
    "clone": thr.on_clone, "clone3": thr.on_clone, "fork": thr.on_clone,
    "vfork": thr.on_clone,
    "execve": thr.on_exec, "execveat": thr.on_exec,
    "procexit": thr.on_exit,
}

# Events that use an fd but change no state: which param names the fd
# (Falco's EF_USES_FD events).
FD_PARAM: dict[str, str] = {name: "fd" for name in (
    "read", "write", "pread", "pwrite", "readv", "writev", "preadv", "pwritev",
    "send", "sendto", "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg",
    "shutdown", "setsockopt", "getsockopt", "getsockname", "getpeername",
    "fstat", "fstat64", "lseek", "llseek", "ioctl", "getdents", "getdents64",
    "setns", "flock", "fchmod", "fchown", "io_uring_enter", "io_uring_register",
    "finit_module", "fsconfig", "fsync", "fdatasync",
    "ftruncate", "fstatfs", "syncfs", "fallocate", "fgetxattr", "fsetxattr", "fadvise64",
)}
FD_PARAM.update({
    "sendfile": "out_fd", "splice": "fd_in", "copy_file_range": "fdin",
    "newfstatat": "dirfd", "mknodat": "dirfd",
})
# Not here on purpose: mmap's fd is no EF_USES_FD param in Falco, so fd.* stays
# null for mmap events.

"""What /proc says about a thread, read at a ptrace stop: ``read_procinfo(tid)``.

Called at every successful execve (and for snapshots of pre-existing
processes), so it is on a warm path: raw ``os.open``/``os.read`` instead of
file objects, one pass over each file, no regular expressions. About 12
syscall-sized reads per call (status, stat, cmdline, environ, cgroup,
loginuid, two readlinks, one stat, prlimit, and an occasional statvfs).

Sources of each ProcInfo field:

- status: comm (Name), pid (Tgid), ptid (PPid), uid/euid, gid/egid,
  vtid/vpid/vpgid (last NSpid/NStgid/NSpgid value), cap_* (CapInh/Prm/Eff)
- stat: tty (tty_nr), pgid, sid, start_ts (starttime ticks / CLK_TCK + btime)
- cmdline: exe (argv[0]) and args (argv[1:]); env from environ
- exe -> exepath (" (deleted)" stripped), exe_from_memfd ("/memfd:" target);
  os.stat of the exe link: exe_ino, exe_ino_ctime, exe_ino_mtime
- exe_writable: emulates the kernel's write-permission check for the
  process's effective uid/gid (owner/group/other bits, CAP_DAC_OVERRIDE),
  then a read-only mount makes it False. Supplementary groups are ignored.
- exe_upper_layer / exe_lower_layer: always False. Telling overlayfs layers
  apart from userspace needs mountinfo plus the layer directories (privileged
  and slow); documented as not supported.
- cwd (readlink), loginuid (-1 when unset), cgroups ("ctl=/path" per
  controller; cgroup v2's single line expands to the controllers listed in
  /sys/fs/cgroup/cgroup.controllers, or "unified=/path" if unreadable)
- fdlimit: soft RLIMIT_NOFILE via prlimit (one syscall), else /proc/PID/limits
- pidns_init_start_ts: start time of the pid namespace's init; for the host
  namespace that is pid 1; for a nested namespace the init is found once per
  namespace by scanning /proc and cached.

Returns None when the thread is gone (no status file).

``read_fds(pid)`` reads a process's open fds for its snapshot
(``ProcInfo.fds``); see the section "open fds" below.
"""

from __future__ import annotations

import os
import resource
from typing import Any

from pdigpy.events.procinfo import ProcFd, ProcInfo

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_NS = 1_000_000_000
_ARGS_LIMIT = 1 << 26  # argv/env are read in full; the kernel caps them far below this
_btime_ns: int | None = None
_controllers: list[str] | None = None
_pidns_start: dict[str, tuple[int, int]] = {}  # ns link -> (init's host pid, its start time)


def _read(path: str, limit: int = 1 << 20) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 65536)
        if len(data) < 65536:  # the whole file in one read: /proc files fill the buffer unless at the end
            return data
        chunks = [data]
        total = len(data)
        while total < limit:
            chunk = os.read(fd, 65536)
            chunks.append(chunk)
            total += len(chunk)
            if len(chunk) < 65536:  # /proc reads fill the buffer unless at the end: save a read
                break
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def boot_time_ns() -> int:
    global _btime_ns
    if _btime_ns is None:
        data = _read("/proc/stat") or b""
        for line in data.split(b"\n"):
            if line.startswith(b"btime "):
                _btime_ns = int(line.split()[1]) * _NS
                break
        else:
            _btime_ns = 0
    return _btime_ns


def _cgroup_controllers() -> list[str]:
    global _controllers
    if _controllers is None:
        data = _read("/sys/fs/cgroup/cgroup.controllers")
        _controllers = data.decode().split() if data else []
    return _controllers


_cgroup_cache: dict[bytes, list[str]] = {}


def parse_cgroups(data: bytes) -> list[str]:
    """/proc/PID/cgroup -> ["ctl=/path", ...] (memoised: most processes share their cgroups)."""
    cached = _cgroup_cache.get(data)
    if cached is None:
        if len(_cgroup_cache) > 256:
            _cgroup_cache.clear()
        cached = _cgroup_cache[data] = _parse_cgroups(data)
    return list(cached)


def _parse_cgroups(data: bytes) -> list[str]:
    out: list[str] = []
    for line in data.decode("utf-8", "surrogateescape").split("\n"):
        if not line:
            continue
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctls, path = parts
        if ctls:
            for ctl in ctls.split(","):
                out.append(f"{ctl.removeprefix('name=')}={path}")
        else:
            ctl_list = _cgroup_controllers()
            if ctl_list:
                out.extend(f"{ctl}={path}" for ctl in ctl_list)
            else:
                out.append(f"unified={path}")
    return out


def _split_nul(data: bytes | None) -> list[str]:
    if not data:
        return []
    if data.endswith(b"\0"):
        data = data[:-1]
    return data.decode("utf-8", "surrogateescape").split("\0")  # = os.fsdecode per item, faster


def _status_field(status: bytes, key: bytes) -> bytes:
    """Value of one "Key:<tab>value" line of /proc/PID/status (b"" if absent)."""
    i = status.find(key)
    if i < 0:
        return b""
    i += len(key)
    j = status.find(b"\n", i)
    return status[i:j].strip() if j >= 0 else status[i:].strip()


def _stat_fields(tid: int) -> list[bytes] | None:
    data = _read(f"/proc/{tid}/stat")
    if not data:
        return None
    # comm may contain spaces and parentheses: the fields start after the last ")"
    return data[data.rindex(b")") + 2 :].split()


def start_time_ns(tid: int) -> int:
    fields = _stat_fields(tid)
    if not fields:
        return 0
    return boot_time_ns() + int(fields[19]) * _NS // _CLK_TCK


def _pidns_init_start(tid: int, nspid_depth: int) -> int:
    try:
        ns = os.readlink(f"/proc/{tid}/ns/pid")
    except OSError:
        return 0
    cached = _pidns_start.get(ns)
    if cached is not None:
        init_pid, start = cached
        # A dead namespace's inode number can be reused by a new one: trust the entry only while
        # its init still lives in it, with the same start time
        if init_pid <= 1 or (_same_ns(init_pid, ns) and start_time_ns(init_pid) == start):
            return start
    init_pid, start = 0, 0
    if nspid_depth <= 1:
        init_pid, start = 1, start_time_ns(1)
    else:
        for name in os.listdir("/proc"):
            if not name.isdigit() or not _same_ns(int(name), ns):
                continue
            status = _read(f"/proc/{name}/status") or b""
            for line in status.split(b"\n"):
                if line.startswith(b"NSpid:") and line.split()[-1] == b"1":
                    init_pid, start = int(name), start_time_ns(int(name))
                    break
            if start:
                break
    if start:
        _pidns_start[ns] = (init_pid, start)
    return start


def _same_ns(pid: int, ns: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == ns
    except OSError:
        return False


def _exe_writable(path: str, st: os.stat_result, euid: int, egid: int, cap_eff: int) -> bool:
    if cap_eff & 0x2:  # CAP_DAC_OVERRIDE
        allowed = True
    elif st.st_uid == euid:
        allowed = bool(st.st_mode & 0o200)
    elif st.st_gid == egid:
        allowed = bool(st.st_mode & 0o020)
    else:
        allowed = bool(st.st_mode & 0o002)
    if not allowed:
        return False
    try:
        return not os.statvfs(path).f_flag & os.ST_RDONLY
    except OSError:
        return True


def _fdlimit(pid: int) -> int:
    """Soft RLIMIT_NOFILE: prlimit (one syscall); /proc/PID/limits when prlimit is refused
    (another uid and no CAP_SYS_RESOURCE)."""
    try:
        return resource.prlimit(pid, resource.RLIMIT_NOFILE)[0]
    except (OSError, ValueError):
        pass
    data = _read(f"/proc/{pid}/limits") or b""
    for line in data.split(b"\n"):
        if line.startswith(b"Max open files"):
            soft = line[len(b"Max open files"):].split()[0]
            return -1 if soft == b"unlimited" else int(soft)
    return 0


def read_procinfo(tid: int) -> ProcInfo | None:
    """ProcInfo of thread ``tid`` from /proc, or None if the thread is gone."""
    base = f"/proc/{tid}/"
    status = _read(base + "status")
    if not status:
        return None
    info = ProcInfo(tid=tid, pid=tid, ptid=0)
    field = _status_field
    info.comm = field(status, b"Name:").decode("utf-8", "surrogateescape")
    info.pid = int(field(status, b"\nTgid:"))
    info.ptid = int(field(status, b"\nPPid:"))
    ids = field(status, b"\nUid:").split()
    info.uid, info.euid = int(ids[0]), int(ids[1])
    ids = field(status, b"\nGid:").split()
    info.gid, info.egid = int(ids[0]), int(ids[1])
    ns = field(status, b"\nNStgid:").split()
    if ns:
        info.vpid = int(ns[-1])
    ns = field(status, b"\nNSpid:").split()
    nspid_depth = len(ns) or 1
    if ns:
        info.vtid = int(ns[-1])
    ns = field(status, b"\nNSpgid:").split()
    if ns:
        info.vpgid = int(ns[-1])
    info.cap_inheritable = int(field(status, b"\nCapInh:") or b"0", 16)
    info.cap_permitted = int(field(status, b"\nCapPrm:") or b"0", 16)
    info.cap_effective = int(field(status, b"\nCapEff:") or b"0", 16)
    if b"\\" in info.comm.encode("utf-8", "surrogateescape"):
        # status escapes unusual characters in Name; comm has them raw
        comm = _read(base + "comm")
        if comm:
            info.comm = os.fsdecode(comm.rstrip(b"\n"))

    fields = _stat_fields(tid)
    if fields:
        info.pgid = int(fields[2])
        info.sid = int(fields[3])
        info.tty = int(fields[4])
        info.start_ts = boot_time_ns() + int(fields[19]) * _NS // _CLK_TCK
    if not info.vpgid:
        info.vpgid = info.pgid

    argv = _split_nul(_read(base + "cmdline", _ARGS_LIMIT))
    if argv:
        info.exe = argv[0]
        info.args = argv[1:]
    else:
        info.exe = info.comm
    info.env = _split_nul(_read(base + "environ", _ARGS_LIMIT))

    try:
        exepath = os.readlink(base + "exe")
    except OSError:
        exepath = ""
    if exepath.endswith(" (deleted)"):
        exepath = exepath[: -len(" (deleted)")]
    info.exepath = exepath
    info.exe_from_memfd = exepath.startswith("/memfd:")
    if exepath:
        try:
            st = os.stat(base + "exe")
            info.exe_ino = st.st_ino
            info.exe_ino_ctime = st.st_ctime_ns
            info.exe_ino_mtime = st.st_mtime_ns
            info.exe_writable = _exe_writable(base + "exe", st, info.euid, info.egid, info.cap_effective)
        except OSError:
            pass

    try:
        info.cwd = os.readlink(base + "cwd")
    except OSError:
        info.cwd = ""
    loginuid = _read(base + "loginuid")
    if loginuid:
        value = int(loginuid)
        info.loginuid = -1 if value == 0xFFFFFFFF else value
    cgroup = _read(base + "cgroup")
    if cgroup:
        info.cgroups = parse_cgroups(cgroup)
    info.fdlimit = _fdlimit(info.pid)
    info.pidns_init_start_ts = _pidns_init_start(tid, nspid_depth)
    return info


# ---------------------------------------------------------------- open fds
#
# The open fds of a process, read from /proc at a ptrace stop: ``read_fds(pid)``.
#
# The state learns fds from the syscalls that create them. fds that exist
# before tracing (what the spawned app inherits: stdio, a socket passed by
# systemd or a parent, a file opened by a shell redirection; everything an
# attached process had open) are read here instead, once, while the process
# is stopped, and carried in its snapshot (``ProcInfo.fds``). Each fd becomes
# the ``ProcFd`` whose values the state's handlers would have built had they
# seen the fd created, so rules see no difference (docs/events.md §6):
#
# - ``/proc/PID/fd/N`` (readlink) tells the kind: a path (file, or directory
#   when opened with O_DIRECTORY, as Falco decides it), ``socket:[ino]``,
#   ``pipe:[ino]``, ``anon_inode:...`` (eventfd, signalfd, timerfd, inotify,
#   eventpoll, io_uring, userfaultfd, pidfd, bpf objects), ``/memfd:NAME
#   (deleted)``; anything else is type "unknown" named by its link.
# - ``/proc/PID/fdinfo/N`` gives the file flags (octal; O_CLOEXEC included).
#   The kernel keeps no open-time-only flag (O_CREAT, O_TRUNC, O_EXCL), so a
#   discovered file lacks them, and drops nothing else; O_LARGEFILE, which the
#   kernel adds itself on 64-bit, is left out as a traced open would show it.
# - sockets: family, type, protocol, local and peer address and the listening
#   state are asked of a borrowed copy of the socket
#   (:func:`pdigpy.tracer.sockaddr.borrow_fd`, pidfd_getfd, as for events);
#   where that is refused, /proc/PID/net/* is read once for all the sockets
#   (a socket never bound nor connected is not listed there: its kind comes
#   from its ``system.sockprotoname`` xattr; a unix client's peer path is
#   not known then).
#   A connected socket whose local end matches a listening socket of the same
#   process is the server side of an accepted connection (is_server, client
#   and server ends as accept gives them); any other connected socket is a
#   client.
#
# Cost: about 4 syscalls per fd (readlink, open/read/close of fdinfo), one
# more for a file's dev/ino (when opens stat theirs, see decode.FD_STAT) and
# about 8 for a socket. At most ``MAX_FDS`` fds are read, the lowest numbers
# first (the kernel lists them in order; a server's listening sockets and log
# files are opened early): a process with 100k fds does not stall the start.

MAX_FDS = 4096  # fds read per process; the rest stay unknown (docs/events.md §6)

_LINUX_O_CLOEXEC = 0o2000000
_SO_ACCEPTCONN = 30

# readlink "anon_inode:X" -> fd.type (bpf objects are matched by prefix below)
_ANON_TYPES = {
    "[eventfd]": "event",
    "[signalfd]": "signalfd",
    "[timerfd]": "timerfd",
    "inotify": "inotify",
    "[eventpoll]": "eventpoll",
    "[io_uring]": "io_uring",
    "[userfaultfd]": "userfaultfd",
    "[pidfd]": "pidfd",
}
_DELETED = " (deleted)"


def read_fds(pid: int, limit: int = MAX_FDS) -> tuple[list[ProcFd], bool]:
    """The open fds of process ``pid`` (lowest ``limit`` numbers) and whether more were left unread.

    An empty list when the process is gone or its fds cannot be read.
    """
    base = f"/proc/{pid}/fd/"
    nums: list[int] = []
    capped = False
    try:
        with os.scandir(base) as entries:  # lazy: stops reading the directory at the cap
            for entry in entries:
                if len(nums) >= limit:
                    capped = True
                    break
                nums.append(int(entry.name))
    except (OSError, ValueError):
        return [], False
    nums.sort()
    fds: list[ProcFd] = []
    sockets: list[tuple[int, int, bool]] = []  # (num, inode, cloexec)
    for num in nums:
        try:
            target = os.readlink(base + str(num))
        except OSError:
            continue  # closed meanwhile (another thread of an attached process)
        flags = _fdinfo_flags(pid, num)
        cloexec = bool(flags & _LINUX_O_CLOEXEC)
        if target.startswith("socket:["):
            sockets.append((num, _inode(target), cloexec))
            continue
        fd = _classify_fd(pid, num, target, flags, cloexec)
        if fd is not None:
            fds.append(fd)
    if sockets:
        fds.extend(_sockets(pid, sockets))
        fds.sort(key=lambda f: f.num)
    return fds, capped


def _fdinfo_flags(pid: int, num: int) -> int:
    try:
        fh = os.open(f"/proc/{pid}/fdinfo/{num}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        data = os.read(fh, 4096)
    except OSError:
        return 0
    finally:
        os.close(fh)
    i = data.find(b"flags:")
    if i < 0:
        return 0
    j = data.find(b"\n", i)
    try:
        return int(data[i + 6 : j if j >= 0 else None].strip(), 8)
    except ValueError:
        return 0


def _inode(target: str) -> int:
    """The number in "socket:[123]" / "pipe:[123]" (0 if none)."""
    i = target.find("[")
    try:
        return int(target[i + 1 : -1]) if i >= 0 else 0
    except ValueError:
        return 0


def _classify_fd(pid: int, num: int, target: str, flags: int, cloexec: bool) -> ProcFd | None:
    """A non-socket fd as the state's handlers build it (see pdigpy.state.handlers)."""
    from pdigpy.tracer import ppm  # lazy: only files need it
    if target.startswith("/"):
        if target.startswith("/memfd:") and target.endswith(_DELETED):
            return ProcFd(num, "memfd", target[1 : -len(_DELETED)], cloexec=cloexec)
        if target.endswith(_DELETED):
            target = target[: -len(_DELETED)]  # the name it was opened by, as a traced open shows it
        openflags = ppm.open_flags(flags & ~ppm.L_O_LARGEFILE)
        ftype = "directory" if flags & ppm.L_O_DIRECTORY else "file"
        dev, ino = _dev_ino(pid, num)
        return ProcFd(num, ftype, target, openflags=openflags, cloexec=cloexec, ino=ino, dev=dev)
    if target.startswith("pipe:["):
        return ProcFd(num, "pipe", target, cloexec=cloexec, ino=_inode(target))
    if target.startswith("anon_inode:"):
        kind = target[11:]
        ftype = _ANON_TYPES.get(kind)
        if ftype is None:
            ftype = "bpf" if kind.startswith(("bpf", "btf")) else "unknown"
        fd = ProcFd(num, ftype, "" if ftype != "unknown" else target, cloexec=cloexec)
        if ftype == "pidfd":
            fd.pid = _pidfd_target(pid, num)
        return fd
    if target.startswith("pidfd:"):  # pidfs (Linux >= 6.9 may name pidfds so)
        return ProcFd(num, "pidfd", cloexec=cloexec, pid=_pidfd_target(pid, num))
    return ProcFd(num, "unknown", target, cloexec=cloexec)


def _dev_ino(pid: int, num: int) -> tuple[int, int]:
    """dev and inode of a file fd, as a traced open's params carry them (0, 0 when opens do not stat)."""
    from pdigpy.tracer import decode

    if not decode.FD_STAT:
        return 0, 0
    return decode.fd_dev_ino(pid, num)


def _pidfd_target(pid: int, num: int) -> int:
    try:
        with open(f"/proc/{pid}/fdinfo/{num}", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pid:"):
                    return max(int(line.split()[1]), 0)
    except (OSError, ValueError, IndexError):
        pass
    return 0


# ---------------------------------------------------------------- sockets


class _Sock:
    """What is known of one socket before it is classified."""

    __slots__ = ("num", "cloexec", "family", "l4proto", "local", "peer", "listening")

    def __init__(self, num: int, cloexec: bool) -> None:
        self.num = num
        self.cloexec = cloexec
        self.family = "unknown"
        self.l4proto = ""
        self.local: Any = None  # SockAddr
        self.peer: Any = None  # SockAddr
        self.listening = False


def _sockets(pid: int, sockets: list[tuple[int, int, bool]]) -> list[ProcFd]:
    socks = _borrowed(pid, sockets)
    if socks is None:
        socks = _from_proc_net(pid, sockets)
    return _socket_fds(socks)


def _socket_fds(socks: list[_Sock]) -> list[ProcFd]:
    """Classify the sockets of one process together (an accepted end is known by its listener)."""
    listeners = {(s.local.ip, s.local.port) for s in socks
                 if s.listening and s.local is not None and s.family in ("ipv4", "ipv6")}
    unix_listeners = {s.local.path for s in socks
                      if s.listening and s.local is not None and s.family == "unix" and s.local.path}
    return [_socket_fd(s, listeners, unix_listeners) for s in socks]


def _borrowed(pid: int, sockets: list[tuple[int, int, bool]]) -> list[_Sock] | None:
    """Ask a borrowed copy of each socket (None when borrowing is refused: use /proc/net)."""
    from pdigpy.tracer.sockaddr import borrow_fd

    out: list[_Sock] = []
    for num, _ino, cloexec in sockets:
        newfd = borrow_fd(pid, num)
        if newfd is None:
            if not out:
                return None  # refused (old kernel, seccomp profile): the fallback reads them all
            continue  # closed meanwhile
        sock = _Sock(num, cloexec)
        try:
            _ask(sock, newfd)
        finally:
            os.close(newfd)
        out.append(sock)
    return out


def _ask(sock: _Sock, newfd: int) -> None:
    import socket

    from pdigpy.events.model import l4proto
    from pdigpy.tracer.sockaddr import addr_from_python

    try:
        s = socket.socket(fileno=newfd)
    except OSError:
        return
    try:
        family = int(s.family)
        sock.l4proto = l4proto(int(s.type), s.proto)
        sock.family = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6", socket.AF_UNIX: "unix",
                       socket.AF_NETLINK: "netlink"}.get(family, "unknown")
        if sock.family == "netlink" or sock.family == "unknown":
            return
        try:
            sock.local = addr_from_python(family, s.getsockname())
        except OSError:
            pass
        try:
            sock.peer = addr_from_python(family, s.getpeername())
        except OSError:
            pass
        try:
            sock.listening = bool(s.getsockopt(socket.SOL_SOCKET, _SO_ACCEPTCONN))
        except OSError:
            pass
    finally:
        s.detach()


def _from_proc_net(pid: int, sockets: list[tuple[int, int, bool]]) -> list[_Sock]:
    """The fallback: /proc/PID/net read once for all the sockets, looked up by inode."""
    from pdigpy.tracer.sockaddr import proc_net_sockets

    listed = proc_net_sockets(pid, {ino for _num, ino, _c in sockets})
    out = []
    for num, ino, cloexec in sockets:
        sock = _Sock(num, cloexec)
        ep = listed.get(ino)
        if ep is not None:
            sock.family, sock.l4proto, sock.local, sock.peer, sock.listening = (
                ep.family, ep.l4proto, ep.local, ep.peer, ep.listening)
        else:  # not in /proc/net (never bound nor connected): the kind from the socket's xattr
            sock.family, sock.l4proto = _protoname_kind(pid, num)
        out.append(sock)
    return out


# system.sockprotoname -> (family, fd.l4proto); longest names first
_PROTONAMES = (
    ("TCPv6", ("ipv6", "tcp")), ("UDPLITEv6", ("ipv6", "udp")), ("UDPv6", ("ipv6", "udp")),
    ("RAWv6", ("ipv6", "raw")), ("PINGv6", ("ipv6", "icmp")), ("TCP", ("ipv4", "tcp")),
    ("UDPLITE", ("ipv4", "udp")), ("UDP", ("ipv4", "udp")), ("RAW", ("ipv4", "raw")),
    ("PING", ("ipv4", "icmp")), ("UNIX", ("unix", "")), ("NETLINK", ("netlink", "")),
)


def _protoname_kind(pid: int, num: int) -> tuple[str, str]:
    try:
        name = os.getxattr(f"/proc/{pid}/fd/{num}", "system.sockprotoname").rstrip(b"\0").decode()
    except (OSError, UnicodeDecodeError):
        return "unknown", ""
    for prefix, kind in _PROTONAMES:
        if name.startswith(prefix):
            return kind
    return "unknown", ""


def _socket_fd(s: _Sock, listeners: set, unix_listeners: set) -> ProcFd:
    fd = ProcFd(s.num, s.family if s.family in ("ipv4", "ipv6", "unix", "netlink") else "unknown",
                cloexec=s.cloexec)
    local, peer = s.local, s.peer
    if s.family == "unix":
        # as connect/bind/accept name it: the peer's path, else our own
        fd.name = (peer.path if peer is not None and peer.path else "") or (local.path if local else "")
        fd.is_server = s.listening or (bool(fd.name) and peer is not None and not peer.path
                                       and fd.name in unix_listeners)
        fd.connected = peer is not None and bool(fd.name) and not s.listening
        return fd
    if s.family not in ("ipv4", "ipv6"):
        return fd
    fd.l4proto = s.l4proto
    if peer is not None and local is not None and peer.port:
        from pdigpy.tracer.sockaddr import make_tuple

        tup = make_tuple(fd.l4proto, local, peer)  # unmaps IPv4 over a dual-stack socket, as events do
        if tup is not None:
            fd.type = tup.family
            accepted = (local.ip, local.port) in listeners or (
                ("0.0.0.0" if s.family == "ipv4" else "::", local.port) in listeners)
            if accepted:  # the server side of an accepted connection: as accept fills it
                fd.cip, fd.cport, fd.sip, fd.sport = tup.dip, tup.dport, tup.sip, tup.sport
                fd.is_server = True
            else:  # a client: as connect fills it
                fd.cip, fd.cport, fd.sip, fd.sport = tup.sip, tup.sport, tup.dip, tup.dport
            fd.connected = True
            fd.name = f"{fd.cip}:{fd.cport}->{fd.sip}:{fd.sport}"
        return fd
    if local is not None and local.port:
        # bound (and maybe listening): as bind names it, listen makes it a server
        fd.sip, fd.sport = local.ip, local.port
        fd.name = f"{local.ip}:{local.port}"
        fd.is_server = s.listening
    return fd

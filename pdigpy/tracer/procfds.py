"""The open fds of a process, read from /proc at a ptrace stop: ``read_fds(pid)``.

The state learns fds from the syscalls that create them. fds that exist
before tracing (what the spawned app inherits: stdio, a socket passed by
systemd or a parent, a file opened by a shell redirection; everything an
attached process had open) are read here instead, once, while the process
is stopped, and carried in its snapshot (``ProcInfo.fds``). Each fd becomes
the ``ProcFd`` whose values the state's handlers would have built had they
seen the fd created, so rules see no difference (docs/events.md §6):

- ``/proc/PID/fd/N`` (readlink) tells the kind: a path (file, or directory
  when opened with O_DIRECTORY, as Falco decides it), ``socket:[ino]``,
  ``pipe:[ino]``, ``anon_inode:...`` (eventfd, signalfd, timerfd, inotify,
  eventpoll, io_uring, userfaultfd, pidfd, bpf objects), ``/memfd:NAME
  (deleted)``; anything else is type "unknown" named by its link.
- ``/proc/PID/fdinfo/N`` gives the file flags (octal; O_CLOEXEC included).
  The kernel keeps no open-time-only flag (O_CREAT, O_TRUNC, O_EXCL), so a
  discovered file lacks them, and drops nothing else; O_LARGEFILE, which the
  kernel adds itself on 64-bit, is left out as a traced open would show it.
- sockets: family, type, protocol, local and peer address and the listening
  state are asked of a borrowed copy of the socket
  (:func:`pdigpy.tracer.sockaddr.borrow_fd`, pidfd_getfd, as for events);
  where that is refused, /proc/PID/net/* is read once for all the sockets
  (a socket never bound nor connected is not listed there: its kind comes
  from its ``system.sockprotoname`` xattr; a unix client's peer path is
  not known then).
  A connected socket whose local end matches a listening socket of the same
  process is the server side of an accepted connection (is_server, client
  and server ends as accept gives them); any other connected socket is a
  client.

Cost: about 4 syscalls per fd (readlink, open/read/close of fdinfo), one
more for a file's dev/ino (when opens stat theirs, see decode.FD_STAT) and
about 8 for a socket. At most ``MAX_FDS`` fds are read, the lowest numbers
first (the kernel lists them in order; a server's listening sockets and log
files are opened early): a process with 100k fds does not stall the start.
"""

from __future__ import annotations

import os
import socket

from pdigpy.events.model import SockAddr
from pdigpy.events.procinfo import ProcFd
from pdigpy.tracer import ppm

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
        fd = _classify(pid, num, target, flags, cloexec)
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


def _classify(pid: int, num: int, target: str, flags: int, cloexec: bool) -> ProcFd | None:
    """A non-socket fd as the state's handlers build it (see pdigpy.state.handlers)."""
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

    __slots__ = ("num", "cloexec", "family", "socktype", "proto", "local", "peer", "listening")

    def __init__(self, num: int, cloexec: bool) -> None:
        self.num = num
        self.cloexec = cloexec
        self.family = "unknown"
        self.socktype = 0
        self.proto = 0
        self.local: SockAddr | None = None
        self.peer: SockAddr | None = None
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
    from pdigpy.tracer.sockaddr import _addr_from_python

    try:
        s = socket.socket(fileno=newfd)
    except OSError:
        return
    try:
        family = int(s.family)
        sock.socktype, sock.proto = int(s.type), s.proto
        sock.family = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6", socket.AF_UNIX: "unix",
                       socket.AF_NETLINK: "netlink"}.get(family, "unknown")
        if sock.family == "netlink" or sock.family == "unknown":
            return
        try:
            sock.local = _addr_from_python(family, s.getsockname())
        except OSError:
            pass
        try:
            sock.peer = _addr_from_python(family, s.getpeername())
        except OSError:
            pass
        try:
            sock.listening = bool(s.getsockopt(socket.SOL_SOCKET, _SO_ACCEPTCONN))
        except OSError:
            pass
    finally:
        s.detach()


def _from_proc_net(pid: int, sockets: list[tuple[int, int, bool]]) -> list[_Sock]:
    """The fallback: one pass over /proc/PID/net/{tcp,udp,raw,unix,netlink}[6], looked up by inode."""
    from pdigpy.tracer.sockaddr import _hex_ip

    known: dict[int, _Sock] = {}
    wanted = {ino for _num, ino, _c in sockets}
    for name, family, socktype, proto in (
        ("tcp", "ipv4", 1, 6), ("tcp6", "ipv6", 1, 6), ("udp", "ipv4", 2, 17),
        ("udp6", "ipv6", 2, 17), ("raw", "ipv4", 3, 0), ("raw6", "ipv6", 3, 0),
    ):
        for cols in _proc_net_rows(pid, name):
            if len(cols) <= 9 or not cols[9].isdigit() or int(cols[9]) not in wanted:
                continue
            sock = _Sock(0, False)
            sock.family, sock.socktype, sock.proto = family, socktype, proto
            try:
                lip, lport = cols[1].split(":")
                rip, rport = cols[2].split(":")
                sock.local = SockAddr(family, _hex_ip(lip), int(lport, 16))
                if int(rport, 16):
                    sock.peer = SockAddr(family, _hex_ip(rip), int(rport, 16))
            except ValueError:
                continue
            sock.listening = proto == 6 and cols[3] == "0A"
            known[int(cols[9])] = sock
    for cols in _proc_net_rows(pid, "unix"):
        if len(cols) < 7 or not cols[6].isdigit() or int(cols[6]) not in wanted:
            continue
        sock = _Sock(0, False)
        sock.family, sock.socktype = "unix", int(cols[4], 16) if cols[4].isalnum() else 0
        sock.local = SockAddr("unix", path=cols[7] if len(cols) > 7 else "")
        sock.listening = bool(int(cols[3], 16) & 0x10000)  # __SO_ACCEPTCON
        known[int(cols[6])] = sock
    for cols in _proc_net_rows(pid, "netlink"):
        if cols and cols[-1].isdigit() and int(cols[-1]) in wanted:
            sock = _Sock(0, False)
            sock.family = "netlink"
            known[int(cols[-1])] = sock
    out = []
    for num, ino, cloexec in sockets:
        found = known.get(ino)
        sock = _Sock(num, cloexec)
        if found is not None:
            for attr in ("family", "socktype", "proto", "local", "peer", "listening"):
                setattr(sock, attr, getattr(found, attr))
        else:  # not in /proc/net (never bound nor connected): the kind from the socket's xattr
            sock.family, sock.socktype, sock.proto = _protoname_kind(pid, num)
        out.append(sock)
    return out


# system.sockprotoname -> (family, socket type, protocol); longest names first
_PROTONAMES = (
    ("TCPv6", ("ipv6", 1, 6)), ("UDPLITEv6", ("ipv6", 2, 136)), ("UDPv6", ("ipv6", 2, 17)),
    ("RAWv6", ("ipv6", 3, 0)), ("PINGv6", ("ipv6", 2, 58)), ("TCP", ("ipv4", 1, 6)),
    ("UDPLITE", ("ipv4", 2, 136)), ("UDP", ("ipv4", 2, 17)), ("RAW", ("ipv4", 3, 0)),
    ("PING", ("ipv4", 2, 1)), ("UNIX", ("unix", 0, 0)), ("NETLINK", ("netlink", 0, 0)),
)


def _protoname_kind(pid: int, num: int) -> tuple[str, int, int]:
    try:
        name = os.getxattr(f"/proc/{pid}/fd/{num}", "system.sockprotoname").rstrip(b"\0").decode()
    except (OSError, UnicodeDecodeError):
        return "unknown", 0, 0
    for prefix, kind in _PROTONAMES:
        if name.startswith(prefix):
            return kind
    return "unknown", 0, 0


def _proc_net_rows(pid: int, name: str) -> list[list[str]]:
    try:
        with open(f"/proc/{pid}/net/{name}", "rb") as fh:
            return [line.split() for line in fh.read().decode(errors="replace").splitlines()[1:]]
    except OSError:
        return []


def _l4proto(socktype: int, proto: int) -> str:
    """As the socket handler derives it from socket(2)'s type and protocol."""
    if proto == 6:
        return "tcp"
    if proto == 17:
        return "udp"
    if proto in (1, 58):
        return "icmp"
    return {1: "tcp", 2: "udp", 3: "raw"}.get(socktype & 0xF, "")


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
    fd.l4proto = _l4proto(s.socktype, s.proto)
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

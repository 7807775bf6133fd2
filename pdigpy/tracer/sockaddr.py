"""Socket addresses and endpoints of a tracee's sockets.

Two jobs:

- ``parse_sockaddr(raw)``: a ``struct sockaddr`` read from the tracee
  (connect/bind/sendto argument, accept/recvfrom result) -> SockAddr.
- ``socket_endpoints(pid, fd)``: the local and peer addresses and the L4
  protocol of the tracee's socket ``fd``, read at a ptrace stop.

How the local endpoint is found (the costly part; pdig measured /proc/net
parsing per event at 20x the cost of the app): we borrow the socket. With
``pidfd_open(pid)`` + ``pidfd_getfd(pidfd, fd)`` (Linux >= 5.6; allowed to a
ptracer) we get our own descriptor for the tracee's socket, ask it
``getsockname``/``getpeername``/``SO_TYPE`` and close it: 4-5 cheap syscalls,
independent of how many sockets the host has. The borrowed fd is closed at
once; the tracee's socket is untouched (no state is shared beyond the open
file itself). Only when that is refused (old kernel, seccomp profile without
pidfd_getfd) do we fall back to finding the socket inode in
``/proc/<pid>/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}``, and only for the events
that carry a tuple (connect, accept, and sendto/sendmsg with an address).
"""

from __future__ import annotations

import _socket  # not socket: its IntEnum conversions cost ~3 ms of every start
import ctypes
import os
import struct

from pdigpy.events.model import SockAddr, SockTuple, l4proto

_AF_UNIX, _AF_INET, _AF_INET6, _AF_NETLINK = 1, 2, 10, 16
_FAMILY_NAMES = {0: "unspec", 1: "unix", 2: "ipv4", 10: "ipv6", 16: "netlink", 17: "packet"}


def parse_sockaddr(raw: bytes | None) -> SockAddr | None:
    """Decode a struct sockaddr (native byte order family, network order port)."""
    if not raw or len(raw) < 2:
        return None
    family = struct.unpack_from("=H", raw)[0]
    if family == _AF_INET and len(raw) >= 8:
        port = struct.unpack_from("!H", raw, 2)[0]
        return SockAddr("ipv4", _socket.inet_ntop(_socket.AF_INET, raw[4:8]), port)
    if family == _AF_INET6 and len(raw) >= 24:
        port = struct.unpack_from("!H", raw, 2)[0]
        return SockAddr("ipv6", _socket.inet_ntop(_socket.AF_INET6, raw[8:24]), port)
    if family == _AF_UNIX:
        path = raw[2:]
        if path[:1] == b"\0":  # abstract socket: printed with a leading "@"
            name = "@" + os.fsdecode(path[1:].rstrip(b"\0"))
        else:
            name = os.fsdecode(path.split(b"\0", 1)[0])
        return SockAddr("unix", path=name)
    return SockAddr(_FAMILY_NAMES.get(family, str(family)))


def addr_from_python(family: int, addr) -> SockAddr:
    """A Python socket address (getsockname/getpeername of a borrowed fd) as a SockAddr."""
    if family == _socket.AF_INET:
        return SockAddr("ipv4", addr[0], addr[1])
    if family == _socket.AF_INET6:
        return SockAddr("ipv6", addr[0], addr[1])
    if family == _socket.AF_UNIX:
        if isinstance(addr, bytes):
            name = ("@" + os.fsdecode(addr[1:])) if addr[:1] == b"\0" else os.fsdecode(addr)
        else:
            name = addr if not addr.startswith("\0") else "@" + addr[1:]
        return SockAddr("unix", path=name)
    return SockAddr(_FAMILY_NAMES.get(int(family), str(int(family))))


# -- borrowing a tracee's fd ------------------------------------------------
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_NR_PIDFD_GETFD = 438  # same number on x86_64 and aarch64
_pidfd_getfd_ok = True


_PIDFD_THREAD = 0o200  # O_EXCL: a pidfd for any thread, not only a leader (Linux >= 6.9)


def _pidfd_for(tid: int) -> int | None:
    """A pidfd for thread ``tid``: PIDFD_THREAD if the kernel has it, else for its thread group."""
    try:
        return os.pidfd_open(tid, _PIDFD_THREAD)
    except OSError:
        pass
    try:
        return os.pidfd_open(tid)
    except OSError:
        pass
    try:  # old kernel and not a group leader: use the group leader
        with open(f"/proc/{tid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Tgid:"):
                    return os.pidfd_open(int(line.split()[1]))
    except OSError:
        return None
    return None


def borrow_fd(pid: int, fd: int) -> int | None:
    """Our own descriptor for ``fd`` of process ``pid`` (caller closes it); None if not allowed."""
    global _pidfd_getfd_ok
    if not _pidfd_getfd_ok:
        return None
    pidfd = _pidfd_for(pid)
    if pidfd is None:
        return None
    try:
        newfd = _libc.syscall(_NR_PIDFD_GETFD, pidfd, fd, 0)
        if newfd < 0:
            err = ctypes.get_errno()
            if err in (1, 38):  # EPERM / ENOSYS: do not try again on every event
                _pidfd_getfd_ok = False
            return None
        return newfd
    finally:
        os.close(pidfd)


class Endpoints:
    """What is known of a socket: family, L4 protocol, both ends, whether it listens."""

    __slots__ = ("family", "l4proto", "local", "peer", "listening")

    def __init__(self, family: str, l4proto: str, local: SockAddr | None, peer: SockAddr | None,
                 listening: bool = False):
        self.family = family
        self.l4proto = l4proto
        self.local = local
        self.peer = peer
        self.listening = listening


def socket_endpoints(pid: int, fd: int) -> Endpoints | None:
    """Local/peer address and L4 protocol of the tracee's socket ``fd`` (None if not a socket)."""
    newfd = borrow_fd(pid, fd)
    if newfd is None:
        return _endpoints_from_proc(pid, fd)
    try:
        try:
            s = _socket.socket(fileno=newfd)
        except OSError:
            return None
        try:
            local = addr_from_python(s.family, s.getsockname())
            try:
                peer = addr_from_python(s.family, s.getpeername())
            except OSError:
                peer = None
            return Endpoints(local.family, l4proto(s.type, s.proto), local, peer)
        finally:
            s.detach()
    finally:
        os.close(newfd)


_TCP_LISTEN = 10


def listen_queue(pid: int, fd: int) -> tuple[int, int] | None:
    """(pending connections, backlog) of the tracee's listening TCP socket ``fd``.

    TCP_INFO of a listening socket reports the accept queue in tcpi_unacked
    and its maximum in tcpi_sacked (what Falco's accept event calls queuelen
    and queuemax). None when not a listening TCP socket or not borrowable.
    """
    newfd = borrow_fd(pid, fd)
    if newfd is None:
        return None
    try:
        try:
            s = _socket.socket(fileno=newfd)
        except OSError:
            return None
        try:
            if s.type != _socket.SOCK_STREAM:
                return None
            raw = s.getsockopt(_socket.IPPROTO_TCP, _socket.TCP_INFO, 32)
        except OSError:
            return None
        finally:
            s.detach()
        if len(raw) < 32 or raw[0] != _TCP_LISTEN:
            return None
        unacked, sacked = struct.unpack_from("=II", raw, 24)
        return unacked, sacked
    finally:
        os.close(newfd)


# -- fallback: /proc/<pid>/net -------------------------------------------------
def hex_ip(text: str) -> str:
    """An address as /proc/net/{tcp,udp,...}[6] print it (hex, host-order words) in text form."""
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return _socket.inet_ntop(_socket.AF_INET, raw[::-1])
    # /proc prints IPv6 as four host-order 32-bit words
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return _socket.inet_ntop(_socket.AF_INET6, words)


def _endpoints_from_proc(pid: int, fd: int) -> Endpoints | None:
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None
    if not target.startswith("socket:["):
        return None
    inode = int(target[8:-1])
    ep = proc_net_sockets(pid, {inode}).get(inode)
    return ep if ep is not None and ep.family != "netlink" else None


# /proc/PID/net files of IP sockets: (file, family, l4proto)
_PROC_NET_IP = (
    ("tcp", "ipv4", "tcp"), ("tcp6", "ipv6", "tcp"), ("udp", "ipv4", "udp"),
    ("udp6", "ipv6", "udp"), ("raw", "ipv4", "raw"), ("raw6", "ipv6", "raw"),
)
_TCP_STATE_LISTEN = "0A"
_UNIX_ACCEPTCON = 0x10000  # __SO_ACCEPTCON in /proc/net/unix's Flags


def proc_net_sockets(pid: int, inodes: set[int]) -> dict[int, Endpoints]:
    """The sockets with these inodes that /proc/PID/net/{tcp,udp,raw}[6], unix and netlink list,
    read in one pass (a socket never bound nor connected is not listed)."""
    found: dict[int, Endpoints] = {}
    for name, family, l4 in _PROC_NET_IP:
        for cols in _proc_net_rows(pid, name):
            if len(cols) <= 9 or not cols[9].isdigit() or int(cols[9]) not in inodes:
                continue
            try:
                lip, lport = cols[1].split(":")
                rip, rport = cols[2].split(":")
                local = SockAddr(family, hex_ip(lip), int(lport, 16))
                peer = SockAddr(family, hex_ip(rip), int(rport, 16)) if int(rport, 16) else None
            except ValueError:
                continue
            found[int(cols[9])] = Endpoints(family, l4, local, peer,
                                            l4 == "tcp" and cols[3] == _TCP_STATE_LISTEN)
        if len(found) == len(inodes):
            return found
    for cols in _proc_net_rows(pid, "unix"):
        if len(cols) >= 7 and cols[6].isdigit() and int(cols[6]) in inodes:
            path = cols[7] if len(cols) > 7 else ""
            found[int(cols[6])] = Endpoints("unix", "", SockAddr("unix", path=path), None,
                                            bool(int(cols[3], 16) & _UNIX_ACCEPTCON))
    if len(found) < len(inodes):
        for cols in _proc_net_rows(pid, "netlink"):
            if cols and cols[-1].isdigit() and int(cols[-1]) in inodes:
                found[int(cols[-1])] = Endpoints("netlink", "", None, None)
    return found


def _proc_net_rows(pid: int, name: str) -> list[list[str]]:
    try:
        with open(f"/proc/{pid}/net/{name}", "rb") as fh:
            return [line.split() for line in fh.read().decode(errors="replace").splitlines()[1:]]
    except OSError:
        return []


def make_tuple(l4proto: str, src: SockAddr | None, dst: SockAddr | None) -> SockTuple | None:
    """Falco's tuple: source (client side) -> destination (server side)."""
    if src is None and dst is None:
        return None
    family = (dst or src).family
    if family == "unix":
        path = (dst.path if dst is not None and dst.path else (src.path if src is not None else ""))
        return SockTuple("unix", "", path=path)
    if family not in ("ipv4", "ipv6"):
        return None
    src = src or SockAddr(family, "0.0.0.0" if family == "ipv4" else "::", 0)
    dst = dst or SockAddr(family, "0.0.0.0" if family == "ipv4" else "::", 0)
    if family == "ipv6":
        sip, dip = _unmapped(src.ip), _unmapped(dst.ip)
        if sip is not None and dip is not None:  # IPv4 over a dual-stack socket: Falco reports ipv4
            return SockTuple("ipv4", l4proto, sip, src.port, dip, dst.port)
    return SockTuple(family, l4proto, src.ip, src.port, dst.ip, dst.port)


def _unmapped(ip: str) -> str | None:
    """"::ffff:1.2.3.4" -> "1.2.3.4"; "::" -> "0.0.0.0"; None for a real IPv6 address."""
    if ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    if ip == "::":
        return "0.0.0.0"
    return None

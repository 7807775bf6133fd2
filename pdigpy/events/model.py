"""One event per syscall, named and shaped as Falco names them.

An event is emitted once per traced syscall, after it returned (Falco 0.42+ has
exit events only). Its ``type`` is Falco's event name (``openat``, ``execve``,
``clone``, ``procexit`` ...) and ``args`` holds Falco's parameters by name, in
the order of :mod:`pdigpy.events.schema`, as *raw* values:

- FD, PID, ERRNO, INT*, UINT*, MODE, UID, GID: ``int`` (signed where Falco's is);
- FLAGS*, ENUMFLAGS*: ``int`` in Falco's own (PPM) encoding, never Linux's;
- FSPATH, FSRELPATH, CHARBUF: ``str`` decoded with ``os.fsdecode`` so that
  names that are not UTF-8 survive (``os.fsencode`` gives the bytes back);
- BYTEBUF: ``bytes``; except the ``args``/``env`` of execve and clone, which
  are ``list[str]`` (Falco's NUL-separated buffer, split);
- SOCKTUPLE: :class:`SockTuple`; SOCKADDR: :class:`SockAddr`.

``res`` is the syscall's return value, or ``None`` when the tracer took no exit
stop for this syscall (a deliberate per-syscall cost decision, see
docs/events.md). The state layer sets ``thread`` and ``fdinfo`` before the
engine sees the event; they are not part of the capture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdigpy.state.records import FdInfo, ThreadInfo


@dataclass(slots=True, frozen=True)
class SockAddr:
    """A socket address as passed to connect/bind/sendto."""

    family: str  # "ipv4", "ipv6", "unix", "netlink", "unspec", ...
    ip: str = ""  # text form: "127.0.0.1", "::1"
    port: int = 0
    path: str = ""  # unix sockets (abstract ones start with "@")


@dataclass(slots=True, frozen=True)
class SockTuple:
    """Falco's socket tuple: source (client side) -> destination (server side)."""

    family: str  # "ipv4", "ipv6", "unix"
    l4proto: str = ""  # "tcp", "udp", "raw", "icmp", "" for unix
    sip: str = ""
    sport: int = 0
    dip: str = ""
    dport: int = 0
    path: str = ""  # unix sockets


def l4proto(socktype: int, proto: int) -> str:
    """fd.l4proto of an IP socket from socket(2)'s type (flags allowed) and protocol: the protocol
    decides when it is TCP, UDP or ICMP (ping sockets are datagram sockets), else the type."""
    if proto == 6:
        return "tcp"
    if proto == 17:
        return "udp"
    if proto in (1, 58):
        return "icmp"
    return {1: "tcp", 2: "udp", 3: "raw"}.get(socktype & 0xF, "")


@dataclass(slots=True, eq=False)
class Event:
    """One syscall event, taken at the syscall's exit: Falco's event type and parameters."""

    num: int  # sequence number, from 1
    ts: int  # CLOCK_REALTIME in ns, taken at the stop
    tid: int
    pid: int  # thread group id
    type: str  # Falco event name
    res: int | None  # return value; None when no exit stop was taken
    args: dict[str, Any] = field(default_factory=dict)
    cpu: int = 0
    # Set by the state layer, read by field extraction; never serialised.
    thread: ThreadInfo | None = None
    fdinfo: FdInfo | None = None

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

from dataclasses import FrozenInstanceError, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdigpy.state.records import FdInfo, ThreadInfo


_FACTORY: Any = object()  # default of a written-out __init__ parameter whose field has a default_factory


def _reduce_by_init(self):  # pickle/copy a frozen written-out class through its __init__
    return self.__class__, tuple([getattr(self, name) for name in self.__dataclass_fields__])


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class SockAddr:
    """A socket address as passed to connect/bind/sendto."""

    __slots__ = ("family", "ip", "port", "path")
    family: str  # "ipv4", "ipv6", "unix", "netlink", "unspec", ...
    ip: str  # text form: "127.0.0.1", "::1"
    port: int
    path: str  # unix sockets (abstract ones start with "@")

    def __init__(self, family: str, ip: str = "", port: int = 0, path: str = "") -> None:
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "ip", ip)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "path", path)

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(family={self.family!r}, ip={self.ip!r}, port={self.port!r}, path={self.path!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.family, self.ip, self.port, self.path) == (other.family, other.ip, other.port, other.path)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.family, self.ip, self.port, self.path))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce_by_init


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class SockTuple:
    """Falco's socket tuple: source (client side) -> destination (server side)."""

    __slots__ = ("family", "l4proto", "sip", "sport", "dip", "dport", "path")
    family: str  # "ipv4", "ipv6", "unix"
    l4proto: str  # "tcp", "udp", "raw", "icmp", "" for unix
    sip: str
    sport: int
    dip: str
    dport: int
    path: str  # unix sockets

    def __init__(
        self,
        family: str,
        l4proto: str = "",
        sip: str = "",
        sport: int = 0,
        dip: str = "",
        dport: int = 0,
        path: str = "",
    ) -> None:
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "l4proto", l4proto)
        object.__setattr__(self, "sip", sip)
        object.__setattr__(self, "sport", sport)
        object.__setattr__(self, "dip", dip)
        object.__setattr__(self, "dport", dport)
        object.__setattr__(self, "path", path)

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(family={self.family!r}, l4proto={self.l4proto!r}, sip={self.sip!r}, sport={self.sport!r}, dip={self.dip!r}, dport={self.dport!r}, path={self.path!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.family, self.l4proto, self.sip, self.sport, self.dip, self.dport, self.path) == (other.family, other.l4proto, other.sip, other.sport, other.dip, other.dport, other.path)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.family, self.l4proto, self.sip, self.sport, self.dip, self.dport, self.path))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce_by_init


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class Event:
    """Event(num, ts, tid, pid, type, res, args, cpu, thread, fdinfo)."""

    __slots__ = ("num", "ts", "tid", "pid", "type", "res", "args", "cpu", "thread", "fdinfo")
    num: int  # sequence number, from 1
    ts: int  # CLOCK_REALTIME in ns, taken at the stop
    tid: int
    pid: int  # thread group id
    type: str  # Falco event name
    res: int | None  # return value; None when no exit stop was taken
    args: dict[str, Any]
    cpu: int
    # Set by the state layer, read by field extraction; never serialised.
    thread: ThreadInfo | None
    fdinfo: FdInfo | None

    def __init__(
        self,
        num: int,
        ts: int,
        tid: int,
        pid: int,
        type: str,
        res: int | None,
        args: dict[str, Any] = _FACTORY,
        cpu: int = 0,
        thread: ThreadInfo | None = None,
        fdinfo: FdInfo | None = None,
    ) -> None:
        self.num = num
        self.ts = ts
        self.tid = tid
        self.pid = pid
        self.type = type
        self.res = res
        self.args = dict() if args is _FACTORY else args
        self.cpu = cpu
        self.thread = thread
        self.fdinfo = fdinfo

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(num={self.num!r}, ts={self.ts!r}, tid={self.tid!r}, pid={self.pid!r}, type={self.type!r}, res={self.res!r}, args={self.args!r}, cpu={self.cpu!r}, thread={self.thread!r}, fdinfo={self.fdinfo!r})"

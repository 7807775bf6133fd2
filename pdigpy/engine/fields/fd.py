"""``fd.*`` fields (files, directories, sockets ...).

The event's fd record is ``evt.fdinfo``, set by the state layer for events that create, use
or destroy an fd; without it every fd.* field is missing, with one exception Falco's
``open_file_failed`` macro depends on: a failed open/openat/openat2/creat has no table entry,
yet ``fd.name``/``fd.nameraw``/``fd.directory`` come from the event's path (made absolute),
``fd.typechar`` is ``f`` and ``fd.num`` is -1; ``fd.type`` and ``fd.filename`` stay missing.

Socket endpoints: ``c``/``s`` = client/server side of the connection, ``l``/``r`` =
local/remote as seen by this process (a server-role fd has the server side local).
``fd.ip``/``fd.port``/``fd.net``/``fd.proto`` are filter-only and flagged ``either``: they
extract ``[client, server]`` and the compiler applies Falco's either/both semantics.
An endpoint the socket never learned reads as 0.0.0.0 (or ::) in the either fields, as in
Falco, so ``fd.ip != "0.0.0.0"`` is false after a refused connect.
``fd.cnet`` ... are typed ``ipnet``: they extract one address that the compiler tests for
membership in the RHS CIDR.

State contract for ``fd.name_changed``: the state layer sets
``fdinfo.extra["name_changed_num"] = evt.num`` on the event that changed the fd's name.

Hot path: each field is a closure over one small getter chosen at bind time.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import TYPE_CHECKING, Any, Callable

from pdigpy.engine.fields.base import FILTER_ONLY, NO_RHS, NO_TRANSFORMER, FieldInfo
from pdigpy.engine.fields.fs import AT_FDCWD, resolve_at
from pdigpy.engine.fields.registry import FieldDef, make

if TYPE_CHECKING:
    from pdigpy.events.model import Event
    from pdigpy.state.records import FdInfo

_OPEN_PATH = {"open": (None, "name"), "openat": ("dirfd", "name"), "openat2": ("dirfd", "name"),
              "creat": (None, "name"), "open_by_handle_at": (None, "path")}
_IP_TYPES = frozenset({"ipv4", "ipv6"})


@functools.lru_cache(maxsize=4096)
def ip_of(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)
def service_name(port: int, proto: str) -> str | None:
    try:
        return socket.getservbyport(port, proto or "tcp")
    except (OSError, OverflowError):
        return None


class _FailedOpen:
    """What Falco shows for a failed open: the path of the event, no table entry."""

    __slots__ = ("name", "nameraw")
    num = -1
    typechar = "f"

    def __init__(self, name: str | None, nameraw: str | None) -> None:
        self.name = name
        self.nameraw = nameraw


def failed_open(e: Event) -> _FailedOpen | None:
    spec = _OPEN_PATH.get(e.type)
    if spec is None:
        return None
    res = e.res
    if res is None or res >= 0:
        return None
    dirarg, patharg = spec
    raw = e.args.get(patharg)
    if raw is None:
        return None
    dirfd = e.args.get(dirarg) if dirarg else AT_FDCWD
    return _FailedOpen(resolve_at(e, dirfd, raw), raw)


def _dirname(path: str) -> str:
    i = path.rfind("/")
    if i <= 0:
        return "/"
    return path[:i]


def _basename(path: str) -> str:
    return path[path.rfind("/") + 1 :]


# -- factories ---------------------------------------------------------------------------


def _fdi(get: Callable[[Any], Any]):
    """A field read from the fd record; missing when the event has none."""

    def factory(reg, info, arg):
        def extract(e: Event) -> Any:
            f = e.fdinfo
            return None if f is None else get(f)

        return make(info, arg, extract)

    return factory


def _fdi_or_failed(get: Callable[[Any], Any], get_failed: Callable[[_FailedOpen], Any]):
    """A field that also has a value on a failed open (see the module docstring)."""

    def factory(reg, info, arg):
        def extract(e: Event) -> Any:
            f = e.fdinfo
            if f is not None:
                return get(f)
            fo = failed_open(e)
            return None if fo is None else get_failed(fo)

        return make(info, arg, extract)

    return factory


def _fd_name(reg, info, arg):
    # Hot path: fd.name is read by most file rules; the record's attribute without a getter call.
    def extract(e: Event) -> Any:
        f = e.fdinfo
        if f is not None:
            return f.name
        fo = failed_open(e)
        return None if fo is None else fo.name

    return make(info, arg, extract)


def _fd_directory(reg, info, arg):
    # Hot path: fd.directory is read by most file rules; _directory's logic without its call.
    def extract(e: Event) -> Any:
        f = e.fdinfo
        if f is None:
            fo = failed_open(e)
            return _dirname(fo.name) if fo is not None and fo.name else None
        t = f.type
        if t == "directory":
            return f.name or None
        if t == "file" or t == "memfd" or f.typechar in ("f", "d"):
            name = f.name
            if not name:
                return None
            i = name.rfind("/")
            return "/" if i <= 0 else name[:i]
        return None

    return make(info, arg, extract)


def _directory(f: FdInfo) -> str | None:
    # Hot path (open rules): _dirname inlined.
    t = f.type
    if t == "directory":
        return f.name or None
    if t == "file" or t == "memfd" or f.typechar in ("f", "d"):
        name = f.name
        if not name:
            return None
        i = name.rfind("/")
        return "/" if i <= 0 else name[:i]
    return None


def _filename(f: FdInfo) -> str | None:
    if f.type == "file":  # a failed open (type "") has no filename, as in Falco
        name = f.name
        return name[name.rfind("/") + 1 :] if name else None
    return None


def _ip_side(which: str) -> Callable[[Any], Any]:
    """cip/sip/lip/rip as an ip address object (None for non-IP fds)."""

    if which == "c":
        return lambda f: ip_of(f.cip) if f.type in _IP_TYPES else None
    if which == "s":
        return lambda f: ip_of(f.sip) if f.type in _IP_TYPES else None
    if which == "l":
        return lambda f: (ip_of(f.sip if f.is_server else f.cip)) if f.type in _IP_TYPES else None
    return lambda f: (ip_of(f.cip if f.is_server else f.sip)) if f.type in _IP_TYPES else None


def _port_side(which: str) -> Callable[[Any], Any]:
    if which == "c":
        return lambda f: f.cport if f.type in _IP_TYPES else None
    if which == "s":
        return lambda f: f.sport if f.type in _IP_TYPES else None
    if which == "l":
        return lambda f: (f.sport if f.is_server else f.cport) if f.type in _IP_TYPES else None
    return lambda f: (f.cport if f.is_server else f.sport) if f.type in _IP_TYPES else None


def _proto_side(which: str) -> Callable[[Any], Any]:
    port = _port_side(which)

    def get(f):
        p = port(f)
        return None if p is None else service_name(p, f.l4proto)

    return get


def _either(get_c: Callable[[Any], Any], get_s: Callable[[Any], Any]):
    def get(f):
        if f.type not in _IP_TYPES:
            return None
        return [get_c(f), get_s(f)]

    return get


_ZERO_IP = {"ipv4": ipaddress.IPv4Address(0), "ipv6": ipaddress.IPv6Address(0)}


def _ip_either(f: FdInfo) -> list[Any] | None:
    """[client, server] IPs; an endpoint the socket never learned (a refused connect, an unbound
    socket) is the family's zero address, as Falco compares it (0.0.0.0 / ::)."""
    zero = _ZERO_IP.get(f.type)
    if zero is None:
        return None
    c = ip_of(f.cip)
    s = ip_of(f.sip)
    return [zero if c is None else c, zero if s is None else s]


def _dns_name(which: str):
    """fd.*ip.name: Falco compares the RHS domain, resolved by DNS, with the address.

    pdigpy does no DNS in the event path: the value is missing (so ``=`` is false and an
    output shows <NA>); ``extra["address"]`` gives the address for a compiler that resolves
    the RHS names itself.
    """
    side = _ip_side(which)

    def factory(reg, info, arg):
        def address(e: Event) -> Any:
            f = e.fdinfo
            return None if f is None else side(f)

        return make(info, arg, lambda e: None, extra={"address": address})

    return factory


def _sockfamily(f: FdInfo) -> str | None:
    if f.type in _IP_TYPES:
        return "ip"
    if f.type == "unix":
        return "unix"
    return None


def _l4proto(f: FdInfo) -> str | None:
    if f.type in _IP_TYPES:
        return f.l4proto or None
    return None


def _f_name_changed(reg, info, arg):
    def extract(e: Event) -> bool | None:
        f = e.fdinfo
        if f is None:
            return None
        extra = f.extra
        return bool(extra) and extra.get("name_changed_num") == e.num

    return make(info, arg, extract)


def _fd_table_items(t: Any) -> list[tuple[int, Any]]:
    fds = getattr(t, "fds", None)
    if fds is None:
        return []
    items = getattr(fds, "items", None)
    if items is not None:
        try:
            return sorted(items())
        except Exception:
            return []
    return []


def _f_types(reg, info, arg):
    if arg is not None:
        if not arg.lstrip("-").isdigit():
            from pdigpy.engine.fields.base import FieldError

            raise FieldError(f"wrong argument {arg!r} for field fd.types: expected an fd number")
        num = int(arg)

        def one(e: Event) -> list | None:
            t = e.thread
            if t is None:
                return None
            from pdigpy.engine.fields.fs import fd_lookup

            f = fd_lookup(t, num)
            return None if f is None else [f.type]

        return make(info, arg, one, is_list=True)

    def every(e: Event) -> list | None:
        t = e.thread
        if t is None:
            return None
        seen: list[str] = []
        for _, f in _fd_table_items(t):
            if f.type not in seen:
                seen.append(f.type)
        return seen

    return make(info, arg, every, is_list=True)


def _f_uid(reg, info, arg):
    def extract(e: Event) -> str | None:
        f = e.fdinfo
        return None if f is None else f"{e.tid}{f.num}"

    return make(info, arg, extract)


def _f_container_prefixed(get: Callable[[Any], Any]):
    def factory(reg, info, arg):
        resolver = reg.container_resolver()

        def extract(e: Event) -> str | None:
            f = e.fdinfo
            if f is None:
                return None
            v = get(f)
            if v is None:
                return None
            meta = resolver.for_thread(e.thread)
            return None if meta is None else meta.id + v

        return make(info, arg, extract)

    return factory


def _info(name: str, ftype: str, desc: str, **kw: Any) -> FieldInfo:
    return FieldInfo(name=name, type=ftype, desc=desc, field_class="fd", **kw)


_EITHER = frozenset({FILTER_ONLY, NO_TRANSFORMER, NO_RHS})
_DNS = frozenset({NO_TRANSFORMER, NO_RHS})


def _either_factory(get):
    def factory(reg, info, arg):
        def extract(e: Event) -> Any:
            f = e.fdinfo
            return None if f is None else get(f)

        return make(info, arg, extract, is_list=True, either=True)

    return factory


FIELDS = [
    FieldDef(_info("fd.num", "int", "fd number (-1 for a failed open)."),
             _fdi_or_failed(lambda f: f.num, lambda fo: -1)),
    FieldDef(_info("fd.type", "string", "fd type: file, directory, ipv4, ipv6, unix, pipe ..."),
             _fdi(lambda f: f.type or None)),
    FieldDef(_info("fd.typechar", "string", "fd type as one character: f d 4 6 u p ..."),
             _fdi_or_failed(lambda f: f.typechar or None, lambda fo: "f")),
    FieldDef(_info("fd.name", "string", "Full name: absolute path, or cip:cport->sip:sport, or unix path."),
             _fd_name),
    FieldDef(_info("fd.nameraw", "string", "The path as passed to the syscall."),
             _fdi_or_failed(lambda f: f.nameraw or f.name, lambda fo: fo.nameraw)),
    FieldDef(_info("fd.directory", "string", "Directory of a file; a directory fd's own path."),
             _fd_directory),
    FieldDef(_info("fd.filename", "string", "Basename of a file."), _fdi(_filename)),
    FieldDef(_info("fd.ino", "int", "Inode number."), _fdi(lambda f: f.ino or None)),
    FieldDef(_info("fd.dev", "uint", "Device number."), _fdi(lambda f: f.dev)),
    FieldDef(_info("fd.dev.major", "uint", "Device major number."), _fdi(lambda f: (f.dev >> 20) & 0xFFF)),
    FieldDef(_info("fd.dev.minor", "uint", "Device minor number."), _fdi(lambda f: f.dev & 0xFFFFF)),
    FieldDef(_info("fd.cip", "ipaddr", "Client IP."), _fdi(_ip_side("c"))),
    FieldDef(_info("fd.sip", "ipaddr", "Server IP."), _fdi(_ip_side("s"))),
    FieldDef(_info("fd.lip", "ipaddr", "Local IP."), _fdi(_ip_side("l"))),
    FieldDef(_info("fd.rip", "ipaddr", "Remote IP."), _fdi(_ip_side("r"))),
    FieldDef(_info("fd.cport", "port", "Client port."), _fdi(_port_side("c"))),
    FieldDef(_info("fd.sport", "port", "Server port."), _fdi(_port_side("s"))),
    FieldDef(_info("fd.lport", "port", "Local port."), _fdi(_port_side("l"))),
    FieldDef(_info("fd.rport", "port", "Remote port."), _fdi(_port_side("r"))),
    FieldDef(_info("fd.ip", "ipaddr", "Either endpoint's IP (filter only).", flags=_EITHER),
             _either_factory(_ip_either)),
    FieldDef(_info("fd.port", "port", "Either endpoint's port (filter only).", flags=_EITHER),
             _either_factory(_either(_port_side("c"), _port_side("s")))),
    FieldDef(_info("fd.net", "ipnet", "Either endpoint's IP is in the network (filter only).", flags=_EITHER),
             _either_factory(_ip_either)),
    FieldDef(_info("fd.proto", "string", "Either endpoint's protocol name (filter only).", flags=_EITHER),
             _either_factory(_either(_proto_side("c"), _proto_side("s")))),
    FieldDef(_info("fd.cnet", "ipnet", "Client IP is in the network."), _fdi(_ip_side("c"))),
    FieldDef(_info("fd.snet", "ipnet", "Server IP is in the network."), _fdi(_ip_side("s"))),
    FieldDef(_info("fd.lnet", "ipnet", "Local IP is in the network."), _fdi(_ip_side("l"))),
    FieldDef(_info("fd.rnet", "ipnet", "Remote IP is in the network."), _fdi(_ip_side("r"))),
    FieldDef(_info("fd.cproto", "string", "Client port's service name."), _fdi(_proto_side("c"))),
    FieldDef(_info("fd.sproto", "string", "Server port's service name."), _fdi(_proto_side("s"))),
    FieldDef(_info("fd.lproto", "string", "Local port's service name."), _fdi(_proto_side("l"))),
    FieldDef(_info("fd.rproto", "string", "Remote port's service name."), _fdi(_proto_side("r"))),
    FieldDef(_info("fd.cip.name", "string", "Domain name of the client IP.", flags=_DNS), _dns_name("c")),
    FieldDef(_info("fd.sip.name", "string", "Domain name of the server IP.", flags=_DNS), _dns_name("s")),
    FieldDef(_info("fd.lip.name", "string", "Domain name of the local IP.", flags=_DNS), _dns_name("l")),
    FieldDef(_info("fd.rip.name", "string", "Domain name of the remote IP.", flags=_DNS), _dns_name("r")),
    FieldDef(_info("fd.l4proto", "string", "tcp, udp, icmp or raw."), _fdi(_l4proto)),
    FieldDef(_info("fd.sockfamily", "string", "ip or unix."), _fdi(_sockfamily)),
    FieldDef(_info("fd.is_server", "bool", "The fd is the server side of the connection."),
             _fdi(lambda f: f.is_server)),
    FieldDef(_info("fd.connected", "bool", "The socket is connected."), _fdi(lambda f: f.connected)),
    FieldDef(_info("fd.name_changed", "bool", "This event changed the fd's name."), _f_name_changed),
    FieldDef(_info("fd.uid", "string", "Unique fd id: tid and fd number."), _f_uid),
    FieldDef(_info("fd.containername", "string", "container.id + fd.name."),
             _f_container_prefixed(lambda f: f.name)),
    FieldDef(_info("fd.containerdirectory", "string", "container.id + fd.directory."),
             _f_container_prefixed(_directory)),
    FieldDef(_info("fd.types", "string", "Types of the process's fds; [N] of fd N.", arg="allowed",
                   arg_kind="index", is_list=True), _f_types),
]

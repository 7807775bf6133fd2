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
``fd.cnet`` ... are typed ``ipnet``: they extract one address that the compiler tests for
membership in the RHS CIDR.

Socket roles, as libsinsp keeps them (parsers.cpp, sinsp_filtercheck_fd.cpp):

- *none*: socket() only, a failed connect, a bind to port 0, a listen without a bound port.
  Every single-side field (cip sip lip rip, cport sport lport rport, the ``*net``,
  ``*proto`` and ``*ip.name`` ones) is missing; ``fd.l4proto`` is ``<NA>``; the either
  fields compare the zero address and port 0 (0.0.0.0 or ::, so ``fd.ip != "0.0.0.0"`` is
  false after a refused connect).
- *bound server* (bind with a port > 0, no peer yet; Falco's SCAP_FD_IPV4/6_SERVSOCK):
  ``fd.sip``/``fd.sport`` are the bound address, the client, local and remote ones are
  missing, ``fd.is_server`` is true, and the either fields hold the bound address only.
- *client* / *server* (connect, accept, an unconnected datagram sent or received): both
  ends known; an unbound UDP socket's own end is 0.0.0.0:ephemeral, a real value.

State contract for ``fd.name_changed``: the state layer sets
``fdinfo.extra["name_changed_num"] = evt.num`` on the event that changed the fd's name.

Hot path: each field is a closure over one small getter chosen at bind time.
"""

from __future__ import annotations

import _socket  # not socket: its IntEnum conversions cost ~3 ms of every start
import functools
import ipaddress
from typing import TYPE_CHECKING, Any, Callable

from pdigpy.engine.fields.base import FILTER_ONLY, NO_RHS, NO_TRANSFORMER, FieldInfo
from pdigpy.engine.fields.fs import AT_FDCWD, resolve_at
from pdigpy.engine.fields.registry import FieldDef, make
from pdigpy.events.model import SockTuple

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
        return _socket.getservbyport(port, proto or "tcp")
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


def connect_attempt_name(e: Event) -> str:
    """fd.name of a connect that did not (yet) succeed: Falco reads the event's tuple, not the
    table, and an empty tuple (a refused connect) prints as ``NULL``."""
    tup = e.args.get("tuple")
    if isinstance(tup, SockTuple):
        if tup.family in _IP_TYPES:
            return f"{tup.sip}:{tup.sport}->{tup.dip}:{tup.dport}"
        if tup.path:
            return tup.path
    return "NULL"


def _fd_name(reg, info, arg):
    # Hot path: fd.name is read by most file rules; the record's attribute without a getter call.
    def extract(e: Event) -> Any:
        f = e.fdinfo
        if f is not None:
            r = e.res
            if r is None or r >= 0 or e.type != "connect":
                return f.name
            return connect_attempt_name(e)
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


# Socket roles (see the module docstring); read from the record the state layer keeps.
ROLE_NONE, ROLE_BOUND, ROLE_PEER = 0, 1, 2


def socket_role(f: FdInfo) -> int:
    """ROLE_NONE, ROLE_BOUND (bound to a port > 0, no peer: Falco's SERVSOCK) or ROLE_PEER."""
    if f.cip:
        return ROLE_PEER
    if f.sip and f.sport:
        return ROLE_BOUND
    return ROLE_NONE


def _ip_side(which: str) -> Callable[[Any], Any]:
    """cip/sip/lip/rip as an ip address object; missing for non-IP fds and as Falco has it for
    sockets without a role (module docstring)."""

    def get(f):
        if f.type not in _IP_TYPES:
            return None
        role = socket_role(f)
        if role == ROLE_NONE:
            return None
        if role == ROLE_BOUND:
            return ip_of(f.sip) if which == "s" else None
        if which == "c":
            return ip_of(f.cip)
        if which == "s":
            return ip_of(f.sip)
        if which == "l":
            return ip_of(f.sip if f.is_server else f.cip)
        return ip_of(f.cip if f.is_server else f.sip)

    return get


def _port_side(which: str) -> Callable[[Any], Any]:
    def get(f):
        if f.type not in _IP_TYPES:
            return None
        role = socket_role(f)
        if role == ROLE_NONE:
            return None
        if role == ROLE_BOUND:
            return f.sport if which == "s" else None
        if which == "c":
            return f.cport
        if which == "s":
            return f.sport
        if which == "l":
            return f.sport if f.is_server else f.cport
        return f.cport if f.is_server else f.sport

    return get


def _proto_side(which: str) -> Callable[[Any], Any]:
    """fd.cproto ...: libsinsp's port_to_string: the service name when it resolves ports, else
    (and by default) the port number as a string; never missing while the port is known."""
    port = _port_side(which)

    def get(f):
        p = port(f)
        if p is None:
            return None
        return service_name(p, f.l4proto) or str(p)

    return get


_ZERO_IP = {"ipv4": ipaddress.IPv4Address(0), "ipv6": ipaddress.IPv6Address(0)}


def _ip_either(f: FdInfo) -> list[Any] | None:
    """[client, server] IPs as Falco's fd.ip/fd.net compare them: the raw endpoints, so an
    endpoint the socket never learned is the family's zero address (0.0.0.0 / ::); a bound
    server socket has its bound address only."""
    zero = _ZERO_IP.get(f.type)
    if zero is None:
        return None
    role = socket_role(f)
    if role == ROLE_NONE:
        return [zero, zero]
    s = ip_of(f.sip)
    if role == ROLE_BOUND:
        return [zero if s is None else s]
    c = ip_of(f.cip)
    return [zero if c is None else c, zero if s is None else s]


def _port_either(f: FdInfo) -> list[int] | None:
    """[client, server] ports as Falco's fd.port/fd.proto compare them (0 when unknown)."""
    if f.type not in _IP_TYPES:
        return None
    role = socket_role(f)
    if role == ROLE_NONE:
        return [0, 0]
    if role == ROLE_BOUND:
        return [f.sport]
    return [f.cport, f.sport]


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


def _l4proto(f: FdInfo) -> str:
    # Falco (sinsp_fdinfo::get_l4proto) gives the string <NA>, a value and not a missing field,
    # for every fd that is not an IP socket with a role: files, pipes, unix sockets, an IP socket
    # without a role; a raw socket is raw whatever its role.
    if f.type in _IP_TYPES:
        p = f.l4proto
        if p == "raw":
            return p
        if not p or socket_role(f) == ROLE_NONE:
            return "<NA>"
        return p
    return "<NA>"


def _is_server(f: FdInfo) -> bool:
    return f.is_server or (f.type in _IP_TYPES and socket_role(f) == ROLE_BOUND)


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
             _either_factory(_port_either)),
    FieldDef(_info("fd.net", "ipnet", "Either endpoint's IP is in the network (filter only).", flags=_EITHER),
             _either_factory(_ip_either)),
    # Falco types fd.proto as a port: "fd.proto = http" compares port 80 (RHS names resolved
    # with getservbyname), exactly like fd.port.
    FieldDef(_info("fd.proto", "port", "Either endpoint's port, RHS as a service name (filter only).",
                   flags=_EITHER), _either_factory(_port_either)),
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
    FieldDef(_info("fd.l4proto", "string", "tcp, udp, icmp or raw; <NA> for other fds and role-less sockets."),
             _fdi(_l4proto)),
    FieldDef(_info("fd.sockfamily", "string", "ip or unix."), _fdi(_sockfamily)),
    FieldDef(_info("fd.is_server", "bool", "The fd is the server side of the connection."),
             _fdi(_is_server)),
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

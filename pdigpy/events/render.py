"""Event parameters as Falco prints them (evt.arg.NAME, evt.rawarg.NAME, evt.args).

Stable API (the engine's evt.* fields call these):

``render_arg(evt, name, fd_resolver=None, *, pid_resolver=None, uid_resolver=None,
gid_resolver=None) -> str | None``
    ``evt.arg.NAME``: the resolved form when there is one, else the raw form;
    None when the event has no such parameter.
``render_rawarg(evt, name) -> str | None``
    the raw printed form (the typed raw value itself is ``evt.args[name]``).
``render_args(evt, fd_resolver=None, **resolvers) -> str``
    ``evt.args``: ``name=raw`` or ``name=raw(resolved)`` items joined by spaces.
``errno_name(n) -> str``
    ``ENOENT`` for 2 or -2.

Resolvers are callbacks into the state layer, so that this module stays free
of it: ``fd_resolver(evt, fd) -> (typechar, name) | (typechar, name, l4proto)
| None``; ``pid_resolver(pid) -> comm | None``; ``uid_resolver(uid) -> user
name | None``; ``gid_resolver(gid) -> group name | None``.

Forms, per Falco:

- FD: raw ``3``; resolved ``<f>/etc/passwd`` (``<4t>`` for a TCP/IPv4 socket:
  typechar then the first letter of the l4 protocol); ``AT_FDCWD`` for -100;
  the errno name for other negative values (a failed open's ``fd=-2(ENOENT)``).
- ERRNO: raw ``-2``; resolved ``ENOENT`` for negative values only.
- FLAGS/ENUMFLAGS/MODE: raw number (decimal for flags, ``0644`` for modes);
  resolved names from :func:`pdigpy.events.flags.render_flags`.
- numbers: decimal, or per the schema ``hex`` (upper case, no prefix) or
  ``oct`` (``0644``; ``0`` for zero).
- FSPATH/FSRELPATH: raw as passed; resolved absolute path when the raw one is
  relative and the base is known (the thread's cwd, or the dirfd's name).
- BYTEBUF: printable ASCII kept, other bytes as ``.``; execve/clone ``args``
  and ``env`` lists print as their NUL-separated buffer would.
- SOCKTUPLE: ``sip:sport->dip:dport`` (unix: the path); SOCKADDR ``ip:port``.
- SIGTYPE: raw number, resolved ``SIGKILL``.
- missing values (unreadable pointer, no tuple on a failed connect): ``NULL``
  for tuples/addresses, ``<NA>`` otherwise.
"""

from __future__ import annotations

import posixpath
import signal as _signal
from typing import Any, Callable

from pdigpy.events.errno import errno_name
from pdigpy.events.flags import render_flags
from pdigpy.events.model import SockAddr, SockTuple
from pdigpy.events.schema import EVENT_SCHEMA, ParamSpec

__all__ = ["render_arg", "render_rawarg", "render_args", "errno_name", "format_bytebuf"]

FdResolver = Callable[[Any, int], "tuple | None"]

AT_FDCWD = -100
_FLAG_TYPES = frozenset({"FLAGS8", "FLAGS16", "FLAGS32", "ENUMFLAGS8", "ENUMFLAGS16", "ENUMFLAGS32"})
_PATH_TYPES = frozenset({"FSPATH", "FSRELPATH"})
_MASK = {"8": 0xFF, "16": 0xFFFF, "32": 0xFFFFFFFF}
# For *at calls: which fd parameter is the base of which path parameter.
_DIRFD_OF = {
    "name": "dirfd",
    "path": "dirfd",
    "filename": "dirfd",
    "pathname": "dirfd",
    "oldpath": "olddirfd",
    "newpath": "newdirfd",
    "linkpath": "linkdirfd",
}
_DIRFD_OF_LINKAT = {"oldpath": "olddir", "newpath": "newdir"}
_PRINTABLE = bytes(b if 32 <= b < 127 else 46 for b in range(256))


def _spec(evt, name: str) -> ParamSpec | None:
    for p in EVENT_SCHEMA.get(evt.type, ()):
        if p.name == name:
            return p
    return None


def format_bytebuf(value: Any) -> str:
    """Falco's default printing of a byte buffer: printable ASCII, other bytes as '.'."""
    if value is None:
        return ""
    if isinstance(value, list):  # execve/clone args, env, cgroups: NUL-separated in Falco
        value = "".join(item + "\0" for item in value).encode("utf-8", "surrogateescape")
    elif isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    return value.translate(_PRINTABLE).decode("ascii")


def _number(value: int, p: ParamSpec) -> str:
    if p.fmt == "hex":
        bits = p.ptype[-2:] if p.ptype[-2:] in ("16", "32") else ("8" if p.ptype.endswith("8") else "64")
        return format(value & _MASK.get(bits, 0xFFFFFFFFFFFFFFFF), "X")
    if p.fmt == "oct":
        return "0%o" % value if value else "0"
    return str(value)


def _tuple_text(t: SockTuple) -> str:
    if t.family == "unix":
        return t.path
    return f"{t.sip}:{t.sport}->{t.dip}:{t.dport}"


def _addr_text(a: SockAddr) -> str:
    if a.family == "unix":
        return a.path
    if a.family in ("ipv4", "ipv6"):
        return f"{a.ip}:{a.port}"
    return a.family


def _raw(value: Any, p: ParamSpec) -> str:
    t = p.ptype
    if value is None:
        return "NULL" if t in ("SOCKTUPLE", "SOCKADDR") else "<NA>"
    if t in _PATH_TYPES or t == "CHARBUF":
        return value if isinstance(value, str) else str(value)
    if t == "BYTEBUF":
        return format_bytebuf(value)
    if t == "SOCKTUPLE":
        return _tuple_text(value)
    if t == "SOCKADDR":
        return _addr_text(value)
    if t in _FLAG_TYPES:
        return str(value)
    if t == "MODE":
        return "0%o" % value if value else "0"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return _number(value, p)
    return str(value)


def _signal_name(n: int) -> str | None:
    try:
        return _signal.Signals(n).name
    except (ValueError, TypeError):
        return None


def _base_dir(evt, name: str, fd_resolver) -> str | None:
    """The directory a relative path parameter is relative to, if known."""
    table = _DIRFD_OF_LINKAT if evt.type == "linkat" else _DIRFD_OF
    dirfd_name = table.get(name)
    dirfd = evt.args.get(dirfd_name, AT_FDCWD) if dirfd_name else AT_FDCWD
    if dirfd is None or dirfd == AT_FDCWD:
        thread = evt.thread
        proc = getattr(thread, "proc", None)
        cwd = getattr(proc, "cwd", None)
        return cwd or None
    if fd_resolver is not None and dirfd >= 0:
        found = fd_resolver(evt, dirfd)
        if found:
            return found[1] or None
    return None


def _resolved(evt, value: Any, p: ParamSpec, fd_resolver, pid_resolver, uid_resolver, gid_resolver) -> str | None:
    t = p.ptype
    if value is None:
        return None
    if t == "FD":
        if value >= 0:
            if fd_resolver is None:
                return None
            found = fd_resolver(evt, value)
            if not found:
                return None
            typechar, fdname = found[0], found[1]
            l4 = found[2] if len(found) > 2 else ""
            if l4 and typechar in ("4", "6"):
                typechar += l4[0]
            return f"<{typechar}>{fdname}"
        if value == AT_FDCWD:
            return "AT_FDCWD"
        return errno_name(value)
    if t == "ERRNO":
        return errno_name(value) if value < 0 else None
    if t in _FLAG_TYPES or t == "MODE":
        if p.flagset is None:
            return None
        return render_flags(p.flagset, value) or None
    if t in _PATH_TYPES:
        if not value or value.startswith("/"):
            return None
        base = _base_dir(evt, p.name, fd_resolver)
        if base is None:
            return None
        return posixpath.normpath(posixpath.join(base, value))
    if t == "PID":
        return pid_resolver(value) if pid_resolver is not None and value > 0 else None
    if t == "UID":
        return uid_resolver(value) if uid_resolver is not None else None
    if t == "GID":
        return gid_resolver(value) if gid_resolver is not None else None
    if t == "SIGTYPE":
        return _signal_name(value)
    return None


def render_rawarg(evt, name: str) -> str | None:
    """Raw printed form of parameter ``name``; None if the event has no such parameter."""
    if name not in evt.args:
        return None
    p = _spec(evt, name) or ParamSpec(name, "CHARBUF")
    return _raw(evt.args[name], p)


def render_arg(
    evt,
    name: str,
    fd_resolver: FdResolver | None = None,
    *,
    pid_resolver=None,
    uid_resolver=None,
    gid_resolver=None,
) -> str | None:
    """``evt.arg.NAME``: the resolved form when one exists, else the raw one."""
    if name not in evt.args:
        return None
    value = evt.args[name]
    p = _spec(evt, name) or ParamSpec(name, "CHARBUF")
    res = _resolved(evt, value, p, fd_resolver, pid_resolver, uid_resolver, gid_resolver)
    return res if res is not None else _raw(value, p)


def render_args(
    evt,
    fd_resolver: FdResolver | None = None,
    *,
    pid_resolver=None,
    uid_resolver=None,
    gid_resolver=None,
) -> str:
    """``evt.args``: ``name=raw`` or ``name=raw(resolved)``, in schema order, space-joined."""
    items = []
    schema = EVENT_SCHEMA.get(evt.type)
    params = schema if schema is not None else tuple(ParamSpec(n, "CHARBUF") for n in evt.args)
    args = evt.args
    for p in params:
        if p.name not in args:
            continue
        value = args[p.name]
        raw = _raw(value, p)
        res = _resolved(evt, value, p, fd_resolver, pid_resolver, uid_resolver, gid_resolver)
        items.append(f"{p.name}={raw}({res})" if res is not None and res != raw else f"{p.name}={raw}")
    return " ".join(items)

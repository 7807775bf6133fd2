"""``evt.*`` and ``syscall.type`` fields (Falco's "evt" field class).

Hot path: every extractor below is a closure or a small function chosen at bind time; the
per-event work is attribute reads on the Event and no string dispatch.
"""

from __future__ import annotations

import functools

import errno as _errno
import time
from typing import TYPE_CHECKING, Any, Callable

from pdigpy.engine.fields.base import DEPRECATED, NO_RHS, NO_TRANSFORMER, FieldError, FieldInfo
from pdigpy.engine.fields.registry import FieldDef, make

if TYPE_CHECKING:
    from pdigpy.events.model import Event

# PPM open flags (Falco's encoding, see events/flags.py)
O_RDONLY = 1
O_WRONLY = 2
O_CREAT = 4
O_TMPFILE = 8192
O_F_CREATED = 16384
_OPEN_EVENTS = frozenset({"open", "openat", "openat2", "open_by_handle_at"})
_EXEC_BITS = 0o111


def _errno_namer() -> Callable[[int], str]:
    """The errno-name function, resolved once at bind time."""
    try:
        from pdigpy.events.render import errno_name as f

        return f
    except ImportError:
        codes = _errno.errorcode
        return lambda n: codes.get(n, str(-n))


def evt_hostname() -> str:
    from pdigpy.engine.format import default_hostname

    return default_hostname()


# -- time strings -----------------------------------------------------------------------


def _t_time(e: Event) -> str:
    ns = e.ts
    return time.strftime("%H:%M:%S", time.localtime(ns // 1_000_000_000)) + ".%09d" % (ns % 1_000_000_000)


def _t_time_s(e: Event) -> str:
    return time.strftime("%H:%M:%S", time.localtime(e.ts // 1_000_000_000))


def _t_iso(e: Event) -> str:
    ns = e.ts
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + ".%09d+0000" % (ns % 1_000_000_000)


def _t_datetime(e: Event) -> str:
    ns = e.ts
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns // 1_000_000_000)) + ".%09d" % (ns % 1_000_000_000)


def _t_datetime_s(e: Event) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.ts // 1_000_000_000))


def _ts(e: Event) -> int:
    return e.ts


# -- return value -----------------------------------------------------------------------


def _res_of(e: Event) -> int | None:
    return e.res


def _open_flags(e: Event) -> int:
    f = e.args.get("flags")
    return f if isinstance(f, int) else 0


def _is_open_read(e: Event) -> bool:
    # Hot path (every open, most rules): no helper call.
    if e.type not in _OPEN_EVENTS:
        return False
    f = e.args.get("flags")
    return isinstance(f, int) and bool(f & O_RDONLY)


def _is_open_write(e: Event) -> bool:
    if e.type not in _OPEN_EVENTS:
        return False
    f = e.args.get("flags")
    return isinstance(f, int) and bool(f & O_WRONLY)


def _is_open_exec(e: Event) -> bool:
    t = e.type
    if t == "creat":
        mode = e.args.get("mode")
        return isinstance(mode, int) and bool(mode & _EXEC_BITS)
    if t not in _OPEN_EVENTS:
        return False
    if not _open_flags(e) & (O_CREAT | O_TMPFILE):
        return False
    mode = e.args.get("mode")
    return isinstance(mode, int) and bool(mode & _EXEC_BITS)


def _is_open_create(e: Event) -> bool:
    t = e.type
    if t not in _OPEN_EVENTS and t != "creat":
        return False
    flags = _open_flags(e)
    if flags & O_F_CREATED:
        return True
    return bool(flags & O_TMPFILE) and e.res is not None and e.res >= 0


def _buffer(e: Event) -> bytes | None:
    data = e.args.get("data")
    return data if isinstance(data, (bytes, bytearray)) else None


def _buflen(e: Event) -> int | None:
    data = e.args.get("data")
    return len(data) if isinstance(data, (bytes, bytearray)) else None


# -- factories ----------------------------------------------------------------------------


def _simple(fn: Callable[[Event], Any], json: Callable[[Event], Any] | None = None):
    def factory(reg, info, arg):
        extra = {"json": json} if json is not None else {}
        return make(info, arg, fn, extra=extra)

    return factory


def _f_res(reg, info, arg):
    namer = _errno_namer()

    def extract(e: Event) -> str | None:
        r = e.res
        if r is None:
            return None
        return "SUCCESS" if r >= 0 else namer(-r)

    return make(info, arg, extract)


def _f_failed(reg, info, arg):
    def extract(e: Event) -> bool | None:
        r = e.res
        return None if r is None else r < 0

    return make(info, arg, extract)


def _f_reltime(div: int | None, mod: bool):
    def factory(reg, info, arg):
        shared = reg.shared

        def extract(e: Event) -> int:
            first = shared.get("first_ts")
            if first is None:
                first = shared["first_ts"] = e.ts
            d = e.ts - first
            if div is None:
                return d
            return d % div if mod else d // div

        return make(info, arg, extract)

    return factory


def _f_hostname(reg, info, arg):
    host = evt_hostname()
    return make(info, arg, lambda e: host)


def _f_category(reg, info, arg):
    try:
        from pdigpy.events.schema import category_for
    except ImportError:
        category_for = None

    if category_for is None:
        return make(info, arg, lambda e: "other")

    def extract(e: Event) -> str:
        f = e.fdinfo
        return category_for(e.type, f.typechar if f is not None else None)

    return make(info, arg, extract)


def _io_sets() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(read, write, other) I/O event types, from the schema's placeholder categories."""
    try:
        from pdigpy.events.schema import EVENT_CATEGORY
    except ImportError:
        return frozenset(), frozenset(), frozenset()
    by = {c: frozenset(t for t, cat in EVENT_CATEGORY.items() if cat == c) for c in ("io_read", "io_write", "io_other")}
    return by["io_read"], by["io_write"], by["io_other"]


def _f_io(kind: str):
    def factory(reg, info, arg):
        reads, writes, other = _io_sets()
        if kind == "is_io":
            every = reads | writes | other
            return make(info, arg, lambda e: e.type in every)
        if kind == "read":
            return make(info, arg, lambda e: e.type in reads)
        if kind == "write":
            return make(info, arg, lambda e: e.type in writes)

        def io_dir(e: Event) -> str | None:
            t = e.type
            return "r" if t in reads else "w" if t in writes else None

        return make(info, arg, io_dir)

    return factory


def _f_is_syslog(reg, info, arg):
    _, writes, _ = _io_sets()

    def extract(e: Event) -> bool:
        f = e.fdinfo
        return e.type in writes and f is not None and f.name.endswith("/dev/log")

    return make(info, arg, extract)


def _f_type_is(reg, info, arg):
    name = arg

    def extract(e: Event) -> int:
        return 1 if e.type == name else 0

    return make(info, arg, extract)


@functools.lru_cache(maxsize=None)  # bind-time helpers: the schema does not change in a process
def _known_param_names() -> frozenset[str] | None:
    try:
        from pdigpy.events.schema import EVENT_SCHEMA
    except ImportError:
        return None
    names: set[str] = set()
    for params in EVENT_SCHEMA.values():
        for p in params:
            names.add(getattr(p, "name", p[0] if isinstance(p, tuple) else str(p)))
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def _param_type(name: str) -> str:
    """Our value type of parameter ``name`` for evt.rawarg (the first schema row naming it)."""
    try:
        from pdigpy.events.schema import EVENT_SCHEMA
    except ImportError:
        return "string"
    for params in EVENT_SCHEMA.values():
        for p in params:
            if getattr(p, "name", None) == name:
                return _ptype_to_value_type(getattr(p, "ptype", ""))
    return "string"


def _ptype_to_value_type(ptype: str) -> str:
    p = ptype.upper()
    if p.startswith(("INT", "FD", "PID", "ERRNO")):
        return "int"
    if p.startswith(("UINT", "FLAGS", "ENUMFLAGS", "MODE", "UID", "GID", "SIGTYPE", "SYSCALLID")):
        return "uint"
    if p in ("BYTEBUF",):
        return "bytebuf"
    if p == "RELTIME":
        return "reltime"
    if p == "ABSTIME":
        return "abstime"
    if p == "BOOL":
        return "bool"
    return "string"


def resolvers_for(reg) -> dict[str, Any]:
    """The callbacks events/render.py uses to resolve fds, pids, uids and gids (bound once)."""
    from pdigpy.engine.fields.fs import fd_lookup

    def fd_resolver(e: Event, num: int) -> tuple | None:
        fdi = e.fdinfo
        if fdi is None or fdi.num != num:
            t = e.thread
            fdi = fd_lookup(t, num) if t is not None else None
        if fdi is None:
            return None
        return (fdi.typechar, fdi.name, fdi.l4proto)

    state = reg.state
    get_thread = getattr(state, "get_process", None) or getattr(state, "get_thread", None)

    def pid_resolver(pid: int) -> str | None:
        if get_thread is None:
            return None
        t = get_thread(pid)
        return None if t is None else t.comm

    users = reg.users
    return {"fd_resolver": fd_resolver, "pid_resolver": pid_resolver,
            "uid_resolver": users.user_name, "gid_resolver": users.group_name}


def _renderers():
    try:
        from pdigpy.events import render
    except ImportError:
        return None
    return render


def _fallback_render(e: Event, name: str) -> str | None:
    """Plain rendering used only if events/render.py is absent: raw values as text."""
    if name not in e.args:
        return None
    v = e.args[name]
    if isinstance(v, list):
        return " ".join(str(x) for x in v)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "surrogateescape")
    return str(v)


_MISS = object()
# Parameter types whose rendered form depends on the value only (no fd, pid or user lookup).
_PURE_PTYPES = frozenset({"FLAGS8", "FLAGS16", "FLAGS32", "ENUMFLAGS8", "ENUMFLAGS16", "ENUMFLAGS32", "MODE",
                          "ERRNO", "SIGTYPE", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                          "INT64"})


@functools.lru_cache(maxsize=None)
def _pure_event_types(name: str) -> frozenset[str]:
    """Event types whose parameter ``name`` has a pure type (see _PURE_PTYPES)."""
    try:
        from pdigpy.events.schema import EVENT_SCHEMA
    except ImportError:
        return frozenset()
    return frozenset(t for t, params in EVENT_SCHEMA.items()
                     for p in params if p.name == name and p.ptype in _PURE_PTYPES)


def _f_arg(reg, info, arg):
    if arg is None:
        raise FieldError("filter_check called with field evt.arg which requires an argument")
    render = _renderers()
    res = resolvers_for(reg)
    if arg.isdigit():
        index = int(arg)

        try:
            from pdigpy.events.schema import EVENT_SCHEMA as schema
        except ImportError:
            schema = {}

        def by_index(e: Event) -> str | None:
            params = schema.get(e.type)
            keys = [p.name for p in params] if params is not None else list(e.args)
            if index >= len(keys):
                return None
            if render is not None:
                return render.render_arg(e, keys[index], **res)
            return _fallback_render(e, keys[index])

        return make(info, arg, by_index)
    known = _known_param_names()
    if known is not None and arg not in known:
        raise FieldError(f"unknown event argument {arg}")
    name = arg
    if render is not None:
        render_arg = render.render_arg
        fd_r, pid_r, uid_r, gid_r = res["fd_resolver"], res["pid_resolver"], res["uid_resolver"], res["gid_resolver"]

        pure = _pure_event_types(name)
        caches: dict[str, dict[int, str | None]] = {t: {} for t in pure}  # event type -> value -> text

        def extract(e: Event) -> str | None:
            args = e.args
            value = args.get(name, _MISS)
            if value is _MISS:
                return None
            if value.__class__ is int:
                cache = caches.get(e.type)
                if cache is not None:
                    # Flags, modes, errnos and numbers render from the value alone: memoised.
                    hit = cache.get(value, _MISS)
                    if hit is not _MISS:
                        return hit
                    out = render_arg(e, name, fd_r, pid_resolver=pid_r, uid_resolver=uid_r, gid_resolver=gid_r)
                    if len(cache) < 4096:
                        cache[value] = out
                    return out
            return render_arg(e, name, fd_r, pid_resolver=pid_r, uid_resolver=uid_r, gid_resolver=gid_r)
    else:

        def extract(e: Event) -> str | None:
            return _fallback_render(e, name)

    return make(info, arg, extract)


def _f_rawarg(reg, info, arg):
    known = _known_param_names()
    if known is not None and arg not in known:
        raise FieldError(f"unknown event argument {arg}")
    name = arg

    def extract(e: Event) -> Any:
        return e.args.get(name)

    return make(info, arg, extract, type=_param_type(name))


def _f_args(reg, info, arg):
    render = _renderers()
    res = resolvers_for(reg)
    if render is not None:
        render_args = render.render_args

        def extract(e: Event) -> str:
            return render_args(e, **res)
    else:

        def extract(e: Event) -> str:
            return " ".join(f"{k}={_fallback_render(e, k)}" for k in e.args)

    return make(info, arg, extract)


def _f_abspath(which: str):
    # (dirfd arg, path arg) per event, for the *at family; which: "", ".src", ".dst"
    pairs = {
        "": {"openat": ("dirfd", "name"), "openat2": ("dirfd", "name"), "mkdirat": ("dirfd", "path"),
             "unlinkat": ("dirfd", "name"), "fchmodat": ("dirfd", "filename"), "fchownat": ("dirfd", "pathname"),
             "symlinkat": ("linkdirfd", "linkpath"), "mknodat": ("dirfd", "path")},
        ".src": {"renameat": ("olddirfd", "oldpath"), "renameat2": ("olddirfd", "oldpath"),
                 "linkat": ("olddir", "oldpath")},
        ".dst": {"renameat": ("newdirfd", "newpath"), "renameat2": ("newdirfd", "newpath"),
                 "linkat": ("newdir", "newpath")},
    }[which]

    def factory(reg, info, arg):
        from pdigpy.engine.fields.fs import resolve_at

        def extract(e: Event) -> str | None:
            spec = pairs.get(e.type)
            if spec is None:
                return None
            return resolve_at(e, e.args.get(spec[0]), e.args.get(spec[1]))

        return make(info, arg, extract)

    return factory


def _info(name: str, ftype: str, desc: str, **kw: Any) -> FieldInfo:
    return FieldInfo(name=name, type=ftype, desc=desc, field_class="evt", **kw)


def _const(value: Any):
    return _simple(lambda e: value)


_DIV = 1_000_000_000

FIELDS = [
    FieldDef(_info("evt.num", "uint", "Event number, from 1."), _simple(lambda e: e.num)),
    FieldDef(_info("evt.time", "string", "Event time, local HH:MM:SS.nnnnnnnnn."), _simple(_t_time, _ts)),
    FieldDef(_info("evt.time.s", "string", "Event time, local HH:MM:SS."), _simple(_t_time_s, _ts)),
    FieldDef(_info("evt.time.iso8601", "string", "Event time, UTC ISO 8601 with ns."), _simple(_t_iso, _ts)),
    FieldDef(_info("evt.datetime", "string", "Event date and time, local, with ns."), _simple(_t_datetime, _ts)),
    FieldDef(_info("evt.datetime.s", "string", "Event date and time, local, seconds."), _simple(_t_datetime_s, _ts)),
    FieldDef(_info("evt.rawtime", "abstime", "Event time, ns since epoch."), _simple(_ts)),
    FieldDef(_info("evt.rawtime.s", "abstime", "Seconds part of evt.rawtime."), _simple(lambda e: e.ts // _DIV)),
    FieldDef(_info("evt.rawtime.ns", "abstime", "Nanoseconds part of evt.rawtime."), _simple(lambda e: e.ts % _DIV)),
    FieldDef(_info("evt.reltime", "reltime", "Time since the first event, ns."), _f_reltime(None, False)),
    FieldDef(_info("evt.reltime.s", "reltime", "Seconds part of evt.reltime."), _f_reltime(_DIV, False)),
    FieldDef(_info("evt.reltime.ns", "reltime", "Nanoseconds part of evt.reltime."), _f_reltime(_DIV, True)),
    FieldDef(_info("evt.dir", "string", "Event direction, always '<' (exit events only).",
                   flags=frozenset({DEPRECATED})), _const("<")),
    FieldDef(_info("evt.type", "string", "Event name (openat, execve ...)."), _simple(lambda e: e.type)),
    FieldDef(_info("syscall.type", "string", "Syscall name; the event name for syscall events."),
             _simple(lambda e: e.type)),
    FieldDef(_info("evt.type.is", "uint", "1 if the event type is the suffix, else 0.", arg="required",
                   arg_kind="key"), _f_type_is, dotted=True),
    FieldDef(_info("evt.cpu", "int", "CPU number the event was seen on."), _simple(lambda e: e.cpu)),
    FieldDef(_info("evt.category", "string", "Event category: file, net, process, memory ..."), _f_category),
    FieldDef(_info("evt.args", "string", "All parameters, name=value, space-joined."), _f_args),
    FieldDef(_info("evt.arg", "string", "One parameter by name (evt.arg.NAME) or index (evt.arg[N]), resolved.",
                   arg="required", arg_kind="key"), _f_arg, dotted=True),
    FieldDef(_info("evt.rawarg", "string", "One parameter by name, raw and typed.", arg="required",
                   arg_kind="key", flags=frozenset({NO_TRANSFORMER, NO_RHS})), _f_rawarg, dotted=True),
    FieldDef(_info("evt.res", "string", "SUCCESS, or the errno name of a failed call."), _f_res),
    FieldDef(_info("evt.rawres", "int", "Return value of the call."), _simple(_res_of)),
    FieldDef(_info("evt.failed", "bool", "true if the call failed."), _f_failed),
    FieldDef(_info("evt.is_open_read", "bool", "An open for reading."), _simple(_is_open_read)),
    FieldDef(_info("evt.is_open_write", "bool", "An open for writing."), _simple(_is_open_write)),
    FieldDef(_info("evt.is_open_exec", "bool", "An open creating an executable file."), _simple(_is_open_exec)),
    FieldDef(_info("evt.is_open_create", "bool", "An open that created the file."), _simple(_is_open_create)),
    FieldDef(_info("evt.is_io", "bool", "A read, write or other I/O event."), _f_io("is_io")),
    FieldDef(_info("evt.is_io_read", "bool", "A read I/O event."), _f_io("read")),
    FieldDef(_info("evt.is_io_write", "bool", "A write I/O event."), _f_io("write")),
    FieldDef(_info("evt.io_dir", "string", "'r' for reads, 'w' for writes."), _f_io("dir")),
    FieldDef(_info("evt.is_syslog", "bool", "A write to /dev/log."), _f_is_syslog),
    FieldDef(_info("evt.buffer", "bytebuf", "The I/O data of read/write/send/recv calls."), _simple(_buffer)),
    FieldDef(_info("evt.buflen", "uint", "Length of evt.buffer."), _simple(_buflen)),
    FieldDef(_info("evt.abspath", "string", "dirfd plus path of an *at call, absolute."), _f_abspath("")),
    FieldDef(_info("evt.abspath.src", "string", "Source of renameat/linkat, absolute."), _f_abspath(".src")),
    FieldDef(_info("evt.abspath.dst", "string", "Destination of renameat/linkat, absolute."), _f_abspath(".dst")),
    FieldDef(_info("evt.hostname", "string", "FALCO_HOSTNAME, else the host name."), _f_hostname),
    FieldDef(_info("evt.source", "string", "Event source: syscall."), _const("syscall")),
    FieldDef(_info("evt.is_async", "bool", "Async event (never, for pdigpy)."), _const(False)),
    FieldDef(_info("evt.count", "uint", "1 for every event; for counting."), _const(1)),
    FieldDef(_info("evt.latency", "reltime", "Deprecated, always 0.", flags=frozenset({DEPRECATED})), _const(0)),
    FieldDef(_info("evt.latency.s", "reltime", "Deprecated, always 0.", flags=frozenset({DEPRECATED})), _const(0)),
    FieldDef(_info("evt.latency.ns", "reltime", "Deprecated, always 0.", flags=frozenset({DEPRECATED})), _const(0)),
]

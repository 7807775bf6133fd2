"""Which events the state layer must see to keep its thread and fd tables right.

Every traced syscall costs a ptrace stop (about 7-10 us from Python, twice
that with an exit stop), so this list is a cost decision, made type by type.
STATE_EVENT_TYPES is all the state can maintain; the tracer traces the rules'
event types plus only the groups of it (STATE_GROUPS) that the rules' fields
can read: ``state_event_types(engine.referenced_fields())``, or all of it for
a capture (docs/events.md, "On demand").

Lifecycle events (``LIFECYCLE_EVENT_TYPES``: clone family, execve/execveat,
procexit) reach the state through ptrace *event* stops, which the tracer
always takes; they are deliberately NOT in STATE_EVENT_TYPES, because listing
them would put clone/execve in the seccomp filter and add a stop per clone
and per execve *attempt* (a shell's PATH search tries several) for nothing
the state uses (a failed execve changes no state).

The one principle behind the fd part: **every syscall that creates an fd is
traced, close is not**. A later creation overwrites a reused fd number, and no
syscall succeeds on a closed fd, so a closed fd's stale entry is never looked
at by a *successful* syscall. What this costs (docs/events.md, "Limits"):
a failed syscall on a closed fd still shows the old fd name; proc.fdopencount
counts closed fds; and an fd created by an untraced path (SCM_RIGHTS over a
unix socket, io_uring's openat/accept) has no entry, or, if its number was used
before, the old entry (fds that existed before tracing come from /proc, in
snapshots). When a dup's source is unknown the target entry is deleted rather
than left stale.

Measured with pdigpy's tracer on ``find /usr -name '*.h'``: 61.7k close,
76.8k fcntl (45.9k F_DUPFD_CLOEXEC, 15.4k F_GETFL, 15.4k F_SETFD), 15.8k
openat. Leaving close out saves 61.7k stops. The F_DUPFD_CLOEXEC copies are
the dirfds of find's openat calls, so they stay (see fcntl below).
"""

from __future__ import annotations

from typing import Iterable

# ptrace event stops deliver these; listed so that the engine's index and the
# tracer agree they are always on. execve/execveat: success arrives from
# PTRACE_EVENT_EXEC; a *failed* execve is only seen when a rule asks for it.
LIFECYCLE_EVENT_TYPES = frozenset({
    "clone", "clone3", "fork", "vfork",  # thread/process creation: tables, fd copy/share
    "execve", "execveat",  # new exe/args/env/cwd/caps, drops cloexec fds
    "procexit",  # releases records
})

# Why each syscall event is in, one line each.
_FD_CREATORS = {
    # files: fd.name of later reads/writes/fchdir and dirfd of *at calls
    "open": "file fd, absolute name from cwd",
    "openat": "file fd, name from dirfd (find and fts walk the tree by dirfd)",
    "openat2": "same as openat",
    "creat": "file fd",
    "open_by_handle_at": "file fd (name = kernel's path param)",
    "memfd_create": "fd.name memfd:NAME; fileless execution is executed from it",
    # sockets: connect/accept tuples and the 'Redirect STDOUT/STDIN' dup rule
    "socket": "fd.type ipv4/ipv6/unix/netlink and fd.l4proto",
    "socketpair": "two unix fds",
    "accept": "server-side fd with the tuple, is_server",
    "accept4": "same as accept",
    # other fd kinds: right fd.type/typechar, and overwriting reused numbers
    "pipe": "two pipe fds (shell pipelines)",
    "pipe2": "same as pipe",
    "eventfd": "event fd", "eventfd2": "event fd",
    "signalfd": "signalfd", "signalfd4": "signalfd",
    "timerfd_create": "timerfd",
    "inotify_init": "inotify", "inotify_init1": "inotify",
    "epoll_create": "eventpoll", "epoll_create1": "eventpoll",
    "io_uring_setup": "io_uring",
    "pidfd_open": "pidfd (remembers its pid for pidfd_getfd)",
    "pidfd_getfd": "copies the target process's fd entry",
    "userfaultfd": "userfaultfd",
    "bpf": "bpf fds (map/prog create and get-by-id commands)",
    # duplication: shells save and restore stdio with these
    "dup": "copies the entry", "dup2": "copies, overwrites target", "dup3": "same, O_CLOEXEC",
    # fcntl only creates fds with F_DUPFD/F_DUPFD_CLOEXEC (GNU find and fts do
    # fcntl(dirfd, F_DUPFD_CLOEXEC) and then openat() relative to the copy:
    # without it every path below the first level would be "<UNKNOWN>/...").
    # It is frequent (77k in find /usr), so STATE_ARG_FILTERS below tells the
    # tracer that the state needs only those two commands; a seccomp filter
    # that compares args[1] skips F_GETFL/F_SETFD/... (40% of find's fcntl).
    "fcntl": "F_DUPFD/F_DUPFD_CLOEXEC create fds",
}
_FD_ADDRESSERS = {
    "connect": "client/server tuple and fd.name of the socket",
    "bind": "local address of a server socket",
}
_PROCESS = {
    "chdir": "cwd, base of relative paths", "fchdir": "cwd from a directory fd",
    "setuid": "user.uid", "setgid": "group.gid",
    "setresuid": "user.uid", "setresgid": "group.gid",
    "setreuid": "user.uid", "setregid": "group.gid",
    "capset": "thread.cap_*",
    "setsid": "proc.sid, proc.sname", "setpgid": "proc.vpgid/pgid",
}

WHY: dict[str, str] = {**_FD_CREATORS, **_FD_ADDRESSERS, **_PROCESS}

# Syscall events the state needs seccomp stops for.
STATE_SYSCALL_EVENT_TYPES = frozenset(WHY)

# What the tracer must trace for the state (the API other layers use); the
# lifecycle events come on top, always, from ptrace event stops.
STATE_EVENT_TYPES = STATE_SYSCALL_EVENT_TYPES

# Deliberately NOT in the set (the state handles them when rules trace them):
#   close: see the module docstring; handled (entry removed) when traced.
#   sendto/sendmsg/recvfrom/recvmsg: would update unconnected UDP names
#     (fd.name_changed); too frequent on network programs to pay for always.
#   chroot, prctl(PR_SET_NAME), setns, unshare: Falco's state ignores them too
#     for the fields we serve, or they are rare and cheap to add later.
NOT_TRACED_FOR_STATE = frozenset({"close", "sendto", "sendmsg", "recvfrom", "recvmsg",
                                  "chroot", "prctl", "setns", "unshare"})

# Optional narrowing for the seccomp filter: event type -> (syscall argument
# index, argument values for which the state needs the event). A tracer that
# cannot compare arguments simply traces the syscall always (correct, slower).
# The values are Linux's (the filter sees raw registers): F_DUPFD=0,
# F_DUPFD_CLOEXEC=1030.
STATE_ARG_FILTERS: dict[str, tuple[int, frozenset[int]]] = {
    "fcntl": (1, frozenset({0, 1030})),
}


# Fields and tokens that show an open's dev/ino (see pdigpy.tracer.decode.FD_STAT). evt.args and the
# indexed evt.arg[N] forms print every param, so they count too.
FD_STAT_TOKENS = ("fd.ino", "fd.dev", "evt.arg.dev", "evt.arg.ino", "evt.rawarg.dev", "evt.rawarg.ino",
                  "evt.args", "evt.arg[")


# Events whose parameters carry an open's dev and ino: on other events evt.arg.dev is something
# else (mount's source device), and evt.args/evt.arg[N] cannot show them.
OPEN_EVENT_TYPES = frozenset({"open", "openat", "openat2", "creat", "open_by_handle_at"})
FD_FIELD_STAT_TOKENS = ("fd.ino", "fd.dev")  # an fd of any event may be an opened file


def rule_needs_fd_stat(texts: Iterable[str], event_types: Iterable[str] | None) -> bool:
    """Whether one rule, given its condition and output texts and the event types it can match
    (None: every type), can show an open's dev or ino. fd.ino and fd.dev always count;
    the open's own parameters (evt.arg.dev, evt.args, ...) only on a rule that can match an open."""
    texts = list(texts)
    if any(token in text for text in texts for token in FD_FIELD_STAT_TOKENS):
        return True
    if event_types is not None and OPEN_EVENT_TYPES.isdisjoint(event_types):
        return False
    return any(token in text for text in texts for token in FD_STAT_TOKENS)


def fd_stat_needed(texts: Iterable[str]) -> bool:
    """Whether any of ``texts`` (rules files' contents, output formats, append_output entries) can
    use an open's dev or ino. A plain substring test: a comment or a disabled rule that names one
    of these fields keeps the stat on, which costs time, never correctness."""
    return any(token in text for text in texts for token in FD_STAT_TOKENS)


# ---------------------------------------------------------------------------
# On demand: only the groups that the loaded rules' fields can read.
#
# STATE_EVENT_TYPES is what the state *can* maintain. Each group below keeps one
# part of it right, and is traced only when some field that reads that part is
# referenced (rule conditions after macro/list expansion, exceptions, output
# formats with append_output). What the lifecycle events carry (exe, args, env,
# parent chain, cgroups, and at each successful exec the cwd, effective ids,
# caps and process group read from /proc) needs no group at all.

FD_TABLE = "fd_table"
CWD = "cwd"
CREDENTIALS = "credentials"
CAPABILITIES = "capabilities"
SESSION = "session"

STATE_GROUPS: dict[str, frozenset[str]] = {
    # fd entries: names, types, tuples of every fd (fd.*, fd args rendered with the fd's name,
    # dirfd bases of *at paths, proc.std*/fdopencount)
    FD_TABLE: frozenset(_FD_CREATORS) | frozenset(_FD_ADDRESSERS),
    # the process's working directory: proc.cwd, the base of relative paths
    CWD: frozenset({"chdir", "fchdir"}),
    # effective and real uids/gids between execs: user.*, group.*
    CREDENTIALS: frozenset({"setuid", "setgid", "setresuid", "setresgid", "setreuid", "setregid"}),
    # thread.cap_* between execs
    CAPABILITIES: frozenset({"capset"}),
    # session and process group: proc.sid/sname/vpgid/pgid and their leaders
    SESSION: frozenset({"setsid", "setpgid"}),
}

# A group whose maintenance reads another group's data pulls that group in:
# an fd's name made from a relative path needs the cwd, and fchdir sets the cwd
# from its fd's name. So the fd table and the cwd always come together.
GROUP_REQUIRES: dict[str, frozenset[str]] = {
    FD_TABLE: frozenset({CWD}),
    CWD: frozenset({FD_TABLE}),
}

# Field name -> groups, for names taken whole. Anything not listed here and not
# matched by _GROUPS_BY_PREFIX is unknown: it costs the full set.
_NONE: frozenset[str] = frozenset()
_FD = frozenset({FD_TABLE})
_PATHS = frozenset({FD_TABLE, CWD})
_EVERYTHING = frozenset(STATE_GROUPS)

_GROUPS_BY_FIELD: dict[str, frozenset[str]] = {}


def _fields(groups: frozenset[str], names: str) -> None:
    for name in names.split():
        _GROUPS_BY_FIELD[name] = groups


# The event itself, its timestamps, its type and its raw parameters.
_fields(_NONE, """
    evt.num evt.time evt.time.s evt.time.iso8601 evt.datetime evt.datetime.s evt.rawtime evt.rawtime.s
    evt.rawtime.ns evt.reltime evt.reltime.s evt.reltime.ns evt.dir evt.type syscall.type evt.cpu
    evt.res evt.rawres evt.failed evt.is_open_read evt.is_open_write evt.is_open_exec evt.is_open_create
    evt.is_io evt.is_io_read evt.is_io_write evt.io_dir evt.buffer evt.buflen evt.hostname evt.source
    evt.is_async evt.count evt.latency evt.latency.s evt.latency.ns""")
# Looks at the event's fd: its type (category) or its name (/dev/log).
_fields(_FD, "evt.category evt.is_syslog")
# Relative paths made absolute against a dirfd's name or the cwd.
_fields(_PATHS, "evt.abspath evt.abspath.src evt.abspath.dst")
# Every parameter rendered, fds with their names and paths made absolute: conservatively all.
_fields(_EVERYTHING, "evt.args")
# Process fields from clone/exec (lifecycle), the parent chain and /proc at exec.
_fields(_NONE, """
    proc.exe proc.pexe proc.aexe proc.exepath proc.pexepath proc.aexepath proc.name proc.pname proc.aname
    proc.args proc.cmdline proc.pcmdline proc.acmdline proc.aargs proc.cmdnargs proc.cmdlenargs
    proc.exeline proc.env proc.aenv proc.loginshellid proc.tty proc.pid proc.ppid proc.apid proc.vpid
    proc.pvpid proc.duration proc.ppid.duration proc.pid.ts proc.ppid.ts proc.is_exe_writable
    proc.is_exe_upper_layer proc.is_exe_lower_layer proc.is_exe_from_memfd proc.exe_ino
    proc.exe_ino.ctime proc.exe_ino.mtime proc.exe_ino.ctime_duration_proc_start
    proc.exe_ino.ctime_duration_pidns_start proc.exe_ino.ctime_duration_app_start
    proc.pidns_init_start_ts proc.fdlimit proc.nthreads
    thread.tid thread.vtid thread.ismain thread.cgroups
    user.loginuid user.loginname""")
_fields(frozenset({CWD}), "proc.cwd")
_fields(frozenset({SESSION}), """
    proc.sid proc.sname proc.sid.exe proc.sid.exepath proc.vpgid proc.vpgid.name proc.vpgid.exe
    proc.vpgid.exepath proc.pgid proc.is_sid_leader proc.is_vpgid_leader proc.is_pgid_leader""")
_fields(_FD, """
    proc.fdopencount proc.stdin.type proc.stdin.name proc.stdout.type proc.stdout.name
    proc.stderr.type proc.stderr.name fd.types""")
_fields(frozenset({CAPABILITIES}), "thread.cap_effective thread.cap_permitted thread.cap_inheritable")
_fields(frozenset({CREDENTIALS}), "user.uid user.name user.homedir user.shell group.gid group.name")

# Name prefixes (a field class, or a dotted-argument field), longest first.
_GROUPS_BY_PREFIX: tuple[tuple[str, frozenset[str]], ...] = (
    ("evt.type.is.", _NONE),
    ("evt.rawarg.", _NONE),  # the raw value: no fd name, no path resolution
    ("thread.cgroup.", _NONE),
    ("container.", _NONE),  # from the cgroups (lifecycle) and the task metadata
    ("k8s.", _NONE),
    ("fd.containername", _FD), ("fd.containerdirectory", _FD),
    ("fd.", _FD),
    ("fs.path.", _PATHS),  # made absolute against a dirfd or the cwd; fchmod's is its fd's name
)

# evt.arg.NAME renders the parameter NAME: fds with their entry ("3(<f>/etc/passwd)"), paths
# made absolute against the dirfd or the cwd, pids/uids/gids by name (thread table, user
# database: no group), everything else from the value alone.
_ARG_PTYPE_GROUPS = {"FD": _FD, "FSPATH": _PATHS, "FSRELPATH": _PATHS}
_PURE_ARG_PTYPES = frozenset({
    "ERRNO", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FLAGS8", "FLAGS16",
    "FLAGS32", "ENUMFLAGS8", "ENUMFLAGS16", "ENUMFLAGS32", "MODE", "SIGTYPE", "SIGSET", "CHARBUF", "BYTEBUF",
    "SOCKTUPLE", "SOCKADDR", "RELTIME", "ABSTIME", "PID", "UID", "GID", "BOOL"})

_arg_groups_cache: dict[str, frozenset[str]] = {}


def _arg_groups(name: str) -> frozenset[str]:
    """Groups evt.arg.NAME needs, over every event type that has a parameter NAME."""
    got = _arg_groups_cache.get(name)
    if got is None:
        from pdigpy.events.schema import EVENT_SCHEMA

        ptypes = {p.ptype for params in EVENT_SCHEMA.values() for p in params if p.name == name}
        if not ptypes:
            got = _EVERYTHING  # not a parameter we know: do not guess
        else:
            out: set[str] = set()
            for ptype in ptypes:
                if ptype in _ARG_PTYPE_GROUPS:
                    out |= _ARG_PTYPE_GROUPS[ptype]
                elif ptype not in _PURE_ARG_PTYPES:
                    out = set(_EVERYTHING)  # DYN and anything new: rendered in ways we do not model
                    break
            got = frozenset(out)
        _arg_groups_cache[name] = got
    return got


def _split_key(field: str) -> tuple[str, str | None]:
    """``name[arg]`` -> (name, arg); ``name`` -> (name, None)."""
    if field.endswith("]") and "[" in field:
        name, arg = field[:-1].split("[", 1)
        return name, arg
    return field, None


def field_state_groups(field: str) -> frozenset[str]:
    """The state groups one field can read, before GROUP_REQUIRES; every group for a field we
    cannot classify (unknown names, evt.args, evt.arg[N] by index, parameters of unknown types)."""
    name, arg = _split_key(field)
    if name == "evt.arg":
        if arg is None or arg.isdigit():
            return _EVERYTHING
        return _arg_groups(arg)
    if name.startswith("evt.arg."):
        return _arg_groups(name[len("evt.arg."):]) if arg is None else _EVERYTHING
    groups = _GROUPS_BY_FIELD.get(name)
    if groups is not None:
        return groups
    for prefix, groups in _GROUPS_BY_PREFIX:
        if name.startswith(prefix):
            return groups
    # the bracket form of a dotted field: thread.cgroup[cpu], evt.type.is[open] ...
    if arg is not None:
        for prefix, groups in _GROUPS_BY_PREFIX:
            if prefix.endswith(".") and name == prefix[:-1]:
                return groups
    return _EVERYTHING


def is_classified(field: str) -> bool:
    """Whether ``field`` has its own entry (by name, by prefix, or as an evt.arg form) rather than
    falling to the unknown case: every registered field should (tests check it)."""
    name, _arg = _split_key(field)
    if name in _GROUPS_BY_FIELD or name == "evt.arg" or name.startswith("evt.arg."):
        return True
    return any(name.startswith(prefix) or name == prefix.rstrip(".") for prefix, _groups in _GROUPS_BY_PREFIX)


def _closure(groups: Iterable[str]) -> frozenset[str]:
    out = set(groups)
    todo = list(out)
    while todo:
        for more in GROUP_REQUIRES.get(todo.pop(), ()):
            if more not in out:
                out.add(more)
                todo.append(more)
    return frozenset(out)


def needed_state_groups(fields: Iterable[str] | None, *, everything: bool = False) -> frozenset[str]:
    """The state groups that ``fields`` (names as written: ``fd.name``, ``proc.aname[2]``,
    ``evt.arg.fd``) need, with what those groups need in turn. ``everything`` or ``fields=None``
    (the rules could not be analysed): every group."""
    if everything or fields is None:
        return _EVERYTHING
    found: set[str] = set()
    for field in fields:
        found |= field_state_groups(field)
        if len(found) == len(STATE_GROUPS):
            break
    return _closure(found)


def state_event_types(fields: Iterable[str] | None, *, everything: bool = False) -> frozenset[str]:
    """The syscall events the state must trace so that every one of ``fields`` is right.

    ``everything=True`` (a capture with --events, which any rules may replay later) or
    ``fields=None`` (the rules could not be analysed) gives STATE_EVENT_TYPES.
    """
    groups = needed_state_groups(fields, everything=everything)
    if len(groups) == len(STATE_GROUPS):
        return STATE_EVENT_TYPES
    out: set[str] = set()
    for group in groups:
        out |= STATE_GROUPS[group]
    return frozenset(out)


def state_event_owner(event_type: str) -> str | None:
    """The group an event type of STATE_EVENT_TYPES belongs to (for --print-filter)."""
    for group, types in STATE_GROUPS.items():
        if event_type in types:
            return group
    return None

"""Which events the state layer must see to keep its thread and fd tables right.

Every traced syscall costs a ptrace stop (about 7-10 us from Python, twice
that with an exit stop), so this list is a cost decision, made type by type.
The tracer traces ``STATE_EVENT_TYPES | rules' event types``.

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
unix socket, io_uring's openat/accept, a pre-existing process's fds) has no
entry, or, if its number was used before, the old entry. When a dup's source
is unknown the target entry is deleted rather than left stale.

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

"""``proc.*`` and ``thread.*`` fields (Falco's "process" field class).

Everything describes the event's thread (``evt.thread``, set by the state layer) as it is
after the syscall. No thread record means every field is missing. Ancestors are a walk up
``ThreadInfo.parent`` (the parent process's main thread).

Hot path: each extractor is a closure built at bind time (ancestor level, env key and arg
index are captured); per event it only follows attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pdigpy.engine.fields.base import NO_RHS, NO_TRANSFORMER, FieldError, FieldInfo
from pdigpy.engine.fields.registry import FieldDef, make

if TYPE_CHECKING:
    from pdigpy.events.model import Event
    from pdigpy.state.records import ThreadInfo

MAX_ANCESTORS = 256  # guards against a cycle in a corrupt parent chain

# Linux capability bit -> name, in bit order (Falco prints them space-joined in this order).
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)

_cap_cache: dict[int, str] = {}


def cap_names(mask: int) -> str:
    """Space-joined CAP_* names of the set bits (cached: processes share a handful of masks)."""
    s = _cap_cache.get(mask)
    if s is None:
        s = " ".join(name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1)
        if len(_cap_cache) < 4096:
            _cap_cache[mask] = s
    return s


# -- per-thread value getters (thread -> value); None means missing --------------------


def _cmdline(t: ThreadInfo) -> str:
    args = t.proc.args
    return t.comm + " " + " ".join(args) if args else t.comm


def _exeline(t: ThreadInfo) -> str:
    args = t.proc.args
    return t.proc.exe + " " + " ".join(args) if args else t.proc.exe


def _vpid(t: ThreadInfo) -> int:
    return t.vpid or t.pid


def _env_str(t: ThreadInfo) -> str:
    return " ".join(t.proc.env)


GETTERS: dict[str, Callable[[Any], Any]] = {
    "name": lambda t: t.comm,
    "exe": lambda t: t.proc.exe,
    "exepath": lambda t: t.proc.exepath,
    "cmdline": _cmdline,
    "args": lambda t: " ".join(t.proc.args),
    "pid": lambda t: t.pid,
    "env": _env_str,
}


def ancestor(t: ThreadInfo | None, level: int) -> ThreadInfo | None:
    """Ancestor ``level`` of ``t`` (0 = itself, 1 = parent ...), or None."""
    for _ in range(level):
        if t is None:
            return None
        t = t.parent
    return t


def ancestors(t: ThreadInfo) -> list[ThreadInfo]:
    """Parent, grandparent ... (the any-ancestor semantics of proc.aname without argument)."""
    out = []
    p = t.parent
    while p is not None and len(out) < MAX_ANCESTORS:
        out.append(p)
        p = p.parent
    return out


def session_leader(t: ThreadInfo) -> ThreadInfo:
    """The process with pid == sid, else the eldest ancestor with the same sid."""
    sid = t.sid
    leader = t
    if t.pid == sid or _vpid(t) == sid:
        return t
    p = t.parent
    n = 0
    while p is not None and p.sid == sid and n < MAX_ANCESTORS:
        leader = p
        if p.pid == sid or _vpid(p) == sid:
            break
        p = p.parent
        n += 1
    return leader


def group_leader(t: ThreadInfo) -> ThreadInfo:
    """The process with vpid == vpgid, else the eldest ancestor with the same vpgid."""
    pg = t.vpgid or t.pgid
    if _vpid(t) == pg:
        return t
    leader = t
    p = t.parent
    n = 0
    while p is not None and (p.vpgid or p.pgid) == pg and n < MAX_ANCESTORS:
        leader = p
        if _vpid(p) == pg:
            break
        p = p.parent
        n += 1
    return leader


# -- factories --------------------------------------------------------------------------


def _thread(get: Callable[[Any], Any], bits: int = 64):
    """A field that reads the event's thread through ``get`` (``bits``: Falco's integer width)."""

    def factory(reg, info, arg):
        def extract(e: Event) -> Any:
            t = e.thread
            return None if t is None else get(t)

        return make(info, arg, extract, extra={"bits": bits})

    return factory


def _thread_comm(reg, info, arg):
    # Hot path: proc.name is read by most rules; no getter call.
    def extract(e: Event) -> Any:
        t = e.thread
        return None if t is None else t.comm

    return make(info, arg, extract, extra={"bits": 64})


def _parent(get: Callable[[Any], Any]):
    def factory(reg, info, arg):
        def extract(e: Event) -> Any:
            t = e.thread
            if t is None:
                return None
            p = t.parent
            return None if p is None else get(p)

        return make(info, arg, extract)

    return factory


def _level(arg: str, field: str) -> int:
    if not arg.isdigit():
        raise FieldError(f"wrong argument {arg!r} for field {field}: expected a non-negative integer")
    return int(arg)


def _ancestor_field(key: str):
    """proc.aname[N] / proc.apid[N] / ...; without argument: any ancestor from the parent up."""
    get = GETTERS[key]

    def factory(reg, info, arg):
        if arg is None:

            def extract_all(e: Event) -> list | None:
                t = e.thread
                if t is None:
                    return None
                return [get(a) for a in ancestors(t)]

            if key == "pid":
                # In an output, proc.apid without argument prints the current pid.
                def display(e: Event) -> str:
                    t = e.thread
                    return "<NA>" if t is None else str(t.pid)
            else:

                def display(e: Event) -> str:
                    vals = extract_all(e)
                    return "<NA>" if vals is None else " ".join(str(v) for v in vals)

            return make(info, arg, extract_all, is_list=True, any_of=True, display=display)
        level = _level(arg, info.name)

        if level == 0:
            # Falco reads level 0 from the process's main thread (a thread's comm can differ).
            main_of = getattr(reg.state, "get_process", None)

            def extract0(e: Event) -> Any:
                t = e.thread
                if t is None:
                    return None
                if main_of is not None and t.tid != t.pid:
                    t = main_of(t.pid) or t
                return get(t)

            return make(info, arg, extract0)

        def extract(e: Event) -> Any:
            t = e.thread
            for _ in range(level):
                if t is None:
                    return None
                t = t.parent
            return None if t is None else get(t)

        return make(info, arg, extract)

    return factory


def _f_args(reg, info, arg):
    if arg is None:
        return make(info, arg, _thread_get(lambda t: " ".join(t.proc.args)))
    index = _level(arg, info.name)

    def extract(e: Event) -> str | None:
        t = e.thread
        if t is None:
            return None
        args = t.proc.args
        return args[index] if index < len(args) else ""

    return make(info, arg, extract)


def _thread_get(get):
    def extract(e: Event) -> Any:
        t = e.thread
        return None if t is None else get(t)

    return extract


def _env_lookup(env: list[str], key: str) -> str | None:
    prefix = key + "="
    for item in env:
        if item.startswith(prefix):
            return item[len(prefix):]
    return None


def _f_env(reg, info, arg):
    if arg is None:
        return make(info, arg, _thread_get(_env_str))
    if arg.isdigit():
        index = int(arg)

        def by_index(e: Event) -> str | None:
            t = e.thread
            if t is None:
                return None
            env = t.proc.env
            return env[index] if index < len(env) else None

        return make(info, arg, by_index)
    key = arg

    def extract(e: Event) -> str | None:
        t = e.thread
        return None if t is None else _env_lookup(t.proc.env, key)

    return make(info, arg, extract)


def _f_aenv(reg, info, arg):
    if arg is None:

        def all_env(e: Event) -> list | None:
            t = e.thread
            return None if t is None else [_env_str(a) for a in ancestors(t)]

        return make(info, arg, all_env, is_list=True, any_of=True,
                    display=lambda e: " ".join(all_env(e) or []) or "<NA>")
    if arg.isdigit():
        level = int(arg)

        def at_level(e: Event) -> str | None:
            a = ancestor(e.thread, level)
            return None if a is None else _env_str(a)

        return make(info, arg, at_level)
    key = arg

    def first_match(e: Event) -> str | None:
        t = e.thread
        n = 0
        while t is not None and n <= 20:
            v = _env_lookup(t.proc.env, key)
            if v is not None:
                return v
            t = t.parent
            n += 1
        return None

    return make(info, arg, first_match)


def _f_cwd(reg, info, arg):
    def extract(e: Event) -> str | None:
        t = e.thread
        if t is None:
            return None
        cwd = t.proc.cwd
        return cwd if cwd.endswith("/") else cwd + "/"

    return make(info, arg, extract)


def _f_duration(reg, info, arg):
    def extract(e: Event) -> int | None:
        t = e.thread
        if t is None:
            return None
        start = t.proc.start_ts or t.start_ts
        return e.ts - start if start else None

    return make(info, arg, extract)


def _f_pduration(reg, info, arg):
    def extract(e: Event) -> int | None:
        t = e.thread
        p = None if t is None else t.parent
        if p is None:
            return None
        start = p.proc.start_ts or p.start_ts
        return e.ts - start if start else None

    return make(info, arg, extract)


def _nonzero(v: int) -> int | None:
    return v if v else None


_U64 = (1 << 64) - 1


def _ctime_proc_start(t: ThreadInfo) -> int | None:
    """Falco (parsers.cpp, execve exit): clone_ts - exe ctime kept in a uint64, 0 = missing. An
    executable changed after the process was cloned wraps to a huge number, as in Falco, so
    ``< duration`` tests stay false for it."""
    ctime = t.proc.exe_ino_ctime
    start = t.proc.start_ts or t.start_ts
    if not ctime or not start:
        return None
    return ((start - ctime) & _U64) or None


def app_start_ts(t: ThreadInfo) -> int:
    """When the traced app began: the exec time of the topmost process in ``t``'s ancestry that
    exec'd under tracing (the launched app's first exec, from the event clock), 0 if none did.

    Processes that existed before tracing (pdigpy's own ancestors, an attached process and its
    older children) are snapshots with no exec time, so the walk passes over them.
    """
    found = 0
    cur: Any = t
    for _ in range(MAX_ANCESTORS):
        if cur is None:
            break
        ts = cur.proc.exec_ts
        if ts:
            found = ts
        cur = cur.parent
    return found


def _ctime_pidns_start(t: ThreadInfo) -> int | None:
    """Falco: exe ctime - pid namespace init start, only when the executable changed after the
    namespace started (strictly); otherwise missing."""
    return _changed_after(t.proc.exe_ino_ctime, t.proc.pidns_init_start_ts)


def _ctime_app_start(t: ThreadInfo) -> int | None:
    """pdigpy extension: exe ctime - the traced app's launch (``app_start_ts``), only when the
    executable changed strictly after it. On a host Falco's pid namespace start is the boot,
    which says nothing about the app; this is the same test with the app as the "container"."""
    return _changed_after(t.proc.exe_ino_ctime, app_start_ts(t))


def _changed_after(ctime: int, start: int) -> int | None:
    if not ctime or not start or ctime <= start:
        return None
    return ctime - start


def _loginshell(t: ThreadInfo) -> int | None:
    found = None
    cur: Any = t
    n = 0
    while cur is not None and n < MAX_ANCESTORS:
        if cur.comm.endswith("sh"):
            found = cur.pid
        cur = cur.parent
        n += 1
    return found


def _is_main(t: ThreadInfo) -> bool:
    return t.tid == t.pid


def _cgroups(t: ThreadInfo) -> str:
    return " ".join(t.proc.cgroups)


def _f_cgroup(reg, info, arg):
    def extract(e: Event) -> str | None:
        t = e.thread
        if t is None:
            return None
        for item in t.proc.cgroups:
            # v1: "cpu,cpuacct=/path" lists several subsystems; v2: "=/path" (empty subsys)
            subsys, _, path = item.partition("=")
            if subsys == arg or arg in subsys.split(","):
                return path
        return None

    return make(info, arg, extract)


def _fd_of(t: ThreadInfo, num: int) -> Any:
    from pdigpy.engine.fields.fs import fd_lookup

    return fd_lookup(t, num)


def _std_fd(num: int, attr: str):
    def get(t):
        fdi = _fd_of(t, num)
        return None if fdi is None else getattr(fdi, attr)

    return get


def _nfds(t: ThreadInfo) -> int | None:
    fds = t.fds
    try:
        return len(fds)
    except TypeError:
        return None


def _f_nthreads(reg, info, arg):
    groups = getattr(reg.state, "groups", None)

    def extract(e: Event) -> int | None:
        t = e.thread
        if t is None or groups is None:
            return None
        g = groups.get(t.pid)
        return None if g is None else len(g.tids)

    return make(info, arg, extract)


def _info(name: str, ftype: str, desc: str, **kw: Any) -> FieldInfo:
    return FieldInfo(name=name, type=ftype, desc=desc, field_class="process", **kw)


_ANC = dict(arg="allowed", arg_kind="index", flags=frozenset({NO_TRANSFORMER, NO_RHS}))

FIELDS = [
    FieldDef(_info("proc.exe", "string", "argv[0] as given."), _thread(GETTERS["exe"])),
    FieldDef(_info("proc.pexe", "string", "Parent's proc.exe."), _parent(GETTERS["exe"])),
    FieldDef(_info("proc.aexe", "string", "Ancestor's proc.exe (N: 0 self, 1 parent ...).", **_ANC),
             _ancestor_field("exe")),
    FieldDef(_info("proc.exepath", "string", "Executable path, symlinks resolved."), _thread(GETTERS["exepath"])),
    FieldDef(_info("proc.pexepath", "string", "Parent's proc.exepath."), _parent(GETTERS["exepath"])),
    FieldDef(_info("proc.aexepath", "string", "Ancestor's proc.exepath.", **_ANC), _ancestor_field("exepath")),
    FieldDef(_info("proc.name", "string", "Process name (comm)."), _thread_comm),
    FieldDef(_info("proc.pname", "string", "Parent's proc.name."), _parent(GETTERS["name"])),
    FieldDef(_info("proc.aname", "string", "Ancestor's proc.name.", **_ANC), _ancestor_field("name")),
    FieldDef(_info("proc.args", "string", "Arguments without argv[0]; [N] one argument.", arg="allowed",
                   arg_kind="index"), _f_args),
    FieldDef(_info("proc.cmdline", "string", "proc.name + ' ' + proc.args."), _thread(_cmdline)),
    FieldDef(_info("proc.pcmdline", "string", "Parent's proc.cmdline."), _parent(_cmdline)),
    FieldDef(_info("proc.acmdline", "string", "Ancestor's proc.cmdline.", **_ANC), _ancestor_field("cmdline")),
    FieldDef(_info("proc.aargs", "string", "Ancestor's proc.args.", **_ANC), _ancestor_field("args")),
    FieldDef(_info("proc.cmdnargs", "uint", "Number of arguments."), _thread(lambda t: len(t.proc.args))),
    FieldDef(_info("proc.cmdlenargs", "uint", "Total length of the arguments."),
             _thread(lambda t: sum(len(a) for a in t.proc.args))),
    FieldDef(_info("proc.exeline", "string", "proc.exe + ' ' + proc.args."), _thread(_exeline)),
    FieldDef(_info("proc.env", "string", "Environment, space-joined; [NAME] one variable.", arg="allowed",
                   arg_kind="key"), _f_env),
    FieldDef(_info("proc.aenv", "string", "Ancestors' environment; [NAME] first match up to 20 levels.",
                   arg="allowed", arg_kind="key", flags=frozenset({NO_TRANSFORMER, NO_RHS})), _f_aenv),
    FieldDef(_info("proc.cwd", "string", "Working directory, ending with '/'."), _f_cwd),
    FieldDef(_info("proc.loginshellid", "int", "pid of the oldest shell ancestor."), _thread(_loginshell)),
    FieldDef(_info("proc.tty", "uint", "Controlling tty (tty_nr), 0 for none."), _thread(lambda t: t.tty, 32)),
    FieldDef(_info("proc.pid", "int", "Process id."), _thread(lambda t: t.pid)),
    FieldDef(_info("proc.ppid", "int", "Parent process id."), _thread(lambda t: t.ptid)),
    FieldDef(_info("proc.apid", "int", "Ancestor's pid.", **_ANC), _ancestor_field("pid")),
    FieldDef(_info("proc.vpid", "int", "pid in the process's pid namespace."), _thread(_vpid)),
    FieldDef(_info("proc.pvpid", "int", "Parent's proc.vpid."), _parent(_vpid)),
    FieldDef(_info("proc.sid", "int", "Session id."), _thread(lambda t: t.sid)),
    FieldDef(_info("proc.sname", "string", "Session leader's proc.name."), _thread(lambda t: session_leader(t).comm)),
    FieldDef(_info("proc.sid.exe", "string", "Session leader's proc.exe."),
             _thread(lambda t: session_leader(t).proc.exe)),
    FieldDef(_info("proc.sid.exepath", "string", "Session leader's proc.exepath."),
             _thread(lambda t: session_leader(t).proc.exepath)),
    FieldDef(_info("proc.vpgid", "int", "Process group id in the pid namespace."),
             _thread(lambda t: t.vpgid or t.pgid)),
    FieldDef(_info("proc.vpgid.name", "string", "Process group leader's proc.name."),
             _thread(lambda t: group_leader(t).comm)),
    FieldDef(_info("proc.vpgid.exe", "string", "Process group leader's proc.exe."),
             _thread(lambda t: group_leader(t).proc.exe)),
    FieldDef(_info("proc.vpgid.exepath", "string", "Process group leader's proc.exepath."),
             _thread(lambda t: group_leader(t).proc.exepath)),
    FieldDef(_info("proc.pgid", "int", "Process group id."), _thread(lambda t: t.pgid)),
    FieldDef(_info("proc.is_sid_leader", "bool", "proc.sid == proc.vpid."), _thread(lambda t: t.sid == _vpid(t))),
    FieldDef(_info("proc.is_vpgid_leader", "bool", "proc.vpgid == proc.vpid."),
             _thread(lambda t: (t.vpgid or t.pgid) == _vpid(t))),
    FieldDef(_info("proc.is_pgid_leader", "bool", "proc.pgid == proc.pid."), _thread(lambda t: t.pgid == t.pid)),
    FieldDef(_info("proc.duration", "reltime", "ns since the process started."), _f_duration),
    FieldDef(_info("proc.ppid.duration", "reltime", "ns since the parent process started."), _f_pduration),
    FieldDef(_info("proc.pid.ts", "abstime", "Process start, ns since epoch."),
             _thread(lambda t: _nonzero(t.proc.start_ts or t.start_ts))),
    FieldDef(_info("proc.ppid.ts", "abstime", "Parent process start, ns since epoch."),
             _parent(lambda t: _nonzero(t.proc.start_ts or t.start_ts))),
    FieldDef(_info("proc.is_exe_writable", "bool", "The executable is writable by the process's user."),
             _thread(lambda t: t.proc.exe_writable)),
    FieldDef(_info("proc.is_exe_upper_layer", "bool", "The executable is in an overlayfs upper layer."),
             _thread(lambda t: t.proc.exe_upper_layer)),
    FieldDef(_info("proc.is_exe_lower_layer", "bool", "The executable is in an overlayfs lower layer."),
             _thread(lambda t: t.proc.exe_lower_layer)),
    FieldDef(_info("proc.is_exe_from_memfd", "bool", "The executable is a memfd."),
             _thread(lambda t: t.proc.exe_from_memfd)),
    FieldDef(_info("proc.exe_ino", "int", "Inode of the executable."), _thread(lambda t: _nonzero(t.proc.exe_ino))),
    FieldDef(_info("proc.exe_ino.ctime", "abstime", "ctime of the executable, ns since epoch."),
             _thread(lambda t: _nonzero(t.proc.exe_ino_ctime))),
    FieldDef(_info("proc.exe_ino.mtime", "abstime", "mtime of the executable, ns since epoch."),
             _thread(lambda t: _nonzero(t.proc.exe_ino_mtime))),
    FieldDef(_info("proc.exe_ino.ctime_duration_proc_start", "abstime",
                   "ns between the executable's ctime and the process start."), _thread(_ctime_proc_start)),
    FieldDef(_info("proc.exe_ino.ctime_duration_pidns_start", "abstime",
                   "ns between the pid namespace start (proc.pidns_init_start_ts) and the executable's ctime."),
             _thread(_ctime_pidns_start)),
    FieldDef(_info("proc.pidns_init_start_ts", "uint", "Start of the pid namespace's init, ns since epoch."),
             _thread(lambda t: _nonzero(t.proc.pidns_init_start_ts))),
    FieldDef(_info("proc.exe_ino.ctime_duration_app_start", "abstime",
                   "pdigpy extension: ns between the traced app's launch and the executable's ctime, only "
                   "when the executable changed after the launch."), _thread(_ctime_app_start)),
    FieldDef(_info("proc.fdlimit", "int", "RLIMIT_NOFILE soft limit."), _thread(lambda t: _nonzero(t.proc.fdlimit))),
    FieldDef(_info("proc.fdopencount", "uint", "Open fds of the process."), _thread(_nfds)),
    FieldDef(_info("proc.nthreads", "uint", "Live threads of the process, as traced."), _f_nthreads),
    FieldDef(_info("proc.stdin.type", "string", "fd 0 type."), _thread(_std_fd(0, "type"))),
    FieldDef(_info("proc.stdin.name", "string", "fd 0 name."), _thread(_std_fd(0, "name"))),
    FieldDef(_info("proc.stdout.type", "string", "fd 1 type."), _thread(_std_fd(1, "type"))),
    FieldDef(_info("proc.stdout.name", "string", "fd 1 name."), _thread(_std_fd(1, "name"))),
    FieldDef(_info("proc.stderr.type", "string", "fd 2 type."), _thread(_std_fd(2, "type"))),
    FieldDef(_info("proc.stderr.name", "string", "fd 2 name."), _thread(_std_fd(2, "name"))),
    FieldDef(_info("thread.tid", "int", "Thread id."), _thread(lambda t: t.tid)),
    FieldDef(_info("thread.vtid", "int", "Thread id in the pid namespace."), _thread(lambda t: t.vtid or t.tid)),
    FieldDef(_info("thread.ismain", "bool", "The thread is the process's main thread."), _thread(_is_main)),
    FieldDef(_info("thread.cap_effective", "string", "Effective capabilities, space-joined CAP_* names."),
             _thread(lambda t: cap_names(t.cap_effective))),
    FieldDef(_info("thread.cap_permitted", "string", "Permitted capabilities, space-joined CAP_* names."),
             _thread(lambda t: cap_names(t.cap_permitted))),
    FieldDef(_info("thread.cap_inheritable", "string", "Inheritable capabilities, space-joined CAP_* names."),
             _thread(lambda t: cap_names(t.cap_inheritable))),
    FieldDef(_info("thread.cgroups", "string", "All cgroups, space-joined subsys=path."), _thread(_cgroups)),
    FieldDef(_info("thread.cgroup", "string", "The cgroup path of one subsystem (thread.cgroup.SUBSYS).",
                   arg="required", arg_kind="key"), _f_cgroup, dotted=True),
]

"""Which parameters each event carries, in Falco's order, with Falco's types.

One entry per event type pdigpy emits. The layout is Falco's current exit
event (libs 0.2x, Falco 0.42+): the exit event's historical parameters
followed by the parameters that used to travel on the enter event.

API (stable; read by render.py, capture, the engine's evt.* fields):

- ``ParamSpec(name, ptype, flagset=None, fmt="dec")``: ``ptype`` is Falco's
  type without the ``PT_`` prefix (FD, PID, ERRNO, UINT32, FSPATH, FSRELPATH,
  CHARBUF, BYTEBUF, SOCKTUPLE, SOCKADDR, FLAGS32, ENUMFLAGS16, MODE, UID, GID,
  SIGTYPE, ABSTIME, DYN, SIGSET ...); ``flagset`` names a table in
  :mod:`pdigpy.events.flags`; ``fmt`` is Falco's print base for numbers
  (``dec``, ``hex``, ``oct``).
- ``EVENT_SCHEMA: dict[str, tuple[ParamSpec, ...]]``
- ``EVENT_CATEGORY: dict[str, str]``: Falco's ``evt.category`` per type. I/O
  events have the placeholder categories ``io_read``/``io_write``/``io_other``;
  Falco prints those as the category of the fd (``file``, ``net``, ``IPC``),
  which :func:`category_for` does given the fd's typechar.
- ``ALL_EVENT_TYPES: frozenset[str]``
- ``PARAM_INDEX: dict[str, dict[str, int]]``: position of each parameter
  (``evt.arg[N]``).
- ``NOT_APPLICABLE_EVENT_TYPES``: event names the upstream rules mention that a
  ptrace tracer can never produce, with the reason.

A few syscalls Falco has no dedicated event for (setfsuid, setfsgid,
process_vm_readv/writev, kexec_load, truncate, ftruncate ...) are emitted as "generic" events whose
type is the syscall name, as Falco names generic events; their parameters are
pdigpy's own small choice (``res`` plus the interesting argument).
"""

from __future__ import annotations

from typing import NamedTuple


class ParamSpec(NamedTuple):
    name: str
    ptype: str
    flagset: str | None = None
    fmt: str = "dec"


def _p(spec: str) -> tuple[ParamSpec, ...]:
    """Parse ``"name:TYPE[/flagset][@fmt] ..."`` into ParamSpecs (keeps the table readable)."""
    out = []
    for item in spec.split():
        fmt = "dec"
        if "@" in item:
            item, fmt = item.split("@")
        name, ptype = item.split(":", 1)
        flagset = None
        if "/" in ptype:
            ptype, flagset = ptype.split("/")
        out.append(ParamSpec(name, ptype, flagset, fmt))
    return tuple(out)


_OPEN_TAIL = "flags:FLAGS32/file_flags mode:UINT32@oct"
_PROC_COMMON = (
    "exe:CHARBUF args:BYTEBUF tid:PID pid:PID ptid:PID cwd:CHARBUF {fdlimit} "
    "pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32 comm:CHARBUF "
    "cgroups:BYTEBUF"
)
_EXECVE = (
    "res:ERRNO " + _PROC_COMMON.format(fdlimit="fdlimit:UINT64") + " env:BYTEBUF tty:UINT32 vpgid:PID "
    "loginuid:UID flags:FLAGS32/execve_flags cap_inheritable:UINT64@hex cap_permitted:UINT64@hex "
    "cap_effective:UINT64@hex exe_ino:UINT64 exe_ino_ctime:ABSTIME exe_ino_mtime:ABSTIME uid:UID "
    "trusted_exepath:FSPATH pgid:PID gid:GID"
)
_CLONE = (
    "res:PID " + _PROC_COMMON.format(fdlimit="fdlimit:INT64") + " flags:FLAGS32/clone_flags@hex "
    "uid:UINT32 gid:UINT32 vtid:PID vpid:PID pidns_init_start_ts:UINT64"
)

EVENT_SCHEMA: dict[str, tuple[ParamSpec, ...]] = {
    # files
    "open": _p(f"fd:FD name:FSPATH {_OPEN_TAIL} dev:UINT32@hex ino:UINT64"),
    "openat": _p(f"fd:FD dirfd:FD name:FSRELPATH {_OPEN_TAIL} dev:UINT32@hex ino:UINT64"),
    "openat2": _p(
        f"fd:FD dirfd:FD name:FSRELPATH {_OPEN_TAIL} resolve:FLAGS32/openat2_flags dev:UINT32@hex ino:UINT64"
    ),
    "creat": _p("fd:FD name:FSPATH mode:UINT32@oct dev:UINT32@hex ino:UINT64 creat_flags:FLAGS16/file_flags"),
    "open_by_handle_at": _p("fd:FD mountfd:FD flags:FLAGS32/file_flags path:FSPATH"),
    "close": _p("res:ERRNO fd:FD"),
    "dup": _p("res:FD oldfd:FD"),
    "dup2": _p("res:FD oldfd:FD newfd:FD"),
    "dup3": _p("res:FD oldfd:FD newfd:FD flags:FLAGS32/file_flags"),
    "fcntl": _p("res:FD fd:FD cmd:ENUMFLAGS8/fcntl_commands"),
    "pipe": _p("res:ERRNO fd1:FD fd2:FD ino:UINT64"),
    "pipe2": _p("res:ERRNO fd1:FD fd2:FD ino:UINT64 flags:FLAGS32/file_flags"),
    "eventfd": _p("res:FD initval:UINT64 flags:FLAGS32@hex"),
    "eventfd2": _p("res:FD flags:FLAGS16/file_flags initval:UINT64"),
    "signalfd": _p("res:FD fd:FD mask:UINT32@hex flags:FLAGS8@hex"),
    "signalfd4": _p("res:FD flags:FLAGS16@hex fd:FD mask:UINT32@hex"),
    "timerfd_create": _p("res:FD clockid:UINT8 flags:FLAGS8@hex"),
    "inotify_init": _p("res:FD flags:FLAGS8@hex"),
    "inotify_init1": _p("res:FD flags:FLAGS16/file_flags"),
    "memfd_create": _p("fd:FD name:CHARBUF flags:FLAGS32/memfd_create_flags"),
    "userfaultfd": _p("res:ERRNO flags:FLAGS32/file_flags"),
    "epoll_create": _p("res:ERRNO size:INT32"),
    "epoll_create1": _p("res:ERRNO flags:FLAGS32/epoll_create1_flags"),
    "io_uring_setup": _p(
        "res:ERRNO entries:UINT32 sq_entries:UINT32 cq_entries:UINT32 flags:FLAGS32/io_uring_setup_flags "
        "sq_thread_cpu:UINT32 sq_thread_idle:UINT32 features:FLAGS32/io_uring_setup_feats"
    ),
    "io_uring_enter": _p(
        "res:ERRNO fd:FD to_submit:UINT32 min_complete:UINT32 flags:FLAGS32/io_uring_enter_flags sig:SIGSET"
    ),
    "pidfd_open": _p("fd:FD pid:PID flags:FLAGS32/pidfd_open_flags"),
    "pidfd_getfd": _p("fd:FD pid_fd:FD target_fd:FD flags:FLAGS32@hex"),
    "chdir": _p("res:ERRNO path:CHARBUF"),
    "fchdir": _p("res:ERRNO fd:FD"),
    "chroot": _p("res:ERRNO path:FSPATH"),
    "mkdir": _p("res:ERRNO path:FSPATH mode:UINT32@hex"),
    "mkdirat": _p("res:ERRNO dirfd:FD path:FSRELPATH mode:UINT32@hex"),
    "rmdir": _p("res:ERRNO path:FSPATH"),
    "unlink": _p("res:ERRNO path:FSPATH"),
    "unlinkat": _p("res:ERRNO dirfd:FD name:FSRELPATH flags:FLAGS32/unlinkat_flags"),
    "rename": _p("res:ERRNO oldpath:FSPATH newpath:FSPATH"),
    "renameat": _p("res:ERRNO olddirfd:FD oldpath:FSRELPATH newdirfd:FD newpath:FSRELPATH"),
    "renameat2": _p(
        "res:ERRNO olddirfd:FD oldpath:FSRELPATH newdirfd:FD newpath:FSRELPATH flags:FLAGS32/renameat2_flags"
    ),
    "link": _p("res:ERRNO oldpath:FSPATH newpath:FSPATH"),
    "linkat": _p("res:ERRNO olddir:FD oldpath:FSRELPATH newdir:FD newpath:FSRELPATH flags:FLAGS32/linkat_flags"),
    "symlink": _p("res:ERRNO target:CHARBUF linkpath:FSPATH"),
    "symlinkat": _p("res:ERRNO target:CHARBUF linkdirfd:FD linkpath:FSRELPATH"),
    "chmod": _p("res:ERRNO filename:FSPATH mode:MODE/chmod_mode@oct"),
    "fchmod": _p("res:ERRNO fd:FD mode:MODE/chmod_mode@oct"),
    "fchmodat": _p("res:ERRNO dirfd:FD filename:FSRELPATH mode:MODE/chmod_mode@oct"),
    "chown": _p("res:ERRNO path:FSPATH uid:UINT32 gid:UINT32"),
    "lchown": _p("res:ERRNO path:FSPATH uid:UINT32 gid:UINT32"),
    "fchown": _p("res:ERRNO fd:FD uid:UINT32 gid:UINT32"),
    "fchownat": _p("res:ERRNO dirfd:FD pathname:FSRELPATH uid:UINT32 gid:UINT32 flags:FLAGS32/fchownat_flags"),
    "mount": _p("res:ERRNO dev:CHARBUF dir:FSPATH type:CHARBUF flags:FLAGS32/mount_flags"),
    "umount2": _p("res:ERRNO name:FSPATH flags:FLAGS32/umount_flags"),
    "quotactl": _p(
        "res:ERRNO special:CHARBUF quotafilepath:CHARBUF dqb_bhardlimit:UINT64 dqb_bsoftlimit:UINT64 "
        "dqb_curspace:UINT64 dqb_ihardlimit:UINT64 dqb_isoftlimit:UINT64 dqb_btime:RELTIME dqb_itime:RELTIME "
        "dqi_bgrace:RELTIME dqi_igrace:RELTIME dqi_flags:FLAGS8/quotactl_dqi_flags "
        "quota_fmt_out:FLAGS8/quotactl_quota_fmts cmd:FLAGS16/quotactl_cmds type:FLAGS8/quotactl_types "
        "id:UINT32 quota_fmt:FLAGS8/quotactl_quota_fmts"
    ),
    # network
    "socket": _p("fd:FD domain:ENUMFLAGS32/socket_families type:UINT32 proto:UINT32"),
    "socketpair": _p(
        "res:ERRNO fd1:FD fd2:FD source:UINT64@hex peer:UINT64@hex domain:ENUMFLAGS32/socket_families "
        "type:UINT32 proto:UINT32"
    ),
    "bind": _p("res:ERRNO addr:SOCKADDR fd:FD"),
    "listen": _p("res:ERRNO fd:FD backlog:INT32"),
    "connect": _p("res:ERRNO tuple:SOCKTUPLE fd:FD addr:SOCKADDR"),
    "accept": _p("fd:FD tuple:SOCKTUPLE queuepct:UINT8 queuelen:UINT32 queuemax:UINT32"),
    "accept4": _p("fd:FD tuple:SOCKTUPLE queuepct:UINT8 queuelen:UINT32 queuemax:UINT32 flags:INT32@hex"),
    "shutdown": _p("res:ERRNO fd:FD how:ENUMFLAGS8/shutdown_how"),
    "sendto": _p("res:ERRNO data:BYTEBUF fd:FD size:UINT32 tuple:SOCKTUPLE"),
    "sendmsg": _p("res:ERRNO data:BYTEBUF fd:FD size:UINT32 tuple:SOCKTUPLE"),
    "recvfrom": _p("res:ERRNO data:BYTEBUF tuple:SOCKTUPLE fd:FD size:UINT32"),
    "recvmsg": _p("res:ERRNO size:UINT32 data:BYTEBUF tuple:SOCKTUPLE msgcontrol:BYTEBUF fd:FD"),
    # data
    "read": _p("res:ERRNO data:BYTEBUF fd:FD size:UINT32"),
    "write": _p("res:ERRNO data:BYTEBUF fd:FD size:UINT32"),
    "pread": _p("res:ERRNO data:BYTEBUF fd:FD size:UINT32 pos:UINT64"),
    "pwrite": _p("res:ERRNO data:BYTEBUF fd:FD size:UINT32 pos:UINT64"),
    "readv": _p("res:ERRNO size:UINT32 data:BYTEBUF fd:FD"),
    "writev": _p("res:ERRNO data:BYTEBUF fd:FD size:UINT32"),
    "preadv": _p("res:ERRNO size:UINT32 data:BYTEBUF fd:FD pos:UINT64"),
    "pwritev": _p("res:ERRNO data:BYTEBUF fd:FD size:UINT32 pos:UINT64"),
    "splice": _p("res:ERRNO fd_in:FD fd_out:FD size:UINT64 flags:FLAGS32/splice_flags"),
    "sendfile": _p("res:ERRNO offset:UINT64 out_fd:FD in_fd:FD size:UINT64"),
    # processes
    "execve": _p(_EXECVE + " filename:FSPATH"),
    "execveat": _p(_EXECVE),
    "clone": _p(_CLONE),
    "clone3": _p(_CLONE),
    "fork": _p(_CLONE),
    "vfork": _p(_CLONE),
    "procexit": _p("status:ERRNO ret:ERRNO sig:SIGTYPE core:UINT8 reaper_tid:PID"),
    "kill": _p("res:ERRNO pid:PID sig:SIGTYPE"),
    "tkill": _p("res:ERRNO tid:PID sig:SIGTYPE"),
    "tgkill": _p("res:ERRNO pid:PID tid:PID sig:SIGTYPE"),
    "ptrace": _p("res:ERRNO addr:DYN@hex data:DYN@hex request:ENUMFLAGS16/ptrace_requests pid:PID"),
    "prctl": _p("res:ERRNO option:ENUMFLAGS32/prctl_options arg2_str:CHARBUF arg2_int:INT64"),
    "setsid": _p("res:PID"),
    "setpgid": _p("res:PID pid:PID pgid:PID"),
    "setuid": _p("res:ERRNO uid:UID"),
    "setgid": _p("res:ERRNO gid:GID"),
    "setreuid": _p("res:ERRNO ruid:UID euid:UID"),
    "setregid": _p("res:ERRNO rgid:GID egid:GID"),
    "setresuid": _p("res:ERRNO ruid:UID euid:UID suid:UID"),
    "setresgid": _p("res:ERRNO rgid:GID egid:GID sgid:GID"),
    "setfsuid": _p("res:ERRNO uid:UID"),  # generic event
    "setfsgid": _p("res:ERRNO gid:GID"),  # generic event
    "capset": _p("res:ERRNO cap_inheritable:UINT64@hex cap_permitted:UINT64@hex cap_effective:UINT64@hex"),
    "setns": _p("res:ERRNO fd:FD nstype:FLAGS32/clone_flags@hex"),
    "unshare": _p("res:ERRNO flags:FLAGS32/clone_flags@hex"),
    "seccomp": _p("res:ERRNO op:UINT64 flags:UINT64@hex"),
    "process_vm_readv": _p("res:ERRNO pid:PID"),  # generic event
    "process_vm_writev": _p("res:ERRNO pid:PID"),  # generic event
    # kernel / system
    "init_module": _p("res:ERRNO img:BYTEBUF length:UINT64 uargs:CHARBUF"),
    "finit_module": _p("res:ERRNO fd:FD uargs:CHARBUF flags:FLAGS32/finit_module_flags"),
    "delete_module": _p("res:ERRNO name:CHARBUF flags:FLAGS32/delete_module_flags"),
    "kexec_load": _p("res:ERRNO"),  # generic event
    "kexec_file_load": _p("res:ERRNO fd:FD"),  # generic event
    "truncate": _p("res:ERRNO path:FSPATH length:UINT64"),  # generic event
    "ftruncate": _p("res:ERRNO fd:FD length:UINT64"),  # generic event
    "bpf": _p("fd:FD cmd:ENUMFLAGS32/bpf_commands"),
    # memory
    "mprotect": _p("res:ERRNO addr:UINT64@hex length:UINT64 prot:FLAGS32/prot_flags"),
    "mmap": _p(
        "res:UINT64@hex vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32 addr:UINT64@hex length:UINT64 "
        "prot:FLAGS32/prot_flags flags:FLAGS32/mmap_flags fd:FD offset:UINT64"
    ),
}

_CATEGORIES = {
    "file": (
        "open openat openat2 creat open_by_handle_at chdir fchdir mkdir mkdirat rmdir unlink unlinkat rename "
        "renameat renameat2 link linkat symlink symlinkat chmod fchmod fchmodat chown lchown fchown fchownat "
        "mount umount2 userfaultfd"
    ),
    "io_other": "close dup dup2 dup3 fcntl splice io_uring_setup io_uring_enter",
    "io_read": "read pread readv preadv recvfrom recvmsg",
    "io_write": "write pwrite writev pwritev sendto sendmsg sendfile",
    "IPC": "pipe pipe2 eventfd eventfd2 inotify_init inotify_init1 socketpair",
    "signal": "signalfd signalfd4 kill tkill tgkill",
    "time": "timerfd_create",
    "memory": "memfd_create mprotect mmap",
    "wait": "epoll_create epoll_create1",
    "net": "socket bind listen connect accept accept4 shutdown",
    "process": (
        "execve execveat clone clone3 fork vfork procexit ptrace prctl setsid setpgid capset setns unshare "
        "pidfd_open pidfd_getfd chroot process_vm_readv process_vm_writev"
    ),
    "user": "setuid setgid setreuid setregid setresuid setresgid setfsuid setfsgid quotactl",
    "other": "init_module finit_module delete_module bpf seccomp kexec_load kexec_file_load truncate ftruncate",
}

EVENT_CATEGORY: dict[str, str] = {t: cat for cat, types in _CATEGORIES.items() for t in types.split()}

ALL_EVENT_TYPES: frozenset[str] = frozenset(EVENT_SCHEMA)

PARAM_INDEX: dict[str, dict[str, int]] = {
    t: {p.name: i for i, p in enumerate(params)} for t, params in EVENT_SCHEMA.items()
}

NOT_APPLICABLE_EVENT_TYPES: dict[str, str] = {
    "switch": "scheduler context-switch tracepoint; invisible to ptrace (only in a commented-out rule)",
    "container": "legacy metadata pseudo-event of old libsinsp container engines; not a syscall",
}

_FD_CATEGORY = {"4": "net", "6": "net", "u": "IPC", "p": "IPC", "f": "file", "d": "file", "m": "file"}


def category_for(event_type: str, fd_typechar: str | None = None) -> str:
    """Falco's evt.category: I/O events take the category of their fd (file, net, IPC)."""
    cat = EVENT_CATEGORY.get(event_type, "other")
    if cat.startswith("io_"):
        return _FD_CATEGORY.get(fd_typechar or "", "unknown")
    return cat

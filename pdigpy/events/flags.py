"""Falco's own ("PPM") flag encodings and how Falco prints them.

Event parameters of type FLAGS*/ENUMFLAGS*/MODE hold values in Falco's
encoding (the tracer converts from Linux's, see pdigpy.tracer.ppm). This
module only knows the PPM side: one table per flag set, each a tuple of
``(name, value)`` pairs **in Falco's table order**, because that order is the
order in which names are printed.

API (stable, used by pdigpy.events.render and the engine's evt.* fields):

- ``FLAG_SETS: dict[str, tuple[tuple[str, int], ...]]`` -- tables by set name
  (the names Falco's event table uses: ``file_flags``, ``clone_flags``,
  ``socket_families``, ``ptrace_requests`` ...).
- ``ENUM_SETS: frozenset[str]`` -- sets whose values map to exactly one name.
- ``render_flags(setname, value) -> str`` -- names joined with ``|``.
- ``cap_names(mask) -> str`` -- capability mask as space-joined CAP_* names
  (thread.cap_effective and friends).

Rendering rules (Falco's): for a bit set, walk the table in order; an entry
matches when all its bits are still set in the value (an entry whose value is
0 matches only when the whole value is 0); a match prints its name and removes
its bits, so ``O_RDWR`` (3) does not also print ``O_RDONLY`` and ``O_WRONLY``.
For an enum set, the single entry equal to the value. No match gives ``""``.
"""

from __future__ import annotations

# -- open flags ---------------------------------------------------------------
O_NONE = 0
O_RDONLY = 1 << 0
O_WRONLY = 1 << 1
O_RDWR = O_RDONLY | O_WRONLY
O_CREAT = 1 << 2
O_APPEND = 1 << 3
O_DSYNC = 1 << 4
O_EXCL = 1 << 5
O_NONBLOCK = 1 << 6
O_SYNC = 1 << 7
O_TRUNC = 1 << 8
O_DIRECT = 1 << 9
O_DIRECTORY = 1 << 10
O_LARGEFILE = 1 << 11
O_CLOEXEC = 1 << 12
O_TMPFILE = 1 << 13
O_F_CREATED = 1 << 14
FD_UPPER_LAYER = 1 << 15
FD_LOWER_LAYER = 1 << 16

FILE_FLAGS = (
    ("O_LARGEFILE", O_LARGEFILE),
    ("O_DIRECTORY", O_DIRECTORY),
    ("O_DIRECT", O_DIRECT),
    ("O_TRUNC", O_TRUNC),
    ("O_SYNC", O_SYNC),
    ("O_NONBLOCK", O_NONBLOCK),
    ("O_EXCL", O_EXCL),
    ("O_DSYNC", O_DSYNC),
    ("O_APPEND", O_APPEND),
    ("O_CREAT", O_CREAT),
    ("O_RDWR", O_RDWR),
    ("O_WRONLY", O_WRONLY),
    ("O_RDONLY", O_RDONLY),
    ("O_CLOEXEC", O_CLOEXEC),
    ("O_NONE", O_NONE),
    ("O_TMPFILE", O_TMPFILE),
    ("O_F_CREATED", O_F_CREATED),
    ("FD_UPPER_LAYER", FD_UPPER_LAYER),
    ("FD_LOWER_LAYER", FD_LOWER_LAYER),
)

# -- execve flags -------------------------------------------------------------
EXE_WRITABLE = 1 << 0
EXE_UPPER_LAYER = 1 << 1
EXE_FROM_MEMFD = 1 << 2
EXE_LOWER_LAYER = 1 << 3

EXECVE_FLAGS = (
    ("EXE_WRITABLE", EXE_WRITABLE),
    ("EXE_UPPER_LAYER", EXE_UPPER_LAYER),
    ("EXE_FROM_MEMFD", EXE_FROM_MEMFD),
    ("EXE_LOWER_LAYER", EXE_LOWER_LAYER),
)

EXECVEAT_FLAGS = (("AT_EMPTY_PATH", 1 << 0), ("AT_SYMLINK_NOFOLLOW", 1 << 1))

# -- clone flags (also unshare/setns) -------------------------------------------
CL_CLONE_FILES = 1 << 0
CL_CLONE_FS = 1 << 1
CL_CLONE_IO = 1 << 2
CL_CLONE_NEWIPC = 1 << 3
CL_CLONE_NEWNET = 1 << 4
CL_CLONE_NEWNS = 1 << 5
CL_CLONE_NEWPID = 1 << 6
CL_CLONE_NEWUTS = 1 << 7
CL_CLONE_PARENT = 1 << 8
CL_CLONE_PARENT_SETTID = 1 << 9
CL_CLONE_PTRACE = 1 << 10
CL_CLONE_SIGHAND = 1 << 11
CL_CLONE_SYSVSEM = 1 << 12
CL_CLONE_THREAD = 1 << 13
CL_CLONE_UNTRACED = 1 << 14
CL_CLONE_VM = 1 << 15
CL_CLONE_INVERTED = 1 << 16
CL_NAME_CHANGED = 1 << 17
CL_CLOSED = 1 << 18
CL_CLONE_NEWUSER = 1 << 20
CL_CLONE_CHILD_CLEARTID = 1 << 23
CL_CLONE_CHILD_SETTID = 1 << 24
CL_CLONE_SETTLS = 1 << 25
CL_CLONE_STOPPED = 1 << 26
CL_CLONE_VFORK = 1 << 27
CL_CLONE_NEWCGROUP = 1 << 28
CL_CHILD_IN_PIDNS = 1 << 29

CLONE_FLAGS = (
    ("CLONE_FILES", CL_CLONE_FILES),
    ("CLONE_FS", CL_CLONE_FS),
    ("CLONE_IO", CL_CLONE_IO),
    ("CLONE_NEWIPC", CL_CLONE_NEWIPC),
    ("CLONE_NEWNET", CL_CLONE_NEWNET),
    ("CLONE_NEWNS", CL_CLONE_NEWNS),
    ("CLONE_NEWPID", CL_CLONE_NEWPID),
    ("CLONE_NEWUTS", CL_CLONE_NEWUTS),
    ("CLONE_PARENT", CL_CLONE_PARENT),
    ("CLONE_PARENT_SETTID", CL_CLONE_PARENT_SETTID),
    ("CLONE_PTRACE", CL_CLONE_PTRACE),
    ("CLONE_SIGHAND", CL_CLONE_SIGHAND),
    ("CLONE_SYSVSEM", CL_CLONE_SYSVSEM),
    ("CLONE_THREAD", CL_CLONE_THREAD),
    ("CLONE_UNTRACED", CL_CLONE_UNTRACED),
    ("CLONE_VM", CL_CLONE_VM),
    ("CLONE_INVERTED", CL_CLONE_INVERTED),
    ("NAME_CHANGED", CL_NAME_CHANGED),
    ("CLOSED", CL_CLOSED),
    ("CLONE_NEWUSER", CL_CLONE_NEWUSER),
    ("CLONE_CHILD_CLEARTID", CL_CLONE_CHILD_CLEARTID),
    ("CLONE_CHILD_SETTID", CL_CLONE_CHILD_SETTID),
    ("CLONE_SETTLS", CL_CLONE_SETTLS),
    ("CLONE_STOPPED", CL_CLONE_STOPPED),
    ("CLONE_VFORK", CL_CLONE_VFORK),
    ("CLONE_NEWCGROUP", CL_CLONE_NEWCGROUP),
)

# -- socket families (PPM values equal Linux's AF_* numbers) ---------------------
SOCKET_FAMILIES = (
    ("AF_NFC", 39),
    ("AF_ALG", 38),
    ("AF_CAIF", 37),
    ("AF_IEEE802154", 36),
    ("AF_PHONET", 35),
    ("AF_ISDN", 34),
    ("AF_RXRPC", 33),
    ("AF_IUCV", 32),
    ("AF_BLUETOOTH", 31),
    ("AF_TIPC", 30),
    ("AF_CAN", 29),
    ("AF_LLC", 26),
    ("AF_WANPIPE", 25),
    ("AF_PPPOX", 24),
    ("AF_IRDA", 23),
    ("AF_SNA", 22),
    ("AF_RDS", 21),
    ("AF_ATMSVC", 20),
    ("AF_ECONET", 19),
    ("AF_ASH", 18),
    ("AF_PACKET", 17),
    ("AF_ROUTE", 16),
    ("AF_NETLINK", 16),
    ("AF_KEY", 15),
    ("AF_SECURITY", 14),
    ("AF_NETBEUI", 13),
    ("AF_DECnet", 12),
    ("AF_ROSE", 11),
    ("AF_INET6", 10),
    ("AF_X25", 9),
    ("AF_ATMPVC", 8),
    ("AF_BRIDGE", 7),
    ("AF_NETROM", 6),
    ("AF_APPLETALK", 5),
    ("AF_IPX", 4),
    ("AF_AX25", 3),
    ("AF_INET", 2),
    ("AF_LOCAL", 1),
    ("AF_UNIX", 1),
    ("AF_UNSPEC", 0),
)

# -- ptrace requests (PPM numbering, not Linux's) --------------------------------
PTRACE_REQUESTS = (
    ("PTRACE_SINGLEBLOCK", 38),
    ("PTRACE_SYSEMU_SINGLESTEP", 37),
    ("PTRACE_SYSEMU", 36),
    ("PTRACE_ARCH_PRCTL", 35),
    ("PTRACE_SET_THREAD_AREA", 34),
    ("PTRACE_GET_THREAD_AREA", 33),
    ("PTRACE_OLDSETOPTIONS", 32),
    ("PTRACE_SETFPXREGS", 31),
    ("PTRACE_GETFPXREGS", 30),
    ("PTRACE_SETFPREGS", 29),
    ("PTRACE_GETFPREGS", 28),
    ("PTRACE_SETREGS", 27),
    ("PTRACE_GETREGS", 26),
    ("PTRACE_SETSIGMASK", 25),
    ("PTRACE_GETSIGMASK", 24),
    ("PTRACE_PEEKSIGINFO", 23),
    ("PTRACE_LISTEN", 22),
    ("PTRACE_INTERRUPT", 21),
    ("PTRACE_SEIZE", 20),
    ("PTRACE_SETREGSET", 19),
    ("PTRACE_GETREGSET", 18),
    ("PTRACE_SETSIGINFO", 17),
    ("PTRACE_GETSIGINFO", 16),
    ("PTRACE_GETEVENTMSG", 15),
    ("PTRACE_SETOPTIONS", 14),
    ("PTRACE_SYSCALL", 13),
    ("PTRACE_DETACH", 12),
    ("PTRACE_ATTACH", 11),
    ("PTRACE_SINGLESTEP", 10),
    ("PTRACE_KILL", 9),
    ("PTRACE_CONT", 8),
    ("PTRACE_POKEUSR", 7),
    ("PTRACE_POKEDATA", 6),
    ("PTRACE_POKETEXT", 5),
    ("PTRACE_PEEKUSR", 4),
    ("PTRACE_PEEKDATA", 3),
    ("PTRACE_PEEKTEXT", 2),
    ("PTRACE_TRACEME", 1),
    ("PTRACE_UNKNOWN", 0),
)

FCNTL_COMMANDS = (
    ("F_GETPIPE_SZ", 29),
    ("F_SETPIPE_SZ", 28),
    ("F_NOTIFY", 27),
    ("F_DUPFD_CLOEXEC", 26),
    ("F_CANCELLK", 25),
    ("F_GETLEASE", 24),
    ("F_SETLEASE", 23),
    ("F_GETOWN_EX", 22),
    ("F_SETOWN_EX", 21),
    ("F_GETSIG", 15),
    ("F_SETSIG", 13),
    ("F_GETOWN", 12),
    ("F_SETOWN", 10),
    ("F_SETLKW", 9),
    ("F_SETLK", 8),
    ("F_GETLK", 6),
    ("F_SETFL", 5),
    ("F_GETFL", 4),
    ("F_SETFD", 3),
    ("F_GETFD", 2),
    ("F_DUPFD", 1),
    ("F_OFD_GETLK", 30),
    ("F_OFD_SETLK", 31),
    ("F_OFD_SETLKW", 32),
    ("UNKNOWN", 0),
)

PROT_FLAGS = (
    ("PROT_READ", 1 << 0),
    ("PROT_WRITE", 1 << 1),
    ("PROT_EXEC", 1 << 2),
    ("PROT_SEM", 1 << 3),
    ("PROT_GROWSDOWN", 1 << 4),
    ("PROT_GROWSUP", 1 << 5),
    ("PROT_SAO", 1 << 6),
    ("PROT_NONE", 0),
)

MMAP_FLAGS = (
    ("MAP_SHARED", 1 << 0),
    ("MAP_PRIVATE", 1 << 1),
    ("MAP_FIXED", 1 << 2),
    ("MAP_ANONYMOUS", 1 << 3),
    ("MAP_32BIT", 1 << 4),
    ("MAP_RENAME", 1 << 5),
    ("MAP_NORESERVE", 1 << 6),
    ("MAP_POPULATE", 1 << 7),
    ("MAP_NONBLOCK", 1 << 8),
    ("MAP_GROWSDOWN", 1 << 9),
    ("MAP_DENYWRITE", 1 << 10),
    ("MAP_EXECUTABLE", 1 << 11),
    ("MAP_INHERIT", 1 << 12),
    ("MAP_FILE", 1 << 13),
    ("MAP_LOCKED", 1 << 14),
)

MOUNT_FLAGS = (
    ("RDONLY", 1 << 0),
    ("NOSUID", 1 << 1),
    ("NODEV", 1 << 2),
    ("NOEXEC", 1 << 3),
    ("SYNCHRONOUS", 1 << 4),
    ("REMOUNT", 1 << 5),
    ("MANDLOCK", 1 << 6),
    ("DIRSYNC", 1 << 7),
    ("NOATIME", 1 << 10),
    ("NODIRATIME", 1 << 11),
    ("BIND", 1 << 12),
    ("MOVE", 1 << 13),
    ("REC", 1 << 14),
    ("SILENT", 1 << 15),
    ("POSIXACL", 1 << 16),
    ("UNBINDABLE", 1 << 17),
    ("PRIVATE", 1 << 18),
    ("SLAVE", 1 << 19),
    ("SHARED", 1 << 20),
    ("RELATIME", 1 << 21),
    ("KERNMOUNT", 1 << 22),
    ("I_VERSION", 1 << 23),
    ("STRICTATIME", 1 << 24),
    ("LAZYTIME", 1 << 25),
    ("NOSEC", 1 << 28),
    ("BORN", 1 << 29),
    ("ACTIVE", 1 << 30),
    ("NOUSER", 1 << 31),
)

UMOUNT_FLAGS = (("FORCE", 1), ("DETACH", 2), ("EXPIRE", 4), ("NOFOLLOW", 8))

SHUTDOWN_HOW = (("SHUT_RDWR", 2), ("SHUT_WR", 1), ("SHUT_RD", 0))

# Mode bits: PPM_S_* have the same values as Linux's S_I* permission bits.
CHMOD_MODE = (
    ("S_IXOTH", 0o1),
    ("S_IWOTH", 0o2),
    ("S_IROTH", 0o4),
    ("S_IXGRP", 0o10),
    ("S_IWGRP", 0o20),
    ("S_IRGRP", 0o40),
    ("S_IXUSR", 0o100),
    ("S_IWUSR", 0o200),
    ("S_IRUSR", 0o400),
    ("S_ISVTX", 0o1000),
    ("S_ISGID", 0o2000),
    ("S_ISUID", 0o4000),
)

UNLINKAT_FLAGS = (("AT_REMOVEDIR", 0x200),)
LINKAT_FLAGS = (("AT_SYMLINK_FOLLOW", 0x400), ("AT_EMPTY_PATH", 0x1000))
# Falco's fchownat table pairs the name AT_SYMLINK_NOFOLLOW with 0x400.
FCHOWNAT_FLAGS = (("AT_SYMLINK_NOFOLLOW", 0x400), ("AT_EMPTY_PATH", 0x1000))
RENAMEAT2_FLAGS = (("RENAME_NOREPLACE", 1), ("RENAME_EXCHANGE", 2), ("RENAME_WHITEOUT", 4))
OPENAT2_FLAGS = (
    ("RESOLVE_BENEATH", 1 << 0),
    ("RESOLVE_IN_ROOT", 1 << 1),
    ("RESOLVE_NO_MAGICLINKS", 1 << 2),
    ("RESOLVE_NO_SYMLINKS", 1 << 3),
    ("RESOLVE_NO_XDEV", 1 << 4),
    ("RESOLVE_CACHED", 1 << 5),
)
SPLICE_FLAGS = (
    ("SPLICE_F_MOVE", 1),
    ("SPLICE_F_NONBLOCK", 2),
    ("SPLICE_F_MORE", 4),
    ("SPLICE_F_GIFT", 8),
)
MEMFD_CREATE_FLAGS = (("MFD_CLOEXEC", 1), ("MFD_ALLOW_SEALING", 2), ("MFD_HUGETLB", 4))
PIDFD_OPEN_FLAGS = (("PIDFD_NONBLOCK", 1),)
EPOLL_CREATE1_FLAGS = (("EPOLL_CLOEXEC", 1),)
DELETE_MODULE_FLAGS = (("O_TRUNC", 1), ("O_NONBLOCK", 2))
FINIT_MODULE_FLAGS = (
    ("MODULE_INIT_IGNORE_MODVERSIONS", 1),
    ("MODULE_INIT_IGNORE_VERMAGIC", 2),
    ("MODULE_INIT_COMPRESSED_FILE", 4),
)
IO_URING_SETUP_FLAGS = (
    ("IORING_SETUP_IOPOLL", 1 << 0),
    ("IORING_SETUP_SQPOLL", 1 << 1),
    ("IORING_SQ_NEED_WAKEUP", 1 << 2),
    ("IORING_SETUP_SQ_AFF", 1 << 3),
    ("IORING_SETUP_CQSIZE", 1 << 4),
    ("IORING_SETUP_CLAMP", 1 << 5),
    ("IORING_SETUP_ATTACH_RW", 1 << 6),
    ("IORING_SETUP_R_DISABLED", 1 << 7),
)
IO_URING_SETUP_FEATS = (
    ("IORING_FEAT_SINGLE_MMAP", 1 << 0),
    ("IORING_FEAT_NODROP", 1 << 1),
    ("IORING_FEAT_SUBMIT_STABLE", 1 << 2),
    ("IORING_FEAT_RW_CUR_POS", 1 << 3),
    ("IORING_FEAT_CUR_PERSONALITY", 1 << 4),
    ("IORING_FEAT_FAST_POLL", 1 << 5),
    ("IORING_FEAT_POLL_32BITS", 1 << 6),
    ("IORING_FEAT_SQPOLL_NONFIXED", 1 << 7),
    ("IORING_FEAT_ENTER_EXT_ARG", 1 << 8),
    ("IORING_FEAT_NATIVE_WORKERS", 1 << 9),
    ("IORING_FEAT_RSRC_TAGS", 1 << 10),
)
IO_URING_ENTER_FLAGS = (
    ("IORING_ENTER_GETEVENTS", 1 << 0),
    ("IORING_ENTER_SQ_WAKEUP", 1 << 1),
    ("IORING_ENTER_SQ_WAIT", 1 << 2),
    ("IORING_ENTER_EXT_ARG", 1 << 3),
)
PRCTL_OPTIONS = (
    ("PR_GET_DUMPABLE", 3),
    ("PR_SET_DUMPABLE", 4),
    ("PR_GET_KEEPCAPS", 7),
    ("PR_SET_KEEPCAPS", 8),
    ("PR_SET_NAME", 15),
    ("PR_GET_NAME", 16),
    ("PR_GET_SECCOMP", 21),
    ("PR_SET_SECCOMP", 22),
    ("PR_CAPBSET_READ", 23),
    ("PR_CAPBSET_DROP", 24),
    ("PR_GET_SECUREBITS", 27),
    ("PR_SET_SECUREBITS", 28),
    ("PR_MCE_KILL", 33),
    ("PR_SET_MM", 35),
    ("PR_SET_CHILD_SUBREAPER", 36),
    ("PR_GET_CHILD_SUBREAPER", 37),
    ("PR_SET_NO_NEW_PRIVS", 38),
    ("PR_GET_NO_NEW_PRIVS", 39),
    ("PR_GET_TID_ADDRESS", 40),
    ("PR_SET_THP_DISABLE", 41),
    ("PR_GET_THP_DISABLE", 42),
    ("PR_CAP_AMBIENT", 47),
)
QUOTACTL_CMDS = (
    ("Q_QUOTAON", 1 << 0),
    ("Q_QUOTAOFF", 1 << 1),
    ("Q_GETFMT", 1 << 2),
    ("Q_GETINFO", 1 << 3),
    ("Q_SETINFO", 1 << 4),
    ("Q_GETQUOTA", 1 << 5),
    ("Q_SETQUOTA", 1 << 6),
    ("Q_SYNC", 1 << 7),
)
QUOTACTL_TYPES = (("USRQUOTA", 1), ("GRPQUOTA", 2))
QUOTACTL_DQI_FLAGS = (("DQF_NONE", 1), ("V1_DQF_RSQUASH", 2))
QUOTACTL_QUOTA_FMTS = (("QFMT_NOT_USED", 1), ("QFMT_VFS_OLD", 2), ("QFMT_VFS_V0", 4), ("QFMT_VFS_V1", 8))

# bpf(2) commands: PPM_BPF_* equal Linux's numbering (BPF_PROG_LOAD = 5).
BPF_COMMANDS = tuple(
    (name, i)
    for i, name in enumerate(
        (
            "BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
            "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH",
            "BPF_PROG_DETACH", "BPF_PROG_TEST_RUN", "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID",
            "BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID", "BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY",
            "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID", "BPF_TASK_FD_QUERY",
            "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE", "BPF_BTF_GET_NEXT_ID", "BPF_MAP_LOOKUP_BATCH",
            "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH", "BPF_MAP_DELETE_BATCH",
            "BPF_LINK_CREATE", "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID",
            "BPF_ENABLE_STATS", "BPF_ITER_CREATE", "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP",
        )
    )
)

FLAG_SETS: dict[str, tuple[tuple[str, int], ...]] = {
    "bpf_commands": BPF_COMMANDS,
    "file_flags": FILE_FLAGS,
    "execve_flags": EXECVE_FLAGS,
    "execveat_flags": EXECVEAT_FLAGS,
    "clone_flags": CLONE_FLAGS,
    "socket_families": SOCKET_FAMILIES,
    "ptrace_requests": PTRACE_REQUESTS,
    "fcntl_commands": FCNTL_COMMANDS,
    "prot_flags": PROT_FLAGS,
    "mmap_flags": MMAP_FLAGS,
    "mount_flags": MOUNT_FLAGS,
    "umount_flags": UMOUNT_FLAGS,
    "shutdown_how": SHUTDOWN_HOW,
    "chmod_mode": CHMOD_MODE,
    "unlinkat_flags": UNLINKAT_FLAGS,
    "linkat_flags": LINKAT_FLAGS,
    "fchownat_flags": FCHOWNAT_FLAGS,
    "renameat2_flags": RENAMEAT2_FLAGS,
    "openat2_flags": OPENAT2_FLAGS,
    "splice_flags": SPLICE_FLAGS,
    "memfd_create_flags": MEMFD_CREATE_FLAGS,
    "pidfd_open_flags": PIDFD_OPEN_FLAGS,
    "epoll_create1_flags": EPOLL_CREATE1_FLAGS,
    "delete_module_flags": DELETE_MODULE_FLAGS,
    "finit_module_flags": FINIT_MODULE_FLAGS,
    "io_uring_setup_flags": IO_URING_SETUP_FLAGS,
    "io_uring_setup_feats": IO_URING_SETUP_FEATS,
    "io_uring_enter_flags": IO_URING_ENTER_FLAGS,
    "prctl_options": PRCTL_OPTIONS,
    "quotactl_cmds": QUOTACTL_CMDS,
    "quotactl_types": QUOTACTL_TYPES,
    "quotactl_dqi_flags": QUOTACTL_DQI_FLAGS,
    "quotactl_quota_fmts": QUOTACTL_QUOTA_FMTS,
}

ENUM_SETS = frozenset(
    {"socket_families", "ptrace_requests", "fcntl_commands", "shutdown_how", "prctl_options", "bpf_commands"}
)


def render_flags(setname: str, value: int) -> str:
    """Falco's printed form of ``value`` in flag set ``setname`` (``""`` if nothing matches)."""
    table = FLAG_SETS.get(setname)
    if table is None or value is None:
        return ""
    if setname in ENUM_SETS:
        for name, v in table:
            if v == value:
                return name
        return ""
    initial = value
    names = []
    for name, v in table:
        if v == 0:
            if initial == 0:
                names.append(name)
        elif value & v == v:
            names.append(name)
            value &= ~v
    return "|".join(names)


CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",
    "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # index = Linux capability number (the PPM_CAP_* bits are the same)


def cap_names(mask: int) -> str:
    """Capability mask (CapEff & co.) as space-joined names, lowest bit first."""
    return " ".join(name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1)

"""Linux flag values -> Falco's PPM encoding (the inverse knowledge of events/flags.py).

Kept in the tracer because it is about Linux's numbers, which are per
architecture for open flags (aarch64 swaps O_DIRECT/O_DIRECTORY/O_LARGEFILE/
O_NOFOLLOW against x86_64). The tracer only ever traces native processes, so
the native layout is picked once at import.
"""

from __future__ import annotations

import os

from pdigpy.events import flags as F

# Open flags common to x86_64 and aarch64 (octal, as in the kernel headers).
L_O_ACCMODE = 0o3
L_O_WRONLY = 0o1
L_O_RDWR = 0o2
L_O_CREAT = 0o100
L_O_EXCL = 0o200
L_O_TRUNC = 0o1000
L_O_APPEND = 0o2000
L_O_NONBLOCK = 0o4000
L_O_DSYNC = 0o10000
L_O_CLOEXEC = 0o2000000
L_O_SYNC = 0o4000000 | L_O_DSYNC
L_O_TMPFILE_BIT = 0o20000000

_ARCH_OPEN = {
    "x86_64": {"O_DIRECT": 0o40000, "O_LARGEFILE": 0o100000, "O_DIRECTORY": 0o200000},
    "aarch64": {"O_DIRECTORY": 0o40000, "O_DIRECT": 0o200000, "O_LARGEFILE": 0o400000},
}
_machine = os.uname().machine  # not platform.machine(): importing platform costs ~2 ms
_arch_open = _ARCH_OPEN.get("aarch64" if _machine in ("aarch64", "arm64") else "x86_64")
L_O_DIRECT = _arch_open["O_DIRECT"]
L_O_LARGEFILE = _arch_open["O_LARGEFILE"]
L_O_DIRECTORY = _arch_open["O_DIRECTORY"]


_open_flags_memo: dict[int, int] = {}


def open_flags(linux: int) -> int:
    """open/openat/openat2 flags -> PPM file_flags (O_RDONLY, Linux's 0, becomes PPM 1).

    Memoised (hot: every open; programs use a handful of distinct flag sets)."""
    res = _open_flags_memo.get(linux)
    if res is None:
        acc = linux & L_O_ACCMODE
        res = F.O_RDONLY if acc == 0 else F.O_WRONLY if acc == L_O_WRONLY else F.O_RDWR if acc == L_O_RDWR else 0
        res |= fd_flags(linux & ~L_O_ACCMODE)
        if len(_open_flags_memo) < 4096:  # bounded: flags come from the tracee
            _open_flags_memo[linux] = res
    return res


# One row per Linux flag: (Linux mask, PPM bit). A row matches when every bit of its mask is set,
# which is what O_SYNC (= __O_SYNC | O_DSYNC) needs; the other masks are single bits.
_FD_FLAGS = (
    (L_O_CREAT, F.O_CREAT),
    (L_O_APPEND, F.O_APPEND),
    (L_O_DSYNC, F.O_DSYNC),
    (L_O_EXCL, F.O_EXCL),
    (L_O_NONBLOCK, F.O_NONBLOCK),
    (L_O_SYNC, F.O_SYNC),
    (L_O_TRUNC, F.O_TRUNC),
    (L_O_DIRECT, F.O_DIRECT),
    (L_O_DIRECTORY, F.O_DIRECTORY),
    (L_O_LARGEFILE, F.O_LARGEFILE),
    (L_O_CLOEXEC, F.O_CLOEXEC),
    (L_O_TMPFILE_BIT, F.O_TMPFILE),
)


def _map_bits(table: tuple[tuple[int, int], ...], linux: int) -> int:
    res = 0
    for lmask, pbit in table:
        if linux & lmask == lmask:
            res |= pbit
    return res


def fd_flags(linux: int) -> int:
    """Creation flags without an access mode (pipe2, dup3, eventfd2, inotify_init1 ...) -> PPM file_flags."""
    return _map_bits(_FD_FLAGS, linux)


def open_mode(linux_flags: int, mode: int) -> int:
    """Falco keeps the mode only when it matters (O_CREAT or O_TMPFILE); PPM_S_* bits equal Linux's."""
    if linux_flags & (L_O_CREAT | L_O_TMPFILE_BIT):
        return mode & 0o7777
    return 0


_CLONE = (
    (0x00000100, F.CL_CLONE_VM),
    (0x00000200, F.CL_CLONE_FS),
    (0x00000400, F.CL_CLONE_FILES),
    (0x00000800, F.CL_CLONE_SIGHAND),
    (0x00002000, F.CL_CLONE_PTRACE),
    (0x00004000, F.CL_CLONE_VFORK),
    (0x00008000, F.CL_CLONE_PARENT),
    (0x00010000, F.CL_CLONE_THREAD),
    (0x00020000, F.CL_CLONE_NEWNS),
    (0x00040000, F.CL_CLONE_SYSVSEM),
    (0x00080000, F.CL_CLONE_SETTLS),
    (0x00100000, F.CL_CLONE_PARENT_SETTID),
    (0x00200000, F.CL_CLONE_CHILD_CLEARTID),
    (0x00800000, F.CL_CLONE_UNTRACED),
    (0x01000000, F.CL_CLONE_CHILD_SETTID),
    (0x02000000, F.CL_CLONE_NEWCGROUP),
    (0x04000000, F.CL_CLONE_NEWUTS),
    (0x08000000, F.CL_CLONE_NEWIPC),
    (0x10000000, F.CL_CLONE_NEWUSER),
    (0x20000000, F.CL_CLONE_NEWPID),
    (0x40000000, F.CL_CLONE_NEWNET),
    (0x80000000, F.CL_CLONE_IO),
)


def clone_flags(linux: int) -> int:
    """clone/clone3/unshare/setns flags -> PPM clone_flags."""
    return _map_bits(_CLONE, linux)


_PTRACE = {
    0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 7, 7: 8, 8: 9, 9: 10, 16: 11, 17: 12, 24: 13,
    0x4200: 14, 0x4201: 15, 0x4202: 16, 0x4203: 17, 0x4204: 18, 0x4205: 19, 0x4206: 20,
    0x4207: 21, 0x4208: 22, 0x4209: 23, 0x420A: 24, 0x420B: 25, 12: 26, 13: 27, 14: 28,
    15: 29, 18: 30, 19: 31, 21: 32, 25: 33, 26: 34, 30: 35, 31: 36, 32: 37, 33: 38,
}  # Linux request -> PPM_PTRACE_* (x86_64 numbering; the generic ones are shared by aarch64)


def ptrace_request(linux: int) -> int:
    return _PTRACE.get(linux, 0)


_FCNTL = {
    0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 8, 7: 9, 8: 10, 9: 12, 10: 13, 11: 15, 15: 21, 16: 22,
    36: 30, 37: 31, 38: 32, 1024: 23, 1025: 24, 1026: 27, 1029: 25, 1030: 26, 1031: 28, 1032: 29,
}


def fcntl_cmd(linux: int) -> int:
    return _FCNTL.get(linux, 0)


F_DUPFD = 0
F_DUPFD_CLOEXEC = 1030
F_SETFD = 2


def prot_flags(linux: int) -> int:
    res = linux & 0xF  # READ, WRITE, EXEC, SEM share their bits
    if linux & 0x01000000:
        res |= 1 << 4
    if linux & 0x02000000:
        res |= 1 << 5
    return res


_MMAP = (
    (0x01, 1 << 0), (0x02, 1 << 1), (0x10, 1 << 2), (0x20, 1 << 3), (0x40, 1 << 4),
    (0x4000, 1 << 6), (0x8000, 1 << 7), (0x10000, 1 << 8), (0x100, 1 << 9), (0x800, 1 << 10),
    (0x1000, 1 << 11), (0x2000, 1 << 14),
)


def mmap_flags(linux: int) -> int:
    res = 0
    for lbit, pbit in _MMAP:
        if linux & lbit:
            res |= pbit
    return res


def mount_flags(linux: int) -> int:
    """PPM_MS_* equal MS_*; strip the historic magic number in the high half."""
    if linux & 0xFFFF0000 == 0xC0ED0000:
        linux &= 0xFFFF
    return linux & 0xFFFFFFFF


_RESOLVE = ((0x01, 1 << 4), (0x02, 1 << 2), (0x04, 1 << 3), (0x08, 1 << 0), (0x10, 1 << 1), (0x20, 1 << 5))


def openat2_resolve(linux: int) -> int:
    res = 0
    for lbit, pbit in _RESOLVE:
        if linux & lbit:
            res |= pbit
    return res


AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000


def execveat_flags(linux: int) -> int:
    return (1 if linux & AT_EMPTY_PATH else 0) | (2 if linux & AT_SYMLINK_NOFOLLOW else 0)


def fchownat_flags(linux: int) -> int:
    return (0x400 if linux & AT_SYMLINK_NOFOLLOW else 0) | (0x1000 if linux & AT_EMPTY_PATH else 0)


def cloexec_flag(linux: int) -> int:
    """EPOLL_CLOEXEC / MFD-less single-bit CLOEXEC -> PPM bit 0."""
    return 1 if linux & L_O_CLOEXEC else 0


def nonblock_flag(linux: int) -> int:
    """PIDFD_NONBLOCK (= O_NONBLOCK) -> PPM bit 0."""
    return 1 if linux & L_O_NONBLOCK else 0


def delete_module_flags(linux: int) -> int:
    return (1 if linux & L_O_TRUNC else 0) | (2 if linux & L_O_NONBLOCK else 0)


_IO_URING_SETUP = ((1, 1 << 0), (2, 1 << 1), (4, 1 << 3), (8, 1 << 4), (16, 1 << 5), (32, 1 << 6), (64, 1 << 7))


def io_uring_setup_flags(linux: int) -> int:
    res = 0
    for lbit, pbit in _IO_URING_SETUP:
        if linux & lbit:
            res |= pbit
    return res


_Q_CMDS = {0x800002: 1 << 0, 0x800003: 1 << 1, 0x800004: 1 << 2, 0x800005: 1 << 3,
           0x800006: 1 << 4, 0x800007: 1 << 5, 0x800008: 1 << 6, 0x800001: 1 << 7}


def quotactl_cmd(linux: int) -> tuple[int, int]:
    """QCMD(cmd, type) -> (PPM cmd, PPM type)."""
    return _Q_CMDS.get(linux >> 8 & 0xFFFFFF, 0), (1 << (linux & 0xFF)) if (linux & 0xFF) < 2 else 0


def quotactl_fmt(linux: int) -> int:
    """QFMT_VFS_OLD/V0/V1 (1, 2, 4) -> PPM_QFMT_*; anything else is QFMT_NOT_USED."""
    return {1: 1 << 1, 2: 1 << 2, 4: 1 << 3}.get(linux, 1 << 0)

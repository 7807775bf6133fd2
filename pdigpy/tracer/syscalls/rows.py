"""One row per syscall: kernel name, Falco event, exit stop or not, decoders.

Architecture-neutral; x86_64.py and aarch64.py give the numbers and
table.py joins both into SyscallSpecs. A syscall that an architecture lacks
(aarch64 has no open, creat, fork, dup2, pipe, chmod ...) simply has no number
there.

exit_stop policy (one ptrace stop or two): a row takes the exit stop when the
event is not meaningful without the result: every fd-creating call (the fd),
calls whose success changes state (chdir, setuid, execve ...), calls rules
judge by result (connect/sendto: ``evt.rawres >= 0 or evt.res = EINPROGRESS``;
dup: ``evt.rawres in (0, 1, 2)``), and data reads (the data exists only
after). Rare calls take it too, for faithful ``evt.res`` at negligible cost.
Rows without exit stop (``res`` is None in their events), because they are
hot and their result is not used by rules or state:

- close: the state drops the fd whatever the result (EBADF/EINTR leave no fd);
- write, pwrite64, writev, pwritev: data and size are known at entry;
- kill, tkill, tgkill: the signal's effect is seen as signal stops and exits;
- io_uring_enter: hot for io_uring programs, result not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pdigpy.tracer import decode as D
from pdigpy.tracer import ppm
from pdigpy.tracer.decode import simple


@dataclass(frozen=True, slots=True)
class Row:
    """One syscall-table row: the kernel syscall, its Falco event and its decoders."""

    name: str  # kernel syscall name (as in unistd headers)
    event: str  # Falco event type
    exit_stop: bool
    entry: Callable | None
    exit: Callable


def _row(name, event, exit_stop, decoders):
    entry, exit_ = decoders
    return Row(name, event, exit_stop, entry, exit_)


R = "ret"


def fd(i):
    return ("fd", i)


def path(i):
    return ("path", i)


def u32(i):
    return ("u32", i)


def u64(i):
    return ("u64", i)


def conv(i, fn):
    return ("conv", i, fn)


def const(v):
    return ("const", v)


def _mode(x):
    return x & 0o7777


ROWS: tuple[Row, ...] = (
    # -- opens and fd creation --------------------------------------------------------
    Row("open", "open", True, D.open_entry, D.open_exit),
    Row("openat", "openat", True, D.openat_entry, D.openat_exit),
    Row("openat2", "openat2", True, D.openat2_entry, D.openat2_exit),
    Row("creat", "creat", True, D.creat_entry, D.creat_exit),
    Row("open_by_handle_at", "open_by_handle_at", True, None, D.open_by_handle_at_exit),
    _row("close", "close", False, simple([("res", R), ("fd", fd(0))])),
    _row("dup", "dup", True, simple([("res", R), ("oldfd", fd(0))])),
    _row("dup2", "dup2", True, simple([("res", R), ("oldfd", fd(0)), ("newfd", fd(1))])),
    _row("dup3", "dup3", True, simple([("res", R), ("oldfd", fd(0)), ("newfd", fd(1)),
                                       ("flags", conv(2, ppm.fd_flags))])),
    _row("fcntl", "fcntl", True, simple([("res", R), ("fd", fd(0)), ("cmd", conv(1, ppm.fcntl_cmd))])),
    Row("pipe", "pipe", True, None, D.pipe_exit),
    Row("pipe2", "pipe2", True, None, D.pipe2_exit),
    _row("eventfd", "eventfd", True, simple([("res", R), ("initval", u32(0)), ("flags", u32(1))])),
    _row("eventfd2", "eventfd2", True, simple([("res", R), ("flags", conv(1, ppm.fd_flags)),
                                               ("initval", u32(0))])),
    Row("signalfd", "signalfd", True, D.signalfd_entry, D.signalfd_exit),
    Row("signalfd4", "signalfd4", True, D.signalfd_entry, D.signalfd4_exit),
    _row("timerfd_create", "timerfd_create", True, simple([("res", R), ("clockid", conv(0, lambda x: x & 0xFF)),
                                                           ("flags", conv(1, lambda x: x & 0xFF))])),
    _row("inotify_init", "inotify_init", True, simple([("res", R), ("flags", const(0))])),
    _row("inotify_init1", "inotify_init1", True, simple([("res", R), ("flags", conv(0, ppm.fd_flags))])),
    _row("memfd_create", "memfd_create", True, simple([("fd", R), ("name", ("str", 0, 256)),
                                                       ("flags", conv(1, lambda x: x & 0x7))])),
    _row("userfaultfd", "userfaultfd", True, simple([("res", R), ("flags", conv(0, ppm.fd_flags))])),
    _row("epoll_create", "epoll_create", True, simple([("res", R), ("size", fd(0))])),
    _row("epoll_create1", "epoll_create1", True, simple([("res", R), ("flags", conv(0, ppm.cloexec_flag))])),
    Row("io_uring_setup", "io_uring_setup", True, None, D.io_uring_setup_exit),
    _row("io_uring_enter", "io_uring_enter", False, simple([
        ("res", R), ("fd", fd(0)), ("to_submit", u32(1)), ("min_complete", u32(2)), ("flags", u32(3)),
        ("sig", u64(4))])),
    _row("pidfd_open", "pidfd_open", True, simple([("fd", R), ("pid", fd(0)),
                                                   ("flags", conv(1, ppm.nonblock_flag))])),
    _row("pidfd_getfd", "pidfd_getfd", True, simple([("fd", R), ("pid_fd", fd(0)), ("target_fd", fd(1)),
                                                     ("flags", u32(2))])),
    # -- directories and names ----------------------------------------------------------
    _row("chdir", "chdir", True, simple([("res", R), ("path", path(0))])),
    _row("fchdir", "fchdir", True, simple([("res", R), ("fd", fd(0))])),
    _row("chroot", "chroot", True, simple([("res", R), ("path", path(0))])),
    _row("mkdir", "mkdir", True, simple([("res", R), ("path", path(0)), ("mode", conv(1, _mode))])),
    _row("mkdirat", "mkdirat", True, simple([("res", R), ("dirfd", fd(0)), ("path", path(1)),
                                             ("mode", conv(2, _mode))])),
    _row("rmdir", "rmdir", True, simple([("res", R), ("path", path(0))])),
    _row("unlink", "unlink", True, simple([("res", R), ("path", path(0))])),
    _row("unlinkat", "unlinkat", True, simple([("res", R), ("dirfd", fd(0)), ("name", path(1)),
                                               ("flags", conv(2, lambda x: x & 0x200))])),
    _row("rename", "rename", True, simple([("res", R), ("oldpath", path(0)), ("newpath", path(1))])),
    _row("renameat", "renameat", True, simple([("res", R), ("olddirfd", fd(0)), ("oldpath", path(1)),
                                               ("newdirfd", fd(2)), ("newpath", path(3))])),
    _row("renameat2", "renameat2", True, simple([("res", R), ("olddirfd", fd(0)), ("oldpath", path(1)),
                                                 ("newdirfd", fd(2)), ("newpath", path(3)),
                                                 ("flags", conv(4, lambda x: x & 0x7))])),
    _row("link", "link", True, simple([("res", R), ("oldpath", path(0)), ("newpath", path(1))])),
    _row("linkat", "linkat", True, simple([("res", R), ("olddir", fd(0)), ("oldpath", path(1)),
                                           ("newdir", fd(2)), ("newpath", path(3)),
                                           ("flags", conv(4, lambda x: x & 0x1400))])),
    _row("symlink", "symlink", True, simple([("res", R), ("target", path(0)), ("linkpath", path(1))])),
    _row("symlinkat", "symlinkat", True, simple([("res", R), ("target", path(0)), ("linkdirfd", fd(1)),
                                                 ("linkpath", path(2))])),
    _row("chmod", "chmod", True, simple([("res", R), ("filename", path(0)), ("mode", conv(1, _mode))])),
    _row("fchmod", "fchmod", True, simple([("res", R), ("fd", fd(0)), ("mode", conv(1, _mode))])),
    _row("fchmodat", "fchmodat", True, simple([("res", R), ("dirfd", fd(0)), ("filename", path(1)),
                                               ("mode", conv(2, _mode))])),
    # fchmodat2 (Linux 6.6, glibc >= 2.39 for flags != 0) is reported as Falco's fchmodat.
    _row("fchmodat2", "fchmodat", True, simple([("res", R), ("dirfd", fd(0)), ("filename", path(1)),
                                                ("mode", conv(2, _mode))])),
    _row("chown", "chown", True, simple([("res", R), ("path", path(0)), ("uid", u32(1)), ("gid", u32(2))])),
    _row("lchown", "lchown", True, simple([("res", R), ("path", path(0)), ("uid", u32(1)), ("gid", u32(2))])),
    _row("fchown", "fchown", True, simple([("res", R), ("fd", fd(0)), ("uid", u32(1)), ("gid", u32(2))])),
    _row("fchownat", "fchownat", True, simple([("res", R), ("dirfd", fd(0)), ("pathname", path(1)),
                                               ("uid", u32(2)), ("gid", u32(3)),
                                               ("flags", conv(4, ppm.fchownat_flags))])),
    _row("mount", "mount", True, simple([("res", R), ("dev", path(0)), ("dir", path(1)), ("type", ("str", 2, 256)),
                                         ("flags", conv(3, ppm.mount_flags))])),
    _row("umount2", "umount2", True, simple([("res", R), ("name", path(0)), ("flags", conv(1, lambda x: x & 0xF))])),
    Row("quotactl", "quotactl", True, D.quotactl_entry, D.quotactl_exit),
    # -- network --------------------------------------------------------------------------
    _row("socket", "socket", True, simple([("fd", R), ("domain", fd(0)), ("type", u32(1)), ("proto", u32(2))])),
    Row("socketpair", "socketpair", True, None, D.socketpair_exit),
    Row("bind", "bind", True, D.bind_entry, D.bind_exit),
    _row("listen", "listen", True, simple([("res", R), ("fd", fd(0)), ("backlog", fd(1))])),
    Row("connect", "connect", True, D.bind_entry, D.connect_exit),
    Row("accept", "accept", True, None, D.accept_exit),
    Row("accept4", "accept4", True, None, D.accept4_exit),
    _row("shutdown", "shutdown", True, simple([("res", R), ("fd", fd(0)), ("how", conv(1, lambda x: x & 0xFF))])),
    Row("sendto", "sendto", True, D.sendto_entry, D.sendto_exit),
    Row("sendmsg", "sendmsg", True, D.sendmsg_entry, D.sendmsg_exit),
    Row("recvfrom", "recvfrom", True, None, D.recvfrom_exit),
    Row("recvmsg", "recvmsg", True, None, D.recvmsg_exit),
    # -- data -------------------------------------------------------------------------------
    Row("read", "read", True, None, D.read_exit),
    Row("write", "write", False, D.write_entry, D.write_exit),
    Row("pread64", "pread", True, None, D.pread_exit),
    Row("pwrite64", "pwrite", False, D.write_entry, D.pwrite_exit),
    Row("readv", "readv", True, None, D.readv_exit),
    Row("writev", "writev", False, D.writev_entry, D.writev_exit),
    Row("preadv", "preadv", True, None, D.preadv_exit),
    Row("pwritev", "pwritev", False, D.writev_entry, D.pwritev_exit),
    _row("splice", "splice", True, simple([("res", R), ("fd_in", fd(0)), ("fd_out", fd(2)), ("size", u64(4)),
                                           ("flags", conv(5, lambda x: x & 0xF))])),
    Row("sendfile", "sendfile", True, None, D.sendfile_exit),
    # -- processes ---------------------------------------------------------------------------
    Row("execve", "execve", True, D.execve_entry, D.execve_exit),
    Row("execveat", "execveat", True, None, D.execveat_exit),
    Row("clone", "clone", True, None, D.clone_exit),
    Row("clone3", "clone3", True, D.clone3_entry, D.clone3_exit),
    Row("fork", "fork", True, None, D.fork_exit),
    Row("vfork", "vfork", True, None, D.vfork_exit),
    _row("kill", "kill", False, simple([("res", R), ("pid", fd(0)), ("sig", u32(1))])),
    _row("tkill", "tkill", False, simple([("res", R), ("tid", fd(0)), ("sig", u32(1))])),
    _row("tgkill", "tgkill", False, simple([("res", R), ("pid", fd(0)), ("tid", fd(1)), ("sig", u32(2))])),
    _row("ptrace", "ptrace", True, simple([("res", R), ("addr", u64(2)), ("data", u64(3)),
                                           ("request", conv(0, ppm.ptrace_request)), ("pid", fd(1))])),
    Row("prctl", "prctl", True, D.prctl_entry, D.prctl_exit),
    _row("setsid", "setsid", True, simple([("res", R)])),
    _row("setpgid", "setpgid", True, simple([("res", R), ("pid", fd(0)), ("pgid", fd(1))])),
    _row("setuid", "setuid", True, simple([("res", R), ("uid", u32(0))])),
    _row("setgid", "setgid", True, simple([("res", R), ("gid", u32(0))])),
    _row("setreuid", "setreuid", True, simple([("res", R), ("ruid", u32(0)), ("euid", u32(1))])),
    _row("setregid", "setregid", True, simple([("res", R), ("rgid", u32(0)), ("egid", u32(1))])),
    _row("setresuid", "setresuid", True, simple([("res", R), ("ruid", u32(0)), ("euid", u32(1)), ("suid", u32(2))])),
    _row("setresgid", "setresgid", True, simple([("res", R), ("rgid", u32(0)), ("egid", u32(1)), ("sgid", u32(2))])),
    _row("setfsuid", "setfsuid", True, simple([("res", R), ("uid", u32(0))])),
    _row("setfsgid", "setfsgid", True, simple([("res", R), ("gid", u32(0))])),
    Row("capset", "capset", True, None, D.capset_exit),
    _row("setns", "setns", True, simple([("res", R), ("fd", fd(0)), ("nstype", conv(1, ppm.clone_flags))])),
    _row("unshare", "unshare", True, simple([("res", R), ("flags", conv(0, ppm.clone_flags))])),
    _row("seccomp", "seccomp", True, simple([("res", R), ("op", u64(0)), ("flags", u64(1))])),
    _row("process_vm_readv", "process_vm_readv", True, simple([("res", R), ("pid", fd(0))])),
    _row("process_vm_writev", "process_vm_writev", True, simple([("res", R), ("pid", fd(0))])),
    # -- kernel ---------------------------------------------------------------------------------
    Row("init_module", "init_module", True, D.init_module_entry, D.init_module_exit),
    _row("finit_module", "finit_module", True, simple([("res", R), ("fd", fd(0)), ("uargs", path(1)),
                                                       ("flags", conv(2, lambda x: x & 0x7))])),
    _row("delete_module", "delete_module", True, simple([("res", R), ("name", ("str", 0, 256)),
                                                         ("flags", conv(1, ppm.delete_module_flags))])),
    _row("kexec_load", "kexec_load", True, simple([("res", R)])),
    # truncate/ftruncate: Falco has syscall codes (PPM_SC_TRUNCATE/FTRUNCATE) but no dedicated
    # event, so they are generic events named after the syscall (rules can name them).
    _row("truncate", "truncate", True, simple([("res", R), ("path", path(0)), ("length", u64(1))])),
    _row("ftruncate", "ftruncate", True, simple([("res", R), ("fd", fd(0)), ("length", u64(1))])),
    _row("kexec_file_load", "kexec_file_load", True, simple([("res", R), ("fd", fd(0))])),
    _row("bpf", "bpf", True, simple([("fd", R), ("cmd", fd(0))])),
    # -- memory ---------------------------------------------------------------------------------
    _row("mprotect", "mprotect", True, simple([("res", R), ("addr", u64(0)), ("length", u64(1)),
                                               ("prot", conv(2, ppm.prot_flags))])),
    Row("mmap", "mmap", True, None, D.mmap_exit),
)

ROWS_BY_NAME: dict[str, Row] = {r.name: r for r in ROWS}

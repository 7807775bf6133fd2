"""Parameters of the process-lifecycle events (execve/execveat, clone family, procexit).

These events are built from a ProcInfo (read by procfs.read_procinfo or copied
from the parent) rather than from syscall arguments, both by the syscall rows
and by the wait loop's ptrace event stops. Names and order follow Falco's
exit events (see pdigpy.events.schema).

Values Falco takes from the kernel's mm and that a ptrace tracer does not
track (pgft_maj, pgft_min, vm_size, vm_rss, vm_swap) are 0.
"""

from __future__ import annotations

import os

from pdigpy.events import flags as F
from pdigpy.events.procinfo import ProcInfo
from pdigpy.tracer import ppm

__all__ = ["execve_args", "execve_flags", "clone_args", "ppm_clone_flags", "procexit_args"]


def execve_flags(info: ProcInfo) -> int:
    """PPM execve_flags from what procfs found out about the executable."""
    flags = 0
    if info.exe_writable:
        flags |= F.EXE_WRITABLE
    if info.exe_upper_layer:
        flags |= F.EXE_UPPER_LAYER
    if info.exe_from_memfd:
        flags |= F.EXE_FROM_MEMFD
    if info.exe_lower_layer:
        flags |= F.EXE_LOWER_LAYER
    return flags


def execve_args(info: ProcInfo, res: int, filename: str | None, event: str = "execve") -> dict:
    """execve or execveat parameters.

    After a successful exec ``info`` describes the new image; after a failed
    one, the unchanged caller. ``filename`` is the path passed to execve (None
    if unknown). ``event`` is "execve" (the result ends with ``filename``) or
    "execveat" (whose Falco schema has no ``filename``).
    """
    args = {
        "res": res,
        "exe": info.exe,
        "args": list(info.args),
        "tid": info.tid,
        "pid": info.pid,
        "ptid": info.ptid,
        "cwd": info.cwd,
        "fdlimit": info.fdlimit,
        "pgft_maj": 0,
        "pgft_min": 0,
        "vm_size": 0,
        "vm_rss": 0,
        "vm_swap": 0,
        "comm": info.comm,
        "cgroups": list(info.cgroups),
        "env": list(info.env),
        "tty": info.tty,
        "vpgid": info.vpgid,
        "loginuid": info.loginuid,
        "flags": execve_flags(info),
        "cap_inheritable": info.cap_inheritable,
        "cap_permitted": info.cap_permitted,
        "cap_effective": info.cap_effective,
        "exe_ino": info.exe_ino,
        "exe_ino_ctime": info.exe_ino_ctime,
        "exe_ino_mtime": info.exe_ino_mtime,
        "uid": info.euid,
        "trusted_exepath": info.exepath,
        "pgid": info.pgid,
        "gid": info.egid,
    }
    if event != "execveat":
        args["filename"] = filename
    return args


def ppm_clone_flags(linux_flags: int) -> int:
    """Linux CLONE_* flags -> PPM clone_flags (fork is SIGCHLD only: 0; vfork CLONE_VM|CLONE_VFORK)."""
    return ppm.clone_flags(linux_flags)


def clone_args(info: ProcInfo, ppm_flags: int, res: int = 0) -> dict:
    """clone/clone3/fork/vfork parameters for the thread described by ``info``.

    ``res`` is the child's tid on the parent's side and 0 on the child's side
    (Falco emits both). Falco adds CLONE_CHILD_IN_PIDNS when the child is not
    in the initial pid namespace (vpid differs from pid); done here too.
    """
    flags = ppm_flags
    if info.vpid and info.vpid != info.pid:
        flags |= F.CL_CHILD_IN_PIDNS
    return {
        "res": res,
        "exe": info.exe,
        "args": list(info.args),
        "tid": info.tid,
        "pid": info.pid,
        "ptid": info.ptid,
        "cwd": info.cwd,
        "fdlimit": info.fdlimit,
        "pgft_maj": 0,
        "pgft_min": 0,
        "vm_size": 0,
        "vm_rss": 0,
        "vm_swap": 0,
        "comm": info.comm,
        "cgroups": list(info.cgroups),
        "flags": flags,
        "uid": info.euid,
        "gid": info.egid,
        "vtid": info.vtid,
        "vpid": info.vpid,
        "pidns_init_start_ts": info.pidns_init_start_ts,
    }


def procexit_args(wait_status: int) -> dict:
    """procexit parameters from a wait(2) status (PTRACE_EVENT_EXIT's event message).

    ``status`` is the raw status, ``ret`` the exit code, ``sig`` the killing
    signal (0 if it exited), ``core`` 1 if a core was dumped. ``reaper_tid``
    (who inherits orphaned children) is unknown to a tracer: 0.
    """
    if os.WIFSIGNALED(wait_status):
        return {
            "status": wait_status,
            "ret": 0,
            "sig": os.WTERMSIG(wait_status),
            "core": 1 if os.WCOREDUMP(wait_status) else 0,
            "reaper_tid": 0,
        }
    return {
        "status": wait_status,
        "ret": os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else (wait_status >> 8) & 0xFF,
        "sig": 0,
        "core": 0,
        "reaper_tid": 0,
    }

"""The seccomp-bpf prefilter: stop only at the syscalls the requested events need.

The filter is a classic-BPF program over ``struct seccomp_data`` (nr at
offset 0, arch at offset 4). It returns ``SECCOMP_RET_TRACE`` for exactly
the selected syscall numbers and ``SECCOMP_RET_ALLOW`` for everything else,
so untraced syscalls cost only the filter run (about 0.05 µs), never a stop.

Foreign ABIs stop too, by decision: a syscall made through another entry
point than the native one -- on x86_64 the i386 ``int 0x80`` ABI (arch
``AUDIT_ARCH_I386``) and the x32 ABI (native arch with bit 30 of the number
set); on aarch64 the AArch32 compat ABI -- returns ``SECCOMP_RET_TRACE``, and
the wait loop skips it (number set to -1) so that it fails with ``ENOSYS``,
counts it (stats.compat_syscalls) and reports it once on stderr. Their
syscall numbers differ from the native table, so a rule could never see them
correctly; letting them run untraced would be a blind spot an attacker can
choose, and refusing them in the kernel (``RET_ERRNO``) would hide the
attempt. 32-bit-only programs therefore do not work under pdigpy in seccomp
mode. (Without seccomp -- attach mode or ``TraceOptions(seccomp=False)`` --
such syscalls run; the wait loop detects them by the arch field of
PTRACE_GET_SYSCALL_INFO, counts them and reports them once on stderr.)

The filter is permanent for the process and all its descendants: once the
tracer is gone, every ``RET_TRACE`` syscall fails with ``ENOSYS``. This is
why spawn mode sets ``PTRACE_O_EXITKILL`` (see :mod:`pdigpy.tracer.launcher`).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import struct
import sys
from typing import Iterable, Mapping

from pdigpy.tracer import ptrace as _pt

# BPF opcodes (linux/filter.h, linux/bpf_common.h)
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JMP_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JMP_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
BPF_JMP_JA = 0x05  # BPF_JMP | BPF_JA
BPF_RET_K = 0x06  # BPF_RET | BPF_K

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_ALLOW = 0x7FFF0000
BPF_MAXINSNS = 4096

_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARGS = 16  # u64 args[6]
_LOW_WORD = 0 if sys.byteorder == "little" else 4
# Jump offsets are 8 bits; a block of this many JEQs keeps them in range.
_BLOCK = 200

_insn = struct.Struct("=HBBI")


def _stmt(code: int, k: int) -> tuple[int, int, int, int]:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def build_filter(
    syscall_nrs: Iterable[int],
    audit_arch: int = _pt.NATIVE_AUDIT_ARCH,
    arg_filters: Mapping[int, tuple[int, Iterable[int]]] | None = None,
) -> list[tuple[int, int, int, int]]:
    """The program as (code, jt, jf, k) tuples: TRACE for ``syscall_nrs``, ALLOW otherwise.

    Layout: check arch (foreign -> TRACE), load nr, on x86_64 trace the
    x32 bit, then blocks of at most 200 ``JEQ nr`` tests, each block followed by
    its own ``RET TRACE`` so that every jump fits in 8 bits, then ``RET ALLOW``.
    A linear chain is fine for the ~50 syscalls of a Falco rule set; an unknown
    number costs one compare per traced syscall.

    ``arg_filters`` narrows some numbers to calls whose argument matches:
    ``{nr: (arg_index, values)}`` traces ``nr`` only when the low 32 bits of
    that argument are one of ``values`` (e.g. fcntl only for F_DUPFD and
    F_DUPFD_CLOEXEC, the commands that create fds). These tests come first.
    """
    narrowed = {int(nr): (int(idx), sorted({int(v) & 0xFFFFFFFF for v in vals}))
                for nr, (idx, vals) in (arg_filters or {}).items()}
    nrs = sorted(set(int(n) for n in syscall_nrs) - set(narrowed))
    foreign = SECCOMP_RET_TRACE  # the loop skips it with ENOSYS, counts and reports it
    prog: list[tuple[int, int, int, int]] = [
        _stmt(BPF_LD_W_ABS, _OFF_ARCH),
        _jump(BPF_JMP_JEQ_K, audit_arch, 1, 0),
        _stmt(BPF_RET_K, foreign),
        _stmt(BPF_LD_W_ABS, _OFF_NR),
    ]
    if audit_arch == _pt.AUDIT_ARCH_X86_64:
        prog.append(_jump(BPF_JMP_JGE_K, _pt.X32_SYSCALL_BIT, 0, 1))
        prog.append(_stmt(BPF_RET_K, foreign))
    for nr in sorted(narrowed):
        idx, vals = narrowed[nr]
        if not 0 <= idx < 6 or len(vals) > 200:
            raise ValueError(f"bad argument filter for syscall {nr}: {idx}, {len(vals)} values")
        # equal nr: fall into the block; else jump over it with nr still loaded
        block = [_stmt(BPF_LD_W_ABS, _OFF_ARGS + 8 * idx + _LOW_WORD)]
        for i, v in enumerate(vals):
            block.append(_jump(BPF_JMP_JEQ_K, v, len(vals) - i, 0))  # -> RET TRACE
        block.append(_stmt(BPF_RET_K, SECCOMP_RET_ALLOW))
        block.append(_stmt(BPF_RET_K, SECCOMP_RET_TRACE))
        prog.append(_jump(BPF_JMP_JEQ_K, nr, 0, len(block)))
        prog.extend(block)
    for start in range(0, len(nrs), _BLOCK):
        block_nrs = nrs[start : start + _BLOCK]
        k = len(block_nrs)
        for i, nr in enumerate(block_nrs):
            # RET TRACE sits after the block's JEQs and one JA.
            prog.append(_jump(BPF_JMP_JEQ_K, nr, k - i, 0))
        prog.append(_jump(BPF_JMP_JA, 1, 0, 0))
        prog.append(_stmt(BPF_RET_K, SECCOMP_RET_TRACE))
    prog.append(_stmt(BPF_RET_K, SECCOMP_RET_ALLOW))
    if len(prog) > BPF_MAXINSNS:
        raise ValueError(f"seccomp filter too long: {len(prog)} instructions")
    return prog


def pack_filter(prog: list[tuple[int, int, int, int]]) -> bytes:
    return b"".join(_insn.pack(code, jt, jf, k) for code, jt, jf, k in prog)


def install_filter(packed: bytes) -> None:
    """Install the filter on the calling thread (before exec, in the child).

    PR_SET_NO_NEW_PRIVS is set only if the kernel requires it, i.e. when the
    caller lacks CAP_SYS_ADMIN in its user namespace (the kernel then refuses
    the filter with EACCES). With NO_NEW_PRIVS set, execve no longer grants
    privileges: setuid/setgid bits and file capabilities of the programs the
    app runs are ignored (``sudo``, ``su``, a setuid ``ping`` run with the
    caller's own privileges and typically fail), and the flag is inherited by
    every descendant and can never be cleared. Running pdigpy as root (or with
    CAP_SYS_ADMIN) avoids this; in a container with only SYS_PTRACE (Fargate)
    NO_NEW_PRIVS is set and setuid programs lose their elevation.
    Raises OSError if the filter cannot be installed.
    """
    n = len(packed) // _insn.size
    buf = ctypes.create_string_buffer(packed, len(packed))
    fprog = _pt.SockFprog(n, ctypes.addressof(buf))
    addr = ctypes.addressof(fprog)
    if _pt.prctl(_pt.PR_SET_SECCOMP, _pt.SECCOMP_MODE_FILTER, addr, 0, 0) == 0:
        return
    err = ctypes.get_errno()
    if err != _errno.EACCES:
        raise OSError(err, f"seccomp filter: {_errno.errorcode.get(err, err)}")
    _pt.check(_pt.prctl(_pt.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _pt.check(_pt.prctl(_pt.PR_SET_SECCOMP, _pt.SECCOMP_MODE_FILTER, addr, 0, 0), "prctl(PR_SET_SECCOMP)")


def run_filter(prog: list[tuple[int, int, int, int]], nr: int, arch: int, args: tuple[int, ...] = (0,) * 6) -> int:
    """Interpret the program for one (nr, arch, args): the action it returns. For tests and docs."""
    pc = 0
    acc = 0
    while True:
        code, jt, jf, k = prog[pc]
        if code == BPF_LD_W_ABS:
            if k == _OFF_NR:
                acc = nr & 0xFFFFFFFF
            elif k == _OFF_ARCH:
                acc = arch
            else:
                arg = args[(k - _OFF_ARGS) // 8]
                acc = (arg >> (32 if (k - _OFF_ARGS) % 8 else 0)) & 0xFFFFFFFF
            pc += 1
        elif code == BPF_JMP_JEQ_K:
            pc += 1 + (jt if acc == k else jf)
        elif code == BPF_JMP_JGE_K:
            pc += 1 + (jt if acc >= k else jf)
        elif code == BPF_JMP_JA:
            pc += 1 + k
        elif code == BPF_RET_K:
            return k
        else:
            raise ValueError(f"unknown BPF opcode {code:#x}")

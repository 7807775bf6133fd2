"""ctypes bindings for ptrace and the few libc calls the tracer needs.

Only what the wait loop, the launcher and attach use: ptrace, waitpid,
process_vm_readv, prctl, kill/tgkill, plus the constants and the
``struct ptrace_syscall_info`` layout. No python-ptrace: its loop polls and
it cannot do SEIZE, seccomp stops or GET_SYSCALL_INFO.

Calls return the raw C result (``-1`` on error); the caller reads the errno
with :func:`errno` only when it cares, which keeps the hot path free of
exception handling.
"""

from __future__ import annotations

import ctypes
import operator
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)

errno = ctypes.get_errno

# --- ptrace requests -------------------------------------------------------
PTRACE_TRACEME = 0
PTRACE_PEEKDATA = 2
PTRACE_POKEUSER = 6
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_ATTACH = 16
PTRACE_DETACH = 17
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_GETSIGINFO = 0x4202
PTRACE_GETREGSET = 0x4204
PTRACE_SETREGSET = 0x4205
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_GET_SYSCALL_INFO = 0x420E

# --- ptrace options --------------------------------------------------------
PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_TRACEFORK = 0x2
PTRACE_O_TRACEVFORK = 0x4
PTRACE_O_TRACECLONE = 0x8
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACEVFORKDONE = 0x20
PTRACE_O_TRACEEXIT = 0x40
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000

# --- ptrace events (status >> 16) -----------------------------------------
PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_VFORK_DONE = 5
PTRACE_EVENT_EXIT = 6
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128

# --- PTRACE_GET_SYSCALL_INFO ops ------------------------------------------
SYSCALL_INFO_NONE = 0
SYSCALL_INFO_ENTRY = 1
SYSCALL_INFO_EXIT = 2
SYSCALL_INFO_SECCOMP = 3
# struct ptrace_syscall_info: u8 op, u8 pad[3], u32 arch, u64 ip, u64 sp,
# then a union: entry {u64 nr; u64 args[6]}, exit {s64 rval; u8 is_error},
# seccomp {u64 nr; u64 args[6]; u32 ret_data}. 88 bytes on 64-bit.
SYSCALL_INFO_SIZE = 88
SYSCALL_INFO_ENTRY_FMT = struct.Struct("=BxxxIQQQQQQQQQ")  # op arch ip sp nr a0..a5
SYSCALL_INFO_EXIT_FMT = struct.Struct("=BxxxIQQqB")  # op arch ip sp rval is_error

# --- waitpid ---------------------------------------------------------------
WNOHANG = 1
WUNTRACED = 2
WNOTHREAD = 0x20000000
WALL = 0x40000000
WCLONE = 0x80000000

# --- audit arches (seccomp_data.arch, ptrace_syscall_info.arch) -----------
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_ARM = 0x40000028
X32_SYSCALL_BIT = 0x40000000

# --- prctl -----------------------------------------------------------------
PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
SECCOMP_MODE_FILTER = 2

NT_PRSTATUS = 1
NT_ARM_SYSTEM_CALL = 0x404  # aarch64: the syscall number of a stopped syscall

# --- clone flags the loop needs to tell threads from processes ------------
CLONE_VM = 0x100
CLONE_VFORK = 0x4000
CLONE_PARENT = 0x8000
CLONE_THREAD = 0x10000
CLONE_NEWPID = 0x20000000

MACHINE = os.uname().machine  # what platform.machine() returns, without importing platform
if MACHINE in ("x86_64", "amd64"):
    NATIVE_AUDIT_ARCH = AUDIT_ARCH_X86_64
    # user_regs_struct: 27 u64; indices of what an event stop needs.
    REGS_COUNT = 27
    REG_NR, REG_ARGS = 15, (14, 13, 12, 7, 9, 8)  # orig_rax; rdi rsi rdx r10 r8 r9
    PTRACE_NR = 101  # the native number of ptrace(2), guarded by the wait loop
elif MACHINE in ("aarch64", "arm64"):
    NATIVE_AUDIT_ARCH = AUDIT_ARCH_AARCH64
    # user_pt_regs: regs[31], sp, pc, pstate. x8 = nr, x0..x5 = args (x0 is
    # only overwritten with the return value when the syscall returns).
    REGS_COUNT = 34
    REG_NR, REG_ARGS = 8, (0, 1, 2, 3, 4, 5)
    PTRACE_NR = 117
else:  # pragma: no cover - other arches are not supported
    NATIVE_AUDIT_ARCH = 0
    REGS_COUNT = 64
    REG_NR, REG_ARGS = 0, (1, 2, 3, 4, 5, 6)
    PTRACE_NR = -2  # matches no syscall


class IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


ptrace = _libc.ptrace
ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
ptrace.restype = ctypes.c_long

waitpid = _libc.waitpid
waitpid.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
waitpid.restype = ctypes.c_int

process_vm_readv = _libc.process_vm_readv
process_vm_readv.argtypes = [
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
    ctypes.c_ulong,
    ctypes.c_ulong,
]
process_vm_readv.restype = ctypes.c_ssize_t

prctl = _libc.prctl
prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
prctl.restype = ctypes.c_int


# Hot-path twins without argtypes: ctypes' per-argument conversion costs more
# than the system call itself. Callers pass only ints below 2**31 (libffi
# widens them to the register size: sign-extended, so -1 stays -1), None for
# NULL, and ctypes.c_void_p objects built once for addresses.
_fast = ctypes.CDLL(None, use_errno=True)
ptrace_fast = _fast.ptrace
ptrace_fast.restype = ctypes.c_long
waitpid_fast = _fast.waitpid
waitpid_fast.restype = ctypes.c_int
process_vm_readv_fast = _fast.process_vm_readv
process_vm_readv_fast.restype = ctypes.c_ssize_t

# The wait loop's own twins, about 40% cheaper per call than the above:
# - no use_errno: ctypes would look the saved errno up in the thread state's
#   dict before and after every call. A caller that gets -1 and needs the
#   reason repeats the request through :data:`ptrace` (which keeps errno);
# - ptrace_hot comes from PyDLL, which keeps the GIL across the call: a ptrace
#   request on a stopped tracee never blocks, so releasing and re-taking the
#   GIL around it is pure cost. process_vm_readv_hot does release it: a read
#   of memory backed by FUSE or a userfaultfd can block, and the relay and
#   output threads must go on meanwhile.
# Addresses are passed as prebuilt ``ctypes.byref`` objects (the cheapest
# pointer argument ctypes converts), everything else as small ints or None.
ptrace_hot = ctypes.PyDLL(None).ptrace
ptrace_hot.restype = ctypes.c_long
process_vm_readv_hot = ctypes.CDLL(None).process_vm_readv
process_vm_readv_hot.restype = ctypes.c_ssize_t


def check(ret: int, what: str) -> int:
    """Raise OSError with the C errno when a libc call returned -1."""
    if ret == -1:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return ret


def seize(tid: int, options: int) -> int:
    return ptrace(PTRACE_SEIZE, tid, None, options)


def geteventmsg(tid: int, buf: ctypes.c_ulong) -> int | None:
    """The event message of the last event stop (child tid, former tid, exit status)."""
    if ptrace(PTRACE_GETEVENTMSG, tid, None, ctypes.addressof(buf)) == -1:
        return None
    return buf.value


class SigInfo(ctypes.Structure):
    # Only the common head of siginfo_t; the kernel writes 128 bytes.
    _fields_ = [
        ("si_signo", ctypes.c_int),
        ("si_errno", ctypes.c_int),
        ("si_code", ctypes.c_int),
        ("_pad0", ctypes.c_int),
        ("si_pid", ctypes.c_int),
        ("si_uid", ctypes.c_uint),
        ("_rest", ctypes.c_byte * 104),
    ]


def read_regs_array(tid: int, regs: ctypes.Array | None = None) -> ctypes.Array | None:
    """The general registers (PTRACE_GETREGSET NT_PRSTATUS) as an array of u64; None if gone."""
    if regs is None:
        regs = (ctypes.c_uint64 * REGS_COUNT)()
    iov = IoVec(ctypes.addressof(regs), ctypes.sizeof(regs))
    if ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, ctypes.addressof(iov)) == -1:
        return None
    return regs


def fill_syscall_info_from_regs(tid: int, seccomp_stop: bool, out, expect_exit: bool = False) -> bool:
    """Emulate PTRACE_GET_SYSCALL_INFO (Linux < 5.3) from the registers, into ``out``.

    Writes the same ``struct ptrace_syscall_info`` layout the kernel would:
    op SECCOMP at a seccomp stop; at a syscall stop op ENTRY or EXIT, told
    apart on x86_64 by rax == -ENOSYS (the kernel's entry marker) and on
    aarch64 by x7 (0 at entry, 1 at exit, set by the kernel for the tracer).
    ``expect_exit`` (the caller knows the thread is inside a syscall) wins over
    the x86_64 marker, which a syscall failing with ENOSYS would fake.
    Returns False if the thread is gone.
    """
    regs = read_regs_array(tid)
    if regs is None:
        return False
    if NATIVE_AUDIT_ARCH == AUDIT_ARCH_X86_64:
        nr, rax, ip, sp = regs[15], regs[10], regs[16], regs[19]
        arch = AUDIT_ARCH_X86_64
        if regs[17] == 0x23:  # cs of 32-bit code
            arch = AUDIT_ARCH_I386
        else:  # a 64-bit program can still enter through int 0x80: look at the instruction
            word = ptrace(PTRACE_PEEKDATA, tid, ip - 2, None)
            if word & 0xFFFF == 0x80CD:  # "int 0x80" (bytes CD 80) right before rip
                arch = AUDIT_ARCH_I386
        rval = rax - (1 << 64) if rax >= 1 << 63 else rax
        is_entry = rval == -38 and not expect_exit  # -ENOSYS
    else:
        nr, ip, sp, arch = regs[8], regs[32], regs[31], NATIVE_AUDIT_ARCH
        x0 = regs[0]
        rval = x0 - (1 << 64) if x0 >= 1 << 63 else x0
        is_entry = regs[7] == 0
    if seccomp_stop or is_entry:
        op = SYSCALL_INFO_SECCOMP if seccomp_stop else SYSCALL_INFO_ENTRY
        SYSCALL_INFO_ENTRY_FMT.pack_into(out, 0, op, arch, ip, sp, nr, *(regs[i] for i in REG_ARGS))
    else:
        SYSCALL_INFO_EXIT_FMT.pack_into(out, 0, SYSCALL_INFO_EXIT, arch, ip, sp, rval, 1 if -4096 < rval < 0 else 0)
    return True


def read_regs(tid: int) -> tuple[int, tuple[int, ...]] | None:
    """(syscall nr, 6 args) from PTRACE_GETREGSET NT_PRSTATUS; None if the task is gone.

    Used at event stops (clone/fork), where GET_SYSCALL_INFO says "no syscall".
    """
    regs = _event_regs
    _event_iov.iov_len = ctypes.sizeof(regs)  # the kernel shortens it to what it wrote
    if ptrace_hot(PTRACE_GETREGSET, tid, NT_PRSTATUS, _event_iov_ref) == -1:
        return None
    return regs[REG_NR], _event_args(regs)


# read_regs' buffers, built once (it runs at every fork/vfork event stop of
# the tracing thread, the only thread that may issue ptrace requests).
_event_regs = (ctypes.c_uint64 * REGS_COUNT)()
_event_iov = IoVec(ctypes.addressof(_event_regs), ctypes.sizeof(_event_regs))
_event_iov_ref = ctypes.byref(_event_iov)
_event_args = operator.itemgetter(*REG_ARGS)  # the 6 args as a tuple, in one C call


def skip_syscall(tid: int, retval: int) -> bool:
    """At a syscall-entry or seccomp stop: make the call not run and return ``retval`` (-errno).

    The kernel skips a syscall whose number the tracer set to -1, and then
    returns whatever the return register holds; setting that register at the
    same stop is enough (no exit stop needed). On x86_64 by PTRACE_POKEUSER of
    rax then orig_rax (the x86_64 user area layout, whatever the tracee's ABI,
    since pdigpy is a 64-bit tracer); on aarch64 by the NT_ARM_SYSTEM_CALL
    regset, then x0 (r0 of an AArch32 task) through NT_PRSTATUS.
    False if the thread is gone or the arch is unsupported.
    """
    if NATIVE_AUDIT_ARCH == AUDIT_ARCH_X86_64:
        if ptrace(PTRACE_POKEUSER, tid, 10 * 8, retval & 0xFFFFFFFFFFFFFFFF) == -1:  # rax
            return False
        return ptrace(PTRACE_POKEUSER, tid, 15 * 8, 0xFFFFFFFFFFFFFFFF) != -1  # orig_rax = -1
    if NATIVE_AUDIT_ARCH == AUDIT_ARCH_AARCH64:
        nr = ctypes.c_int(-1)
        iov = IoVec(ctypes.addressof(nr), ctypes.sizeof(nr))
        if ptrace(PTRACE_SETREGSET, tid, NT_ARM_SYSTEM_CALL, ctypes.addressof(iov)) == -1:
            return False
        regs = (ctypes.c_uint64 * REGS_COUNT)()
        iov = IoVec(ctypes.addressof(regs), ctypes.sizeof(regs))
        if ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, ctypes.addressof(iov)) == -1:
            return False
        if iov.iov_len == 18 * 4:  # AArch32 task: 18 u32 registers, r0 in the low word of regs[0]
            regs[0] = (regs[0] & ~0xFFFFFFFF) | (retval & 0xFFFFFFFF)
        else:
            regs[0] = retval & 0xFFFFFFFFFFFFFFFF
        return ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, ctypes.addressof(iov)) != -1
    return False


def getsiginfo(tid: int, buf: SigInfo) -> bool:
    return ptrace(PTRACE_GETSIGINFO, tid, None, ctypes.addressof(buf)) != -1

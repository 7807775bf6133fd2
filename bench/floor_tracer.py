"""The floor of a CPython ptrace tracer: trace a command and do nothing at its stops.

    python -I -S bench/floor_tracer.py [--exit-stops] [--stats-file F] -e SET -- COMMAND [ARG...]

It exists to measure what any tracer written in Python with ctypes pays on this machine before
it decodes, keeps state or evaluates a rule. It is standalone (stdlib + ctypes, no pdigpy) so
that its start-up is the bare interpreter's plus ``import ctypes``.

What it does, as pdigpy's spawn mode does:

- fork; the child asks PTRACE_TRACEME and stops itself with SIGSTOP; the tracer sets the
  options TRACESECCOMP|TRACECLONE|TRACEFORK|TRACEVFORK|TRACEEXEC|EXITKILL (and TRACESYSGOOD);
  the child installs a seccomp filter built like pdigpy's, then execs COMMAND;
- the filter: a foreign ABI (another audit arch, or the x32 bit on x86_64) -> TRACE, as pdigpy
  does; a syscall of SET -> TRACE; everything else -> ALLOW;
- the loop: ``os.waitpid(-1, __WALL)`` and a resume, until no tracee is left.

Two variants:

- default (``entry``): at a seccomp stop, PTRACE_CONT and nothing else. One stop per traced
  syscall plus the fork/clone/exec event stops: the absolute floor of a Python wait loop.
- ``--exit-stops`` (``exit``): at a seccomp stop, PTRACE_GET_SYSCALL_INFO then PTRACE_SYSCALL;
  at the syscall-exit stop, PTRACE_GET_SYSCALL_INFO then PTRACE_CONT. What a tracer that needs
  return values pays: two stops per traced syscall, as strace --seccomp-bpf takes.

SET is a comma-separated list of syscalls, each a number or an x86_64 name (names are looked up
in asm/unistd_64.h), optionally narrowed to calls whose argument ARG (0-5) has one of the values
given: ``openat,72@1=0:1030`` traces every openat and fcntl only for F_DUPFD and F_DUPFD_CLOEXEC
(pdigpy's narrowing of fcntl when no rule wants fcntl events). SET may be empty (``-e ''``): the
tracer then takes only the fork/clone/exec event stops, as pdigpy does with no rules, whose filter
holds only its ptrace attach guard (``ptrace@0=16:16902``).

The exit status is the command's (128 + N if it was killed by signal N). The tracer writes
nothing on stdout; ``--stats-file`` gets one JSON line with the stop counts and the tracer's own
CPU time spent in the loop.
"""

import ctypes
import os
import sys
import time

PTRACE_TRACEME, PTRACE_CONT, PTRACE_SYSCALL = 0, 7, 24
PTRACE_SETOPTIONS, PTRACE_GET_SYSCALL_INFO = 0x4200, 0x420E
O_TRACESYSGOOD, O_TRACEFORK, O_TRACEVFORK, O_TRACECLONE = 0x1, 0x2, 0x4, 0x8
O_TRACEEXEC, O_TRACESECCOMP, O_EXITKILL = 0x10, 0x80, 0x100000
OPTIONS = O_TRACESYSGOOD | O_TRACEFORK | O_TRACEVFORK | O_TRACECLONE | O_TRACEEXEC | O_TRACESECCOMP | O_EXITKILL
WALL = 0x40000000
SIGTRAP, SIGSTOP = 5, 19
EVENT_SECCOMP = 7
SYSCALL_INFO_SIZE = 88  # struct ptrace_syscall_info on 64-bit
PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS, SECCOMP_MODE_FILTER = 22, 38, 2
RET_TRACE, RET_ALLOW = 0x7FF00000, 0x7FFF0000
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
ARCHES = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_BIT = 0x40000000
HEADERS = ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h")

libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
# PyDLL keeps the GIL across the call: a ptrace request on a stopped tracee never blocks.
ptrace = ctypes.PyDLL(None).ptrace
ptrace.restype = ctypes.c_long


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def die(msg):
    sys.stderr.write(f"floor_tracer: {msg}\n")
    sys.exit(2)


def syscall_numbers():
    """name -> number from the kernel headers (x86_64)."""
    for path in HEADERS:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        out = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("__NR_") and parts[2].isdigit():
                out[parts[1][5:]] = int(parts[2])
        return out
    return {}


def parse_set(text):
    """'openat,72@1=0:1030' -> ({257}, {72: (1, [0, 1030])})."""
    names = None
    plain, narrowed = set(), {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        sc, _, cond = item.partition("@")
        if sc.isdigit():
            nr = int(sc)
        else:
            if names is None:
                names = syscall_numbers()
            if sc not in names:
                die(f"-e: unknown syscall {sc!r} (no such name in {HEADERS[0]}; give its number)")
            nr = names[sc]
        if not cond:
            plain.add(nr)
            continue
        arg, _, values = cond.partition("=")
        try:
            narrowed[nr] = (int(arg), [int(v, 0) & 0xFFFFFFFF for v in values.split(":")])
        except ValueError:
            die(f"-e: bad argument filter {item!r}; write NAME@ARG=V:V, e.g. fcntl@1=0:1030")
        if not 0 <= narrowed[nr][0] < 6:
            die(f"-e: bad argument index in {item!r}; use 0 to 5")
    plain -= set(narrowed)
    if len(plain) + sum(len(v) for _, v in narrowed.values()) > 250:
        die("-e: more than 250 syscalls or values (the filter's jumps are 8 bits)")
    return plain, narrowed


def build_filter(plain, narrowed, audit_arch):
    """Classic BPF over seccomp_data (nr at 0, arch at 4, args at 16), laid out as pdigpy's."""
    prog = [(LD_W_ABS, 0, 0, 4), (JEQ_K, 1, 0, audit_arch), (RET_K, 0, 0, RET_TRACE), (LD_W_ABS, 0, 0, 0)]
    if audit_arch == ARCHES["x86_64"]:
        prog += [(JGE_K, 0, 1, X32_BIT), (RET_K, 0, 0, RET_TRACE)]
    low = 0 if sys.byteorder == "little" else 4
    for nr, (idx, vals) in sorted(narrowed.items()):
        block = [(LD_W_ABS, 0, 0, 16 + 8 * idx + low)]
        block += [(JEQ_K, len(vals) - i, 0, v) for i, v in enumerate(vals)]
        block += [(RET_K, 0, 0, RET_ALLOW), (RET_K, 0, 0, RET_TRACE)]
        prog.append((JEQ_K, 0, len(block), nr))
        prog += block
    nrs = sorted(plain)
    prog += [(JEQ_K, len(nrs) - i, 0, nr) for i, nr in enumerate(nrs)]
    prog += [(RET_K, 0, 0, RET_ALLOW), (RET_K, 0, 0, RET_TRACE)]
    return b"".join(code.to_bytes(2, sys.byteorder) + bytes((jt, jf)) + k.to_bytes(4, sys.byteorder)
                    for code, jt, jf, k in prog)


def child(argv, packed):
    """In the forked child: be traced, stop, install the filter, exec. Never returns."""
    try:
        import _signal  # the runtime ignores SIGPIPE and SIGXFSZ; the command gets the defaults

        _signal.signal(13, _signal.SIG_DFL)
        _signal.signal(25, _signal.SIG_DFL)
        ptrace(PTRACE_TRACEME, 0, None, None)
        os.kill(os.getpid(), SIGSTOP)  # the tracer sets TRACESECCOMP before the filter exists
        buf = ctypes.create_string_buffer(packed, len(packed))
        fprog = SockFprog(len(packed) // 8, ctypes.addressof(buf))
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
            # without CAP_SYS_ADMIN the kernel wants NO_NEW_PRIVS first (pdigpy does the same)
            libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "seccomp filter refused")
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, f"floor_tracer: {argv[0]}: {e.strerror}\n".encode())
        os._exit(127)
    finally:
        os._exit(126)


def trace(argv, packed, exit_stops):
    """Run the command under the loop; return (exit status, stop counts, loop CPU seconds)."""
    leader = os.fork()
    if leader == 0:
        child(argv, packed)
    _, st = os.waitpid(leader, WALL)
    if st & 0xFF != 0x7F or ptrace(PTRACE_SETOPTIONS, leader, None, OPTIONS) != 0:
        os.kill(leader, 9)
        die(f"cannot trace {argv[0]}: wait status {st:#x}, errno {ctypes.get_errno()}")
    ptrace(PTRACE_CONT, leader, None, 0)

    # Hot path, written for speed: whole wait statuses compared first, names bound to locals.
    ST_SECCOMP = (((EVENT_SECCOMP << 8) | SIGTRAP) << 8) | 0x7F
    ST_SYSCALL = ((0x80 | SIGTRAP) << 8) | 0x7F
    P_CONT, P_SYSCALL, GSI, GSI_SIZE = PTRACE_CONT, PTRACE_SYSCALL, PTRACE_GET_SYSCALL_INFO, SYSCALL_INFO_SIZE
    info = ctypes.create_string_buffer(SYSCALL_INFO_SIZE)
    info_ref = ctypes.byref(info)
    waitpid = os.waitpid
    started = {leader}  # tids past their attach stop: a later SIGSTOP is a real signal
    in_syscall = set()  # exit variant: tids resumed with PTRACE_SYSCALL, owed an exit stop
    n_seccomp = n_syscall = n_event = n_signal = 0
    rc = 0
    t0 = time.process_time()
    while True:
        try:
            tid, st = waitpid(-1, WALL)
        except ChildProcessError:
            break
        if st == ST_SECCOMP:
            n_seccomp += 1
            if exit_stops:
                ptrace(GSI, tid, GSI_SIZE, info_ref)
                ptrace(P_SYSCALL, tid, None, None)
                in_syscall.add(tid)
            else:
                ptrace(P_CONT, tid, None, None)
            continue
        if st == ST_SYSCALL:
            n_syscall += 1
            ptrace(GSI, tid, GSI_SIZE, info_ref)
            in_syscall.discard(tid)
            ptrace(P_CONT, tid, None, None)
            continue
        if st & 0x7F != 0x7F:  # exited or killed
            started.discard(tid)
            in_syscall.discard(tid)
            if tid == leader:
                rc = (st >> 8) & 0xFF if st & 0x7F == 0 else 128 + (st & 0x7F)
            continue
        sig = (st >> 8) & 0xFF
        op = P_SYSCALL if tid in in_syscall else P_CONT
        if st >> 16:  # fork, vfork, clone or exec event
            n_event += 1
            ptrace(op, tid, None, None)
        elif sig == SIGSTOP and tid not in started:  # a new child's attach stop
            n_event += 1
            started.add(tid)
            ptrace(op, tid, None, None)
        else:  # a signal for the tracee: deliver it
            n_signal += 1
            ptrace(op, tid, None, sig)
    t1 = time.process_time()
    stops = {"ptrace_seccomp_stops": n_seccomp, "ptrace_syscall_stops": n_syscall, "ptrace_event_stops": n_event,
             "ptrace_signal_stops": n_signal}
    return rc, stops, t1 - t0


def main(args):
    exit_stops = False
    stats_file = None
    spec = None
    while args and args[0] != "--":
        opt = args.pop(0)
        if opt == "--exit-stops":
            exit_stops = True
        elif opt in ("-e", "--stats-file") and args:
            val = args.pop(0)
            if opt == "-e":
                spec = val
            else:
                stats_file = val
        else:
            die(f"unknown or incomplete option {opt!r}; usage: floor_tracer.py [--exit-stops] "
                "[--stats-file F] -e SET -- COMMAND [ARG...]")
    command = args[1:]
    if spec is None or not command:
        die("usage: floor_tracer.py [--exit-stops] [--stats-file F] -e SET -- COMMAND [ARG...]")
    audit_arch = ARCHES.get(os.uname().machine)
    if audit_arch is None:
        die(f"unsupported machine {os.uname().machine}; x86_64 or aarch64")
    plain, narrowed = parse_set(spec)
    rc, stops, cpu = trace(command, build_filter(plain, narrowed, audit_arch), exit_stops)
    if stats_file:  # JSON written by hand: importing json would add ~8 ms to the floor's start-up
        rec = {"kind": "final", "variant": "exit" if exit_stops else "entry",
               "ptrace_stops": sum(stops.values()), **stops, "tracer_cpu_s": round(cpu, 4)}
        with open(stats_file, "w") as f:
            f.write("{" + ", ".join(f'"{k}": ' + (f'"{v}"' if isinstance(v, str) else str(v))
                                    for k, v in rec.items()) + "}\n")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

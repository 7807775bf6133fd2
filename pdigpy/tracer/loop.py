"""The wait loop: one thread, ``waitpid(-1, __WALL)``, every stop of every tracee.

Stops and what the loop does with them (status >> 8 tells them apart):

- seccomp stop (``PTRACE_EVENT_SECCOMP``): PTRACE_GET_SYSCALL_INFO op SECCOMP
  gives nr + args. The table row decides the cost: no exit stop needed ->
  ``spec.exit(..., None)`` right away, resume with PTRACE_CONT; else remember
  the entry and resume with PTRACE_SYSCALL.
- syscall stop (``SIGTRAP|0x80``): op ENTRY or EXIT, from the kernel, never
  from a toggle, so fork/clone/exec event stops cannot invert entry/exit.
- fork/vfork/clone event stop: parent and child clone events (type from the
  syscall the parent made), the child is resumed once both its first stop and
  the parent's event were seen, in whichever order they come.
- exec event stop: an execve event from /proc (also for a non-leader thread:
  PTRACE_GETEVENTMSG gives its former tid).
- exit event stop: procexit. Spawn mode takes these only from leaders of
  multi-threaded processes; every other procexit comes from the wait status
  (see :meth:`TraceLoop.exit_stops_on_demand`).
- PTRACE_EVENT_STOP: a new child's first stop, a group-stop (PTRACE_LISTEN, so
  ``kill -STOP``/``-CONT`` work as without a tracer), or our own interrupt.
- any other stop is a signal-delivery stop: the signal is passed on untouched
  (for a relayed signal its sender is noted first, see :meth:`TraceLoop.note_delivery`).

A ptrace request that fails with ESRCH (the thread died between two stops)
is counted and ignored: its death is reported by waitpid later.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import operator
import os
import signal
import sys
import time
from typing import Any, Callable

from pdigpy.events.model import Event
from pdigpy.events.procinfo import ProcInfo
from pdigpy.tracer import ptrace as _pt
from pdigpy.tracer.memory import ProcessMemory
from pdigpy.tracer.syscalls.spec import SyscallSpec

CLONE_NAMES = frozenset(("clone", "clone3", "fork", "vfork"))
EXEC_NAMES = frozenset(("execve", "execveat"))
_SIGCHLD = int(signal.SIGCHLD)
_STOP_SIGNALS = frozenset((signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU))

# status >> 8 of the stops the hot path tells apart
_K_SYSCALL = 0x80 | signal.SIGTRAP
# ptrace(2) through a foreign ABI (i386, x32, AArch32): (arch, nr). Without
# seccomp such calls run, so an attach to pdigpy is refused there too.
_FOREIGN_PTRACE = frozenset({
    (_pt.AUDIT_ARCH_I386, 26),
    (_pt.AUDIT_ARCH_X86_64, _pt.X32_SYSCALL_BIT | 521),
    (_pt.AUDIT_ARCH_ARM, 26),
})
_K_SECCOMP = (_pt.PTRACE_EVENT_SECCOMP << 8) | signal.SIGTRAP


class LoopCounters:
    """The loop's counters (copied into TracerStats at the end).

    A plain class, not a dataclass: it is defined at every start-up, and
    @dataclass costs about 1 ms of import time for it.
    """

    __slots__ = (
        "seccomp_stops", "syscall_stops", "event_stops", "signal_stops", "group_stops", "syscalls_traced",
        "events", "esrch_races", "compat_syscalls", "decode_errors", "orphans_reaped", "internal_errors",
        "early_children",  # first stop seen before the parent's clone event
        "regs_fallbacks",  # stops decoded from registers (no GET_SYSCALL_INFO)
        "ptrace_refused",  # attaches to pdigpy itself refused with EPERM
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def __repr__(self) -> str:
        return "LoopCounters(" + ", ".join(f"{n}={getattr(self, n)}" for n in self.__slots__) + ")"


class Lifecycle:
    """The builders the loop needs from the syscall layer (T2's lifecycle/procfs)."""

    def __init__(self) -> None:
        from pdigpy.tracer import lifecycle, procfs

        self.read_procinfo: Callable[[int], ProcInfo | None] = procfs.read_procinfo
        self.execve_args: Callable[..., dict] = lifecycle.execve_args
        self.clone_args: Callable[[ProcInfo, int, int], dict] = lifecycle.clone_args
        self.ppm_clone_flags: Callable[[int], int] = lifecycle.ppm_clone_flags
        self.procexit_args: Callable[[int], dict] = lifecycle.procexit_args


class TraceLoop:
    """State of one tracing session and the loop over its stops."""

    def __init__(
        self,
        specs: list[SyscallSpec],
        name_by_nr: dict[int, str],
        event_by_name: dict[str, str],
        on_event: Callable[[Event], None],
        lifecycle: Lifecycle,
        seccomp: bool,
        counters: LoopCounters,
        events_by_type: dict[str, int],
        warn: Callable[[str], None],
    ) -> None:
        nmax = max((s.nr for s in specs), default=-1) + 1
        self.by_nr: list[SyscallSpec | None] = [None] * nmax
        for s in specs:
            self.by_nr[s.nr] = s
        # Traced lifecycle syscalls always take their exit stop: on success the
        # event stop builds the event and resumes with PTRACE_CONT (no exit stop
        # then); on failure the exit stop gives the failed call's event.
        self.force_exit = frozenset(s.nr for s in specs if s.name in CLONE_NAMES or s.name in EXEC_NAMES)
        self.name_by_nr = name_by_nr
        self.event_by_name = event_by_name
        self.on_event = on_event
        self.lc = lifecycle
        self.seccomp = seccomp
        self.c = counters
        self.events_by_type = events_by_type
        self.warn = warn
        self.mem = ProcessMemory()
        self.num = 0
        # tid -> tgid of every live tracee we know
        self.tgid: dict[int, int] = {}
        # tid -> (spec, args, entry value) between entry and exit stop
        self.pending: dict[int, tuple[SyscallSpec, tuple, Any]] = {}
        # tgid -> ProcInfo of the process (tid = leader)
        self.info: dict[int, ProcInfo] = {}
        # children whose first stop came before the parent's event: tid -> True
        self.held: dict[int, bool] = {}
        # children announced by the parent's event, first stop not yet seen
        self.expected: dict[int, int] = {}
        self.exit_seen: set[int] = set()
        # Exit stops on demand (spawn mode; see exit_stops_on_demand): the
        # options of a tracee without PTRACE_O_TRACEEXIT, the tids that have
        # it (leaders of multi-threaded processes), the children that
        # inherited it and lose it at their first stop, and the processes
        # that ever had a second thread.
        self.lazy_exit_options: int | None = None
        self.exit_traced: set[int] = set()
        self.exit_reset: set[int] = set()
        self.multithreaded: set[int] = set()
        # a tid whose syscalls are not reported (pdigpy's child before it execs)
        self.silent_tid = 0
        self.root_exec: tuple | None = None  # last exec attempt of the silent child
        self.root_pid = 0
        self.root_ptid = 0
        self.root_status: int | None = None
        # spawn mode: called with the root's ProcInfo at its first exec stop, before its
        # execve event (the session adds the fds it inherited and gives a snapshot)
        self.root_snapshot: Callable[[ProcInfo], None] | None = None
        self.detach_flag: Any = None  # object with .detach_requested / .detach_ack
        self.detaching = False
        self.mode_changed = False
        # spawn mode: tells at the app's exec whether its seccomp filter was refused
        self.filter_refused: Callable[[], str | None] | None = None
        # PTRACE_GET_SYSCALL_INFO (Linux >= 5.3). PDIGPY_NO_SYSCALL_INFO=1 forces
        # the register fallback that older kernels take (used by the tests).
        self.gsi_request = _pt.PTRACE_GET_SYSCALL_INFO
        if os.environ.get("PDIGPY_NO_SYSCALL_INFO") == "1":
            self.gsi_request = 0x42FF  # not a request: every stop takes the fallback
        self._msg = ctypes.c_ulong()
        self._msg_ref = ctypes.byref(self._msg)
        self._compat_warned = False
        self._ptrace_warned = False
        self.own_pid = os.getpid()
        self._decode_warned = False
        self._internal_warned = False
        # The relay's duplicate check for signals aimed at the process group
        # (see pdigpy.tracer.signals): who sent a relayed signal the app takes.
        from pdigpy.tracer.signals import DELIVERIES, FORWARDED

        self.deliveries = DELIVERIES
        self.relayed = frozenset(FORWARDED)
        self._siginfo = _pt.SigInfo()
        self._siginfo_ref = ctypes.byref(self._siginfo)

    # --- event emission (cold paths; the hot path inlines this) -----------

    def emit(self, tid: int, pid: int, etype: str, res: int | None, args: dict) -> None:
        self.num += 1
        ebt = self.events_by_type
        ebt[etype] = ebt.get(etype, 0) + 1
        try:
            self.on_event(Event(self.num, time.time_ns(), tid, pid, etype, res, args))
        except Exception as exc:  # noqa: BLE001 - the stop must still be finished
            self.c.internal_errors += 1
            if not self._internal_warned:
                self._internal_warned = True
                self.warn(f"pdigpy: internal error in the event consumer: {exc!r} (tracing continues)")

    def _decode_failed(self, spec: SyscallSpec, exc: BaseException) -> dict:
        self.c.decode_errors += 1
        if not self._decode_warned:
            self._decode_warned = True
            self.warn(f"pdigpy: decoding {spec.name} failed ({exc!r}); such events carry no arguments")
        return {}

    # --- the loop ---------------------------------------------------------

    def run(self) -> None:
        """Trace until no tracee is left (or, attached, until detached)."""
        while True:
            self.mode_changed = False
            self._run()
            if not self.mode_changed:
                return

    def _run(self) -> None:
        # Hot path, written for speed: the common stops (seccomp, then syscall
        # exit) are tested first by their whole status; two ctypes calls per
        # stop through the GIL-holding, errno-free twin with prebuilt byref
        # arguments; every name bound to a local; no allocation per stop
        # beyond the event itself.
        status = ctypes.c_int(0)
        status_addr = ctypes.byref(status)
        info_buf = ctypes.create_string_buffer(_pt.SYSCALL_INFO_SIZE)
        info_ref = ctypes.byref(info_buf)
        ptrace = _pt.ptrace_hot
        waitpid = _pt.waitpid_fast
        get_errno = _pt.errno
        unpack_entry = _pt.SYSCALL_INFO_ENTRY_FMT.unpack_from
        unpack_exit = _pt.SYSCALL_INFO_EXIT_FMT.unpack_from
        GSI = self.gsi_request
        GSI_SIZE = _pt.SYSCALL_INFO_SIZE
        P_CONT = _pt.PTRACE_CONT
        P_SYSCALL = _pt.PTRACE_SYSCALL
        OP_ENTRY = _pt.SYSCALL_INFO_ENTRY
        OP_EXIT = _pt.SYSCALL_INFO_EXIT
        NATIVE_ARCH = _pt.NATIVE_AUDIT_ARCH
        X32 = _pt.X32_SYSCALL_BIT
        PTRACE_NR = _pt.PTRACE_NR
        WALL = _pt.WALL
        ST_SECCOMP = (_K_SECCOMP << 8) | 0x7F  # whole wait statuses of the two common stops
        ST_SYSCALL = (_K_SYSCALL << 8) | 0x7F
        seccomp = self.seccomp
        idle_op = P_CONT if seccomp else P_SYSCALL
        by_nr = self.by_nr
        nmax = len(by_nr)
        force_exit = self.force_exit
        tgid = self.tgid
        tgid_get = tgid.get
        pending = self.pending
        pending_pop = pending.pop
        mem = self.mem
        on_event = self.on_event
        ebt = self.events_by_type
        ebt_get = ebt.get
        time_ns = time.time_ns
        c = self.c
        flag = self.detach_flag
        root_pid = self.root_pid
        silent = self.silent_tid  # changes only at an exec event stop: re-read after those
        os_wait = os.waitpid if flag is None else None
        relayed = self.relayed
        deliveries = self.deliveries
        n_seccomp = n_syscall = n_traced = 0
        try:
            while tgid or self.expected or self.held:
                if os_wait is not None:
                    # os.waitpid is cheaper than a ctypes call, but retries EINTR
                    # itself: only usable when no detach request must wake us.
                    try:
                        tid, st = os_wait(-1, WALL)
                    except ChildProcessError:
                        break
                else:
                    tid = waitpid(-1, status_addr, WALL)
                    if tid <= 0:
                        err = get_errno()
                        if err == 4:  # EINTR: a detach request woke us
                            if flag is not None and flag.detach_requested:
                                self.begin_detach()
                                self.run_detach()
                                break
                            continue
                        if err == 10:  # ECHILD: nothing left to wait for
                            break
                        continue
                    st = status.value
                    if flag.detach_requested:  # a busy tracee may never let waitpid block
                        self.begin_detach()
                        self.detach_stop(tid, st)
                        self.run_detach()
                        break
                try:
                    if st == ST_SECCOMP:
                        n_seccomp += 1
                        if ptrace(GSI, tid, GSI_SIZE, info_ref) <= 0 and not self.no_syscall_info(tid, True, info_buf):
                            continue
                        t = unpack_entry(info_buf)
                        nr = t[4]
                        if t[1] != NATIVE_ARCH or nr & X32:  # first: a foreign nr means another call
                            self.foreign_seccomp_stop(tid, t[1], nr)
                            continue
                        if nr == PTRACE_NR:  # rare: refuse an attach to pdigpy, then go on as usual
                            self.guard_ptrace(tid, t[5:11])
                        spec = by_nr[nr] if nr < nmax else None
                        if spec is None or tid == silent:
                            if spec is not None and nr in force_exit:
                                self.silent_exec_attempt(tid, spec, t[5:11])
                            if ptrace(P_CONT, tid, None, None) == -1:
                                c.esrch_races += 1
                            continue
                        n_traced += 1
                        args = t[5:11]
                        try:
                            entry = spec.entry
                            ev = entry(tid, args, mem) if entry is not None else None
                            if spec.exit_stop or nr in force_exit:
                                pending[tid] = (spec, args, ev)
                                if ptrace(P_SYSCALL, tid, None, None) == -1:
                                    c.esrch_races += 1
                                continue
                            eargs = spec.exit(tid, args, ev, None, mem)
                        except Exception as exc:  # a decoder bug must not kill the app
                            eargs = self._decode_failed(spec, exc)
                        etype = spec.event
                        self.num += 1
                        ebt[etype] = ebt_get(etype, 0) + 1
                        on_event(Event(self.num, time_ns(), tid, tgid_get(tid, tid), etype, None, eargs))
                        if ptrace(P_CONT, tid, None, None) == -1:
                            c.esrch_races += 1
                        continue
                    if st == ST_SYSCALL:
                        n_syscall += 1
                        if ptrace(GSI, tid, GSI_SIZE, info_ref) <= 0 and not self.no_syscall_info(tid, False, info_buf):
                            continue
                        t = unpack_exit(info_buf)  # the common case; op is at [0] in both layouts
                        op = t[0]
                        if op == OP_EXIT:
                            p = pending_pop(tid, None)
                            if p is not None:
                                spec, args, ev = p
                                rval = t[4]
                                try:
                                    eargs = spec.exit(tid, args, ev, rval, mem)
                                except Exception as exc:
                                    eargs = self._decode_failed(spec, exc)
                                if tid == root_pid and "ptid" in eargs:
                                    eargs["ptid"] = self.root_ptid  # /proc says pdigpy; we are transparent
                                etype = spec.event
                                self.num += 1
                                ebt[etype] = ebt_get(etype, 0) + 1
                                on_event(Event(self.num, time_ns(), tid, tgid_get(tid, tid), etype, rval, eargs))
                            if ptrace(idle_op, tid, None, None) == -1:
                                c.esrch_races += 1
                            continue
                        if op == OP_ENTRY:
                            t = unpack_entry(info_buf)
                            nr = t[4]
                            if t[1] != NATIVE_ARCH or nr & X32:
                                self.compat_syscall(tid, t[1], nr)
                                if (t[1], nr) in _FOREIGN_PTRACE:  # it runs here: guard pdigpy as natively
                                    self.guard_ptrace(tid, t[5:11])
                            elif nr == PTRACE_NR and self.guard_ptrace(tid, t[5:11]) and (nr >= nmax or by_nr[nr] is None):
                                pass  # refused and not traced: nothing to report at its exit
                            elif nr < nmax and tid != silent:
                                spec = by_nr[nr]
                                if spec is not None:
                                    n_traced += 1
                                    args = t[5:11]
                                    try:
                                        ev = spec.entry(tid, args, mem) if spec.entry is not None else None
                                        if spec.exit_stop or nr in force_exit:
                                            pending[tid] = (spec, args, ev)
                                            eargs = None
                                        else:
                                            eargs = spec.exit(tid, args, ev, None, mem)
                                    except Exception as exc:
                                        eargs = self._decode_failed(spec, exc)
                                    if eargs is not None:
                                        etype = spec.event
                                        self.num += 1
                                        ebt[etype] = ebt_get(etype, 0) + 1
                                        on_event(Event(self.num, time_ns(), tid, tgid_get(tid, tid), etype, None, eargs))
                        if ptrace(P_SYSCALL, tid, None, None) == -1:
                            c.esrch_races += 1
                        continue
                    if (st & 0x7F) != 0x7F:
                        self.on_gone(tid, st)
                        continue
                    k = st >> 8
                    if k > 0xFF:
                        self.on_event_stop(tid, k >> 8, k & 0xFF)
                        silent = self.silent_tid
                        if self.mode_changed:  # seccomp refused: rebind the loop for PTRACE_SYSCALL
                            break
                        continue
                    # signal-delivery stop: pass the signal on untouched
                    c.signal_stops += 1
                    if k in relayed and deliveries.active:
                        self.note_delivery(tid, k)
                    op_ = P_SYSCALL if (not seccomp or tid in pending) else P_CONT
                    if ptrace(op_, tid, None, k) == -1:
                        c.esrch_races += 1
                except Exception as exc:  # noqa: BLE001 - never die with the app attached
                    self.internal_error(tid, exc)
        finally:
            c.seccomp_stops += n_seccomp
            c.syscall_stops += n_syscall
            c.syscalls_traced += n_traced
            c.events = self.num

    # --- cold paths -------------------------------------------------------

    def internal_error(self, tid: int, exc: BaseException) -> None:
        """A bug in a sink, decoder or here: report once, count, and let the tracee go on.

        Dying instead would SIGKILL the app (EXITKILL); an observer must not do that.
        """
        self.c.internal_errors += 1
        if not self._internal_warned:
            self._internal_warned = True
            self.warn(f"pdigpy: internal error at a stop of thread {tid}: {exc!r} (tracing continues)")
        if _pt.ptrace(_pt.PTRACE_SYSCALL if (not self.seccomp or tid in self.pending) else _pt.PTRACE_CONT, tid, None, None) == -1:
            pass

    def resume(self, tid: int, sig: int = 0) -> None:
        op = _pt.PTRACE_SYSCALL if (not self.seccomp or tid in self.pending) else _pt.PTRACE_CONT
        if _pt.ptrace_hot(op, tid, None, sig) == -1:
            self.c.esrch_races += 1

    def note_delivery(self, tid: int, sig: int) -> None:
        """A relayable signal at its delivery stop, before it is passed on: record its sender.

        A kill() aimed at the process group gives the app its own copy; the
        relay then drops pdigpy's copy (DeliveryLedger). Only the tracing thread
        may issue the GETSIGINFO, hence the record here and not in the relay.
        """
        if _pt.ptrace_hot(_pt.PTRACE_GETSIGINFO, tid, None, self._siginfo_ref) == -1:
            return
        info = self._siginfo
        if info.si_code != 0 or info.si_pid == self.own_pid:  # SI_USER only; our own forwards are no twin
            return
        self.deliveries.delivered(self.tgid.get(tid, tid), sig, info.si_pid, info.si_uid)

    def no_syscall_info(self, tid: int, seccomp_stop: bool, info_buf) -> bool:
        """GET_SYSCALL_INFO failed: the thread died (ESRCH), or the kernel predates it (EIO).

        Falls back to the registers (PTRACE_GETREGSET); False when the thread is gone.
        """
        # The hot twin keeps no errno: ask once more through the errno-keeping binding.
        if _pt.ptrace(self.gsi_request, tid, _pt.SYSCALL_INFO_SIZE, ctypes.addressof(info_buf)) > 0:
            return True
        expect_exit = not seccomp_stop and (self.seccomp or tid in self.pending)
        if _pt.errno() != errno.ESRCH and _pt.fill_syscall_info_from_regs(tid, seccomp_stop, info_buf, expect_exit):
            self.c.regs_fallbacks += 1
            return True
        self.c.esrch_races += 1
        return False

    def silent_exec_attempt(self, tid: int, spec: SyscallSpec, args: tuple) -> None:
        """pdigpy's child trying an exec (PATH search): remember the path for the app's execve event."""
        if spec.name in EXEC_NAMES and spec.entry is not None:
            try:
                self.root_exec = (spec, args, spec.entry(tid, args, self.mem))
            except Exception:  # noqa: BLE001 - only a nicer filename is lost
                pass

    def guard_ptrace(self, tid: int, args: tuple) -> bool:
        """ptrace entry: refuse PTRACE_ATTACH/PTRACE_SEIZE on pdigpy itself with EPERM.

        A tracee (root, or with CAP_SYS_PTRACE) that attaches to its tracer
        deadlocks both: pdigpy stops in tracing-stop inside wait4, the app waits
        in ptrace for pdigpy. The call is skipped (its number set to -1) with
        -EPERM in the return register, so its exit stop, and the event, show
        res=-EPERM like a refusal by the kernel. True if refused.
        """
        if args[0] not in (_pt.PTRACE_ATTACH, _pt.PTRACE_SEIZE):
            return False
        target = args[1] & 0xFFFFFFFF  # pid_t
        if target != self.own_pid and str(target) not in _own_threads():
            return False
        try:  # a pid of another pid namespace names someone else
            if os.stat(f"/proc/{tid}/ns/pid").st_ino != os.stat("/proc/self/ns/pid").st_ino:
                return False
        except OSError:
            pass  # unknown: refusing is the safe side
        if not _pt.skip_syscall(tid, -errno.EPERM):
            return False
        self.c.ptrace_refused += 1
        if not self._ptrace_warned:
            self._ptrace_warned = True
            self.warn(
                f"pdigpy: thread {tid} tried to ptrace-attach to pdigpy itself (pid {target}); "
                "refused with EPERM (counted in stats.ptrace_refused)"
            )
        return True

    def foreign_seccomp_stop(self, tid: int, arch: int, nr: int) -> None:
        """A syscall through a foreign ABI (i386, x32, AArch32) at a seccomp stop.

        Its number means another call in the native table, so it is not run:
        skipped with -ENOSYS, counted and reported once, then the thread goes on.
        """
        _pt.skip_syscall(tid, -errno.ENOSYS)
        self.compat_syscall(tid, arch, nr)
        if _pt.ptrace_hot(_pt.PTRACE_CONT, tid, None, None) == -1:
            self.c.esrch_races += 1

    def compat_syscall(self, tid: int, arch: int, nr: int) -> None:
        self.c.compat_syscalls += 1
        if not self._compat_warned:
            self._compat_warned = True
            kind = {_pt.NATIVE_AUDIT_ARCH: "x32", _pt.AUDIT_ARCH_I386: "i386", _pt.AUDIT_ARCH_ARM: "arm32"}.get(
                arch, f"arch {arch:#x}"
            )
            what = ("refused with ENOSYS: syscalls of foreign ABIs do not run under seccomp mode"
                    if self.seccomp else "syscalls of foreign ABIs are not decoded")
            self.warn(
                f"pdigpy: thread {tid} made a syscall through the {kind} ABI (nr {nr & 0xFFFF}); "
                f"{what} (counted in stats.compat_syscalls)"
            )

    def on_event_stop(self, tid: int, ev: int, sig: int) -> None:
        c = self.c
        c.event_stops += 1
        if ev == _pt.PTRACE_EVENT_STOP:
            if tid not in self.tgid:
                self.first_stop(tid)
            elif sig in _STOP_SIGNALS:
                # group-stop: stay stopped, but let the tracer hear of SIGCONT
                c.group_stops += 1
                if _pt.ptrace(_pt.PTRACE_LISTEN, tid, None, None) == -1:
                    c.esrch_races += 1
            else:
                self.resume(tid)
            return
        if ev in (_pt.PTRACE_EVENT_CLONE, _pt.PTRACE_EVENT_FORK, _pt.PTRACE_EVENT_VFORK):
            self.on_clone(tid, ev)
        elif ev == _pt.PTRACE_EVENT_EXEC:
            self.on_exec(tid)
        elif ev == _pt.PTRACE_EVENT_EXIT:
            self.on_exit_event(tid)
        else:
            self.resume(tid)

    def event_msg(self, tid: int) -> int | None:
        """PTRACE_GETEVENTMSG into a buffer built once; None if the thread is gone."""
        if _pt.ptrace_hot(_pt.PTRACE_GETEVENTMSG, tid, None, self._msg_ref) == -1:
            return None
        return self._msg.value

    def first_stop(self, tid: int) -> None:
        """The first stop of an auto-attached child."""
        if tid in self.expected:
            self.tgid[tid] = self.expected.pop(tid)
            if self.exit_reset:
                self.drop_exit_option(tid)
            self.resume(tid)
        else:  # before its parent's clone event: keep it stopped until then
            self.c.early_children += 1
            self.held[tid] = True

    def _clone_syscall(self, tid: int, ev: int) -> tuple[str, str, int | None]:
        """(syscall name, event type, linux clone flags) of the clone a parent is in."""
        p = self.pending.pop(tid, None)
        if p is not None and p[0].name in CLONE_NAMES:
            spec, args, _ = p
            name, etype = spec.name, spec.event
        else:
            regs = _pt.read_regs(tid)
            if regs is None:
                return ("clone", "clone", None)
            nr, args = regs
            name = self.name_by_nr.get(nr, "")
            if name not in CLONE_NAMES:
                name = {_pt.PTRACE_EVENT_FORK: "fork", _pt.PTRACE_EVENT_VFORK: "vfork"}.get(ev, "clone")
                return (name, self.event_by_name.get(name, name), None)
            etype = self.event_by_name.get(name, name)
        if name == "clone":
            flags = args[0]
        elif name == "clone3":
            raw = self.mem.read(tid, args[0], 8)  # struct clone_args starts with u64 flags
            flags = int.from_bytes(raw, sys.byteorder) if len(raw) == 8 else None
        elif name == "fork":
            flags = _SIGCHLD
        else:
            flags = _pt.CLONE_VM | _pt.CLONE_VFORK | _SIGCHLD
        return (name, etype, flags)

    def on_clone(self, parent: int, ev: int) -> None:
        child = self.event_msg(parent)
        if child is None:
            self.c.esrch_races += 1
            return
        name, etype, flags = self._clone_syscall(parent, ev)
        ptgid = self.tgid.get(parent, parent)
        if flags is None:  # unknown: ask /proc who the child belongs to
            is_thread = _read_tgid(child) == ptgid
            flags = _pt.CLONE_THREAD if is_thread else _SIGCHLD
        is_thread = bool(flags & _pt.CLONE_THREAD)
        child_tgid = ptgid if is_thread else child
        pinfo = self.info.get(ptgid)
        if pinfo is None:
            pinfo = self.lc.read_procinfo(parent)
            if pinfo is None:
                pinfo = ProcInfo(tid=parent, pid=ptgid, ptid=0)
            self.info[ptgid] = pinfo
        if is_thread:
            cinfo = copy_info(pinfo)
            cinfo.tid = child
        else:
            cinfo = None
            if flags & _pt.CLONE_NEWPID or pinfo.vpid != pinfo.pid:
                cinfo = self.lc.read_procinfo(child)  # other pid namespace: ask /proc
            if cinfo is None:
                ptid = pinfo.ptid if flags & _pt.CLONE_PARENT else ptgid
                cinfo = copy_info(pinfo)
                cinfo.tid = cinfo.pid = cinfo.vtid = cinfo.vpid = child
                cinfo.ptid = ptid
            self.info[child] = cinfo
        self.expected.pop(child, None)
        if self.lazy_exit_options is not None:
            self.exit_stops_on_demand(parent, ptgid, child, is_thread)
        if parent == self.silent_tid:
            pass
        else:
            ppm = self.lc.ppm_clone_flags(flags)
            if pinfo.tid == parent:
                pside = pinfo
            else:
                pside = copy_info(pinfo)
                pside.tid = parent
            self.emit(parent, ptgid, etype, child, self.lc.clone_args(pside, ppm, child))
            self.emit(child, child_tgid, etype, 0, self.lc.clone_args(cinfo, ppm, 0))
        self.resume(parent)
        if self.held.pop(child, None):
            self.tgid[child] = child_tgid
            if self.exit_reset:
                self.drop_exit_option(child)
            self.resume(child)
        else:
            self.expected[child] = child_tgid

    def on_exec(self, tid: int) -> None:
        former = self.event_msg(tid)
        p = self.pending.pop(tid, None)
        if self.lazy_exit_options is not None and tid in self.multithreaded:
            self.exits_before_exec(tid, former)
        if former is not None and former != tid:
            # a non-leader thread exec'd: it now has the leader's tid
            p = self.pending.pop(former, None) or p
            self.tgid.pop(former, None)
            self.exit_seen.discard(former)
        self.exit_seen.discard(tid)
        self.tgid[tid] = tid
        info = self.lc.read_procinfo(tid)
        if info is None:
            info = self.info.get(tid) or ProcInfo(tid=tid, pid=tid, ptid=0)
        if tid == self.root_pid:
            info.ptid = self.root_ptid  # pdigpy is transparent, also across later execs
            if self.silent_tid:
                self.silent_tid = 0
                p, self.root_exec = self.root_exec, None
                if self.seccomp and self.filter_refused is not None:
                    why = self.filter_refused()
                    if why is not None:
                        self.warn(f"pdigpy: the seccomp filter was refused ({why}); "
                                  "stopping at every syscall instead (slower)")
                        self.seccomp = False
                        self.mode_changed = True
                if self.root_snapshot is not None:
                    self.root_snapshot(info)
        self.info[tid] = info
        filename = None
        etype = "execve"
        if p is not None and p[0].name in EXEC_NAMES:
            etype = p[0].event
            val = p[2]
            if isinstance(val, str):
                filename = val
            elif isinstance(val, dict):
                f = val.get("filename")
                filename = f if isinstance(f, str) else None
        if etype == "execve":
            eargs = self.lc.execve_args(info, 0, filename)
        else:
            eargs = self.lc.execve_args(info, 0, None, etype)
        self.emit(tid, tid, etype, 0, eargs)
        self.resume(tid)

    # --- exit stops on demand (spawn mode) ----------------------------------

    def exit_stops_on_demand(self, parent: int, ptgid: int, child: int, is_thread: bool) -> None:
        """Spawn mode takes no PTRACE_EVENT_EXIT stop, with one exception: leaders of multi-threaded processes.

        procexit comes from the wait status instead (:meth:`on_gone`): waitpid
        reports a thread's or a single-threaded process's death as it happens,
        with the same status the exit stop's event message carries. That saves
        one stop per exiting thread or process (fork+exec: 1 of 9 stops per
        iteration; threads: 1 of 5 per thread).

        The wait status is late in one case only: a thread-group leader that
        exits while other threads still run is reported by waitpid only when the
        last of them is gone, while Falco reports its procexit when it exits. So
        a leader gets PTRACE_O_TRACEEXIT when it creates its first thread (here,
        at that clone's event stop): one exit stop per multi-threaded process.
        Options are inherited at clone time, so the leader's later children
        (threads and forks) start with the option; they lose it at their first
        stop (one PTRACE_SETOPTIONS, much cheaper than a stop).

        The other ordering constraint is exec in a multi-threaded process: the
        kernel kills every other thread (a non-leader exec'er also takes over
        the leader's tid, whose death waitpid then never reports), and Falco
        shows their procexits before the execve. :meth:`exits_before_exec`
        emits them at the exec event stop from what the loop knows.
        """
        if parent in self.exit_traced:
            self.exit_reset.add(child)  # inherited TRACEEXIT; dropped at its first stop
        if is_thread:
            self.multithreaded.add(ptgid)
            if parent == ptgid and parent not in self.exit_traced:
                if _pt.ptrace_hot(_pt.PTRACE_SETOPTIONS, parent, None,
                              self.lazy_exit_options | _pt.PTRACE_O_TRACEEXIT) != -1:
                    self.exit_traced.add(parent)

    def drop_exit_option(self, tid: int) -> None:
        """At a child's first stop: drop the PTRACE_O_TRACEEXIT it inherited from its creator."""
        if tid in self.exit_reset:
            self.exit_reset.discard(tid)
            if _pt.ptrace_hot(_pt.PTRACE_SETOPTIONS, tid, None, self.lazy_exit_options) == -1:
                self.c.esrch_races += 1

    def exits_before_exec(self, tid: int, former: int | None) -> None:
        """procexit (status 0, as the kernel reports them) of the threads an exec killed, before its execve.

        Threads whose death waitpid already reported had theirs; the leader
        had it at its exit stop if it took one. The exec'er's old tid gets none:
        it did not die, it was renamed.
        """
        gone = [t for t, g in self.tgid.items() if g == tid and t != tid and t != former]
        if former is not None and former != tid:
            gone.insert(0, tid)  # the old leader
        for t in gone:
            if t not in self.exit_seen:
                self.exit_seen.add(t)
                self.emit(t, tid, "procexit", None, self.lc.procexit_args(0))
        self.multithreaded.discard(tid)
        if tid in self.exit_traced:
            # single-threaded again: an exit stop would only cost
            self.exit_traced.discard(tid)
            if former is None or former == tid:
                if _pt.ptrace_hot(_pt.PTRACE_SETOPTIONS, tid, None, self.lazy_exit_options) == -1:
                    self.c.esrch_races += 1

    def on_exit_event(self, tid: int) -> None:
        wstatus = self.event_msg(tid)
        self.pending.pop(tid, None)
        if wstatus is not None and tid != self.silent_tid:
            self.exit_seen.add(tid)
            self.emit(tid, self.tgid.get(tid, tid), "procexit", None, self.lc.procexit_args(wstatus & 0xFFFF))
        self.resume(tid)

    def on_gone(self, tid: int, st: int) -> None:
        """A tracee (or an untraced orphan child of ours) exited or was killed."""
        known = self.tgid.pop(tid, None)
        self.pending.pop(tid, None)
        self.held.pop(tid, None)
        self.expected.pop(tid, None)
        if self.exit_traced:
            self.exit_traced.discard(tid)
        if self.exit_reset:
            self.exit_reset.discard(tid)
        if tid == known and self.multithreaded:
            self.multithreaded.discard(tid)
        if known is None and tid != self.root_pid:
            self.c.orphans_reaped += 1
            return
        if tid not in self.exit_seen:
            # no PTRACE_EVENT_EXIT stop (e.g. SIGKILL): procexit from the wait status
            if tid != self.silent_tid:
                self.emit(tid, known or tid, "procexit", None, self.lc.procexit_args(st & 0xFFFF))
        else:
            self.exit_seen.discard(tid)
        if tid == known:
            self.info.pop(tid, None)
        if tid == self.root_pid:
            self.root_status = st

    # --- detaching (attach mode) -------------------------------------------

    def begin_detach(self) -> None:
        self.detaching = True
        if self.detach_flag is not None:
            self.detach_flag.detach_ack = True
        for tid in list(self.held):
            self._detach(tid, 0)
        for tid in list(self.tgid):
            if _pt.ptrace(_pt.PTRACE_INTERRUPT, tid, None, None) == -1:
                self.c.esrch_races += 1

    def run_detach(self) -> None:
        """Wait for every tracee to stop once more and detach it there."""
        status = ctypes.c_int(0)
        while self.tgid or self.expected or self.held:
            tid = _pt.waitpid(-1, ctypes.addressof(status), _pt.WALL)
            if tid <= 0:
                if _pt.errno() == 10:  # ECHILD
                    break
                continue
            try:
                self.detach_stop(tid, status.value)
            except Exception as exc:  # noqa: BLE001
                self.internal_error(tid, exc)

    def _detach(self, tid: int, sig: int) -> None:
        if _pt.ptrace(_pt.PTRACE_DETACH, tid, None, sig) == -1:
            self.c.esrch_races += 1
        self.tgid.pop(tid, None)
        self.held.pop(tid, None)
        self.expected.pop(tid, None)
        self.pending.pop(tid, None)

    def detach_stop(self, tid: int, st: int) -> None:
        if (st & 0x7F) != 0x7F:
            self.on_gone(tid, st)
            return
        k = st >> 8
        if k in (_K_SECCOMP, _K_SYSCALL) or k > 0xFF:
            ev = k >> 8
            if ev in (_pt.PTRACE_EVENT_CLONE, _pt.PTRACE_EVENT_FORK, _pt.PTRACE_EVENT_VFORK):
                child = _pt.geteventmsg(tid, ctypes.c_ulong())
                if child is not None and child not in self.held:
                    self.expected[child] = child
                elif child is not None:
                    self._detach(child, 0)
            # group-stop detaches as stopped, the rest resumes normally
            self._detach(tid, 0)
        else:
            self._detach(tid, k)  # a signal in flight is delivered, never lost


_INFO_FIELDS = tuple(f.name for f in dataclasses.fields(ProcInfo))
_info_values = operator.attrgetter(*_INFO_FIELDS)


def _copy_info_replace(info: ProcInfo) -> ProcInfo:
    return dataclasses.replace(info)


def _copy_info_positional(info: ProcInfo) -> ProcInfo:
    # ~10x cheaper than dataclasses.replace (which builds a kwargs dict per
    # field): one C call reads every field, __init__ takes them in order.
    return ProcInfo(*_info_values(info))


# A shallow copy of a ProcInfo (lists shared, as dataclasses.replace does): a
# clone child starts as its parent. Positional only while __init__'s
# parameters are the fields in order (checked once, here).
copy_info = (
    _copy_info_positional
    if ProcInfo.__init__.__code__.co_varnames[1 : len(_INFO_FIELDS) + 1] == _INFO_FIELDS
    else _copy_info_replace
)


def _own_threads() -> list[str]:
    """The tids of pdigpy's threads (they come and go: read at each use; ptrace calls are rare)."""
    try:
        return os.listdir("/proc/self/task")
    except OSError:
        return []


def _read_tgid(tid: int) -> int:
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return tid


def print_warning(msg: str) -> None:
    try:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


"""The tracer's public face: ``Tracer(sink, options).run_command(argv)`` or ``.attach(pid)``.

Spawn mode (``run_command``) is a transparent wrapper: the app gets pdigpy's
argv, env, cwd and stdio untouched, pdigpy writes nothing on stdout and
returns the app's exit code (128+N when signal N killed it; 127/126 when the
command could not be found/executed, with one line on stderr). Signals sent
to pdigpy are forwarded to the app (see :mod:`pdigpy.tracer.signals`); as
PID 1 pdigpy also reaps orphans. If pdigpy dies, the app dies with it
(PTRACE_O_EXITKILL, see :mod:`pdigpy.tracer.launcher`).

Attach mode (``attach``) observes a running process without seccomp and
detaches cleanly on SIGINT/SIGTERM/SIGHUP/SIGQUIT, leaving it running.

Before the first event the sink receives snapshots (``on_snapshot``) of the
processes that exist before tracing starts: in spawn mode pdigpy's own
ancestors (the app is presented as a child of pdigpy's parent: pdigpy is
transparent), in attach mode the ancestors of the target and every thread of
the traced processes. The snapshot of a traced process's main thread carries
its open fds (``ProcInfo.fds``, read from /proc by
:func:`pdigpy.tracer.procfs.read_fds` while it is stopped): in attach mode
for every attached process (after its threads have stopped), in spawn mode
for the root app only, at its first exec (a snapshot given just before its
execve event; the fds it inherited, close-on-exec ones already gone). Later
execs and forks read no fds: the state follows them from events.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, fields
from typing import Mapping, Protocol, Sequence

from pdigpy.events.model import Event
from pdigpy.events.procinfo import ProcInfo
from pdigpy.tracer import attach as _attach
from pdigpy.tracer import ptrace as _pt
from pdigpy.tracer.loop import Lifecycle, LoopCounters, TraceLoop, print_warning
from pdigpy.tracer.syscalls.spec import SyscallSpec

# Lifecycle syscalls the loop must recognise at event stops even when no
# table row is traced (number -> name), per architecture.
_LIFECYCLE_NRS = {
    "x86_64": {56: "clone", 57: "fork", 58: "vfork", 59: "execve", 322: "execveat", 435: "clone3"},
    "aarch64": {220: "clone", 221: "execve", 281: "execveat", 435: "clone3"},
}

_BASE_OPTIONS = (
    _pt.PTRACE_O_TRACESYSGOOD
    | _pt.PTRACE_O_TRACECLONE
    | _pt.PTRACE_O_TRACEEXEC
    | _pt.PTRACE_O_TRACEEXIT
)
_FOLLOW_OPTIONS = _pt.PTRACE_O_TRACEFORK | _pt.PTRACE_O_TRACEVFORK


class EventSink(Protocol):
    def on_event(self, evt: Event) -> None: ...

    def on_snapshot(self, info: ProcInfo) -> None: ...


class _WrittenOut:
    """repr and == for the dataclasses below, whose methods are written out.

    @dataclass generates __init__/__repr__/__eq__ with exec() at import: about
    2 ms of every start for these two classes. They stay dataclasses (fields(),
    asdict() and replace() work) with a hand-written __init__.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))  # type: ignore[arg-type]
        return f"{self.__class__.__qualname__}({inner})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self))  # type: ignore[arg-type]

    __hash__ = None  # type: ignore[assignment]  # mutable, like a default dataclass


@dataclass(init=False, repr=False, eq=False)
class TraceOptions(_WrittenOut):
    """What the tracer stops at: event types, seccomp, descendants, table rows, argument filters."""

    event_types: frozenset[str] | None  # None: every event type known
    seccomp: bool
    follow_descendants: bool
    # Additive: explicit table rows instead of the native table's rows for
    # ``event_types`` (tests, benchmarks, custom tables).
    syscall_specs: Sequence[SyscallSpec] | None
    # Additive: event type -> (argument index, values): the seccomp filter stops
    # at that event's syscalls only for those argument values (e.g. the state's
    # STATE_ARG_FILTERS for fcntl). Leave a type out when a rule wants all of it.
    # Only the seccomp filter narrows: without seccomp every call is reported.
    arg_filters: Mapping[str, tuple[int, frozenset[int]]] | None

    def __init__(
        self,
        event_types: frozenset[str] | None = None,
        seccomp: bool = True,
        follow_descendants: bool = False,
        syscall_specs: Sequence[SyscallSpec] | None = None,
        arg_filters: Mapping[str, tuple[int, frozenset[int]]] | None = None,
    ) -> None:
        self.event_types = event_types
        self.seccomp = seccomp
        self.follow_descendants = follow_descendants
        self.syscall_specs = syscall_specs
        self.arg_filters = arg_filters


@dataclass(init=False, repr=False, eq=False)
class TracerStats(_WrittenOut):
    """The tracer's counters for one run (stops by kind, events, signals, errors)."""

    stops: int
    seccomp_stops: int
    syscall_stops: int
    event_stops: int
    signal_stops: int
    group_stops: int
    syscalls_traced: int
    events: int
    events_by_type: dict[str, int]
    signals_forwarded: int
    signals_deduplicated: int
    esrch_races: int
    compat_syscalls: int
    decode_errors: int
    internal_errors: int
    early_children: int
    regs_fallbacks: int
    orphans_reaped: int
    ptrace_refused: int
    filter_syscalls: int
    tracer_cpu_s: float
    wall_s: float
    snapshot_fds: int  # additive: fds read from /proc for snapshots
    snapshot_fds_capped: int  # additive: processes with more open fds than procfs.MAX_FDS

    def __init__(
        self,
        stops: int = 0,
        seccomp_stops: int = 0,
        syscall_stops: int = 0,
        event_stops: int = 0,
        signal_stops: int = 0,
        group_stops: int = 0,
        syscalls_traced: int = 0,
        events: int = 0,
        events_by_type: dict[str, int] | None = None,
        signals_forwarded: int = 0,
        signals_deduplicated: int = 0,
        esrch_races: int = 0,
        compat_syscalls: int = 0,
        decode_errors: int = 0,
        internal_errors: int = 0,
        early_children: int = 0,
        regs_fallbacks: int = 0,
        orphans_reaped: int = 0,
        ptrace_refused: int = 0,
        filter_syscalls: int = 0,
        tracer_cpu_s: float = 0.0,
        wall_s: float = 0.0,
        snapshot_fds: int = 0,
        snapshot_fds_capped: int = 0,
    ) -> None:
        self.stops = stops
        self.seccomp_stops = seccomp_stops
        self.syscall_stops = syscall_stops
        self.event_stops = event_stops
        self.signal_stops = signal_stops
        self.group_stops = group_stops
        self.syscalls_traced = syscalls_traced
        self.events = events
        self.events_by_type = {} if events_by_type is None else events_by_type
        self.signals_forwarded = signals_forwarded
        self.signals_deduplicated = signals_deduplicated
        self.esrch_races = esrch_races
        self.compat_syscalls = compat_syscalls
        self.decode_errors = decode_errors
        self.internal_errors = internal_errors
        self.early_children = early_children
        self.regs_fallbacks = regs_fallbacks
        self.orphans_reaped = orphans_reaped
        self.ptrace_refused = ptrace_refused
        self.filter_syscalls = filter_syscalls
        self.tracer_cpu_s = tracer_cpu_s
        self.wall_s = wall_s
        self.snapshot_fds = snapshot_fds
        self.snapshot_fds_capped = snapshot_fds_capped


class Tracer:
    def __init__(self, sink: EventSink, options: TraceOptions | None = None) -> None:
        self.sink = sink
        self.options = options or TraceOptions()
        self.stats = TracerStats()
        self._specs: list[SyscallSpec] | None = None
        self._names: dict[int, str] = {}
        self._events: dict[str, str] = {}

    # --- syscall selection --------------------------------------------------

    def _load_specs(self) -> list[SyscallSpec]:
        if self._specs is not None:
            return self._specs
        opts = self.options
        arch = _pt.MACHINE if _pt.MACHINE in _LIFECYCLE_NRS else "x86_64"
        names = dict(_LIFECYCLE_NRS[arch])
        events = {n: n for n in names.values()}
        if opts.syscall_specs is not None:
            specs = list(opts.syscall_specs)
        else:
            from pdigpy.tracer.syscalls.table import native_table, syscalls_for_events

            table = native_table()
            for s in table.by_nr:
                if s is not None:
                    names[s.nr] = s.name
                    events[s.name] = s.event
            if opts.event_types is None:
                specs = [s for s in table.by_nr if s is not None]
            else:
                specs = list(syscalls_for_events(table, opts.event_types))
        for s in specs:
            names.setdefault(s.nr, s.name)
            events.setdefault(s.name, s.event)
        self._specs, self._names, self._events = specs, names, events
        return specs

    def _arg_filters(self) -> dict[int, tuple[int, frozenset[int]]]:
        wanted = self.options.arg_filters or {}
        return {s.nr: wanted[s.event] for s in self._load_specs() if s.event in wanted}

    def _seccomp_program(self) -> bytes:
        """The packed filter: the specs' syscalls, plus ptrace's attaches whatever the rules.

        ptrace(PTRACE_ATTACH/PTRACE_SEIZE) always stops, so that the loop can
        refuse an attach to pdigpy itself (see TraceLoop.guard_ptrace); when no
        rule wants ptrace events the filter narrows it to those two requests.
        """
        from pdigpy.tracer.seccomp import build_filter, pack_filter

        nrs = {s.nr for s in self._load_specs()}
        arg_filters = self._arg_filters()
        if _pt.PTRACE_NR >= 0 and _pt.PTRACE_NR not in nrs:
            nrs.add(_pt.PTRACE_NR)
            arg_filters[_pt.PTRACE_NR] = (0, frozenset({_pt.PTRACE_ATTACH, _pt.PTRACE_SEIZE}))
        return pack_filter(build_filter(nrs, arg_filters=arg_filters))

    def filter_syscalls(self) -> list[str]:
        """Names of the syscalls that stop the app (the seccomp filter's TRACE set)."""
        return sorted({s.name for s in self._load_specs()})

    def _make_loop(self, seccomp: bool, lifecycle: bool = True) -> TraceLoop:
        """The loop; without ``lifecycle`` the caller sets ``loop.lc`` before running it."""
        specs = self._load_specs()
        self.stats.filter_syscalls = len(specs)
        self._counters = LoopCounters()
        return TraceLoop(
            specs,
            self._names,
            self._events,
            self.sink.on_event,
            Lifecycle() if lifecycle else None,  # type: ignore[arg-type]
            seccomp,
            self._counters,
            self.stats.events_by_type,
            print_warning,
        )

    def _finish(self, loop: TraceLoop, relay, cpu0: float, wall0: float) -> None:
        c = self._counters
        s = self.stats
        for name in (
            "seccomp_stops",
            "syscall_stops",
            "event_stops",
            "signal_stops",
            "group_stops",
            "syscalls_traced",
            "events",
            "esrch_races",
            "compat_syscalls",
            "decode_errors",
            "internal_errors",
            "early_children",
            "regs_fallbacks",
            "orphans_reaped",
            "ptrace_refused",
        ):
            setattr(s, name, getattr(c, name))
        s.stops = c.seccomp_stops + c.syscall_stops + c.event_stops + c.signal_stops
        s.signals_forwarded = relay.forwarded
        s.signals_deduplicated = relay.deduplicated
        s.tracer_cpu_s = time.process_time() - cpu0
        s.wall_s = time.monotonic() - wall0

    def _snapshot(self, pids: list[int], read) -> None:
        for pid in pids:
            info = read(pid)
            if info is not None:
                self._give_snapshot(info)

    def _with_fds(self, info: ProcInfo) -> ProcInfo:
        """A copy of ``info`` carrying its process's open fds (the process must be stopped)."""
        from pdigpy.tracer.procfs import MAX_FDS, read_fds

        try:
            fds, capped = read_fds(info.pid)
        except Exception as exc:  # noqa: BLE001 - a reader bug must not keep the app stopped
            self._counters.internal_errors += 1
            print_warning(f"pdigpy: internal error reading the fds of PID {info.pid}: {exc!r} (tracing continues)")
            return info
        self.stats.snapshot_fds += len(fds)
        if capped:
            self.stats.snapshot_fds_capped += 1
            print_warning(f"pdigpy: PID {info.pid} has more than {MAX_FDS} open fds: the lowest {MAX_FDS} "
                          "were read, the others are unknown to the rules until their numbers are reused")
        return dataclasses.replace(info, fds=fds)

    def _root_snapshot(self, info: ProcInfo) -> None:
        """Spawn mode, at the root app's first exec stop: the fds it inherited.

        Only the fds are news; the execve event that follows sets the rest as
        it did without this snapshot. So the start times are left out: the
        root's start stays its exec time, exact, not /proc's estimate (clock
        ticks from a boot time in whole seconds, up to 1 s early: the drift
        rules compare it with executables' ctime), and its pid namespace start
        stays unset (container.start_ts falls back to the task metadata).
        """
        self._give_snapshot(dataclasses.replace(self._with_fds(info), start_ts=0, pidns_init_start_ts=0))

    def _give_snapshot(self, info: ProcInfo) -> None:
        try:
            self.sink.on_snapshot(info)
        except Exception as exc:  # noqa: BLE001 - a consumer bug must not stop the app from starting
            self._counters.internal_errors += 1
            print_warning(f"pdigpy: internal error in the snapshot consumer: {exc!r} (tracing continues)")

    # --- spawn mode ----------------------------------------------------------

    def run_command(self, argv: list[str]) -> int:
        """Run ``argv`` under the tracer; returns the app's exit code (128+N if killed by N)."""
        from pdigpy.tracer.launcher import exec_error, filter_refused, launch
        from pdigpy.tracer.signals import SignalRelay

        if not argv:
            print_warning("pdigpy: no command given")
            return 2
        seccomp = self.options.seccomp
        loop = self._make_loop(seccomp)
        prog = self._seccomp_program() if seccomp else None
        # No exit stops but for leaders of multi-threaded processes: procexit
        # comes from the wait status (see TraceLoop.exit_stops_on_demand).
        options = (_BASE_OPTIONS & ~_pt.PTRACE_O_TRACEEXIT) | _FOLLOW_OPTIONS | _pt.PTRACE_O_EXITKILL
        if seccomp:
            options |= _pt.PTRACE_O_TRACESECCOMP
        loop.lazy_exit_options = options
        relay = SignalRelay(loop_targets(loop), detach_mode=False)
        cpu0, wall0 = time.process_time(), time.monotonic()
        old_mask = relay.block()
        try:
            ppid = os.getppid()
            self._snapshot(list(reversed(_attach.ancestors(os.getpid()))), loop.lc.read_procinfo)
            # Everything is set up before the fork: writing memory between the
            # fork and the child's exec would copy pages (copy-on-write) for
            # nothing, and the app waits at its exec event stop for the loop
            # anyway (measured: launching first cost 3 ms more CPU).
            try:
                launched = launch(list(argv), prog, options, old_mask)
            except OSError as e:
                print_warning(f"pdigpy: {e.strerror or e}")
                return 126
            loop.root_pid = launched.pid
            loop.root_ptid = ppid
            loop.root_snapshot = self._root_snapshot
            loop.silent_tid = launched.pid
            loop.tgid[launched.pid] = launched.pid
            loop.filter_refused = lambda: filter_refused(launched)
            relay.start()
            loop.run()
        finally:
            relay.stop()
        self._finish(loop, relay, cpu0, wall0)
        msg = exec_error(launched)
        if msg is not None:
            print_warning(msg)
        return exit_code(loop.root_status)

    # --- attach mode ---------------------------------------------------------

    def attach(self, pid: int) -> int:
        """Trace the running process ``pid`` (all its threads; with follow_descendants its
        descendants too) until it exits or pdigpy gets SIGINT/SIGTERM/SIGHUP/SIGQUIT, then
        detach. Returns 0 after a detach, the process's exit code if it ended while traced,
        1 (with one line on stderr) if it cannot be attached."""
        from pdigpy.tracer.signals import SignalRelay

        why = _attach.check_target(pid)
        if why is not None:
            print_warning(why)
            return 1
        pid = _attach.tgid_of(pid) or pid  # a thread id names its process
        loop = self._make_loop(seccomp=False)
        options = _BASE_OPTIONS
        if self.options.follow_descendants:
            options |= _FOLLOW_OPTIONS
        relay = SignalRelay(lambda: [], detach_mode=True)
        cpu0, wall0 = time.process_time(), time.monotonic()
        relay.block()
        try:
            seized: dict[int, int] = {}
            try:
                _attach.seize_process(pid, options, seized)
            except OSError as e:
                print_warning(f"pdigpy: cannot attach to PID {pid}: {e.strerror}")
                return 1
            procs = [pid]
            if self.options.follow_descendants:
                for child in _attach.descendants(pid):
                    try:
                        _attach.seize_process(child, options, seized)
                        procs.append(child)
                    except OSError:
                        pass
            read = loop.lc.read_procinfo
            self._snapshot(list(reversed(_attach.ancestors(pid))), read)
            _attach.wait_stopped(list(seized))  # /proc is read at the ptrace stop
            for tid, tg in seized.items():
                info = read(tid)
                if info is None:
                    continue
                if tid == tg:
                    loop.info[tg] = info
                    info = self._with_fds(info)
                self._give_snapshot(info)
            loop.tgid.update(seized)
            loop.root_pid = pid
            loop.detach_flag = relay
            relay.start()
            loop.run()
        finally:
            relay.stop()
        self._finish(loop, relay, cpu0, wall0)
        if loop.root_status is not None and not relay.detach_requested:
            return exit_code(loop.root_status)
        return 0


def loop_targets(loop: TraceLoop):
    """Where forwarded signals go: the root app while it lives, else every traced process."""

    def targets() -> list[int]:
        root = loop.root_pid
        if root and loop.root_status is None:
            return [root]
        return sorted(set(loop.tgid.values()))

    return targets


def exit_code(status: int | None) -> int:
    """A shell's view of a wait status: the exit code, or 128+N for death by signal N."""
    if status is None:
        return 0
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return 1


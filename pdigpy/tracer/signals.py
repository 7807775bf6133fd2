"""Wrapper signal duties: forward what pdigpy receives to the app, or detach on request.

pdigpy behaves like a tini-style init wrapper. These catchable signals sent
to pdigpy are forwarded to the app's root process (not to its process
group; the app decides whether to pass them on to its own children):
SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT,
SIGALRM, SIGPWR. pdigpy itself never dies of them; it keeps tracing until
the whole traced tree is gone and then exits with the app's status. Once
the root process is gone, forwarded signals go to every remaining traced
process.

Not forwarded: SIGPIPE and SIGXFSZ (they report pdigpy's own failed writes,
not a request for the app); SIGTSTP/SIGTTIN/SIGTTOU keep their default so
that Ctrl-Z suspends pdigpy together with the app, which shares its process
group; synchronous faults (SIGSEGV, SIGBUS, ...) are pdigpy's own;
SIGKILL/SIGSTOP cannot be caught (SIGKILL of pdigpy kills the app through
PTRACE_O_EXITKILL).

Signals aimed at the process group reach the app once. The app stays in
pdigpy's process group (terminal job control), so a signal sent to that
group reaches it directly from the kernel; pdigpy does not add its copy:

- a terminal's SIGINT/SIGQUIT/SIGWINCH/SIGHUP (``si_code == SI_KERNEL``):
  never forwarded when the app is in pdigpy's process group (Ctrl-C);
- a ``kill -TERM -PGID`` (``SI_USER``; CI runners cancelling a job,
  ``kill 0``, supervisors): not forwarded to an app in pdigpy's group that
  has the same signal from the same sender pending, or took it at a
  signal-delivery stop less than :data:`DUPLICATE_WINDOW` seconds ago
  (:class:`DeliveryLedger`). kill() of a group queues the signal to every
  member before it returns, so when the relay reads pdigpy's copy the app's
  copy is pending or already taken. A signal aimed at pdigpy alone
  (``kill PID``, ``docker stop``) finds no such copy and is forwarded. An
  app that moved to a process group of its own is not hit by the group
  kill, and gets pdigpy's copy.

Why this test and not another: siginfo does not say whether a kill() named
a process or a group, so the only evidence is the app's own copy. The
sender's pid/uid and si_code (SI_USER) in pdigpy's signalfd record and in
the app's PTRACE_GETSIGINFO must match, which keeps apart a signal someone
else sent to the app alone. A pending copy is enough on its own: the
kernel would merge a forwarded copy into it anyway. Simpler rules fail:
the pending check alone misses the usual case (measured: the app has
mostly taken its copy, and the tracer recorded it, before the relay
looks); the record alone misses an app that blocks the signal; a time
window without the sender would swallow a ``docker stop`` that follows an
unrelated signal; and moving the app to a group of its own would break
terminal job control. The cost: one GETSIGINFO and a record per
signal-delivery stop of a relayed signal, about 3 us of CPU (syscall stops
pay nothing), and a few /proc reads per relayed SI_USER signal.

Design: the signals are blocked in the tracing thread and read by a small
relay thread from a signalfd (select() with a 0.5 s timeout to notice the
end). The wait loop stays blocked in waitpid() and pays nothing per stop;
forwarding is a plain kill() from the relay thread. In attach mode SIGINT/SIGTERM/SIGHUP/SIGQUIT instead request a
clean detach; only the tracing thread may issue ptrace requests, so the
relay wakes it with a private real-time signal whose handler is a no-op C
function (waitpid() returns EINTR), repeated until the loop acknowledges.
Threads started before the tracer do not block these signals: call
:func:`block_forwarded_signals` before starting them (or start the tracer
first). Otherwise such a signal still reaches the app, but only at the
tracer's next stop (Python runs signal handlers in the main thread).
"""

from __future__ import annotations

import collections
import ctypes
import os
import signal
import struct
import threading
import time
from typing import Callable

FORWARDED: tuple[int, ...] = tuple(
    getattr(signal, n)
    for n in (
        "SIGTERM",
        "SIGINT",
        "SIGHUP",
        "SIGQUIT",
        "SIGUSR1",
        "SIGUSR2",
        "SIGWINCH",
        "SIGCONT",
        "SIGALRM",
        "SIGPWR",
    )
    if hasattr(signal, n)
)
DETACH_ON: frozenset[int] = frozenset((signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT))
TTY_SIGNALS: frozenset[int] = frozenset((signal.SIGINT, signal.SIGQUIT, signal.SIGWINCH, signal.SIGHUP))
SI_KERNEL = 0x80
SI_USER = 0  # kill(): the only si_code a signal aimed at a process group carries (but SI_KERNEL)
# How old a record of the app's copy may be and still be the twin of pdigpy's:
# both are queued by the same kill(); the gap is the relay thread's wakeup
# (milliseconds; longer under load, when the GIL is busy). A same-sender
# signal sent to the app alone and then to pdigpy alone within this window
# counts as one.
DUPLICATE_WINDOW = 1.0
# How long the relay waits for the tracing thread to record a copy the app
# already took (it is then held at its signal-delivery stop, state "t").
# Measured: the record comes 1-2 ms after the relay's first look when it is
# late at all; the wait also delays a signal aimed at pdigpy alone while
# threads of the app sit in ptrace stops (busy threaded apps, up to the cap).
RECORD_WAIT = 0.1
SEEN_MAX = 256  # records kept (the newest): far more than group kills a second
WAKE_SIGNAL = signal.SIGRTMIN + 5
_monotonic = time.monotonic

_libc = ctypes.CDLL(None, use_errno=True)


def block_forwarded_signals() -> set:
    """Block the signals pdigpy relays in the calling thread (and threads it starts later).

    For programs that start threads before the tracer runs (an output hub):
    call this first, so that only the tracer's relay thread receives them.
    """
    return signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)


class _SigAction(ctypes.Structure):
    # glibc's struct sigaction on 64-bit Linux (x86_64 and aarch64).
    _fields_ = [
        ("sa_handler", ctypes.c_void_p),
        ("sa_mask", ctypes.c_ulong * 16),
        ("sa_flags", ctypes.c_int),
        ("sa_restorer", ctypes.c_void_p),
    ]


def _install_wake_handler() -> None:
    """A no-op C handler for WAKE_SIGNAL without SA_RESTART, so it interrupts waitpid()."""
    act = _SigAction()
    # getpid() ignores its argument, touches nothing and is async-signal-safe.
    act.sa_handler = ctypes.cast(_libc.getpid, ctypes.c_void_p).value
    act.sa_flags = 0
    if _libc.sigaction(WAKE_SIGNAL, ctypes.byref(act), None) != 0:
        raise OSError(ctypes.get_errno(), "sigaction")


SFD_NONBLOCK = 0o4000
SFD_CLOEXEC = 0o2000000
_SIGINFO_SIZE = 128  # struct signalfd_siginfo


def _noop_handler(sig: int, frame: object) -> None:
    """Installed so the default action (death) never applies; the wakeup fd does the work."""


def _signalfd(sigs: tuple[int, ...]) -> int:
    """A non-blocking signalfd for ``sigs`` (they must be blocked); -1 if unavailable."""
    mask = (ctypes.c_ulong * 16)()
    bits = ctypes.sizeof(ctypes.c_ulong) * 8
    for sig in sigs:
        mask[(sig - 1) // bits] |= 1 << ((sig - 1) % bits)
    fd = _libc.signalfd(-1, ctypes.byref(mask), SFD_NONBLOCK | SFD_CLOEXEC)
    return fd if fd >= 0 else -1


def _read_signalfd(fd: int) -> list[tuple[int, int, int, int]]:
    """(signo, si_code, sender pid, sender uid) of every signal queued on the signalfd."""
    out = []
    while True:
        try:
            data = os.read(fd, _SIGINFO_SIZE * 16)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            break
        if not data:
            break
        for off in range(0, len(data) - _SIGINFO_SIZE + 1, _SIGINFO_SIZE):
            signo, _errno, code, pid, uid = struct.unpack_from("=IiiII", data, off)
            out.append((signo, code, pid, uid))
    return out


def _pending(tgid: int, sig: int) -> bool:
    """``sig`` is pending for process ``tgid`` (shared, or its leader's own)."""
    try:
        with open(f"/proc/{tgid}/status", "rb") as f:
            status = f.read()
    except OSError:
        return False
    pending = 0
    for line in status.splitlines():
        if line.startswith((b"ShdPnd:", b"SigPnd:")):
            pending |= int(line.split()[1], 16)
    return bool(pending & (1 << (sig - 1)))


def _ptrace_stopped(tgid: int, tids) -> dict[str, bytes]:
    """The threads of ``tgid`` (among ``tids``) in a ptrace stop: tid -> its voluntary switch count.

    A thread seen again in state "t" with the same count has not been
    resumed in between: it is still in the stop it was in. (One resumed and
    stopped again before it left the CPU also looks unmoved: that only
    makes the relay wait longer.)
    """
    out = {}
    for tid in tids:
        try:
            with open(f"/proc/{tgid}/task/{tid}/status", "rb") as f:
                status = f.read()
        except OSError:
            continue
        i = status.find(b"\nState:\t")
        if i < 0 or status[i + 8 : i + 9] != b"t":
            continue
        j = status.find(b"\nvoluntary_ctxt_switches:")
        out[tid] = status[j : status.find(b"\n", j + 1)] if j >= 0 else b""
    return out


class DeliveryLedger:
    """Which relayed signals the traced processes took, from whom: the relay's duplicate check.

    Written by the tracing thread at signal-delivery stops (only it may issue
    the PTRACE_GETSIGINFO that names the sender), read by the relay thread.
    Both sides take the lock: the relay's check and claim must be one step
    against the tracer's record (see :meth:`twin_reached`). Signal stops are
    rare, so the lock costs nothing that matters.
    """

    def __init__(self) -> None:
        self.active = False  # a spawn-mode relay is running: record deliveries
        self._lock = threading.Lock()
        # (monotonic time, tgid, sig, sender pid, sender uid) of each copy taken,
        # oldest first. Tuples and a bounded deque: a signal storm (an app that
        # kill()s itself thousands of times a second) pays O(1) per stop.
        self._seen: collections.deque[tuple[float, int, int, int, int]] = collections.deque(maxlen=SEEN_MAX)
        # (tgid, sig): a copy the relay found pending; its delivery is already
        # accounted for and must not be taken for a later twin. No expiry: an
        # app may keep a signal blocked for minutes. Dropped with its process.
        self._claimed: set[tuple[int, int]] = set()
        self.waits = 0  # times the relay waited for the tracer to record a taken copy

    def delivered(self, tgid: int, sig: int, sender_pid: int, sender_uid: int) -> None:
        """Tracing thread: ``tgid`` took ``sig`` (SI_USER) from ``sender_pid`` at a signal-delivery stop."""
        now = _monotonic()
        with self._lock:
            if self._claimed and (tgid, sig) in self._claimed:
                self._claimed.discard((tgid, sig))
                return
            seen = self._seen
            horizon = now - DUPLICATE_WINDOW
            while seen and seen[0][0] < horizon:
                seen.popleft()
            seen.append((now, tgid, sig, sender_pid, sender_uid))

    def _take(self, tgid: int, sig: int, sender_pid: int, sender_uid: int, now: float) -> bool:
        key = (tgid, sig, sender_pid, sender_uid)
        for i, d in enumerate(self._seen):
            if d[1:] == key and now - d[0] < DUPLICATE_WINDOW:
                del self._seen[i]  # one copy of pdigpy's answers one copy of the app's
                return True
        return False

    def twin_reached(self, tgid: int, sig: int, sender_pid: int, sender_uid: int, deadline: float) -> bool:
        """Relay thread: did ``tgid`` get its own copy of this signal (so pdigpy's is a duplicate)?

        Yes if a matching record is there, or the signal is pending (then it is
        claimed: its delivery will not be taken for a later twin). Else the
        copy may be held at a signal-delivery stop the tracing thread has not
        recorded yet: the kernel dequeues a signal and enters that stop under
        one lock, so the threads in a ptrace stop now are the only ones that
        can hold it. Wait (at most until ``deadline``: a group-stopped app
        holds its stop) until each of them was resumed -- the record is
        written before the resume -- and look again.
        """
        held: dict[str, bytes] | None = None
        while True:
            now = time.monotonic()
            with self._lock:
                if self._take(tgid, sig, sender_pid, sender_uid, now):
                    return True
                if _pending(tgid, sig):
                    self._claimed = {c for c in self._claimed if os.path.exists(f"/proc/{c[0]}")}
                    self._claimed.add((tgid, sig))
                    return True
                if held is None:
                    try:
                        tids = os.listdir(f"/proc/{tgid}/task")
                    except OSError:
                        return False
                    held = _ptrace_stopped(tgid, tids)
                else:
                    still = _ptrace_stopped(tgid, held)
                    held = {tid: n for tid, n in still.items() if held.get(tid) == n}
                if not held:
                    # never taken, or taken and recorded since the first look
                    return self._take(tgid, sig, sender_pid, sender_uid, now)
            if now >= deadline:
                return False
            self.waits += 1
            time.sleep(0.001)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
            self._claimed.clear()


# One per pdigpy process, like its signals: the relay and the wait loop share it.
DELIVERIES = DeliveryLedger()


class SignalRelay:
    """Forwards (spawn mode) or turns into a detach request (attach mode) pdigpy's signals."""

    def __init__(self, targets: Callable[[], list[int]], detach_mode: bool) -> None:
        self._targets = targets
        self.detach_mode = detach_mode
        self.forwarded = 0
        self.deduplicated = 0
        self.detach_requested = False
        self.detach_ack = False
        self._stop = False
        self._old_mask: set | None = None
        self._thread: threading.Thread | None = None
        self._tracer_ident = 0
        self._old_handlers: dict[int, object] = {}
        self._sfd = -1
        self._wake_r = self._wake_w = -1
        self._old_wakeup = -1

    def block(self) -> set:
        """Block the relayed signals in the calling (tracing) thread; returns the previous mask.

        The relay thread reads them from a signalfd. In the main thread,
        no-op Python handlers and a wakeup fd are installed as well: a signal
        that lands on another thread that does not block it (one started
        before the tracer) then reaches the relay through the wakeup fd
        instead of killing pdigpy -- and the app with it.
        """
        self._old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        self._tracer_ident = threading.get_ident()
        self._sfd = _signalfd(FORWARDED)
        if threading.current_thread() is threading.main_thread():
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_w, False)
            try:
                self._old_wakeup = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
                for sig in FORWARDED:
                    self._old_handlers[sig] = signal.signal(sig, _noop_handler)
            except (OSError, ValueError):
                pass
        if self.detach_mode:
            _install_wake_handler()
        return self._old_mask

    def start(self) -> None:
        if not self.detach_mode:
            DELIVERIES.clear()
            DELIVERIES.active = True
        self._thread = threading.Thread(target=self._run, name="pdigpy-signals", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop relaying and restore the tracing thread's state (call from the tracing thread)."""
        self._stop = True
        if not self.detach_mode:
            DELIVERIES.active = False
        for sig, handler in self._old_handlers.items():
            try:
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        self._old_handlers = {}
        if self._wake_w >= 0:
            try:
                signal.set_wakeup_fd(self._old_wakeup)
            except (OSError, ValueError):
                pass
        if self._old_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._old_mask)
            self._old_mask = None
        # the relay thread closes the fds when it sees _stop (at most 0.5 s later)

    def _run(self) -> None:
        import select

        fds = [fd for fd in (self._sfd, self._wake_r) if fd >= 0]
        try:
            while not self._stop:
                try:
                    ready, _, _ = select.select(fds, [], [], 0.5)
                except (OSError, InterruptedError):
                    continue
                if self._stop:
                    break
                if self._sfd in ready:
                    for signo, code, pid, uid in _read_signalfd(self._sfd):
                        self.handle(signo, code, pid, uid)
                if self._wake_r in ready:
                    try:
                        data = os.read(self._wake_r, 512)
                    except OSError:
                        data = b""
                    for signo in data:
                        if signo in FORWARDED:
                            self.handle(signo, None)  # sender unknown: forwarded
        finally:
            for fd in (self._sfd, self._wake_r, self._wake_w):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass

    def handle(self, sig: int, si_code: int | None = None, sender_pid: int = 0, sender_uid: int = 0) -> None:
        """Forward (or, attached, turn into a detach request) one signal pdigpy received.

        ``si_code``/``sender_*`` come from the signalfd; ``si_code`` None means
        unknown (a signal that reached another thread): forwarded as is.
        """
        if self.detach_mode:
            if sig in DETACH_ON:
                self.request_detach()
            return
        targets = self._targets()
        if not targets:
            return
        if si_code == SI_KERNEL and sig in TTY_SIGNALS:
            try:
                if os.getpgid(targets[0]) == os.getpgrp():
                    self.deduplicated += 1
                    return
            except OSError:
                pass
        group_kill = si_code == SI_USER
        own_group = os.getpgrp() if group_kill else 0
        deadline = _monotonic() + RECORD_WAIT  # one wait for all targets, not one each
        for pid in targets:
            if group_kill:
                try:
                    in_group = os.getpgid(pid) == own_group
                except OSError:
                    in_group = False
                if in_group and DELIVERIES.twin_reached(pid, sig, sender_pid, sender_uid, deadline):
                    self.deduplicated += 1
                    continue
            try:
                os.kill(pid, sig)
                self.forwarded += 1
            except OSError:
                pass

    def request_detach(self) -> None:
        if self.detach_requested:
            return
        self.detach_requested = True
        threading.Thread(target=self._kick, name="pdigpy-wake", daemon=True).start()

    def _kick(self) -> None:
        # The tracer may be just about to enter waitpid(); kick until it answers.
        ev = threading.Event()
        while not self.detach_ack and not self._stop:
            try:
                signal.pthread_kill(self._tracer_ident, WAKE_SIGNAL)
            except (OSError, ProcessLookupError):
                return
            ev.wait(0.05)

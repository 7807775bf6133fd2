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

A terminal sends SIGINT/SIGQUIT/SIGWINCH/SIGHUP to the whole foreground
process group, which includes the app; such kernel-sent signals
(``si_code == SI_KERNEL``) are not forwarded again when the app is in
pdigpy's process group, so Ctrl-C reaches the app once. A ``kill`` aimed at
the process group reaches the app directly *and* through pdigpy.

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

import ctypes
import os
import signal
import struct
import threading
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
WAKE_SIGNAL = signal.SIGRTMIN + 5

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


def _read_signalfd(fd: int) -> list[tuple[int, int]]:
    """(signo, si_code) of every signal queued on the signalfd."""
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
            signo, _errno, code = struct.unpack_from("=Iii", data, off)
            out.append((signo, code))
    return out


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
        self._thread = threading.Thread(target=self._run, name="pdigpy-signals", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop relaying and restore the tracing thread's state (call from the tracing thread)."""
        self._stop = True
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
                    for signo, code in _read_signalfd(self._sfd):
                        self.handle(signo, code)
                if self._wake_r in ready:
                    try:
                        data = os.read(self._wake_r, 512)
                    except OSError:
                        data = b""
                    for signo in data:
                        if signo in FORWARDED:
                            self.handle(signo, 0)
        finally:
            for fd in (self._sfd, self._wake_r, self._wake_w):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass

    def handle(self, sig: int, si_code: int = 0) -> None:
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
        for pid in targets:
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

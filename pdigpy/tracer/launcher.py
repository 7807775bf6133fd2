"""Starting the app: fork, seize, install the seccomp filter, exec.

Order matters. The child waits on a pipe until the tracer has PTRACE_SEIZEd
it; only then does it install the filter (a ``SECCOMP_RET_TRACE`` filter
without a tracer that asked for ``PTRACE_O_TRACESECCOMP`` makes the matched
syscalls fail with ENOSYS) and exec the app. The filter therefore exists
before the first instruction of the app runs: there is no blind window.

The app inherits pdigpy's argv (as given), environment, cwd, process group,
session and stdin/stdout/stderr; fds that pdigpy opened itself are
close-on-exec (Python's default), fds pdigpy inherited pass through. The
blocked-signal mask is restored and SIGPIPE/SIGXFSZ (which the Python
runtime ignores) are reset to their default action, so the app starts with
the signal state a shell would give it.

``PTRACE_O_EXITKILL`` is set in spawn mode: if pdigpy dies (even by SIGKILL)
every traced process is SIGKILLed by the kernel. This is deliberate: the
seccomp filter cannot be removed, and without a tracer every traced syscall
would fail with ENOSYS, leaving the app running but broken and unobserved.

Privilege elevation: the filter needs PR_SET_NO_NEW_PRIVS unless pdigpy has
CAP_SYS_ADMIN (see :func:`pdigpy.tracer.seccomp.install_filter`); with it,
setuid/setgid/file-capability programs run without their elevation.
Independently of seccomp, the kernel also refuses the elevation of a setuid
exec inside a traced process unless the tracer has CAP_SYS_PTRACE (root, or a
container with SYS_PTRACE added, has it).

If the environment refuses the filter (a container runtime's seccomp
profile may forbid new filters), the child execs anyway and the tracer falls
back to stopping at every syscall (PTRACE_SYSCALL), with one line on stderr.

Exec failure is reported as a shell does: a CLOEXEC pipe carries the errno
of the failed exec from the child; the child exits 127 when the command was
not found and 126 when it was found but could not be executed, and the
tracer prints one line on stderr.
"""

from __future__ import annotations

import errno as _errno
import os
import signal

from pdigpy.tracer import ptrace as _pt
from pdigpy.tracer.seccomp import install_filter

EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126

_STAGE_EXEC = b"E"
_STAGE_FILTER = b"F"


class Launched:
    """The started app. A plain class: @dataclass would cost about 0.5 ms of every start."""

    __slots__ = ("pid", "error_fd", "argv0")

    def __init__(self, pid: int, error_fd: int, argv0: str) -> None:
        self.pid = pid
        self.error_fd = error_fd  # read end of the CLOEXEC pipe; EOF means the exec succeeded
        self.argv0 = argv0

    def __repr__(self) -> str:
        return f"Launched(pid={self.pid!r}, error_fd={self.error_fd!r}, argv0={self.argv0!r})"


def _signals_to_reset() -> list[int]:
    """Signals whose disposition the app must not inherit: SIGPIPE/SIGXFSZ (ignored by the
    Python runtime) and every signal with a Python handler (pdigpy's relay handlers)."""
    out = [int(signal.SIGPIPE), int(signal.SIGXFSZ)]
    for sig in range(1, signal.NSIG):  # plain ints: valid_signals() builds an enum member per signal
        if sig not in out and callable(signal.getsignal(sig)):
            out.append(sig)
    return out


def _child(argv: list[str], filter_prog: bytes | None, go_fd: int, err_fd: int, sigmask: set,
           reset: list[int]) -> None:
    """Runs in the forked child; never returns. Does as little as possible before the exec
    (``reset`` was computed before the fork)."""
    stage = _STAGE_FILTER
    try:
        for sig in reset:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, sigmask)
        if os.read(go_fd, 1) != b"G":  # the tracer failed to seize us
            os._exit(EXIT_NOT_EXECUTABLE)
        os.close(go_fd)
        if filter_prog is not None:
            try:
                install_filter(filter_prog)
            except OSError as e:  # refused (e.g. a runtime profile): the tracer falls back
                os.write(err_fd, _STAGE_FILTER + str(e.errno or 0).encode() + b";")
        stage = _STAGE_EXEC
        os.execvp(argv[0], argv)
    except OSError as e:
        code = e.errno or 0
        try:
            os.write(err_fd, stage + str(code).encode() + b";")
        except OSError:
            pass
        os._exit(EXIT_NOT_FOUND if stage == _STAGE_EXEC and code in (_errno.ENOENT, _errno.ENOTDIR) else EXIT_NOT_EXECUTABLE)
    except BaseException:
        pass
    os._exit(EXIT_NOT_EXECUTABLE)


def launch(argv: list[str], filter_prog: bytes | None, ptrace_options: int, child_sigmask: set) -> Launched:
    """Fork the app, seize it with ``ptrace_options`` and let it exec. Raises OSError if seizing fails.

    The caller must already be the thread that runs the wait loop (ptrace
    requests are only accepted from the tracing thread).
    """
    reset = _signals_to_reset()
    go_r, go_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(go_w)
        os.close(err_r)
        _child(argv, filter_prog, go_r, err_w, child_sigmask, reset)
    os.close(go_r)
    os.close(err_w)
    if _pt.seize(pid, ptrace_options) == -1:
        e = _pt.errno()
        os.close(go_w)  # the child reads EOF and exits
        os.close(err_r)
        os.waitpid(pid, 0)
        raise OSError(e, f"cannot trace the app (PTRACE_SEIZE): {os.strerror(e)}")
    os.write(go_w, b"G")
    os.close(go_w)
    return Launched(pid, err_r, argv[0])


def _messages(data: bytes) -> list[tuple[bytes, int]]:
    out = []
    for item in data.split(b";"):
        if item[:1] in (_STAGE_FILTER, _STAGE_EXEC):
            try:
                out.append((item[:1], int(item[1:] or b"0")))
            except ValueError:
                pass
    return out


def filter_refused(launched: Launched) -> str | None:
    """At the app's exec: why the seccomp filter was refused, or None if it is in place.

    The exec has closed the child's end of the pipe, so this never blocks.
    """
    try:
        data = os.read(launched.error_fd, 256)
    except OSError:
        return None
    for stage, code in _messages(data):
        if stage == _STAGE_FILTER:
            return os.strerror(code) if code else "unknown error"
    return None


def exec_error(launched: Launched) -> str | None:
    """The one-line error for a failed start, or None if the exec succeeded. Closes the pipe."""
    try:
        data = os.read(launched.error_fd, 256)
    except OSError:
        data = b""
    finally:
        os.close(launched.error_fd)
    for stage, code in _messages(data):
        if stage != _STAGE_EXEC:
            continue
        reason = os.strerror(code) if code else "unknown error"
        if code in (_errno.ENOENT, _errno.ENOTDIR):
            return f"pdigpy: {launched.argv0}: command not found ({reason})"
        return f"pdigpy: {launched.argv0}: cannot execute: {reason}"
    return None

"""A small helper process that runs ``program_output``'s programs and waits for them itself.

Why: as the container's PID 1 the tracer's wait loop calls ``waitpid(-1, __WALL)``
to reap orphans, which also reaps any child pdigpy starts for itself; the
program's exit status is then lost (``subprocess`` sees ECHILD and says 0).
So pdigpy forks this spawner once, before the app is traced, and the spawner
starts the programs: they are its children, not pdigpy's, so only it can wait
for them. The tracer sees one extra non-tracee child, which exits at close().

The spawner is a forked copy of pdigpy that only reads requests from a
socketpair and answers each with "" (done) or an error message:

- ``R`` + data: run ``sh -c PROGRAM`` with data on its stdin, wait for it;
- ``K`` + data: write data to the kept-alive program (started, or restarted
  once if it died, before or without reading the data) and wait until it
  has read the data or died;
- ``C`` + timeout: close the kept-alive program's stdin and wait for it.

End of file on the socket ends it; so does pdigpy's death (PR_SET_PDEATHSIG).
It keeps pdigpy's stderr (the programs' stdout goes there), never the app's
stdout, and runs in its own session so that a Ctrl-C meant for the app does
not kill it before the last alerts are delivered.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct
import subprocess
import termios
import time
import weakref

SHELL = "/bin/sh"
READ_WAIT = 2.0  # a live kept-alive program that has not read an alert by then is trusted with it (it is in its pipe)
_HEADER = struct.Struct("!cI")
_LENGTH = struct.Struct("!I")


class SpawnerError(Exception):
    """The spawner could not be started or stopped answering."""


class ProgramSpawner:
    """pdigpy's side: one request at a time (the program channel's sender thread)."""

    def __init__(self, program: str, buffered: bool) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)  # both close-on-exec
        try:
            pid = os.fork()
        except OSError as exc:
            parent.close()
            child.close()
            raise SpawnerError(f"cannot fork the program spawner: {exc.strerror or exc}") from None
        if pid == 0:  # pragma: no cover - the child's code ends in os._exit
            code = 1
            try:
                parent.close()
                code = _Server(child, program, buffered).serve()
            finally:
                os._exit(code)
        child.close()
        self.pid = pid
        self._sock = parent
        self._finalizer = weakref.finalize(self, _stop, parent, pid)
        self._finalizer.atexit = False  # at exit PR_SET_PDEATHSIG ends it; waiting for a stuck program would delay pdigpy

    def request(self, op: bytes, data: bytes = b"") -> str:
        """Send one request; return "" on success or the spawner's error message."""
        try:
            self._sock.sendall(_HEADER.pack(op, len(data)) + data)
            return _recv_frame(self._sock).decode("utf-8", "replace")
        except (OSError, EOFError) as exc:
            raise SpawnerError(f"the program spawner is gone ({getattr(exc, 'strerror', None) or exc or 'EOF'})") from None

    def stop(self) -> None:
        self._finalizer()


def _stop(sock: socket.socket, pid: int) -> None:
    sock.close()  # end of file: the spawner exits
    for _ in range(200):  # up to ~1 s; it exits at once unless its program is stuck
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # already reaped (the tracer's wait loop may have done it)
        if done:
            return
        time.sleep(0.005)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 16))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _recv_frame(sock: socket.socket) -> bytes:
    (size,) = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size))
    return _recv_exact(sock, size)


def _unread(fd: int) -> int:
    """Bytes still in the pipe behind ``fd`` (FIONREAD works on a pipe's write end too)."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def _status_text(status: int) -> str:
    return f"killed by signal {-status}" if status < 0 else f"exited with status {status}"


class _Server:
    """The spawner's side (runs in the forked child)."""

    def __init__(self, sock: socket.socket, program: str, buffered: bool) -> None:
        self.sock = sock
        self.program = program
        self.buffered = buffered
        self.kept: subprocess.Popen | None = None
        self.pending = bytearray()  # buffered mode: lines not yet written to the kept program

    def serve(self) -> int:
        self._detach()
        while True:
            try:
                op, size = _HEADER.unpack(_recv_exact(self.sock, _HEADER.size))
                data = _recv_exact(self.sock, size)
            except (EOFError, OSError):
                self._close_kept(1.0)  # pdigpy closed without "C": let the program finish its input
                return 0
            if op == b"R":
                answer = self._run_once(data)
            elif op == b"K":
                answer = self._send_kept(data)
            elif op == b"C":
                answer = self._close_kept(float(data or b"0"))
            else:
                answer = f"unknown request {op!r}"
            payload = answer.encode("utf-8", "replace")
            try:
                self.sock.sendall(_LENGTH.pack(len(payload)) + payload)
            except OSError:
                return 0

    def _detach(self) -> None:
        try:  # die with pdigpy even while blocked waiting for a program
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() == 1:  # pdigpy died before prctl took effect
            os._exit(0)
        os.setsid()  # off the terminal's foreground group: a Ctrl-C for the app is not for us
        signal.pthread_sigmask(signal.SIG_SETMASK, [])  # pdigpy blocks the signals it relays; programs must not inherit that
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        # Hold nothing of pdigpy's but stderr: not the app's stdin/stdout, not other channels' files.
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
        keep = self.sock.fileno()
        os.closerange(3, keep)
        os.closerange(keep + 1, 1 << 20)

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen([SHELL, "-c", self.program], stdin=subprocess.PIPE, stdout=2,
                                start_new_session=True, bufsize=0)

    def _run_once(self, data: bytes) -> str:
        try:
            proc = self._spawn()
        except OSError as exc:
            return f"cannot start {self.program!r}: {exc.strerror or exc}"
        try:
            assert proc.stdin is not None
            proc.stdin.write(data)
        except OSError:
            pass  # the program did not read its stdin; its exit status tells
        try:
            proc.stdin.close()
        except OSError:
            pass
        status = proc.wait()
        return "" if status == 0 else f"program {self.program!r} {_status_text(status)}"

    def _send_kept(self, data: bytes) -> str:
        if self.buffered:
            self.pending += data
            if len(self.pending) < 4096:
                return ""
            data, self.pending = bytes(self.pending), bytearray()
        for attempt in (1, 2):  # a dead kept-alive program is restarted once per alert
            if self.kept is None or self.kept.poll() is not None:
                self.kept = None
                try:
                    self.kept = self._spawn()
                except OSError as exc:
                    return f"cannot start {self.program!r}: {exc.strerror or exc}"
            proc = self.kept
            try:
                assert proc.stdin is not None
                proc.stdin.write(data)
            except OSError as exc:
                self._reap()
                if attempt == 2:
                    return f"program {self.program!r} is not reading: {exc.strerror or exc}"
                continue
            error = self._await_read(proc)
            if not error or attempt == 2:
                return error
            # it died without reading this alert (e.g. `head -n 1` after the previous one): once more
        return ""  # not reached

    def _await_read(self, proc: subprocess.Popen) -> str:
        """Wait until ``proc`` has read everything written to it, or died without."""
        assert proc.stdin is not None
        fd = proc.stdin.fileno()
        deadline = time.monotonic() + READ_WAIT
        pause = 0.0002
        while True:
            try:
                if _unread(fd) == 0:
                    return ""
            except OSError:
                return ""  # cannot tell: it is in the pipe, as Falco would count it
            status = proc.poll()
            if status is not None:
                try:
                    left = _unread(fd)
                except OSError:
                    left = 0
                self._reap()
                if left == 0:
                    return ""
                return f"program {self.program!r} {_status_text(status)} before reading the alert"
            if time.monotonic() >= deadline:
                return ""
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _reap(self) -> None:
        proc, self.kept = self.kept, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()
            except OSError:
                pass
            proc.poll()

    def _close_kept(self, timeout: float) -> str:
        answer = ""
        if self.pending:  # buffered mode: the last lines
            data, self.pending = bytes(self.pending), bytearray()
            answer = self._send_kept(data) if not self.buffered else self._flush_buffered(data)
        proc, self.kept = self.kept, None
        if proc is None:
            return answer
        try:
            if proc.stdin:
                proc.stdin.close()  # end of input: the program finishes its work and exits
        except OSError:
            pass
        try:
            status = proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return answer  # still running at the flush timeout: left to finish on its own
        if status != 0 and not answer:
            answer = f"kept-alive program {self.program!r} {_status_text(status)}"
        return answer

    def _flush_buffered(self, data: bytes) -> str:
        self.buffered = False
        try:
            return self._send_kept(data)
        finally:
            self.buffered = True

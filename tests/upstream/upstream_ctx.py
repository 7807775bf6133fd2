"""What an upstream-rule scenario builds its action from: a private work directory, the compiled
action helper, and the local resources some actions need (listeners, a ptrace target), all
released by :meth:`Ctx.close`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


class Listener:
    """A TCP server on a loopback address that accepts and drains connections until closed;
    it first sends ``greeting`` to each client, if given."""

    def __init__(self, host: str = "127.0.0.1", greeting: bytes = b"") -> None:
        self.host = host
        self.greeting = greeting
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(5)
                try:
                    if self.greeting:
                        conn.sendall(self.greeting)
                    while chunk := conn.recv(4096):
                        self.received += chunk
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@dataclass
class Ctx:
    """What a scenario needs to build its action; everything it creates is removed after."""

    work: Path
    actions: Path
    cleanup: list[Path] = field(default_factory=list)
    _listeners: dict[str, Listener] = field(default_factory=dict)
    _procs: list[subprocess.Popen] = field(default_factory=list)

    def listener(self, host: str = "127.0.0.1", greeting: bytes = b"") -> Listener:
        if host not in self._listeners:
            self._listeners[host] = Listener(host, greeting)
        return self._listeners[host]

    def sleeper(self) -> subprocess.Popen:
        """A process outside pdigpy's tree (a ptrace target), killed after the test."""
        proc = subprocess.Popen(["sleep", "60"])
        self._procs.append(proc)
        time.sleep(0.05)
        return proc

    def symlink(self, name: str, target: str) -> Path:
        """WORK/NAME -> TARGET: exec'ing it gives proc.name NAME (the kernel's comm)."""
        link = self.work / name
        link.symlink_to(target)
        return link

    def close(self) -> None:
        for proc in self._procs:
            proc.kill()
            proc.wait()
        for listener in self._listeners.values():
            listener.close()
        for p in self.cleanup:
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink()
            except FileNotFoundError:
                pass
        shutil.rmtree(self.work, ignore_errors=True)

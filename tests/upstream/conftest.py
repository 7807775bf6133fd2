"""Fixtures for the upstream-rules live tests: the compiled action helper, the ECS metadata
endpoint, a private work directory and the resources some actions need, all cleaned up
even when a test fails."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ecs_metadata import MetadataServer

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def actions_bin(tmp_path_factory) -> Path:
    """tests/upstream/actions.c, compiled once per session."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler for tests/upstream/actions.c")
    out = tmp_path_factory.mktemp("upstream-actions") / "actions"
    subprocess.run([gcc, "-O1", "-Wall", "-Werror", "-o", str(out), str(HERE / "actions.c")], check=True)
    return out


@pytest.fixture(scope="session")
def ecs_endpoint():
    """A local ECS task metadata endpoint (v4) for the session; yields the URI."""
    server = MetadataServer()
    try:
        yield server.uri
    finally:
        server.close()


class Listener:
    """A TCP server on a loopback address that accepts and drains connections until closed."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
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

    def listener(self, host: str = "127.0.0.1") -> Listener:
        if host not in self._listeners:
            self._listeners[host] = Listener(host)
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


@pytest.fixture
def ctx(actions_bin):
    work = Path(tempfile.mkdtemp(prefix="pdigpy-upstream-"))
    os.chmod(work, 0o755)  # world-readable: some actions run as nobody
    c = Ctx(work=work, actions=actions_bin)
    try:
        yield c
    finally:
        c.close()

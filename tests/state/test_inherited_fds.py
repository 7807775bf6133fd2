"""fds from before tracing, through Tracer -> State with real processes (and capture -> replay).

The spawned app's inherited fds (a file, a listening TCP socket, a pipe) and
an attached process's open fds are read from /proc at a ptrace stop and
carried in snapshots; the state installs them, so events on them see the
same FdInfo a traced creation would have given. The probe syscall is
``pread(fd, 0 bytes)``: an fd-using event that changes nothing (it fails with
ESPIPE on pipes and sockets, which does not matter for its fd lookup).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from pdigpy.events.capture import CaptureWriter, read_capture
from pdigpy.events.model import Event
from pdigpy.events.procinfo import ProcInfo
from pdigpy.state.needs import STATE_EVENT_TYPES
from pdigpy.state.tables import State
from pdigpy.tracer.session import TraceOptions, Tracer

PROBE = "pread"


class Sink:
    """The app's pipeline without the rules: capture first, then the state."""

    def __init__(self, capture: CaptureWriter | None = None) -> None:
        self.state = State()
        self.capture = capture
        self.events: list[Event] = []
        self.snapshots: list[ProcInfo] = []
        self.views: list[tuple] = []

    def on_snapshot(self, info: ProcInfo) -> None:
        if self.capture is not None:
            self.capture.write_snapshot(info)
        self.snapshots.append(info)
        self.state.add_snapshot(info)

    def on_event(self, evt: Event) -> None:
        if self.capture is not None:
            self.capture.write_event(evt)
        self.state.apply(evt)
        self.events.append(evt)
        self.views.append((evt.num, evt.type, evt.tid, _fd_view(evt.fdinfo)))

    def probes(self, pid: int) -> dict[int, object]:
        """fd number -> FdInfo seen by the probe events of process ``pid``."""
        return {e.args["fd"]: e.fdinfo for e in self.events if e.type == PROBE and e.pid == pid}


def _fd_view(fd) -> tuple | None:
    if fd is None:
        return None
    return (fd.num, fd.type, fd.typechar, fd.name, fd.nameraw, fd.openflags, fd.cloexec, fd.ino,
            fd.dev, fd.l4proto, fd.cip, fd.cport, fd.sip, fd.sport, fd.is_server, fd.connected)


def _replayed(path: Path) -> Sink:
    sink = Sink()
    for kind, value in read_capture(path):
        if kind == "snapshot":
            sink.on_snapshot(value)
        elif kind == "event":
            sink.on_event(value)
    return sink


def _options(**kw) -> TraceOptions:
    # listen too: the traced side of test_discovered_fds_look_like_traced_ones needs it for is_server
    return TraceOptions(event_types=STATE_EVENT_TYPES | {PROBE, "write", "sendto", "listen"}, **kw)


@pytest.fixture
def unique_file():
    path = Path(f"/tmp/pdigpy-inherited-{uuid.uuid4().hex[:10]}.log")
    path.write_text("")
    yield path
    path.unlink(missing_ok=True)


# ---------------------------------------------------------------- spawn mode

APP_PROBES = (
    "import os, socket, sys\n"
    "f, lst, r = (int(x) for x in sys.argv[1:4])\n"
    "for fd in (f, lst, r):\n"
    "    try: os.pread(fd, 0, 0)\n"
    "    except OSError: pass\n"
    "os.write(f, b'from the app\\n')\n"
    "conn, _ = socket.socket(fileno=lst).accept()\n"
    "conn.sendall(os.read(r, 5))\n"
)


def test_spawned_app_sees_its_inherited_file_listener_and_pipe(unique_file, tmp_path):
    log = os.open(unique_file, os.O_WRONLY | os.O_APPEND)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    lst_num = listener.fileno()
    r, w = os.pipe()
    pipe_ino = os.fstat(r).st_ino
    for fd in (log, listener.fileno(), r):
        os.set_inheritable(fd, True)
    os.write(w, b"hello")
    got: list[bytes] = []

    def client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
            got.append(c.recv(5))

    t = threading.Thread(target=client, daemon=True)
    t.start()
    capture = tmp_path / "spawn.jsonl"
    writer = CaptureWriter(capture)
    writer.write_header({"test": "inherited"})
    sink = Sink(writer)
    try:
        rc = Tracer(sink, _options()).run_command(
            [sys.executable, "-S", "-c", APP_PROBES, str(log), str(listener.fileno()), str(r)])
    finally:
        writer.close()
        t.join(timeout=20)
        for fd in (log, r, w):
            os.close(fd)
        listener.close()
    assert rc == 0 and sink.state.errors == 0, sink.state.last_error
    assert got == [b"hello"] and unique_file.read_text() == "from the app\n"

    # one snapshot with fds: the root's, just before its execve event
    with_fds = [s for s in sink.snapshots if s.fds is not None]
    assert len(with_fds) == 1
    root_exec = next(e for e in sink.events if e.type == "execve")
    assert with_fds[0].pid == root_exec.pid
    # only the fds are news: the root's start is still its exec (exact), as without the snapshot
    root = root_exec.thread
    assert root.start_ts == root.proc.start_ts == root.proc.exec_ts == root_exec.ts
    assert root.proc.pidns_init_start_ts == 0 and with_fds[0].start_ts == 0

    probes = sink.probes(root_exec.pid)
    f = probes[log]
    assert (f.type, f.typechar, f.name, f.cloexec) == ("file", "f", str(unique_file), False)
    assert f.openflags & 0b11 == 2 and f.ino == unique_file.stat().st_ino  # PPM O_WRONLY
    lst = probes[lst_num]
    assert (lst.type, lst.typechar, lst.l4proto, lst.is_server, lst.sip, lst.sport, lst.name) == (
        "ipv4", "4", "tcp", True, "127.0.0.1", port, f"127.0.0.1:{port}")
    pipe = probes[r]
    assert (pipe.type, pipe.typechar, pipe.name, pipe.ino) == ("pipe", "p", f"pipe:[{pipe_ino}]", pipe_ino)
    writes = [e for e in sink.events if e.type == "write" and e.args.get("fd") == log]
    assert writes and writes[0].fdinfo.name == str(unique_file)

    # replay: the same snapshots and events rebuild the same fds
    assert _replayed(capture).views == sink.views


def test_only_the_root_pays_for_the_fd_scan():
    """A fork+exec-heavy workload: one fd read (the root's), not one per exec."""
    sink = Sink()
    tracer = Tracer(sink, _options())
    rc = tracer.run_command(["sh", "-c", "i=0; while [ $i -lt 30 ]; do /bin/true; i=$((i+1)); done"])
    assert rc == 0
    assert sum(1 for e in sink.events if e.type == "execve") >= 31
    with_fds = [s for s in sink.snapshots if s.fds is not None]
    assert len(with_fds) == 1 and with_fds[0].comm == "sh"
    assert tracer.stats.snapshot_fds == len(with_fds[0].fds) >= 3  # stdio at least
    assert tracer.stats.snapshot_fds_capped == 0


def test_cloexec_fds_are_gone_at_the_root_exec():
    keep = os.open("/dev/null", os.O_RDONLY)  # O_CLOEXEC (Python's default): not inherited
    try:
        sink = Sink()
        Tracer(sink, _options()).run_command(["true"])
    finally:
        os.close(keep)
    fds = next(s for s in sink.snapshots if s.fds is not None).fds
    assert keep not in {f.num for f in fds}
    assert {0, 1, 2} <= {f.num for f in fds}


# ---------------------------------------------------------------- attach mode

TARGET = (
    "import os, socket, sys\n"
    "log, port = sys.argv[1], int(sys.argv[2])\n"
    "f = os.open(log, os.O_WRONLY | os.O_APPEND)\n"
    "d = os.open('/tmp', os.O_RDONLY | os.O_DIRECTORY)\n"
    "r, w = os.pipe()\n"
    "lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen()\n"
    "c = socket.create_connection(('127.0.0.1', port))\n"
    "pair = socket.socketpair()\n"
    "e = os.eventfd(0)\n"
    "fds = [f, d, r, w, lst.fileno(), c.fileno(), pair[0].fileno(), e]\n"
    "if sys.argv[3] == 'fork':\n"
    "    child = os.fork()\n"
    "    if child == 0:\n"
    "        os.read(0, 3); os.pread(f, 0, 0); os._exit(0)\n"
    "print(' '.join(map(str, fds)), flush=True)\n"
    "if sys.argv[3] != 'spawn': os.read(0, 3)  # held here while pdigpy attaches\n"
    "for fd in fds:\n"
    "    try: os.pread(fd, 0, 0)\n"
    "    except OSError: pass\n"
    "os.write(f, b'after attach\\n')\n"
    "c.sendall(b'hi')\n"
    "if sys.argv[3] == 'fork': os.wait()\n"
)


class _Server:
    """A loopback TCP server the target connects to; reads what it is sent."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.got: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(20)
            self.got.append(conn.recv(16))

    def close(self) -> None:
        self.thread.join(timeout=20)
        self.sock.close()


def _switches(pid: int) -> tuple[int, int]:
    """(TracerPid, context switches) of ``pid`` from /proc/PID/status."""
    tracer = switches = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("TracerPid:"):
                tracer = int(line.split()[1])
            elif "ctxt_switches:" in line:  # voluntary and nonvoluntary
                switches += int(line.split()[1])
    except OSError:
        pass
    return tracer, switches


def _wait_attached(pids: list[int], before: dict[int, int], timeout: float = 30) -> None:
    """Until each process is traced and has been woken since ``before`` (the attach's interrupt):
    from then on its syscalls are seen, so it may be released."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [_switches(pid) for pid in pids]
        if all(tr and sw > before[pid] for pid, (tr, sw) in zip(pids, states)):
            return
        time.sleep(0.001)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _attach_and_release(proc: subprocess.Popen, sink: Sink, options: TraceOptions) -> Tracer:
    """Attach to ``proc`` (blocked reading stdin); once attached, let it go on (a line on stdin)."""
    family = [proc.pid] + _children(proc.pid)  # --follow seizes them after the target
    before = {pid: _switches(pid)[1] for pid in family}

    def release() -> None:
        _wait_attached(family, before)
        proc.stdin.write(b"go\ngo\n")
        proc.stdin.flush()

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    tracer = Tracer(sink, options)
    tracer.attach(proc.pid)
    releaser.join(timeout=20)
    return tracer


def _run_target(unique_file: Path, mode: str, sink: Sink, follow: bool = False):
    server = _Server()
    proc = subprocess.Popen([sys.executable, "-S", "-c", TARGET, str(unique_file), str(server.port), mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        fds = [int(x) for x in proc.stdout.readline().split()]
        assert len(fds) == 8
        tracer = _attach_and_release(proc, sink, _options(seccomp=False, follow_descendants=follow))
    finally:
        proc.wait(timeout=20)
        proc.stdout.close()
        proc.stdin.close()
        server.close()
    assert server.got == [b"hi"]
    return proc, fds, server.port, tracer


def test_attach_sees_the_files_and_sockets_opened_before_it(unique_file, tmp_path):
    capture = tmp_path / "attach.jsonl"
    writer = CaptureWriter(capture)
    writer.write_header({"test": "attach"})
    sink = Sink(writer)
    try:
        proc, fds, port, tracer = _run_target(unique_file, "plain", sink)
    finally:
        writer.close()
    assert sink.state.errors == 0, sink.state.last_error
    f, d, r, w, lst, c, pair, e = fds
    probes = sink.probes(proc.pid)
    assert set(fds) <= set(probes), sorted(probes)
    assert (probes[f].type, probes[f].name) == ("file", str(unique_file))
    assert (probes[d].type, probes[d].typechar, probes[d].name) == ("directory", "d", "/tmp")
    assert probes[r].type == probes[w].type == "pipe" and probes[r].name == probes[w].name
    assert (probes[lst].type, probes[lst].is_server) == ("ipv4", True)
    conn = probes[c]
    assert (conn.type, conn.l4proto, conn.connected, conn.is_server, conn.sip, conn.sport) == (
        "ipv4", "tcp", True, False, "127.0.0.1", port)
    assert conn.name == f"127.0.0.1:{conn.cport}->127.0.0.1:{port}"
    assert (probes[pair].type, probes[e].type) == ("unix", "event")
    writes = [ev for ev in sink.events if ev.type in ("write", "sendto") and ev.pid == proc.pid]
    assert {ev.fdinfo.name for ev in writes if ev.fdinfo is not None} >= {str(unique_file), conn.name}
    assert tracer.stats.snapshot_fds >= 8
    assert _replayed(capture).views == sink.views


def _normal(view: tuple | None) -> tuple | None:
    """An fd view with the run-specific numbers (ports, inodes) blanked.

    Ports are left out: a traced bind to port 0 names the socket "ip:0" (the
    bind argument), where /proc gives the port the kernel chose.
    """
    if view is None:
        return None
    num, ftype, char, name, nameraw, openflags, cloexec, ino, dev, l4, cip, cport, sip, sport, srv, conn = view
    name = re.sub(r":\d+", ":N", re.sub(r"\[\d+\]", "[N]", name))
    nameraw = re.sub(r":\d+", ":N", re.sub(r"\[\d+\]", "[N]", nameraw))
    if ftype not in ("file", "directory"):
        ino = 0
    return (ftype, char, name, nameraw, openflags, cloexec, ino, dev, l4, cip, sip, srv, conn)


def test_discovered_fds_look_like_traced_ones(unique_file):
    """The same program, its fds once created under tracing, once read at an attach: same FdInfo."""
    server = _Server()
    traced = Sink()
    try:
        rc = Tracer(traced, _options()).run_command(
            [sys.executable, "-S", "-c", TARGET, str(unique_file), str(server.port), "spawn"])
    finally:
        server.close()
    assert rc == 0 and traced.state.errors == 0
    spawned_pid = next(e.pid for e in traced.events if e.type == "execve")
    attached = Sink()
    proc, fds, _port, _tracer = _run_target(unique_file, "plain", attached)
    spawned_fds = sorted(traced.probes(spawned_pid))
    assert len(spawned_fds) == len(fds) == 8
    for mine, theirs in zip(spawned_fds, fds):
        a = _normal(_fd_view(traced.probes(spawned_pid)[mine]))
        b = _normal(_fd_view(attached.probes(proc.pid)[theirs]))
        assert a == b, (mine, theirs)


def test_attach_with_follow_reads_the_descendants_fds_too(unique_file):
    sink = Sink()
    proc, fds, _port, _tracer = _run_target(unique_file, "fork", sink, follow=True)
    with_fds = {s.pid: s for s in sink.snapshots if s.fds is not None}
    assert proc.pid in with_fds and len(with_fds) == 2
    child_pid = next(pid for pid in with_fds if pid != proc.pid)
    assert str(unique_file) in {f.name for f in with_fds[child_pid].fds}
    probe = sink.probes(child_pid)
    assert probe[fds[0]].name == str(unique_file)


def test_attach_to_a_process_with_more_fds_than_the_cap(capfd):
    """4096 fds are read (the lowest), the rest stay unknown; one line on stderr says so."""
    code = (
        "import os, resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (6000, 6000))\n"
        "fd = os.open('/dev/null', os.O_RDONLY)\n"
        "fds = [os.dup(fd) for _ in range(5000)]\n"
        "print(fds[0], fds[-1], flush=True)\n"
        "os.read(0, 3)  # held here while pdigpy attaches\n"
        "os.pread(fds[0], 0, 0); os.pread(fds[-1], 0, 0)\n"
    )
    proc = subprocess.Popen([sys.executable, "-S", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    sink = Sink()
    try:
        low, high = (int(x) for x in proc.stdout.readline().split())
        tracer = _attach_and_release(proc, sink, _options(seccomp=False))
    finally:
        proc.wait(timeout=60)
        proc.stdin.close()
        proc.stdout.close()
    from pdigpy.tracer.procfs import MAX_FDS

    assert tracer.stats.snapshot_fds == MAX_FDS and tracer.stats.snapshot_fds_capped == 1
    snap = next(s for s in sink.snapshots if s.fds is not None)
    assert [f.num for f in snap.fds] == list(range(MAX_FDS))
    probes = sink.probes(proc.pid)
    assert probes[low].name == "/dev/null" and probes[high] is None  # above the cap: unknown
    err = capfd.readouterr().err
    assert f"PID {proc.pid} has more than {MAX_FDS} open fds" in err and err.count("open fds") == 1

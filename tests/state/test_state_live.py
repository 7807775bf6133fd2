"""Real processes through Tracer -> State (and capture -> replay -> a fresh State)."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from pdigpy.events.capture import CaptureWriter, read_capture
from pdigpy.events.model import Event
from pdigpy.events.procinfo import ProcInfo
from pdigpy.state.needs import STATE_EVENT_TYPES
from pdigpy.state.tables import State

tracer_session = pytest.importorskip("pdigpy.tracer.session")


class RecordingSink:
    """What the app's pipeline does: capture first, then the state."""

    def __init__(self, capture: CaptureWriter | None = None) -> None:
        self.state = State()
        self.capture = capture
        self.events: list[Event] = []
        self.views: list[tuple] = []  # what each event saw, taken right after apply()

    def on_snapshot(self, info: ProcInfo) -> None:
        if self.capture is not None:
            self.capture.write_snapshot(info)
        self.state.add_snapshot(info)

    def on_event(self, evt: Event) -> None:
        if self.capture is not None:
            self.capture.write_event(evt)
        self.state.apply(evt)
        self.events.append(evt)
        self.views.append(view(self.state, evt))


def view(state: State, evt: Event) -> tuple:
    """A comparable picture of what fields would read for this event."""
    th = evt.thread
    fd = evt.fdinfo
    return (
        evt.num, evt.type,
        None if th is None else (th.tid, th.pid, th.ptid, th.comm, th.proc.exe,
                                 tuple(th.proc.args), th.proc.cwd, th.euid,
                                 tuple(a.comm for a in state.ancestors(th))),
        None if fd is None else (fd.num, fd.type, fd.typechar, fd.name, fd.nameraw, fd.cloexec),
        # at exit, where the process's stdout went
        _fd_name(th, 1) if evt.type == "procexit" and th is not None else None,
    )


def _fd_name(thread, num: int) -> str | None:
    info = thread.fds.get(num) if thread.fds is not None else None
    return None if info is None else info.name


def tables(state: State) -> dict:
    out = {}
    for tid, th in sorted(state.threads.items()):
        out[tid] = (th.pid, th.ptid, th.comm, th.proc.exe, tuple(th.proc.args), th.proc.cwd,
                    th.exited, th.parent.tid if th.parent else None,
                    tuple((n, i.type, i.name, i.cloexec) for n, i in th.fds.items()))
    return out


def trace(argv: list[str], sink: RecordingSink, extra: set[str] = frozenset()) -> int:
    opts = tracer_session.TraceOptions(event_types=STATE_EVENT_TYPES | set(extra))
    return tracer_session.Tracer(sink, opts).run_command(argv)


@pytest.fixture
def workdir(tmp_path: Path):
    path = Path("/tmp") / f"pdigpy-state-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_shell_cd_then_relative_cat(workdir: Path, tmp_path: Path) -> None:
    (workdir / "x").write_text("hello\n")
    (workdir / "sub").mkdir()
    capture_path = tmp_path / "live.jsonl"
    writer = CaptureWriter(capture_path)
    writer.write_header({"test": "shell"})
    sink = RecordingSink(writer)
    script = f"cd {workdir}/sub && cat ../x > ../out && (cd .. && exec cat ./x) >/dev/null"
    rc = trace(["sh", "-c", script], sink, {"read", "write"})
    writer.close()
    assert rc == 0 and sink.state.errors == 0, sink.state.last_error
    assert (workdir / "out").read_text() == "hello\n"

    opens = [e for e in sink.events if e.type == "openat" and e.res is not None and e.res >= 0]
    by_name = {e.fdinfo.name: e for e in opens}
    assert f"{workdir}/x" in by_name
    first_cat = by_name[f"{workdir}/x"]
    assert first_cat.fdinfo.nameraw in ("../x", "./x")
    out = by_name[f"{workdir}/out"]
    assert out.thread.comm == "sh"  # the redirection is opened by the forked shell before exec
    cats = [e for e in opens if e.fdinfo.name == f"{workdir}/x"]
    assert {e.thread.comm for e in cats} == {"cat"}
    assert {e.fdinfo.nameraw for e in cats} == {"../x", "./x"}
    for evt in cats:
        ancestors = list(sink.state.ancestors(evt.thread))
        assert ancestors[0].comm == "sh"
        # spawn mode: the app is presented as a child of pdigpy's parent
        assert ancestors[-1].pid in (1, 0) or ancestors[-1].ptid == 0
        assert os.getppid() in [a.pid for a in ancestors]
    # stdout of the first cat is ../out (opened by the forked shell, dup2'ed to 1,
    # inherited through vfork+exec); the second cat's is /dev/null
    exits = {e.tid: v[-1] for e, v in zip(sink.events, sink.views) if e.type == "procexit"}
    stdouts = {e.fdinfo.nameraw: exits[e.tid] for e in cats}
    assert stdouts == {"../x": f"{workdir}/out", "./x": "/dev/null"}
    writes = [e for e in sink.events if e.type == "write" and e.thread.comm == "cat"]
    assert all(e.fdinfo is not None and e.fdinfo.name == "/dev/null" for e in writes)
    # every process exited: nothing of the app is left in the table
    assert all(t.pid != first_cat.pid for t in sink.state.threads.values())

    # replay: a fresh State fed from the capture sees exactly what the live one saw
    replay = RecordingSink()
    header = None
    for kind, value in read_capture(capture_path):
        if kind == "header":
            header = value
        elif kind == "snapshot":
            replay.on_snapshot(value)
        else:
            replay.on_event(value)
    assert header is not None and header["meta"] == {"test": "shell"}
    assert replay.views == sink.views
    assert tables(replay.state) == tables(sink.state)


def test_threads_share_fds_and_fork_copies_them(tmp_path: Path) -> None:
    marker = f"/tmp/pdigpy-thr-{uuid.uuid4().hex[:8]}"
    code = (
        "import os, threading\n"
        f"open({marker!r}, 'w').close()\n"
        f"fd = os.open({marker!r}, os.O_RDONLY)\n"
        "box = {}\n"
        "t = threading.Thread(target=lambda: box.setdefault('fd', os.open('/etc/hostname', os.O_RDONLY)))\n"
        "t.start(); t.join()\n"
        "os.read(box['fd'], 1)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.read(fd, 1); os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        f"os.unlink({marker!r})\n"
    )
    sink = RecordingSink()
    try:
        rc = trace([sys.executable, "-S", "-c", code], sink, {"read"})
    finally:
        if os.path.exists(marker):
            os.unlink(marker)
    assert rc == 0 and sink.state.errors == 0, sink.state.last_error
    opened = {e.fdinfo.name: e for e in sink.events
              if e.type == "openat" and e.fdinfo is not None and e.fdinfo.num >= 0}
    main_open = opened[marker]
    thread_open = opened["/etc/hostname"]
    assert thread_open.tid != thread_open.pid  # opened by the thread
    assert thread_open.pid == main_open.pid
    reads = [e for e in sink.events if e.type == "read" and e.fdinfo is not None]
    main_read = [e for e in reads if e.fdinfo.name == "/etc/hostname"]
    assert main_read and main_read[0].tid == main_open.pid  # main thread reads the thread's fd
    child_read = [e for e in reads if e.fdinfo.name == marker]
    assert child_read and child_read[0].pid != main_open.pid  # the fork child inherited it
    child = child_read[0].thread
    assert child.parent is not None and child.parent.pid == main_open.pid
    clones = [e for e in sink.events if e.type in ("clone", "clone3")]
    assert clones, "thread creation was not reported"


def test_exec_from_a_thread_takes_over_the_leader() -> None:
    """ptrace reports the leader's exit, then the exec under the leader's tid."""
    code = (
        "import threading, os\n"
        "fd = os.open('/etc/hostname', os.O_RDONLY)\n"  # O_CLOEXEC: gone after exec
        "t = threading.Thread(target=lambda: os.execv('/bin/cat', ['cat', '/proc/self/fd/%d' % fd]))\n"
        "t.start(); t.join()\n"
    )
    sink = RecordingSink()
    trace([sys.executable, "-S", "-c", code], sink, {"read"})
    assert sink.state.errors == 0, sink.state.last_error
    execs = [e for e in sink.events if e.type == "execve" and e.res == 0]
    cat_exec = execs[-1]
    leader = cat_exec.thread
    assert cat_exec.tid == cat_exec.pid == leader.tid and leader.comm == "cat"
    clones = [e for e in sink.events if e.type in ("clone", "clone3") and e.res == 0
              and e.pid == cat_exec.pid]
    assert clones, "the thread's creation was not reported"
    thread_tid = clones[0].tid
    assert thread_tid != leader.tid and sink.state.get_thread(thread_tid) is None
    assert sink.state.groups[cat_exec.pid].tids == {cat_exec.pid}
    failed = [e for e in sink.events if e.type == "openat" and e.tid == leader.tid
              and e.num > cat_exec.num and e.fdinfo is not None and e.fdinfo.num == -1
              and e.fdinfo.name.startswith("/proc/self/fd/")]
    assert failed  # the close-on-exec fd was really gone after the exec
    opened = [e for e in sink.events if e.type == "openat" and e.fdinfo is not None
              and e.fdinfo.name == "/etc/hostname"]
    assert opened and opened[0].fdinfo.cloexec and opened[0].pid == cat_exec.pid


def test_tcp_connect_and_accept_on_loopback() -> None:
    code = (
        "import socket\n"
        "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)\n"
        "cli = socket.create_connection(srv.getsockname())\n"
        "conn, _ = srv.accept()\n"
        "cli.sendall(b'x'); conn.recv(1)\n"
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "u.sendto(b'y', ('127.0.0.1', 9))\n"
    )
    sink = RecordingSink()
    rc = trace([sys.executable, "-S", "-c", code], sink, {"sendto"})
    assert rc == 0 and sink.state.errors == 0, sink.state.last_error
    by_type = {}
    for e in sink.events:
        by_type.setdefault(e.type, []).append(e)
    bind = by_type["bind"][0].fdinfo  # bound to port 0: the kernel's choice is not in the event
    assert (bind.sip, bind.sport) == ("127.0.0.1", 0)  # listen is not traced here
    connect = by_type["connect"][0]
    accept = [e for e in by_type.get("accept4", []) + by_type.get("accept", []) if e.res >= 0][0]
    c, a = connect.fdinfo, accept.fdinfo
    assert (c.type, c.typechar, c.l4proto, c.connected, c.is_server) == ("ipv4", "4", "tcp", True, False)
    assert c.sip == "127.0.0.1" and c.sport > 0
    assert c.name == f"127.0.0.1:{c.cport}->127.0.0.1:{c.sport}" and c.cport > 0
    assert a.is_server and a.name == c.name and a.num == accept.res
    assert connect.fdinfo.extra["name_changed_num"] == connect.num
    udp = [e for e in by_type["sendto"] if e.fdinfo is not None and e.fdinfo.l4proto == "udp"][0]
    assert udp.fdinfo.sip == "127.0.0.1" and udp.fdinfo.sport == 9 and not udp.fdinfo.connected
    assert udp.fdinfo.extra["name_changed_num"] == udp.num


def test_reverse_shell_style_dup_to_stdin_is_a_socket() -> None:
    """bash's /dev/tcp then 0<&5: the dup2 event's fd is the connected ipv4 socket."""
    import socket
    import threading

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not installed")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    got: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            got.append(conn.recv(16))

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    sink = RecordingSink()
    try:
        rc = trace([bash, "-c", f"exec 5<>/dev/tcp/127.0.0.1/{port}; exec 0<&5; echo hi >&5"], sink)
    finally:
        server.join(timeout=10)
        listener.close()
    assert rc == 0 and sink.state.errors == 0, sink.state.last_error
    assert got == [b"hi\n"]
    dups = [e for e in sink.events if e.type in ("dup", "dup2", "dup3") and e.res == 0]
    assert dups, [e.type for e in sink.events]
    fd = dups[-1].fdinfo
    assert fd is not None and fd.num == 0
    assert (fd.type, fd.typechar, fd.l4proto, fd.connected) == ("ipv4", "4", "tcp", True)
    assert fd.sip == "127.0.0.1" and fd.sport == port
    assert fd.name == f"127.0.0.1:{fd.cport}->127.0.0.1:{port}"


def test_attach_uses_the_snapshot_cwd_and_threads() -> None:
    """Attach mode: the process's cwd and its other thread come from snapshots."""
    import subprocess

    code = ("import time, os, threading\n"
            "t = threading.Thread(target=time.sleep, args=(2,)); t.start()\n"
            "os.chdir('/etc')\n"
            "print('ready', flush=True)\n"
            "time.sleep(0.3)\n"
            "for i in range(10):\n"
            "    open('hostname').close(); time.sleep(0.02)\n")
    proc = subprocess.Popen([sys.executable, "-S", "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n"  # chdir done before we attach
        sink = RecordingSink()
        opts = tracer_session.TraceOptions(event_types=STATE_EVENT_TYPES, seccomp=False)
        tracer_session.Tracer(sink, opts).attach(proc.pid)
    finally:
        proc.wait(timeout=10)
        proc.stdout.close()
    assert sink.state.errors == 0, sink.state.last_error
    assert not [e for e in sink.events if e.type == "chdir"]
    opens = [e for e in sink.events if e.type == "openat" and e.fdinfo is not None
             and e.fdinfo.nameraw == "hostname"]
    assert opens and all(e.fdinfo.name == "/etc/hostname" for e in opens)
    main = opens[0].thread
    assert main.pid == proc.pid and main.proc.cwd == "/etc"
    assert os.getpid() in [a.pid for a in sink.state.ancestors(main)]
    group = sink.state.groups.get(proc.pid)
    siblings = [] if group is None else [sink.state.get_thread(t) for t in group.tids if t != proc.pid]
    assert all(s is None or s.fds is main.fds for s in siblings)


def test_many_short_processes_leave_no_records() -> None:
    class Counting(RecordingSink):
        def on_event(self, evt: Event) -> None:  # no views kept: this is about the state's size
            self.state.apply(evt)
            self.count = getattr(self, "count", 0) + 1

    sink = Counting()
    rc = trace(["sh", "-c", "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done"], sink)
    assert rc == 0 and sink.state.errors == 0
    # at least a clone pair, an exec and a procexit per /bin/true
    assert sink.count >= 300 * 4
    snapshots_and_shell = len(sink.state.threads)
    assert snapshots_and_shell <= 12, sorted(sink.state.threads)
    assert len(sink.state.groups) == snapshots_and_shell


def test_shell_pipeline_fds_are_the_pipe() -> None:
    """sh: pipe2, then dup2 into the writer's stdout and the reader's stdin; close untraced."""
    sink = RecordingSink()
    rc = trace(["sh", "-c", "echo hi | cat > /dev/null"], sink, {"read"})
    assert rc == 0 and sink.state.errors == 0, sink.state.last_error
    pipe = [e for e in sink.events if e.type in ("pipe", "pipe2")][0]
    name = pipe.fdinfo.name
    assert name.startswith("pipe:[") and pipe.fdinfo.typechar == "p"
    cat_reads = [e for e in sink.events if e.type == "read" and e.thread.comm == "cat"
                 and e.args.get("fd") == 0]
    assert cat_reads and all(e.fdinfo is not None and e.fdinfo.name == name for e in cat_reads)
    stdout_dups = [e for e in sink.events if e.type == "dup2" and e.res == 1 and e.fdinfo is not None]
    assert {e.fdinfo.name for e in stdout_dups} == {name, "/dev/null"}

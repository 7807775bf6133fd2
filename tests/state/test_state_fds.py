"""fd table transitions: opens and paths, sockets, dup, pipes, special fds."""

from __future__ import annotations

import pytest

from pdigpy.events.model import SockAddr, SockTuple
from pdigpy.state.fds import join_path, normalize_path
from state_helpers import (
    PPM_O_CLOEXEC,
    PPM_O_DIRECTORY,
    PPM_O_RDONLY,
    PPM_O_WRONLY,
    apply_all,
    base_state,
    ev,
    openat,
)

APP = 200


@pytest.mark.parametrize("path, expected", [
    ("/", "/"),
    ("//", "/"),
    ("/etc//passwd", "/etc/passwd"),
    ("/etc/./passwd", "/etc/passwd"),
    ("/usr/lib/../share/", "/usr/share"),
    ("/../../etc", "/etc"),
    ("/a/b/c/../../d", "/a/d"),
    ("/tmp/.hidden", "/tmp/.hidden"),
    ("/tmp/..x", "/tmp/..x"),
    ("<UNKNOWN>/a/../b", "<UNKNOWN>/b"),
])
def test_normalize_path(path: str, expected: str) -> None:
    assert normalize_path(path) == expected


@pytest.mark.parametrize("base, name, expected", [
    ("/srv", "x", "/srv/x"),
    ("/srv", "../etc/passwd", "/etc/passwd"),
    ("/srv", "/abs//p", "/abs/p"),
    ("/", "a/./b", "/a/b"),
    ("/srv", "", "/srv"),
])
def test_join_path(base: str, name: str, expected: str) -> None:
    assert join_path(base, name) == expected


# (description, events after the base state, fd num, expected attributes or None)
OPEN_CASES = [
    ("relative to cwd", [openat(APP, 3, "data//f.txt")], 3,
     {"name": "/srv/data/f.txt", "nameraw": "data//f.txt", "typechar": "f", "type": "file"}),
    ("dot-dot through cwd", [openat(APP, 3, "../etc/./shadow")], 3,
     {"name": "/etc/shadow", "nameraw": "../etc/./shadow"}),
    ("dirfd of a directory", [openat(APP, 3, "/usr/lib", PPM_O_DIRECTORY),
                              openat(APP, 4, "../share/x", dirfd=3)], 4,
     {"name": "/usr/share/x", "nameraw": "../share/x"}),
    ("directory fd", [openat(APP, 3, "/usr/lib/", PPM_O_DIRECTORY)], 3,
     {"name": "/usr/lib", "typechar": "d", "type": "directory"}),
    ("absolute ignores a bad dirfd", [openat(APP, 3, "/etc/hosts", dirfd=77)], 3,
     {"name": "/etc/hosts"}),
    ("unknown dirfd", [openat(APP, 3, "x/y", dirfd=77)], 3, {"name": "<UNKNOWN>/x/y"}),
    ("cloexec flag", [openat(APP, 3, "/etc/hosts", PPM_O_RDONLY | PPM_O_CLOEXEC)], 3,
     {"cloexec": True, "openflags": PPM_O_RDONLY | PPM_O_CLOEXEC}),
    ("open (no dirfd)", [ev("open", APP, 5, fd=5, name="rel", flags=PPM_O_WRONLY, mode=0)], 5,
     {"name": "/srv/rel"}),
    ("creat", [ev("creat", APP, 6, fd=6, name="/tmp/c", mode=0o644)], 6,
     {"name": "/tmp/c", "type": "file"}),
    ("reused number is overwritten", [openat(APP, 3, "/etc/a"), openat(APP, 3, "/etc/b")], 3,
     {"name": "/etc/b"}),
]


@pytest.mark.parametrize("what, events, num, expected", OPEN_CASES, ids=[c[0] for c in OPEN_CASES])
def test_open_paths(what, events, num, expected) -> None:
    state = base_state()
    apply_all(state, *events)
    info = state.get_thread(APP).fds.get(num)
    assert info is not None
    for key, value in expected.items():
        assert getattr(info, key) == value, key
    assert events[-1].fdinfo is info


def test_failed_open_gives_falco_fdinfo_and_leaves_table() -> None:
    state = base_state()
    evt = openat(APP, -2, "../nope//x", PPM_O_RDONLY)
    state.apply(evt)
    info = evt.fdinfo
    assert info is not None
    assert (info.num, info.typechar, info.type) == (-1, "f", "")
    assert info.name == "/nope/x" and info.nameraw == "../nope//x"
    assert len(state.get_thread(APP).fds) == 0


def test_open_without_exit_stop_changes_nothing() -> None:
    state = base_state()
    evt = openat(APP, None, "/etc/hosts")  # type: ignore[arg-type]
    state.apply(evt)
    assert evt.fdinfo is None and len(state.get_thread(APP).fds) == 0


def test_socket_connect_tuple_and_name() -> None:
    state = base_state()
    sock = ev("socket", APP, 3, fd=3, domain=2, type=1 | 0o2000000, proto=0)
    tup = SockTuple("ipv4", "tcp", "10.0.0.5", 40000, "93.184.216.34", 443)
    conn = ev("connect", APP, 0, res=0, tuple=tup, fd=3,
              addr=SockAddr("ipv4", "93.184.216.34", 443))
    apply_all(state, sock, conn)
    info = state.get_thread(APP).fds.get(3)
    assert (info.type, info.typechar, info.l4proto, info.cloexec) == ("ipv4", "4", "tcp", True)
    assert info.name == "10.0.0.5:40000->93.184.216.34:443"
    assert (info.cip, info.cport, info.sip, info.sport) == ("10.0.0.5", 40000, "93.184.216.34", 443)
    assert info.connected and not info.is_server
    assert conn.fdinfo is info and sock.fdinfo is info


def test_connect_in_progress_and_failure() -> None:
    state = base_state()
    apply_all(state, ev("socket", APP, 3, fd=3, domain=10, type=1, proto=6),
              ev("socket", APP, 4, fd=4, domain=2, type=2, proto=0))
    tup6 = SockTuple("ipv6", "tcp", "::1", 5000, "::1", 8080)
    pending = ev("connect", APP, -115, res=-115, tuple=tup6, fd=3, addr=SockAddr("ipv6", "::1", 8080))
    refused = ev("connect", APP, -111, res=-111, tuple=None, fd=4, addr=SockAddr("ipv4", "127.0.0.1", 9))
    apply_all(state, pending, refused)
    six = state.get_thread(APP).fds.get(3)
    assert six.name == "::1:5000->::1:8080" and not six.connected and six.typechar == "6"
    four = state.get_thread(APP).fds.get(4)
    assert four.l4proto == "udp" and four.name == "" and refused.fdinfo is four


def test_accept_is_server() -> None:
    state = base_state()
    apply_all(state, ev("socket", APP, 3, fd=3, domain=2, type=1, proto=0),
              ev("bind", APP, 0, res=0, addr=SockAddr("ipv4", "0.0.0.0", 8080), fd=3),
              ev("listen", APP, 0, res=0, fd=3, backlog=5))
    acc = ev("accept4", APP, 5, fd=5, tuple=SockTuple("ipv4", "tcp", "10.1.1.9", 5555, "10.1.1.1", 8080),
             queuepct=0, queuelen=0, queuemax=5, flags=0)
    state.apply(acc)
    info = state.get_thread(APP).fds.get(5)
    assert info.is_server and info.connected
    assert (info.cip, info.cport, info.sip, info.sport) == ("10.1.1.9", 5555, "10.1.1.1", 8080)
    assert info.name == "10.1.1.9:5555->10.1.1.1:8080" and info.typechar == "4"
    listener = state.get_thread(APP).fds.get(3)
    assert listener.is_server and listener.sport == 8080


def test_unix_socket_names() -> None:
    state = base_state()
    apply_all(state, ev("socket", APP, 3, fd=3, domain=1, type=1, proto=0),
              ev("connect", APP, 0, res=0, tuple=SockTuple("unix", path="/run/dbus.sock"), fd=3,
                 addr=SockAddr("unix", path="/run/dbus.sock")))
    info = state.get_thread(APP).fds.get(3)
    assert (info.type, info.typechar, info.name) == ("unix", "u", "/run/dbus.sock")


def test_dup2_overwrites_and_unknown_source_clears() -> None:
    state = base_state()
    fds = state.get_thread(APP).fds
    apply_all(state, openat(APP, 1, "/dev/pts/0", PPM_O_WRONLY), openat(APP, 3, "/tmp/log", PPM_O_WRONLY))
    d = ev("dup2", APP, 1, res=1, oldfd=3, newfd=1)
    state.apply(d)
    assert fds.get(1).name == "/tmp/log" and fds.get(1).num == 1 and d.fdinfo is fds.get(1)
    assert fds.get(3).name == "/tmp/log" and fds.get(3) is not fds.get(1)
    state.apply(ev("dup2", APP, 1, res=1, oldfd=9, newfd=1))  # fd 9 was never seen
    assert fds.get(1) is None
    state.apply(ev("dup3", APP, 7, res=7, oldfd=3, newfd=7, flags=PPM_O_CLOEXEC))
    assert fds.get(7).cloexec and not fds.get(3).cloexec
    state.apply(ev("dup", APP, 8, res=8, oldfd=3))
    assert fds.get(8).name == "/tmp/log"


def test_fcntl_dupfd_cloexec_feeds_openat_dirfd() -> None:
    """GNU find: fcntl(dirfd, F_DUPFD_CLOEXEC) then openat() relative to the copy."""
    state = base_state()
    apply_all(state, openat(APP, 6, "/usr/include", PPM_O_DIRECTORY),
              ev("fcntl", APP, 8, res=8, fd=6, cmd=26),
              ev("fcntl", APP, 0, res=0, fd=6, cmd=3),  # F_SETFD: no fd created
              openat(APP, 6, "linux", PPM_O_DIRECTORY, dirfd=8))
    fds = state.get_thread(APP).fds
    assert fds.get(8).name == "/usr/include" and fds.get(8).cloexec
    assert fds.get(6).name == "/usr/include/linux"
    assert fds.get(0) is None


def test_pipe_pair_and_special_fds() -> None:
    state = base_state()
    apply_all(
        state,
        ev("pipe2", APP, 0, res=0, fd1=3, fd2=4, ino=4242, flags=PPM_O_CLOEXEC),
        ev("eventfd2", APP, 5, res=5, flags=0, initval=0),
        ev("signalfd4", APP, 6, res=6, flags=0, fd=-1, mask=0),
        ev("timerfd_create", APP, 7, res=7, clockid=1, flags=0),
        ev("inotify_init1", APP, 8, res=8, flags=0),
        ev("epoll_create1", APP, 9, res=9, flags=1),
        ev("memfd_create", APP, 10, fd=10, name="payload", flags=0),
        ev("pidfd_open", APP, 11, fd=11, pid=100, flags=0),
        ev("userfaultfd", APP, 12, res=12, flags=0),
        ev("io_uring_setup", APP, 13, res=13, entries=8),
        ev("bpf", APP, 14, fd=14, cmd=0),
        ev("bpf", APP, 0, fd=0, cmd=1),  # BPF_MAP_LOOKUP_ELEM returns 0: no fd
        ev("socket", APP, 15, fd=15, domain=16, type=3, proto=0),
        ev("socketpair", APP, 0, res=0, fd1=16, fd2=17, source=0, peer=0, domain=1, type=1, proto=0),
    )
    fds = state.get_thread(APP).fds
    expected = {3: ("pipe", "p"), 4: ("pipe", "p"), 5: ("event", "e"), 6: ("signalfd", "s"),
                7: ("timerfd", "t"), 8: ("inotify", "i"), 9: ("eventpoll", "l"),
                10: ("memfd", "m"), 11: ("pidfd", "P"), 12: ("userfaultfd", "u"),
                13: ("io_uring", "r"), 14: ("bpf", "b"), 15: ("netlink", "n"),
                16: ("unix", "u"), 17: ("unix", "u")}
    for num, (ftype, char) in expected.items():
        info = fds.get(num)
        assert info is not None, num
        assert (info.type, info.typechar) == (ftype, char), num
    assert fds.get(0) is None
    assert fds.get(3).cloexec and fds.get(4).name == "pipe:[4242]"
    assert fds.get(9).cloexec
    assert fds.get(10).name == "memfd:payload"


def test_pidfd_getfd_copies_target_entry() -> None:
    state = base_state()
    apply_all(state, openat(100, 5, "/root/.bash_history", pid=100),
              ev("pidfd_open", APP, 3, fd=3, pid=100, flags=0),
              ev("pidfd_getfd", APP, 4, fd=4, pid_fd=3, target_fd=5, flags=0))
    assert state.get_thread(APP).fds.get(4).name == "/root/.bash_history"


def test_close_when_traced_removes_entry() -> None:
    state = base_state()
    opened = openat(APP, 3, "/etc/hosts")
    closed = ev("close", APP, 0, res=0, fd=3)
    apply_all(state, opened, closed)
    assert closed.fdinfo is opened.fdinfo
    assert state.get_thread(APP).fds.get(3) is None


def test_fd_using_events_get_fdinfo_and_others_none() -> None:
    state = base_state()
    opened = openat(APP, 3, "/etc/hosts")
    read = ev("read", APP, 10, res=10, data=b"x" * 10, fd=3, size=10)
    unknown = ev("write", APP, 1, res=1, data=b"x", fd=1, size=1)
    no_fd = ev("getpid", APP, 200)
    mmap = ev("mmap", APP, 0x7F00, res=0x7F00, fd=3)
    apply_all(state, opened, read, unknown, no_fd, mmap)
    assert read.fdinfo is opened.fdinfo
    assert unknown.fdinfo is None and no_fd.fdinfo is None and mmap.fdinfo is None
    assert no_fd.thread is state.get_thread(APP)


def test_chdir_fchdir_and_relative_opens() -> None:
    state = base_state()
    app = state.get_thread(APP)
    apply_all(state, ev("chdir", APP, 0, res=0, path="sub//dir"))
    assert app.proc.cwd == "/srv/sub/dir"
    apply_all(state, ev("chdir", APP, -2, res=-2, path="/nope"))
    assert app.proc.cwd == "/srv/sub/dir"
    apply_all(state, ev("chdir", APP, 0, res=0, path="../../../.."))
    assert app.proc.cwd == "/"
    apply_all(state, openat(APP, 3, "/var/log", PPM_O_DIRECTORY), ev("fchdir", APP, 0, res=0, fd=3),
              openat(APP, 4, "syslog"))
    assert app.proc.cwd == "/var/log"
    assert app.fds.get(4).name == "/var/log/syslog"
    apply_all(state, ev("fchdir", APP, 0, res=0, fd=42))
    assert app.proc.cwd == "<UNKNOWN>"


def test_unconnected_udp_takes_each_peer_as_name() -> None:
    state = base_state()
    sock = ev("socket", APP, 3, fd=3, domain=2, type=2, proto=0)
    first = ev("sendto", APP, 4, res=4, data=b"ping", fd=3, size=4,
               tuple=SockTuple("ipv4", "udp", "10.0.0.5", 5353, "8.8.8.8", 53))
    again = ev("sendto", APP, 4, res=4, data=b"ping", fd=3, size=4,
               tuple=SockTuple("ipv4", "udp", "10.0.0.5", 5353, "8.8.8.8", 53))
    reply = ev("recvfrom", APP, 9, res=9, data=b"pong", fd=3, size=512,
               tuple=SockTuple("ipv4", "udp", "1.1.1.1", 53, "10.0.0.5", 5353))
    apply_all(state, sock, first, again, reply)
    info = state.get_thread(APP).fds.get(3)
    assert info.name == "1.1.1.1:53->10.0.0.5:5353" and not info.connected
    changed = info.extra["name_changed_num"]
    assert changed == reply.num
    assert first.fdinfo is info and again.fdinfo is info
    # a connect that renames the fd is marked too
    conn = ev("connect", APP, 0, res=0, fd=3, tuple=SockTuple("ipv4", "udp", "10.0.0.5", 5353, "9.9.9.9", 53),
              addr=SockAddr("ipv4", "9.9.9.9", 53))
    state.apply(conn)
    assert info.extra["name_changed_num"] == conn.num and info.connected


def test_ipv4_over_dual_stack_socket_is_ipv4() -> None:
    state = base_state()
    apply_all(state, ev("socket", APP, 3, fd=3, domain=10, type=1, proto=0),
              ev("connect", APP, 0, res=0, fd=3, tuple=SockTuple("ipv4", "tcp", "127.0.0.1", 4000, "127.0.0.1", 80),
                 addr=SockAddr("ipv6", "::ffff:127.0.0.1", 80)))
    info = state.get_thread(APP).fds.get(3)
    assert (info.type, info.typechar, info.name) == ("ipv4", "4", "127.0.0.1:4000->127.0.0.1:80")

"""read_fds: the open fds of a real process, read from /proc, as the state's handlers build them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pdigpy.events.procinfo import ProcFd
from pdigpy.tracer import procfs
from pdigpy.tracer.procfs import MAX_FDS, read_fds

# Opens one fd of each kind, prints "name=fd" lines, then waits for stdin to close.
HOLDER = r"""
import os, select, socket, sys
base = sys.argv[1]
out = {}
open(base + ".file", "w").close()
out["file"] = os.open(base + ".file", os.O_WRONLY | os.O_APPEND)
os.set_inheritable(out["file"], True)  # no O_CLOEXEC on this one
out["deleted"] = os.open(base + ".gone", os.O_RDWR | os.O_CREAT)
os.unlink(base + ".gone")
out["dir"] = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
out["memfd"] = os.memfd_create("pdigpy-probe")
r, w = os.pipe()
out["pipe_r"], out["pipe_w"] = r, w
out["event"] = os.eventfd(0)
out["pidfd"] = os.pidfd_open(os.getpid())
ep = select.epoll(); out["epoll"] = ep.fileno()
lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen()
out["listen"] = lst.fileno()
cli = socket.create_connection(lst.getsockname()); out["client"] = cli.fileno()
acc, _ = lst.accept(); out["accepted"] = acc.fileno()
lst6 = socket.socket(socket.AF_INET6); lst6.bind(("::", 0)); lst6.listen()
out["listen6"] = lst6.fileno()
cli4to6 = socket.create_connection(("127.0.0.1", lst6.getsockname()[1])); out["client4to6"] = cli4to6.fileno()
acc6, _ = lst6.accept(); out["accepted6"] = acc6.fileno()
ul = socket.socket(socket.AF_UNIX); ul.bind(base + ".sock"); ul.listen()
out["unix_listen"] = ul.fileno()
uc = socket.socket(socket.AF_UNIX); uc.connect(base + ".sock"); out["unix_client"] = uc.fileno()
ua, _ = ul.accept(); out["unix_accepted"] = ua.fileno()
pair = socket.socketpair(); out["pair"] = pair[0].fileno()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0)); out["udp"] = udp.fileno()
fresh = socket.socket(); out["unbound"] = fresh.fileno()
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0); out["netlink"] = nl.fileno()
import ctypes
libc = ctypes.CDLL(None)
out["inotify"] = libc.inotify_init1(0)
out["timerfd"] = libc.timerfd_create(1, 0)
out["signalfd"] = libc.signalfd(-1, ctypes.byref(ctypes.c_uint64(1 << 9)), 0)
for k, v in out.items():
    print(f"{k}={v}")
print("ports", lst.getsockname()[1], cli.getsockname()[1], lst6.getsockname()[1], cli4to6.getsockname()[1],
      udp.getsockname()[1], flush=True)
sys.stdin.read()
os.unlink(base + ".sock")
"""


@pytest.fixture
def holder():
    base = f"/tmp/pdigpy-procfds-{uuid.uuid4().hex[:8]}"
    p = subprocess.Popen([sys.executable, "-S", "-c", HOLDER, base], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    nums: dict[str, int] = {}
    try:
        for line in p.stdout:
            if line.startswith("ports"):
                ports = [int(x) for x in line.split()[1:]]
                break
            name, _, num = line.strip().partition("=")
            nums[name] = int(num)
        yield p, base, nums, ports
    finally:
        p.stdin.close()
        p.wait(timeout=10)
        for suffix in (".file", ".sock", ".gone"):
            Path(base + suffix).unlink(missing_ok=True)


def test_every_kind_of_fd_is_read_as_the_handlers_build_it(holder):
    p, base, nums, ports = holder
    listen_port, client_port, listen6_port, client4to6_port, udp_port = ports
    fds, capped = read_fds(p.pid)
    assert not capped
    by_num = {f.num: f for f in fds}
    assert [f.num for f in fds] == sorted(by_num)
    got = {name: by_num[num] for name, num in nums.items()}

    # files: the path, PPM open flags (O_WRONLY|O_APPEND; no O_LARGEFILE), cloexec from fdinfo
    f = got["file"]
    st = os.stat(base + ".file")
    assert (f.type, f.name, f.openflags, f.cloexec) == ("file", base + ".file", 2 | 8, False)
    assert (f.ino, f.dev) == (st.st_ino, st.st_dev & 0xFFFFFFFF)
    assert got["deleted"].name == base + ".gone" and got["deleted"].type == "file"
    assert got["deleted"].openflags == 3 | (1 << 12)  # RDWR|CLOEXEC; O_CREAT is not kept by the kernel
    assert (got["dir"].type, got["dir"].name, got["dir"].cloexec) == ("directory", "/tmp", True)
    assert got["dir"].openflags == 1 | (1 << 10) | (1 << 12)  # RDONLY|DIRECTORY|CLOEXEC

    # fds with no address: the names the syscall handlers give them
    assert (got["memfd"].type, got["memfd"].name) == ("memfd", "memfd:pdigpy-probe")
    pipe_ino = os.stat(f"/proc/{p.pid}/fd/{nums['pipe_r']}").st_ino
    for end in ("pipe_r", "pipe_w"):
        assert (got[end].type, got[end].name, got[end].ino) == ("pipe", f"pipe:[{pipe_ino}]", pipe_ino)
    assert (got["event"].type, got["event"].name) == ("event", "")
    assert (got["pidfd"].type, got["pidfd"].pid) == ("pidfd", p.pid)
    assert got["epoll"].type == "eventpoll"

    # IP sockets: listener "ip:port" + is_server; client and accepted ends named client->server
    lst = got["listen"]
    assert (lst.type, lst.l4proto, lst.name, lst.sip, lst.sport, lst.is_server, lst.connected) == (
        "ipv4", "tcp", f"127.0.0.1:{listen_port}", "127.0.0.1", listen_port, True, False)
    conn_name = f"127.0.0.1:{client_port}->127.0.0.1:{listen_port}"
    cli, acc = got["client"], got["accepted"]
    assert (cli.name, cli.cport, cli.sport, cli.is_server, cli.connected) == (
        conn_name, client_port, listen_port, False, True)
    assert (acc.name, acc.cport, acc.sport, acc.is_server, acc.connected) == (
        conn_name, client_port, listen_port, True, True)
    lst6 = got["listen6"]
    assert (lst6.type, lst6.name, lst6.is_server) == ("ipv6", f":::{listen6_port}", True)
    # IPv4 over the dual-stack listener: ipv4, as the events report it
    acc6 = got["accepted6"]
    assert (acc6.type, acc6.name, acc6.is_server) == (
        "ipv4", f"127.0.0.1:{client4to6_port}->127.0.0.1:{listen6_port}", True)
    udp = got["udp"]
    assert (udp.type, udp.l4proto, udp.name, udp.is_server, udp.connected) == (
        "ipv4", "udp", f"127.0.0.1:{udp_port}", False, False)
    assert (got["unbound"].type, got["unbound"].name, got["unbound"].l4proto) == ("ipv4", "", "tcp")

    # unix sockets: the bound path; the accepted end is a server
    sock = base + ".sock"
    ul, uc, ua = got["unix_listen"], got["unix_client"], got["unix_accepted"]
    assert (ul.type, ul.name, ul.is_server, ul.connected) == ("unix", sock, True, False)
    assert (uc.name, uc.is_server, uc.connected) == (sock, False, True)
    assert (ua.name, ua.is_server, ua.connected) == (sock, True, True)
    assert (got["pair"].type, got["pair"].name, got["pair"].connected) == ("unix", "", False)
    assert got["netlink"].type == "netlink"
    assert [got[k].type for k in ("inotify", "timerfd", "signalfd")] == ["inotify", "timerfd", "signalfd"]
    assert all(got[k].name == "" and not got[k].cloexec for k in ("inotify", "timerfd", "signalfd"))
    # Python's sockets are SOCK_CLOEXEC
    assert all(got[k].cloexec for k in ("listen", "client", "udp", "unix_client", "netlink"))


def test_proc_net_fallback_agrees_with_the_borrowed_sockets(holder):
    """Where pidfd_getfd is refused the sockets come from /proc/PID/net: same IP and unix values."""
    p, _base, nums, _ports = holder
    sockets = []
    for name in ("listen", "client", "accepted", "listen6", "udp", "unix_listen", "netlink", "unbound", "pair"):
        num = nums[name]
        ino = os.stat(f"/proc/{p.pid}/fd/{num}").st_ino
        sockets.append((num, ino, True))
    borrowed = {s.num: s for s in procfs._sockets(p.pid, sockets)}
    from_net = {s.num: s for s in procfs._socket_fds(procfs._from_proc_net(p.pid, sockets))}
    for name in ("listen", "client", "accepted", "listen6", "udp", "unix_listen", "netlink", "unbound", "pair"):
        a, b = borrowed[nums[name]], from_net[nums[name]]
        assert (a.type, a.name, a.l4proto, a.is_server, a.connected, a.cip, a.cport, a.sip, a.sport) == (
            b.type, b.name, b.l4proto, b.is_server, b.connected, b.cip, b.cport, b.sip, b.sport), name


def _fd_hog(count: int) -> subprocess.Popen:
    code = (
        "import os, resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({count + 64}, {count + 64}))\n"
        "fd = os.open('/dev/null', os.O_RDONLY)\n"
        f"fds = [os.dup(fd) for _ in range({count})]\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    p = subprocess.Popen([sys.executable, "-S", "-c", code], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    return p


def test_the_cap_keeps_the_lowest_numbers_and_says_so():
    p = _fd_hog(MAX_FDS + 900)
    try:
        fds, capped = read_fds(p.pid)
        assert capped and len(fds) == MAX_FDS
        assert [f.num for f in fds] == list(range(MAX_FDS))
        assert all(f.type == "file" and f.name == "/dev/null" for f in fds[3:])
        few, capped_few = read_fds(p.pid, limit=10)
        assert capped_few and [f.num for f in few] == list(range(10))
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def test_a_gone_process_has_no_fds():
    p = subprocess.Popen(["true"])
    p.wait()
    assert read_fds(p.pid) == ([], False)


def test_other_fd_kinds_are_unknown_named_by_their_link():
    p = subprocess.Popen([sys.executable, "-S", "-c",
                          "import os, sys\n"
                          "fd = os.open('/proc/self/ns/net', os.O_RDONLY)\n"
                          "print(fd, flush=True); sys.stdin.read()"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        num = int(p.stdout.readline())
        link = os.readlink(f"/proc/{p.pid}/fd/{num}")
        fds = {f.num: f for f in read_fds(p.pid)[0]}
        assert fds[num] == ProcFd(num, "unknown", link, cloexec=True)
    finally:
        p.stdin.close()
        p.wait(timeout=10)

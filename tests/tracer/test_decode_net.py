"""Socket syscalls decoded from a real Python program talking to itself over 127.0.0.1 and unix sockets."""

import json

import pytest
from decode_support import trace

from pdigpy.events.model import SockAddr, SockTuple

PROG = r"""
import json, os, socket, sys
d = sys.argv[1]
out = {}
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
out["port"] = srv.getsockname()[1]
cli = socket.socket(); cli.connect(("127.0.0.1", out["port"]))
out["cport"] = cli.getsockname()[1]
conn, _ = srv.accept()
cli.sendall(b"hello")
out["got"] = conn.recv(100).decode()
u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u1.bind(("127.0.0.1", 0))
u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u2.bind(("127.0.0.1", 0))
out["u1"], out["u2"] = u1.getsockname()[1], u2.getsockname()[1]
u2.sendto(b"ping", ("127.0.0.1", out["u1"]))
data, addr = u1.recvfrom(100)
path = os.path.join(d, "t2.sock")
us = socket.socket(socket.AF_UNIX); us.bind(path); us.listen()
uc = socket.socket(socket.AF_UNIX); uc.connect(path)
closed = socket.socket(); closed.bind(("127.0.0.1", 0)); out["closed"] = closed.getsockname()[1]; closed.close()
bad = socket.socket()
try:
    bad.connect(("127.0.0.1", out["closed"]))
except ConnectionRefusedError:
    out["refused"] = True
sys.stdout.write(json.dumps(out))
"""

TYPES = "socket,bind,listen,connect,accept,accept4,sendto,recvfrom,sendmsg,recvmsg"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("t2net")
    import sys

    r = trace([sys.executable, "-c", PROG, str(tmp)], TYPES, tmp)
    assert r.rc == 0, r.stderr
    r.info = json.loads(r.stdout)
    r.sock = str(tmp / "t2.sock")
    return r


def test_socket_bind_listen(run):
    socks = run.of_type("socket")
    assert socks[0].args["domain"] == 2 and socks[0].args["type"] & 0xF == 1 and socks[0].res >= 0
    assert any(s.args["domain"] == 1 for s in socks)  # AF_UNIX
    bind = run.of_type("bind")[0]
    assert bind.res == 0 and bind.args["addr"] == SockAddr("ipv4", "127.0.0.1", 0)
    listen = run.of_type("listen")[0]
    assert listen.res == 0 and listen.args["fd"] == bind.args["fd"]


def test_tcp_connect_and_accept_tuples(run):
    port, cport = run.info["port"], run.info["cport"]
    conn = [e for e in run.of_type("connect") if e.res == 0 and e.args["addr"].family == "ipv4"][0]
    want = SockTuple("ipv4", "tcp", "127.0.0.1", cport, "127.0.0.1", port)
    assert conn.args["tuple"] == want
    assert conn.args["addr"] == SockAddr("ipv4", "127.0.0.1", port)
    acc = run.of_type("accept", "accept4")[0]
    assert acc.res == acc.args["fd"] >= 0
    assert acc.args["tuple"] == want  # client -> server, as Falco orients it


def test_refused_connect_has_no_tuple(run):
    assert run.info["refused"]
    bad = [e for e in run.of_type("connect") if e.res == -111]
    assert len(bad) == 1
    assert bad[0].args["tuple"] is None
    assert bad[0].args["addr"] == SockAddr("ipv4", "127.0.0.1", run.info["closed"])


def test_unix_connect_tuple(run):
    conn = [e for e in run.of_type("connect") if e.args["addr"] and e.args["addr"].family == "unix"][0]
    assert conn.res == 0
    assert conn.args["addr"] == SockAddr("unix", path=run.sock)
    assert conn.args["tuple"].family == "unix" and conn.args["tuple"].path == run.sock


def test_send_and_recv_data(run):
    send = [e for e in run.of_type("sendto") if e.args["data"] == b"hello"][0]
    assert send.res == 5 and send.args["size"] == 5
    assert send.args["tuple"] is None  # connected TCP: the fd already knows its tuple
    recv = [e for e in run.of_type("recvfrom") if e.args["data"] == b"hello"][0]
    assert recv.res == 5 and recv.args["size"] == 100 and run.info["got"] == "hello"


def test_udp_sendto_and_recvfrom_tuples(run):
    u1, u2 = run.info["u1"], run.info["u2"]
    send = [e for e in run.of_type("sendto") if e.args["data"] == b"ping"][0]
    assert send.res == 4
    assert send.args["tuple"] == SockTuple("ipv4", "udp", "127.0.0.1", u2, "127.0.0.1", u1)
    recv = [e for e in run.of_type("recvfrom") if e.args["data"] == b"ping"][0]
    assert recv.args["tuple"] == SockTuple("ipv4", "udp", "127.0.0.1", u2, "127.0.0.1", u1)


def test_endpoints_by_borrowing_and_by_proc_net_agree():
    """Both ways of finding a socket's endpoints, on a real connection of this process."""
    import os
    import socket

    from pdigpy.tracer import sockaddr

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    cli = socket.create_connection(srv.getsockname())
    conn, _ = srv.accept()
    try:
        local = SockAddr("ipv4", "127.0.0.1", cli.getsockname()[1])
        peer = SockAddr("ipv4", "127.0.0.1", srv.getsockname()[1])
        for ep in (sockaddr.socket_endpoints(os.getpid(), cli.fileno()),
                   sockaddr._endpoints_from_proc(os.getpid(), cli.fileno())):
            assert ep is not None
            assert (ep.family, ep.l4proto, ep.local, ep.peer) == ("ipv4", "tcp", local, peer)
        with open("/dev/null") as f:  # not a socket
            assert sockaddr.socket_endpoints(os.getpid(), f.fileno()) is None
            assert sockaddr._endpoints_from_proc(os.getpid(), f.fileno()) is None
    finally:
        for s in (cli, conn, srv):
            s.close()


def test_parse_sockaddr_forms():
    import socket
    import struct

    from pdigpy.tracer.sockaddr import parse_sockaddr

    v4 = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 8080) + socket.inet_aton("10.1.2.3") + b"\0" * 8
    assert parse_sockaddr(v4) == SockAddr("ipv4", "10.1.2.3", 8080)
    v6 = (struct.pack("=H", socket.AF_INET6) + struct.pack("!H", 443) + b"\0" * 4
          + socket.inet_pton(socket.AF_INET6, "::1") + b"\0" * 4)
    assert parse_sockaddr(v6) == SockAddr("ipv6", "::1", 443)
    assert parse_sockaddr(struct.pack("=H", socket.AF_UNIX) + b"/run/x.sock\0junk") == SockAddr("unix", path="/run/x.sock")
    assert parse_sockaddr(struct.pack("=H", socket.AF_UNIX) + b"\0abstract") == SockAddr("unix", path="@abstract")
    assert parse_sockaddr(b"") is None


def test_tuples_of_ipv4_mapped_ipv6_are_ipv4():
    from pdigpy.tracer.sockaddr import make_tuple

    t = make_tuple("tcp", SockAddr("ipv6", "::ffff:127.0.0.1", 5000), SockAddr("ipv6", "::ffff:10.0.0.1", 80))
    assert t == SockTuple("ipv4", "tcp", "127.0.0.1", 5000, "10.0.0.1", 80)
    t6 = make_tuple("tcp", SockAddr("ipv6", "::1", 5000), SockAddr("ipv6", "::1", 80))
    assert t6 == SockTuple("ipv6", "tcp", "::1", 5000, "::1", 80)
    assert make_tuple("udp", None, SockAddr("ipv4", "8.8.8.8", 53)) == SockTuple(
        "ipv4", "udp", "0.0.0.0", 0, "8.8.8.8", 53)
    assert make_tuple("", None, None) is None


def test_ipv6_and_dual_stack_connects(tmp_path):
    import sys

    code = (
        "import socket, sys\n"
        "srv = socket.socket(socket.AF_INET6); srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n"
        "srv.bind(('::', 0)); srv.listen(); port = srv.getsockname()[1]\n"
        "a = socket.socket(socket.AF_INET6); a.connect(('::1', port))\n"
        "b = socket.socket(socket.AF_INET6); b.connect(('::ffff:127.0.0.1', port))\n"
        "sys.stdout.write(f'{port} {a.getsockname()[1]} {b.getsockname()[1]}')\n"
    )
    r = trace([sys.executable, "-c", code], "connect", tmp_path)
    assert r.rc == 0, r.stderr
    port, aport, bport = map(int, r.stdout.split())
    c6, c4 = [e for e in r.of_type("connect") if e.res == 0]
    assert c6.args["tuple"] == SockTuple("ipv6", "tcp", "::1", aport, "::1", port)
    assert c4.args["tuple"] == SockTuple("ipv4", "tcp", "127.0.0.1", bport, "127.0.0.1", port)
    assert c4.args["addr"] == SockAddr("ipv6", "::ffff:127.0.0.1", port)


def test_accept_reports_the_listen_queue(tmp_path):
    import sys

    code = (
        "import socket\n"
        "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(5)\n"
        "clients = [socket.create_connection(srv.getsockname()) for _ in range(3)]\n"
        "for _ in range(3):\n    srv.accept()\n"
    )
    r = trace([sys.executable, "-c", code], "accept,accept4", tmp_path)
    assert r.rc == 0, r.stderr
    accepts = r.of_type("accept", "accept4")
    assert [e.args["queuemax"] for e in accepts] == [5, 5, 5]
    assert [e.args["queuelen"] for e in accepts] == [2, 1, 0]  # measured after each accept took one
    assert [e.args["queuepct"] for e in accepts] == [40, 20, 0]

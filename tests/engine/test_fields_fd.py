"""fd.* for files and sockets, through the real State, on the real sleep process's records.

Socket endpoints come from a real TCP connection on 127.0.0.1 (real ephemeral ports).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid

import pytest
from fields_support import start_chain, stop_chain

from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.events.model import SockAddr, SockTuple

PPM_AF_INET = 2
PPM_O_RDONLY, PPM_O_WRONLY, PPM_O_CREAT, PPM_O_DIRECTORY = 1, 2, 4, 1024
SOCK_STREAM, SOCK_DGRAM = 1, 2
AT_FDCWD = -100


@pytest.fixture
def chain(tmp_path):
    c = start_chain(tmp_path, "fd-" + uuid.uuid4().hex[:8])
    yield c
    stop_chain(c)


@pytest.fixture
def tcp_pair():
    """A real client/server TCP connection on 127.0.0.1."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    cli = socket.create_connection(srv.getsockname())
    conn, _ = srv.accept()
    yield cli.getsockname(), srv.getsockname()
    for s in (cli, conn, srv):
        s.close()


def values(reg, evt, names):
    return {n: reg.bind(*(n[:-1].split("[") if n.endswith("]") else (n, None))).extract(evt) for n in names}


def test_open_file_success(chain, tmp_path):
    reg = FieldRegistry(state=chain.state)
    path = tmp_path / "data.txt"
    path.write_text("x")
    st = os.stat(path)
    e = chain.event("openat", res=7, args={"fd": 7, "dirfd": AT_FDCWD, "name": "data.txt", "flags": PPM_O_RDONLY,
                                           "mode": 0, "dev": st.st_dev, "ino": st.st_ino})
    got = values(reg, e, ["fd.num", "fd.name", "fd.nameraw", "fd.directory", "fd.filename", "fd.type",
                          "fd.typechar", "fd.ino", "fd.l4proto", "fd.sockfamily", "fd.cip", "fd.connected",
                          "evt.is_open_read", "evt.is_open_write", "fs.path.name", "fs.path.nameraw"])
    assert got == {
        "fd.num": 7, "fd.name": str(path), "fd.nameraw": "data.txt", "fd.directory": str(tmp_path),
        "fd.filename": "data.txt", "fd.type": "file", "fd.typechar": "f", "fd.ino": st.st_ino,
        "fd.l4proto": "<NA>", "fd.sockfamily": None, "fd.cip": None, "fd.connected": False,
        "evt.is_open_read": True, "evt.is_open_write": False, "fs.path.name": str(path),
        "fs.path.nameraw": "data.txt",
    }
    # a later read on the same fd sees the same record
    r = chain.event("read", res=1, args={"res": 1, "data": b"x", "fd": 7, "size": 1}, num=2)
    assert reg.bind("fd.name").extract(r) == str(path)
    assert reg.bind("evt.buffer").extract(r) == b"x"
    assert reg.bind("evt.buflen").extract(r) == 1
    assert reg.bind("evt.is_open_read").extract(r) is False


def test_failed_open_has_path_typechar_and_minus_one(chain):
    """Falco's open_file_failed macro: fd.typechar='f' and fd.num=-1 and evt.res startswith E."""
    reg = FieldRegistry(state=chain.state)
    e = chain.event("openat", res=-2, args={"fd": -2, "dirfd": AT_FDCWD, "name": "../nope/./x.conf",
                                            "flags": PPM_O_RDONLY, "mode": 0, "dev": 0, "ino": 0})
    parent = os.path.dirname(chain.cwd)
    got = values(reg, e, ["fd.num", "fd.typechar", "fd.name", "fd.nameraw", "fd.directory", "fd.type",
                          "fd.filename", "evt.res", "evt.rawres", "evt.failed", "fs.path.name"])
    assert got == {"fd.num": -1, "fd.typechar": "f", "fd.name": parent + "/nope/x.conf",
                   "fd.nameraw": "../nope/./x.conf", "fd.directory": parent + "/nope", "fd.type": None,
                   "fd.filename": None, "evt.res": "ENOENT", "evt.rawres": -2, "evt.failed": True,
                   "fs.path.name": None}


def test_failed_open_without_state_entry_falls_back_to_event_path(chain):
    """Even if nothing set evt.fdinfo, fd.name comes from the event's path."""
    reg = FieldRegistry(state=chain.state)
    e = chain.event("open", res=-13, args={"fd": -13, "name": "/etc//shadow", "flags": PPM_O_RDONLY, "mode": 0})
    e.fdinfo = None
    assert values(reg, e, ["fd.name", "fd.num", "fd.typechar", "fd.directory", "fd.type"]) == {
        "fd.name": "/etc/shadow", "fd.num": -1, "fd.typechar": "f", "fd.directory": "/etc", "fd.type": None}


def test_directory_fd(chain, tmp_path):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("open", res=5, args={"fd": 5, "name": str(tmp_path), "flags": PPM_O_RDONLY | PPM_O_DIRECTORY,
                                         "mode": 0})
    assert values(reg, e, ["fd.type", "fd.typechar", "fd.directory", "fd.filename"]) == {
        "fd.type": "directory", "fd.typechar": "d", "fd.directory": str(tmp_path), "fd.filename": None}


def test_event_without_fd_has_no_fd_fields(chain):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("getpid", res=chain.sleep_pid)
    for name in ("fd.name", "fd.num", "fd.typechar", "fd.type", "fd.ip", "fd.sip", "fd.connected",
                 "fd.name_changed", "fd.directory"):
        assert reg.bind(name).extract(e) is None, name


def test_tcp_client_socket(chain, tcp_pair):
    (cip, cport), (sip, sport) = tcp_pair
    reg = FieldRegistry(state=chain.state)
    chain.event("socket", res=4, args={"fd": 4, "domain": PPM_AF_INET, "type": SOCK_STREAM, "proto": 0})
    tup = SockTuple("ipv4", "tcp", cip, cport, sip, sport)
    e = chain.event("connect", res=0, args={"res": 0, "tuple": tup, "fd": 4, "addr": SockAddr("ipv4", sip, sport)},
                    num=2)
    got = values(reg, e, ["fd.name", "fd.type", "fd.typechar", "fd.l4proto", "fd.sockfamily", "fd.connected",
                          "fd.cip", "fd.sip", "fd.lip", "fd.rip", "fd.cport", "fd.sport", "fd.lport", "fd.rport",
                          "fd.is_server", "fd.ip", "fd.port", "fd.net", "fd.snet", "fd.filename", "fd.directory"])
    c, s = ipaddress.ip_address(cip), ipaddress.ip_address(sip)
    assert got == {
        "fd.name": f"{cip}:{cport}->{sip}:{sport}", "fd.type": "ipv4", "fd.typechar": "4", "fd.l4proto": "tcp",
        "fd.sockfamily": "ip", "fd.connected": True, "fd.cip": c, "fd.sip": s, "fd.lip": c, "fd.rip": s,
        "fd.cport": cport, "fd.sport": sport, "fd.lport": cport, "fd.rport": sport, "fd.is_server": False,
        "fd.ip": [c, s], "fd.port": [cport, sport], "fd.net": [c, s], "fd.snet": s, "fd.filename": None,
        "fd.directory": None,
    }
    bf = reg.bind("fd.ip")
    assert bf.either and "filter_only" in bf.info.flags


def test_tcp_server_side_swaps_local_and_remote(chain, tcp_pair):
    (cip, cport), (sip, sport) = tcp_pair
    reg = FieldRegistry(state=chain.state)
    tup = SockTuple("ipv4", "tcp", cip, cport, sip, sport)
    e = chain.event("accept4", res=9, args={"fd": 9, "tuple": tup, "queuepct": 0, "queuelen": 0, "queuemax": 1,
                                            "flags": 0})
    got = values(reg, e, ["fd.is_server", "fd.lport", "fd.rport", "fd.lip", "fd.rip", "fd.cport", "fd.sport"])
    assert got == {"fd.is_server": True, "fd.lport": sport, "fd.rport": cport, "fd.lip": ipaddress.ip_address(sip),
                   "fd.rip": ipaddress.ip_address(cip), "fd.cport": cport, "fd.sport": sport}


def test_dns_name_fields_never_resolve(chain, tcp_pair):
    (cip, cport), (sip, sport) = tcp_pair
    reg = FieldRegistry(state=chain.state)
    chain.event("socket", res=4, args={"fd": 4, "domain": PPM_AF_INET, "type": SOCK_STREAM, "proto": 0})
    e = chain.event("connect", res=0, args={"res": 0, "tuple": SockTuple("ipv4", "tcp", cip, cport, sip, sport),
                                            "fd": 4, "addr": SockAddr("ipv4", sip, sport)}, num=2)
    bf = reg.bind("fd.sip.name")
    assert bf.extract(e) is None
    assert bf.extra["address"](e) == ipaddress.ip_address(sip)


def test_udp_and_service_names(chain):
    reg = FieldRegistry(state=chain.state)
    chain.event("socket", res=6, args={"fd": 6, "domain": PPM_AF_INET, "type": SOCK_DGRAM, "proto": 0})
    tup = SockTuple("ipv4", "udp", "10.0.0.5", 40000, "10.0.0.53", 53)
    e = chain.event("connect", res=0, args={"res": 0, "tuple": tup, "fd": 6, "addr": SockAddr("ipv4", "10.0.0.53", 53)},
                    num=2)
    assert reg.bind("fd.l4proto").extract(e) == "udp"
    assert reg.bind("fd.sproto").extract(e) == "domain"
    # Falco types fd.proto as a port: it extracts ports, and "fd.proto = domain" resolves the RHS
    assert reg.bind("fd.proto").extract(e) == [40000, 53]


def test_fd_types_lists_the_process_table(chain, tmp_path):
    reg = FieldRegistry(state=chain.state)
    chain.event("open", res=5, args={"fd": 5, "name": str(tmp_path), "flags": PPM_O_DIRECTORY | PPM_O_RDONLY})
    chain.event("socket", res=6, args={"fd": 6, "domain": PPM_AF_INET, "type": SOCK_STREAM, "proto": 0}, num=2)
    e = chain.event("getpid", res=1, num=3)
    assert reg.bind("fd.types").extract(e) == ["directory", "ipv4"]
    assert reg.bind("fd.types", "6").extract(e) == ["ipv4"]

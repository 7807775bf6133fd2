"""fd.* endpoint fields on real traced sockets without addresses, as Falco 0.44's libsinsp gives them.

A small C program (compiled once per session) makes, on 127.0.0.1 / ::1 and a port P that is
bound but never listened on:

  socket(AF_INET, SOCK_STREAM)          -> no role
  bind(127.0.0.1:P), no listen          -> bound server socket (Falco's SERVSOCK)
  socket() + connect(127.0.0.1:P)       -> ECONNREFUSED: still no role
  socket(AF_INET, SOCK_DGRAM) + sendto  -> client role, own end 0.0.0.0:ephemeral
  socket() + bind(127.0.0.1:0)          -> port 0: no role
  the same three for IPv6 on ::1

Values are read inside the sink, at the event, as the engine reads them (the fd record changes
afterwards). The expected values follow libsinsp's parsers (role set by connect, accept, bind with
a port > 0, a datagram sent or received) and sinsp_filtercheck_fd (single-side fields are missing
for a socket without a role; fd.ip/fd.port/fd.proto compare the raw endpoints, zeros included).
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess

import pytest

from pdigpy.engine.compiler import CompileError, compile_condition
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.grammar import parse_condition
from pdigpy.state.tables import State
from pdigpy.tracer.session import TraceOptions, Tracer

PROGRAM = r"""
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int port = atoi(argv[1]);
    struct sockaddr_in four, four_any; struct sockaddr_in6 six, six_any;
    memset(&four, 0, sizeof four); memset(&six, 0, sizeof six);
    four.sin_family = AF_INET; four.sin_port = htons(port); four.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    six.sin6_family = AF_INET6; six.sin6_port = htons(port); six.sin6_addr = in6addr_loopback;
    four_any = four; four_any.sin_port = 0; six_any = six; six_any.sin6_port = 0;

    int bound4 = socket(AF_INET, SOCK_STREAM, 0);
    bind(bound4, (struct sockaddr *)&four, sizeof four);
    int c4 = socket(AF_INET, SOCK_STREAM, 0);
    connect(c4, (struct sockaddr *)&four, sizeof four);
    int u4 = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(u4, "x", 1, 0, (struct sockaddr *)&four, sizeof four);
    int z4 = socket(AF_INET, SOCK_STREAM, 0);
    bind(z4, (struct sockaddr *)&four_any, sizeof four_any);

    int bound6 = socket(AF_INET6, SOCK_STREAM, 0);
    bind(bound6, (struct sockaddr *)&six, sizeof six);
    int c6 = socket(AF_INET6, SOCK_STREAM, 0);
    connect(c6, (struct sockaddr *)&six, sizeof six);
    int u6 = socket(AF_INET6, SOCK_DGRAM, 0);
    sendto(u6, "x", 1, 0, (struct sockaddr *)&six, sizeof six);
    int z6 = socket(AF_INET6, SOCK_STREAM, 0);
    bind(z6, (struct sockaddr *)&six_any, sizeof six_any);
    return 0;
}
"""

FIELDS = ("fd.name", "fd.type", "fd.l4proto", "fd.is_server", "fd.connected", "fd.sockfamily",
          "fd.cip", "fd.sip", "fd.lip", "fd.rip", "fd.cport", "fd.sport", "fd.lport", "fd.rport",
          "fd.cproto", "fd.sproto", "fd.lproto", "fd.rproto", "fd.ip", "fd.port", "fd.proto", "fd.net")

# Conditions checked at every step; the ones on missing fields must be false whatever the operator.
CONDITIONS = (
    "fd.cip exists", "fd.sip exists", "fd.lport exists", "fd.rport exists",
    "fd.cproto exists", "fd.cproto contains zzq", "fd.cproto startswith zzq", "fd.cproto in (http, https)",
    "fd.rproto != http", "fd.cnet = 0.0.0.0/0", "fd.snet = 127.0.0.0/8", "fd.rnet != 10.0.0.0/8",
    "fd.ip = 0.0.0.0", "fd.ip != 0.0.0.0", "fd.ip = ::", "fd.net = 127.0.0.0/8",
    "fd.port = 0", "fd.port != 0", "fd.proto = 0", "fd.proto in (http, https)", "fd.proto != http",
    "fd.l4proto = tcp", "fd.l4proto != tcp", "fd.l4proto exists",
)


class _AtEvent:
    """Tracer sink: state first, then every field and condition read at the event itself."""

    def __init__(self, registry_state: State) -> None:
        self.state = registry_state
        reg = FieldRegistry(state=registry_state)
        self.fields = {n: reg.bind(n) for n in FIELDS}
        self.conds = {c: compile_condition(parse_condition(c), reg) for c in CONDITIONS}
        self.seen: list[tuple[str, int | None, dict, dict]] = []

    def on_snapshot(self, info) -> None:
        self.state.add_snapshot(info)

    def on_event(self, evt) -> None:
        self.state.apply(evt)
        if evt.type not in ("socket", "bind", "connect", "sendto") or evt.thread is None:
            return
        if evt.thread.comm != "sockroles":
            return
        values = {n: bf.extract(evt) for n, bf in self.fields.items()}
        verdicts = {c: p(evt) for c, p in self.conds.items()}
        self.seen.append((evt.type, evt.res, values, verdicts))


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    work = tmp_path_factory.mktemp("sockroles")
    (work / "sockroles.c").write_text(PROGRAM)
    subprocess.run(["gcc", "-O0", "-o", str(work / "sockroles"), str(work / "sockroles.c")], check=True)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # free now; the traced program binds it without listening
    sink = _AtEvent(State())
    tracer = Tracer(sink, TraceOptions(event_types=frozenset({"socket", "bind", "connect", "sendto"}),
                                       follow_descendants=True))
    assert tracer.run_command([str(work / "sockroles"), str(port)]) == 0
    steps = [(t, r) for t, r, _, _ in sink.seen]
    want = [("socket", None), ("bind", 0), ("socket", None), ("connect", -111), ("socket", None), ("sendto", 1),
            ("socket", None), ("bind", 0)] * 2
    assert [(t, None if t == "socket" else r) for t, r in steps] == want, steps
    return port, sink.seen


def _step(traced, index):
    return traced[1][index]


Z4, Z6 = ipaddress.IPv4Address(0), ipaddress.IPv6Address(0)
L4, L6 = ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1")
P = "P"  # the bound port, filled in per run
EPH = "EPH"  # the UDP socket's ephemeral port, read from its fd.name

NO_ROLE_SINGLE = {f: None for f in ("fd.cip", "fd.sip", "fd.lip", "fd.rip", "fd.cport", "fd.sport", "fd.lport",
                                    "fd.rport", "fd.cproto", "fd.sproto", "fd.lproto", "fd.rproto")}


def _no_role(zero, name):
    return {**NO_ROLE_SINGLE, "fd.name": name, "fd.l4proto": "<NA>", "fd.is_server": False,
            "fd.connected": False, "fd.sockfamily": "ip", "fd.ip": [zero, zero], "fd.port": [0, 0],
            "fd.proto": [0, 0], "fd.net": [zero, zero]}


def _bound(addr):
    return {**NO_ROLE_SINGLE, "fd.name": f"{addr}:{P}", "fd.l4proto": "tcp", "fd.is_server": True,
            "fd.connected": False, "fd.sockfamily": "ip", "fd.sip": addr, "fd.sport": P, "fd.sproto": "{P}",
            "fd.ip": [addr],
            "fd.port": [P], "fd.proto": [P], "fd.net": [addr]}


def _udp_client(zero, addr):
    return {"fd.name": f"{zero}:{EPH}->{addr}:{P}", "fd.l4proto": "udp", "fd.is_server": False,
            "fd.connected": False, "fd.sockfamily": "ip", "fd.cip": zero, "fd.sip": addr, "fd.lip": zero,
            "fd.rip": addr, "fd.cport": EPH, "fd.sport": P, "fd.lport": EPH, "fd.rport": P,
            # no service name for these ports: the number as a string, as libsinsp's port_to_string
            "fd.cproto": "{EPH}", "fd.sproto": "{P}", "fd.lproto": "{EPH}", "fd.rproto": "{P}",
            "fd.ip": [zero, addr], "fd.port": [EPH, P], "fd.proto": [EPH, P], "fd.net": [zero, addr]}


# (step index, what it is, the field values Falco gives at that event)
ROWS = [
    (0, "ipv4 socket() just created", {**_no_role(Z4, ""), "fd.type": "ipv4"}),
    (1, "ipv4 bound to 127.0.0.1:P, not listening", {**_bound(L4), "fd.type": "ipv4"}),
    (3, "ipv4 connect refused", {**_no_role(Z4, "NULL"), "fd.type": "ipv4"}),
    (5, "ipv4 unconnected UDP sendto", {**_udp_client(Z4, L4), "fd.type": "ipv4"}),
    (7, "ipv4 bound to port 0", {**_no_role(Z4, "127.0.0.1:0"), "fd.type": "ipv4"}),
    (8, "ipv6 socket() just created", {**_no_role(Z6, ""), "fd.type": "ipv6"}),
    (9, "ipv6 bound to ::1:P, not listening", {**_bound(L6), "fd.type": "ipv6"}),
    (11, "ipv6 connect refused", {**_no_role(Z6, "NULL"), "fd.type": "ipv6"}),
    (13, "ipv6 unconnected UDP sendto", {**_udp_client(Z6, L6), "fd.type": "ipv6"}),
    (15, "ipv6 bound to port 0", {**_no_role(Z6, "::1:0"), "fd.type": "ipv6"}),
]


def _service(port, l4proto):
    """What fd.*proto shows: the service name if the services database has one, else the number."""
    try:
        return socket.getservbyport(port, l4proto)
    except OSError:
        return str(port)


def _fill(value, port, eph, l4proto="tcp"):
    if value == P:
        return port
    if value == EPH:
        return eph
    if value == "{P}":
        return _service(port, l4proto)
    if value == "{EPH}":
        return _service(eph, l4proto)
    if isinstance(value, str):
        return value.replace(f":{P}", f":{port}").replace(f":{EPH}", f":{eph}")
    if isinstance(value, list):
        return [_fill(v, port, eph) for v in value]
    return value


@pytest.mark.parametrize("index,what,expected", ROWS, ids=[r[1] for r in ROWS])
def test_endpoint_fields_as_falco_reads_them(traced, index, what, expected):
    port, seen = traced
    _, _, values, _ = seen[index]
    eph = values["fd.cport"] if isinstance(values["fd.cport"], int) else None
    want = {k: _fill(v, port, eph, expected["fd.l4proto"]) for k, v in expected.items()}
    if "EPH" in str(expected):
        assert isinstance(eph, int) and eph > 0
    assert values == want


# (condition, verdict on: no role [socket, refused, port 0], bound server, UDP client)
VERDICTS = [
    ("fd.cip exists", False, False, True),
    ("fd.sip exists", False, True, True),
    ("fd.lport exists", False, False, True),
    ("fd.rport exists", False, False, True),
    ("fd.cproto exists", False, False, True),    # the port number as a string when no service name
    ("fd.cproto contains zzq", False, False, False),
    ("fd.cproto startswith zzq", False, False, False),
    ("fd.cproto in (http, https)", False, False, False),
    ("fd.rproto != http", False, False, True),   # a missing value makes != false too
    ("fd.cnet = 0.0.0.0/0", False, False, None),  # None: per family (ipv4 true, ipv6 false)
    ("fd.snet = 127.0.0.0/8", False, None, None),
    ("fd.rnet != 10.0.0.0/8", False, False, True),
    ("fd.port = 0", True, False, False),
    ("fd.port != 0", False, True, True),
    ("fd.proto = 0", True, False, False),
    ("fd.proto in (http, https)", False, False, False),
    ("fd.proto != http", True, True, True),
    ("fd.l4proto = tcp", False, True, False),
    ("fd.l4proto != tcp", True, False, True),
    ("fd.l4proto exists", True, True, True),
]
NO_ROLE_STEPS, BOUND_STEPS, UDP_STEPS = (0, 3, 7, 8, 11, 15), (1, 9), (5, 13)


@pytest.mark.parametrize("condition,no_role,bound,udp", VERDICTS, ids=[v[0] for v in VERDICTS])
def test_conditions_on_missing_and_zero_endpoints(traced, condition, no_role, bound, udp):
    _, seen = traced
    for steps, want in ((NO_ROLE_STEPS, no_role), (BOUND_STEPS, bound), (UDP_STEPS, udp)):
        if want is None:
            continue
        got = {i: seen[i][3][condition] for i in steps}
        assert got == {i: want for i in steps}, condition


@pytest.mark.parametrize("condition,four,six", [
    ("fd.ip = 0.0.0.0", True, False),     # no role: both raw endpoints are the zero address
    ("fd.ip = ::", False, True),
    ("fd.ip != 0.0.0.0", False, True),
    ("fd.net = 127.0.0.0/8", False, False),
])
def test_either_fields_compare_zero_addresses_without_a_role(traced, condition, four, six):
    _, seen = traced
    assert [seen[i][3][condition] for i in (0, 3, 7)] == [four] * 3
    assert [seen[i][3][condition] for i in (8, 11, 15)] == [six] * 3


def test_either_fields_of_a_bound_socket_hold_the_bound_address_only(traced):
    _, seen = traced
    assert [seen[i][3]["fd.ip = 0.0.0.0"] for i in BOUND_STEPS] == [False, False]
    assert [seen[i][3]["fd.net = 127.0.0.0/8"] for i in BOUND_STEPS] == [True, False]


@pytest.mark.parametrize("condition", ["fd.proto contains http", "fd.proto startswith h", "fd.port contains 8"])
def test_port_typed_either_fields_refuse_string_operators(condition):
    # Falco: fd.proto and fd.port are PT_PORT; contains/startswith are not numeric operators
    with pytest.raises(CompileError):
        compile_condition(parse_condition(condition), FieldRegistry())


def test_proto_names_resolve_to_ports():
    from pdigpy.events.model import Event, SockTuple
    from pdigpy.state.records import FdInfo

    fd = FdInfo(5, "ipv4", "4", name="10.0.0.5:40000->10.0.0.6:80", l4proto="tcp", cip="10.0.0.5", cport=40000,
                sip="10.0.0.6", sport=80, connected=True)
    e = Event(1, 0, 1, 1, "connect", 0, {"fd": 5, "tuple": SockTuple("ipv4", "tcp", "10.0.0.5", 40000, "10.0.0.6", 80)},
              fdinfo=fd)
    reg = FieldRegistry()
    for text, want in (("fd.proto = http", True), ("fd.proto = 80", True), ("fd.proto in (ssh, http)", True),
                       ("fd.proto = https", False), ("fd.proto != http", False), ("fd.sproto = http", True)):
        assert compile_condition(parse_condition(text), reg)(e) is want, text

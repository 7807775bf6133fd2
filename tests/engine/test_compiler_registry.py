"""The compiler against the product's FieldRegistry and Events shaped as the state layer leaves them.

The process chain systemd(1) -> sshd(100) -> bash(200) opens /etc/shadow and
connects to 93.184.216.34:443. Also: every upstream rule compiles without error
or warning against the real registry.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pdigpy.engine.compiler import CompileError, CompileWarning, compile_condition
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.grammar import parse_condition
from pdigpy.events.model import Event, SockTuple
from pdigpy.state.records import FdInfo, ProcShared, ThreadInfo

ROOT = Path(__file__).resolve().parents[2]


def _chain() -> ThreadInfo:
    init = ThreadInfo(1, 1, 0, comm="systemd", proc=ProcShared(exe="/sbin/init", exepath="/usr/lib/systemd/systemd"))
    sshd = ThreadInfo(
        100, 100, 1, comm="sshd", proc=ProcShared(exe="/usr/sbin/sshd", exepath="/usr/sbin/sshd", args=["-D"]),
        parent=init,
    )
    return ThreadInfo(
        200, 200, 100, comm="bash", uid=0,
        proc=ProcShared(exe="bash", exepath="/usr/bin/bash", args=["-c", "cat /etc/shadow"], cwd="/root"),
        parent=sshd,
    )


BASH = _chain()
OPEN = Event(
    1, 0, 200, 200, "openat", 3,
    {"dirfd": -100, "name": "/etc/shadow", "flags": 1, "mode": 0, "dev": 0, "ino": 0},
    thread=BASH, fdinfo=FdInfo(3, "file", "f", name="/etc/shadow", openflags=1),
)
CONNECT = Event(
    2, 0, 200, 200, "connect", 0,
    {"fd": 4, "tuple": SockTuple("ipv4", "tcp", "10.0.0.2", 51000, "93.184.216.34", 443)},
    thread=BASH,
    fdinfo=FdInfo(
        4, "ipv4", "4", name="10.0.0.2:51000->93.184.216.34:443", l4proto="tcp",
        cip="10.0.0.2", cport=51000, sip="93.184.216.34", sport=443,
    ),
)
ORPHAN = Event(3, 0, 5, 5, "openat", 0, {})  # no thread, no fd: every field but evt.* is missing

# condition, on OPEN, on CONNECT, on ORPHAN
CASES = [
    ("proc.name = bash", True, True, False),
    ("proc.name != bash", False, False, False),
    ("proc.name != zsh", True, True, False),  # missing value: false even for !=
    ("not proc.name = zsh", True, True, True),
    ("proc.pname = sshd", True, True, False),
    ("not proc.pname exists", False, False, True),
    ("proc.aname = systemd", True, True, False),
    ("proc.aname = bash", False, False, False),  # ancestors start at the parent
    ("proc.aname in (sshd)", True, True, False),
    ("proc.aname[2] = systemd", True, True, False),
    ("proc.apid = 1", True, True, False),
    ("proc.exepath = /usr/bin/bash", True, True, False),
    ("proc.args contains shadow", True, True, False),
    ("proc.cmdline startswith 'bash -c'", True, True, False),
    ("len(proc.name) = 4", True, True, False),
    ("toupper(proc.name) = BASH", True, True, False),
    ("basename(proc.exepath) = val(proc.name)", True, True, False),
    ("evt.type in (open, openat)", True, False, True),
    ("evt.type = connect", False, True, False),
    ("evt.dir = <", True, True, True),
    ("evt.is_open_read = true", True, False, False),
    ("evt.arg.flags contains O_RDONLY", True, False, False),
    ("fd.name pmatch (/etc)", True, False, False),
    ("fd.name glob '/etc/sha*'", True, False, False),
    ("fd.directory = /etc", True, False, False),
    ("fd.filename in (shadow, passwd)", True, False, False),
    ("fd.typechar = f", True, False, False),
    ("user.uid = 0 and user.name = root", True, True, False),
    ("container.id = host", True, True, False),
    ("fd.sip = 93.184.216.34", False, True, False),
    ("fd.cip = 10.0.0.2", False, True, False),
    ("fd.snet = 93.184.0.0/16", False, True, False),
    ("fd.ip = 93.184.216.34", False, True, False),
    ("fd.ip = 10.0.0.2", False, True, False),
    ("fd.ip != 93.184.216.34", False, False, False),  # one endpoint equals
    ("fd.ip != 8.8.8.8", False, True, False),
    ("fd.net = 10.0.0.0/8", False, True, False),
    ("fd.net in (192.168.0.0/16, 172.16.0.0/12)", False, False, False),
    ("fd.port = https", False, True, False),
    ("fd.port in (22, 443)", False, True, False),
    ("fd.sport = 443", False, True, False),
    ("fd.l4proto = tcp", False, True, False),
    ("evt.type = openat and fd.name = /etc/shadow and proc.aname = sshd", True, False, False),
    ("(evt.type = connect or fd.typechar = f) and not user.name = nobody", True, True, False),
]


@pytest.fixture(scope="module")
def real_registry() -> FieldRegistry:
    return FieldRegistry()


@pytest.mark.parametrize("text,on_open,on_connect,on_orphan", CASES)
def test_real_fields_and_events(text, on_open, on_connect, on_orphan, real_registry):
    predicate = compile_condition(parse_condition(text), real_registry)
    assert (predicate(OPEN), predicate(CONNECT), predicate(ORPHAN)) == (on_open, on_connect, on_orphan)


@pytest.mark.parametrize(
    "text,message",
    [
        ("proc.nam = x", "filter_check called with nonexistent field proc.nam"),
        ("evt.type = opne", "unknown event type opne"),
        ("proc.pid contains 1", "'contains' operator not supported for numeric filters"),
        ("fd.ip startswith 1", "IP filter only supports '=' and '!='"),
        ("tolower(proc.aname) = x", "does not support field transformers"),
        ("fd.sport = nosuchservicexyz", "unrecognized protocol"),
    ],
)
def test_real_registry_errors(text, message, real_registry):
    with pytest.raises(CompileError, match=message):
        compile_condition(parse_condition(text), real_registry)


def test_deprecated_field_in_real_registry(real_registry):
    warnings: list[CompileWarning] = []
    compile_condition(parse_condition("evt.dir = < and proc.name = bash"), real_registry, warnings)
    assert [(w.code, w.field) for w in warnings] == [("LOAD_DEPRECATED_ITEM", "evt.dir")]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_conditions", ROOT / "bench" / "bench_conditions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_upstream_rule_compiles_cleanly(real_registry):
    if not (ROOT / "../shared/corpus/upstream-rules").is_dir():
        pytest.skip("upstream rules corpus not present")
    trees = _bench().rule_trees()
    assert len(trees) > 90
    problems = []
    for name, tree in trees:
        warnings: list[CompileWarning] = []
        try:
            predicate = compile_condition(tree, real_registry, warnings)
        except CompileError as exc:
            problems.append((name, exc.message))
            continue
        problems.extend((name, w.message) for w in warnings)
        for evt in (OPEN, CONNECT, ORPHAN):
            assert predicate(evt) in (True, False)
    assert problems == []


LOCAL = Event(
    4, 0, 200, 200, "connect", 0,
    {"fd": 5, "tuple": SockTuple("ipv4", "tcp", "127.0.0.1", 40000, "127.0.0.1", 8080)},
    thread=BASH,
    fdinfo=FdInfo(5, "ipv4", "4", name="127.0.0.1:40000->127.0.0.1:8080", l4proto="tcp",
                  cip="127.0.0.1", cport=40000, sip="127.0.0.1", sport=8080),
)


def _wait_for_dns(predicate) -> None:
    for value in predicate.__globals__.values():
        domains = getattr(value, "domains", None)
        if domains is not None:
            assert domains.wait(10)


@pytest.mark.parametrize(
    "text,on_local,on_connect,on_open",
    [
        ("fd.sip.name = localhost", True, False, False),
        ("fd.sip.name != localhost", False, True, False),
        ("fd.sip.name in (10.9.9.9, localhost)", True, False, False),
        # (only names from /etc/hosts: the test machine's DNS may be slow or absent)
        ("fd.cip.name = 127.0.0.1", True, False, False),  # an address stands for itself
        ("fd.sip.name = '93.184.216.34'", False, True, False),
        ("fd.sip.name exists", True, True, False),
    ],
)
def test_domain_name_fields_compare_resolved_addresses(text, on_local, on_connect, on_open, real_registry):
    predicate = compile_condition(parse_condition(text), real_registry)
    _wait_for_dns(predicate)
    assert (predicate(LOCAL), predicate(CONNECT), predicate(OPEN)) == (on_local, on_connect, on_open)


def test_unresolved_names_never_match_and_do_not_block(real_registry):
    predicate = compile_condition(parse_condition("fd.sip.name = no-such-host.invalid"), real_registry)
    assert (predicate(LOCAL), predicate(CONNECT), predicate(OPEN)) == (False, False, False)


def test_domain_name_fields_reject_other_operators(real_registry):
    with pytest.raises(CompileError, match="IP filter only supports"):
        compile_condition(parse_condition("fd.sip.name startswith local"), real_registry)


# A refused connect: the socket never learned an address (no tuple), as the state layer leaves it.
REFUSED = Event(
    4, 0, 200, 200, "connect", -111, {"fd": 5, "res": -111},
    thread=BASH, fdinfo=FdInfo(5, "ipv4", "4", name="", l4proto="tcp"),
)


@pytest.mark.parametrize("text,want", [
    ("fd.ip = 0.0.0.0", True),                 # Falco: unknown endpoints are 0.0.0.0
    ("fd.ip != 0.0.0.0", False),
    ("fd.ip != 127.0.0.1", True),
    ("fd.net = 0.0.0.0/8", True),
    ("fd.net != 127.0.0.0/8", True),           # raised AttributeError on None before
    ("fd.net in (127.0.0.0/8, 10.0.0.0/8)", False),
    ("fd.cnet = 127.0.0.0/8", False),          # single-side fields stay missing: false
    ("fd.snet != 127.0.0.0/8", False),
])
def test_socket_without_addresses_compares_as_zero_and_never_raises(text, want, real_registry):
    predicate = compile_condition(parse_condition(text), real_registry)
    assert predicate(REFUSED) is want

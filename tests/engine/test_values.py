"""RHS literal conversion per LHS type (spec §1.9)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from pdigpy.engine.values import ValueConversionError, convert_value, hex_bytes, known_event_types

ACCEPTED = [
    ("12", "int", 12),
    ("-12", "int", -12),
    ("+7", "int", 7),
    ("  42", "int", 42),  # scanf skips leading blanks
    ("0", "uint", 0),
    ("-1", "uint", (1 << 64) - 1),  # unsigned wrap
    ("4294967295", "uint", 4294967295),
    ("1000", "reltime", 1000),
    ("1700000000000000000", "abstime", 1700000000000000000),
    ("22", "port", 22),
    ("", "port", 0),
    ("true", "bool", True),
    ("false", "bool", False),
    ("10.0.0.1", "ipaddr", ipaddress.ip_address("10.0.0.1")),
    ("::1", "ipaddr", ipaddress.ip_address("::1")),
    ("10.0.0.0/8", "ipnet", ipaddress.ip_network("10.0.0.0/8")),
    ("10.1.2.3/8", "ipnet", ipaddress.ip_network("10.0.0.0/8")),
    ("fd00::/8", "ipnet", ipaddress.ip_network("fd00::/8")),
    ("/usr/bin", "string", "/usr/bin"),
    ("with space", "string", "with space"),
    ("", "string", ""),
    ("abc", "bytebuf", b"abc"),
    ("\udcff", "bytebuf", b"\xff"),
    ("7", "double", 7),
]


@pytest.mark.parametrize("text,ftype,expected", ACCEPTED)
def test_converted(text, ftype, expected):
    assert convert_value(text, ftype) == expected


REJECTED = [
    ("0x10", "int", "0x10 is not a valid number"),
    ("1.5", "int", "1.5 is not a valid number"),
    ("abc", "int", "abc is not a valid number"),
    ("", "int", " is not a valid number"),
    ("12 ", "int", "is not a valid number"),
    ("9223372036854775808", "int", "is not a valid number"),
    ("0x10", "uint", "0x10 is not a valid number"),
    ("18446744073709551616", "uint", "is not a valid number"),
    ("no-such-service-xyz", "port", "unrecognized protocol no-such-service-xyz"),
    ("True", "bool", "unrecognized boolean value True"),
    ("1", "bool", "unrecognized boolean value 1"),
    ("10.0.0.300", "ipaddr", "unrecognized IPv4 address"),
    ("zz", "ipaddr", "unrecognized IPv6 address"),
    ("10.0.0.0", "ipnet", "unrecognized IP network 10.0.0.0"),
    ("10.0.0.0/33", "ipnet", "invalid netmask 33"),
    ("nonsense/8", "ipnet", "unrecognized IP network"),
    ("a\0b", "string", "NUL"),
]


@pytest.mark.parametrize("text,ftype,message", REJECTED)
def test_rejected(text, ftype, message):
    with pytest.raises(ValueConversionError) as info:
        convert_value(text, ftype)
    assert message in str(info.value)


def test_unsigned_wrap_follows_field_width():
    assert convert_value("-1", "uint", bits=32) == 0xFFFFFFFF


def test_port_service_names_resolve_like_getservbyname():
    assert convert_value("ssh", "port") == socket.getservbyname("ssh") == 22
    assert convert_value("http", "port") == 80


@pytest.mark.parametrize(
    "text,expected",
    [("", b""), ("00", b"\0"), ("7f454c46", b"\x7fELF"), ("ABcd", b"\xab\xcd")],
)
def test_hex_for_byte_operators(text, expected):
    assert hex_bytes(text) == expected
    assert convert_value(text, "bytebuf", op="bcontains") == expected


@pytest.mark.parametrize("text", ["abc", "7", "0x10", "zz"])
def test_hex_rejected(text):
    with pytest.raises(ValueConversionError, match="bcontains and bstartswith operator support hex strings only"):
        convert_value(text, "bytebuf", op="bstartswith")


def test_known_event_types_include_falco_names():
    known = known_event_types()
    assert known is not None
    for name in ("open", "openat", "execve", "connect", "procexit"):
        assert name in known
    assert "not_an_event" not in known


def test_known_event_types_include_names_ptrace_never_produces():
    # Falco knows them; rules naming them must load (the check is never true)
    known = known_event_types()
    assert "container" in known and "switch" in known

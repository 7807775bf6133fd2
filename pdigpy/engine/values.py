"""Conversion of condition literals (RHS text) to the LHS field's value type, at compile time.

Falco converts each RHS string once, per the LHS type (spec §1.9). A failure
raises :class:`ValueConversionError` carrying Falco's message; the compiler
turns it into a compile error at the value's position.
"""

from __future__ import annotations

import _socket  # not socket: its IntEnum conversions cost ~3 ms of every start
import ipaddress
import os
import re
from typing import Any

__all__ = [
    "ValueConversionError",
    "convert_value",
    "NUMERIC_TYPES",
    "STRING_TYPES",
    "IP_TYPES",
    "known_event_types",
]

NUMERIC_TYPES = frozenset({"int", "uint", "port", "reltime", "abstime", "double"})
UNSIGNED_TYPES = frozenset({"uint", "reltime", "abstime"})
STRING_TYPES = frozenset({"string"})
IP_TYPES = frozenset({"ipaddr", "ipnet"})

# scanf("%d")-like, but the whole text must be the number (Falco rejects "0x10" and "1.5").
_INT_RE = re.compile(r"[ \t\n\r\f\v]*([+-]?[0-9]+)")


class ValueConversionError(ValueError):
    """A literal that cannot be converted to the field's type; the message is Falco's."""


def _parse_int(text: str) -> int:
    m = _INT_RE.fullmatch(text)
    if m is None:
        raise ValueConversionError(f"{text} is not a valid number")
    return int(m.group(1))


def _parse_port(text: str) -> int:
    if text == "":
        return 0
    m = _INT_RE.fullmatch(text)
    if m is not None:
        return int(m.group(1)) & 0xFFFF
    try:
        return _socket.getservbyname(text)
    except OSError:
        raise ValueConversionError(f"unrecognized protocol {text}") from None


def _parse_ipaddr(text: str) -> Any:
    try:
        if "." in text:
            return ipaddress.IPv4Address(text)
        return ipaddress.IPv6Address(text)
    except ValueError:
        kind = "IPv4" if "." in text else "IPv6"
        raise ValueConversionError(f"unrecognized {kind} address {text}") from None


def _parse_ipnet(text: str) -> Any:
    if "/" not in text:
        raise ValueConversionError(f"unrecognized IP network {text}")
    addr, _, bits = text.partition("/")
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            raise ValueConversionError(f"unrecognized IP network {text}") from None
        raise ValueConversionError(f"invalid netmask {bits}") from None
    return net


def convert_value(text: str, ftype: str, *, bits: int = 64, op: str = "") -> Any:
    """``text`` as a value of field type ``ftype`` (see pdigpy.engine.fields.base)."""
    if ftype == "string":
        if "\0" in text:
            raise ValueConversionError("invalid string value: NUL bytes are only allowed for buffer fields")
        return text
    if ftype == "int":
        value = _parse_int(text)
        if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            raise ValueConversionError(f"{text} is not a valid number")
        return value
    if ftype in UNSIGNED_TYPES:
        value = _parse_int(text)
        if value >= (1 << bits) or value < -(1 << bits):
            raise ValueConversionError(f"{text} is not a valid number")
        return value & ((1 << bits) - 1)  # -1 wraps around, as in C
    if ftype == "port":
        return _parse_port(text)
    if ftype == "double":
        return _parse_int(text)  # Falco parses DOUBLE literals as 32-bit integers
    if ftype == "bool":
        if text == "true":
            return True
        if text == "false":
            return False
        raise ValueConversionError(f"unrecognized boolean value {text}")
    if ftype == "ipaddr":
        return _parse_ipaddr(text)
    if ftype == "ipnet":
        return _parse_ipnet(text)
    if ftype == "bytebuf":
        if op in ("bcontains", "bstartswith"):
            return hex_bytes(text)
        return os.fsencode(text)
    raise ValueConversionError(f"unsupported field type {ftype}")


def hex_bytes(text: str) -> bytes:
    """The RHS of bcontains/bstartswith: an even number of hex digits."""
    if len(text) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", text):
        raise ValueConversionError("bcontains and bstartswith operator support hex strings only")
    return bytes.fromhex(text)


_EVENT_TYPES: frozenset[str] | None = None


def known_event_types() -> frozenset[str] | None:
    """Every event name ``evt.type`` may be compared with (None: the schema is not available).

    These are the events pdigpy produces plus the names Falco knows but a
    ptrace tracer never produces (``container``, ``switch``): rules naming those
    load, and the check is simply never true.
    """
    global _EVENT_TYPES
    if _EVENT_TYPES is None:
        try:
            from pdigpy.events import schema
        except ImportError:
            return None
        names = set(schema.ALL_EVENT_TYPES)
        names |= set(getattr(schema, "NOT_APPLICABLE_EVENT_TYPES", ()))
        _EVENT_TYPES = frozenset(names)
    return _EVENT_TYPES


# ------------------------------------------------------------------ domain names
# fd.sip.name and friends compare the socket address with the addresses of the
# RHS domain names. Falco resolves them asynchronously and compares with what it
# knows so far; pdigpy does the same: each set of names is resolved once, in its
# own background thread (so one slow resolver answer delays nobody else), and a
# check sees the addresses as soon as they are known (until then it is false).
# Nothing blocks rule loading or the event path.

_DNS_CACHE: dict[str, frozenset] = {}


def _lookup(name: str) -> frozenset:
    got = _DNS_CACHE.get(name)
    if got is None:
        addresses = set()
        try:
            for info in _socket.getaddrinfo(name, None):
                try:
                    addresses.add(ipaddress.ip_address(info[4][0].split("%", 1)[0]))
                except ValueError:
                    continue
        except Exception:  # unknown or malformed name: no address, the check stays false
            pass
        got = _DNS_CACHE[name] = frozenset(addresses)
    return got


class DomainSet:
    """The IP addresses of some domain names (IP literals count as themselves)."""

    def __init__(self, names) -> None:
        import threading

        self.names = tuple(names)
        self._done = threading.Event()
        literal, pending = set(), []
        for name in self.names:
            try:
                literal.add(ipaddress.ip_address(name))
            except ValueError:
                pending.append(name)
        self.addresses: frozenset = frozenset(literal)
        if pending:
            threading.Thread(target=self._resolve, args=(pending,), name="pdigpy-dns", daemon=True).start()
        else:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether every name has been looked up (for tests and tools)."""
        return self._done.wait(timeout)

    def _resolve(self, names: list[str]) -> None:
        try:
            for name in names:
                found = _lookup(name)
                if found:
                    self.addresses = self.addresses | found
        finally:
            self._done.set()

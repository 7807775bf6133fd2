"""Test data for the condition-language tests: a small field registry over plain Events.

``TableRegistry`` is a real registry implementation (FieldInfo rows and BoundField
extractors), only simpler than the product's: every field reads its value from
``evt.args[<field name>]``, so a test writes the values it needs straight into an
Event. It exercises every field shape the compiler handles: plain scalars of each
type, a list-typed field, an ``any_of`` ancestor field, ``either`` endpoint fields,
a field with a required key argument, deprecated and NO_RHS fields.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from pdigpy.engine.fields.base import (
    DEPRECATED,
    NO_RHS,
    NO_TRANSFORMER,
    BoundField,
    FieldError,
    FieldInfo,
)
from pdigpy.events.model import Event

# name: (type, flags, is_list, shape, arg)
_FIELDS: dict[str, tuple[str, frozenset, bool, str, str]] = {
    "evt.type": ("string", frozenset(), False, "plain", "none"),
    "evt.res": ("int", frozenset(), False, "plain", "none"),
    "evt.num": ("uint", frozenset(), False, "plain", "none"),
    "evt.dir": ("string", frozenset({DEPRECATED}), False, "dir", "none"),
    "evt.buffer": ("bytebuf", frozenset(), False, "plain", "none"),
    "evt.around": ("uint", frozenset({NO_RHS}), False, "plain", "none"),
    "proc.name": ("string", frozenset(), False, "plain", "none"),
    "proc.pname": ("string", frozenset(), False, "plain", "none"),
    "proc.cmdline": ("string", frozenset(), False, "plain", "none"),
    "proc.exepath": ("string", frozenset(), False, "plain", "none"),
    "proc.pid": ("int", frozenset(), False, "plain", "none"),
    "proc.ppid": ("int", frozenset(), False, "plain", "none"),
    "proc.is_exe_upper_layer": ("bool", frozenset(), False, "plain", "none"),
    "proc.aname": ("string", frozenset({NO_TRANSFORMER}), False, "ancestors", "allowed"),
    "proc.env": ("string", frozenset(), False, "keyed", "required"),
    "user.name": ("string", frozenset(), False, "plain", "none"),
    "user.uid": ("uint", frozenset(), False, "plain", "none"),
    "user.loginuid": ("int", frozenset(), False, "plain", "none"),
    "fd.name": ("string", frozenset(), False, "plain", "none"),
    "fd.directory": ("string", frozenset(), False, "plain", "none"),
    "fd.types": ("string", frozenset(), True, "plain", "allowed"),
    "fd.sip": ("ipaddr", frozenset(), False, "plain", "none"),
    "fd.cip": ("ipaddr", frozenset(), False, "plain", "none"),
    "fd.snet": ("ipnet", frozenset(), False, "plain", "none"),
    "fd.sport": ("port", frozenset(), False, "plain", "none"),
    "fd.ip": ("ipaddr", frozenset({NO_TRANSFORMER}), False, "either", "none"),
    "fd.net": ("ipnet", frozenset({NO_TRANSFORMER}), False, "either", "none"),
    "fd.port": ("port", frozenset({NO_TRANSFORMER}), False, "either", "none"),
    "evt.time": ("abstime", frozenset(), False, "plain", "none"),
}


class TableRegistry:
    """Binds the fields above; values come from ``evt.args[name]``."""

    def __init__(self) -> None:
        self.bound: list[str] = []

    def has(self, name: str) -> bool:
        return name in _FIELDS

    def infos(self) -> list[FieldInfo]:
        return [self._info(n) for n in _FIELDS]

    def _info(self, name: str) -> FieldInfo:
        ftype, flags, is_list, _shape, arg = _FIELDS[name]
        return FieldInfo(name=name, type=ftype, desc="test field", arg=arg, flags=flags, is_list=is_list)

    def bind(self, name: str, arg: str | None = None) -> BoundField:
        if name not in _FIELDS:
            raise FieldError(f"filter_check called with nonexistent field {name}")
        info = self._info(name)
        ftype, flags, is_list, shape, argmode = _FIELDS[name]
        if arg is None and argmode == "required":
            raise FieldError(f"filter_check called with field {name} which requires an argument")
        if arg is not None and argmode == "none":
            raise FieldError(f"filter_check called with field {name} which does not take an argument")
        self.bound.append(name)
        if shape == "dir":
            return BoundField(info, arg, lambda evt: "<", ftype)
        if shape == "keyed":

            def keyed(evt: Event, _k=arg) -> Any:
                table = evt.args.get(name)
                return None if table is None else table.get(_k)

            return BoundField(info, arg, keyed, ftype)
        if shape == "ancestors":
            if arg is None:
                return BoundField(info, None, lambda evt: evt.args.get(name), ftype, any_of=True)
            level = int(arg)

            def ancestor(evt: Event) -> Any:
                if level == 0:
                    return evt.args.get("proc.name")
                chain = evt.args.get(name) or []
                return chain[level - 1] if level - 1 < len(chain) else None

            return BoundField(info, arg, ancestor, ftype)
        if shape == "either":
            return BoundField(info, None, lambda evt: evt.args.get(name), ftype, is_list=True, either=True)
        return BoundField(info, arg, lambda evt: evt.args.get(name), ftype, is_list=is_list)


def ev(values: dict[str, Any] | None = None) -> Event:
    """An Event carrying the given field values, keyed by dotted field name."""
    values = dict(values or {})
    evt_type = values.setdefault("evt.type", "openat")
    return Event(num=1, ts=0, tid=100, pid=100, type=evt_type, res=values.get("evt.res"), args=values)


def ip(text: str):
    return ipaddress.ip_address(text)


@pytest.fixture
def registry() -> TableRegistry:
    return TableRegistry()


@pytest.fixture
def make_ev():
    return ev


@pytest.fixture
def compile_text(registry):
    """Parse and compile a condition against the table registry; returns the predicate."""
    from pdigpy.engine.compiler import compile_condition
    from pdigpy.engine.grammar import parse_condition

    def build(text: str, warnings: list | None = None):
        return compile_condition(parse_condition(text), registry, warnings)

    return build

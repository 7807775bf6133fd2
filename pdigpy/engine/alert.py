"""An alert: what the engine hands to the outputs.

The engine fills it; :mod:`pdigpy.engine.format` renders it as Falco's text
line and JSON object. Outputs never reformat an alert themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pdigpy.engine.priority import Priority


_FACTORY: Any = object()  # default of a written-out __init__ parameter whose field has a default_factory


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class Alert:
    """Alert(time_ns, rule, priority, output, output_fields, tags, source, hostname, proc_name, pid)."""

    __slots__ = ("time_ns", "rule", "priority", "output", "output_fields", "tags", "source", "hostname", "proc_name", "pid")
    time_ns: int  # the event's time, ns since epoch (UTC)
    rule: str
    priority: Priority
    output: str  # the rendered output string (without Falco's time/priority prefix)
    output_fields: dict[str, Any]  # typed values, "evt.time" always present
    tags: list[str]
    source: str
    hostname: str
    # Who raised it, for the CI summary; not part of Falco's JSON.
    proc_name: str
    pid: int

    def __init__(
        self,
        time_ns: int,
        rule: str,
        priority: Priority,
        output: str,
        output_fields: dict[str, Any] = _FACTORY,
        tags: list[str] = _FACTORY,
        source: str = "syscall",
        hostname: str = "",
        proc_name: str = "",
        pid: int = 0,
    ) -> None:
        self.time_ns = time_ns
        self.rule = rule
        self.priority = priority
        self.output = output
        self.output_fields = dict() if output_fields is _FACTORY else output_fields
        self.tags = list() if tags is _FACTORY else tags
        self.source = source
        self.hostname = hostname
        self.proc_name = proc_name
        self.pid = pid

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(time_ns={self.time_ns!r}, rule={self.rule!r}, priority={self.priority!r}, output={self.output!r}, output_fields={self.output_fields!r}, tags={self.tags!r}, source={self.source!r}, hostname={self.hostname!r}, proc_name={self.proc_name!r}, pid={self.pid!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.time_ns, self.rule, self.priority, self.output, self.output_fields, self.tags, self.source, self.hostname, self.proc_name, self.pid) == (other.time_ns, other.rule, other.priority, other.output, other.output_fields, other.tags, other.source, other.hostname, other.proc_name, other.pid)  # type: ignore[attr-defined]
        return NotImplemented

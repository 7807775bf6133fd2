"""An alert: what the engine hands to the outputs.

The engine fills it; :mod:`pdigpy.engine.format` renders it as Falco's text
line and JSON object. Outputs never reformat an alert themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pdigpy.engine.priority import Priority


@dataclass(slots=True)
class Alert:
    """One alert: the rule that matched an event, its rendered output and the typed output fields."""

    time_ns: int  # the event's time, ns since epoch (UTC)
    rule: str
    priority: Priority
    output: str  # the rendered output string (without Falco's time/priority prefix)
    output_fields: dict[str, Any] = field(default_factory=dict)  # typed values, "evt.time" always present
    tags: list[str] = field(default_factory=list)
    source: str = "syscall"
    hostname: str = ""
    # Who raised it, for the CI summary; not part of Falco's JSON.
    proc_name: str = ""
    pid: int = 0

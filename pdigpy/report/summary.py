"""The summary printed on stderr at exit: which rules fired, how often, by which processes.

A rich table when stderr is a terminal, plain text otherwise (CI logs,
container logs). It never goes to stdout, which belongs to the traced app.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from pdigpy.engine.alert import Alert
from pdigpy.engine.priority import Priority

MAX_PROCESSES_SHOWN = 5


@dataclass
class RuleTally:
    """One rule's alerts so far. (The docstring also spares dataclass() building one from
    inspect.signature at every start.)"""

    rule: str
    priority: Priority
    count: int = 0
    processes: Counter[str] = field(default_factory=Counter)  # "name (pid)" -> alerts


class AlertSummary:
    """Collects alerts as they are raised; cheap enough to run on every alert."""

    def __init__(self) -> None:
        self.by_rule: dict[str, RuleTally] = {}
        self.total = 0

    def record(self, alert: Alert) -> None:
        tally = self.by_rule.get(alert.rule)
        if tally is None:
            tally = self.by_rule[alert.rule] = RuleTally(alert.rule, alert.priority)
        tally.count += 1
        tally.processes[_process_label(alert)] += 1
        self.total += 1

    def most_severe(self) -> Priority | None:
        return min((t.priority for t in self.by_rule.values()), default=None)

    def rows(self) -> list[RuleTally]:
        """Most severe first, then most frequent, then by name."""
        return sorted(self.by_rule.values(), key=lambda t: (t.priority, -t.count, t.rule))

    def render_plain(self) -> str:
        if not self.total:
            return "pdigpy summary: no rule fired\n"
        lines = [f"pdigpy summary: {self.total} alert{'s' if self.total != 1 else ''} from "
                 f"{len(self.by_rule)} rule{'s' if len(self.by_rule) != 1 else ''}"]
        for t in self.rows():
            lines.append(f"  {t.count:>6}  {t.priority.label:<13} {t.rule}  [{_processes_text(t)}]")
        return "\n".join(lines) + "\n"

    def print(self, stream: TextIO | None = None) -> None:
        stream = stream or sys.stderr
        if not (hasattr(stream, "isatty") and stream.isatty()):
            stream.write(self.render_plain())
            stream.flush()
            return
        from rich.console import Console
        from rich.table import Table

        console = Console(file=stream, highlight=False)
        if not self.total:
            console.print("pdigpy summary: no rule fired")
            return
        table = Table(title=f"pdigpy: {self.total} alert{'s' if self.total != 1 else ''}", title_justify="left")
        table.add_column("Rule")
        table.add_column("Priority")
        table.add_column("Count", justify="right")
        table.add_column("Processes")
        for t in self.rows():
            style = "bold red" if t.priority <= Priority.ERROR else "yellow" if t.priority <= Priority.NOTICE else ""
            table.add_row(t.rule, f"[{style}]{t.priority.label}[/]" if style else t.priority.label,
                          str(t.count), _processes_text(t))
        console.print(table)


def _process_label(alert: Alert) -> str:
    name = alert.proc_name or "<NA>"
    return f"{name} ({alert.pid})" if alert.pid else name


def _processes_text(t: RuleTally) -> str:
    shown = [f"{label} x{n}" if n > 1 else label for label, n in t.processes.most_common(MAX_PROCESSES_SHOWN)]
    more = len(t.processes) - MAX_PROCESSES_SHOWN
    if more > 0:
        shown.append(f"+{more} more")
    return ", ".join(shown)

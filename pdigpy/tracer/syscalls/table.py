"""Syscall tables per architecture: number -> SyscallSpec, name -> SyscallSpec.

API (used by the wait loop and the seccomp filter builder):

- ``SyscallTable(arch, audit_arch, by_nr, by_name)``
- ``native_table()``: the table for this machine (x86_64 or aarch64)
- ``table_for(arch)``: the table for ``"x86_64"`` or ``"aarch64"``
- ``syscalls_for_events(table, event_types)``: the rows producing any of the
  given Falco event types, in table order; unknown types are ignored. Several
  syscalls can produce one event type (fchmodat and fchmodat2 -> fchmodat).

Only native 64-bit entry points have tables: the seccomp filter refuses the
i386 (int 0x80 on x86_64) and x32 entry points, so no other numbering can
reach the loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

from pdigpy.tracer.syscalls.rows import ROWS
from pdigpy.tracer.syscalls.spec import SyscallSpec

_ARCH_ALIASES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


@dataclass(frozen=True, slots=True)
class SyscallTable:
    """The syscall rows of one architecture, by number and by name."""

    arch: str
    audit_arch: int
    by_nr: list[SyscallSpec | None]
    by_name: dict[str, SyscallSpec]

    def get(self, nr: int) -> SyscallSpec | None:
        """Row for syscall number ``nr`` (None when untraceable or out of range)."""
        by_nr = self.by_nr
        return by_nr[nr] if 0 <= nr < len(by_nr) else None


def _build(arch: str, audit_arch: int, numbers: dict[str, int]) -> SyscallTable:
    specs = [
        SyscallSpec(row.name, row.event, numbers[row.name], row.exit_stop, row.entry, row.exit)
        for row in ROWS
        if row.name in numbers
    ]
    by_nr: list[SyscallSpec | None] = [None] * (max(s.nr for s in specs) + 1)
    for s in specs:
        by_nr[s.nr] = s
    return SyscallTable(arch, audit_arch, by_nr, {s.name: s for s in specs})


_cache: dict[str, SyscallTable] = {}


def table_for(arch: str) -> SyscallTable:
    """The table for ``arch`` ("x86_64"/"amd64" or "aarch64"/"arm64"); ValueError otherwise."""
    key = _ARCH_ALIASES.get(arch)
    if key is None:
        raise ValueError(f"unsupported architecture {arch!r}: pdigpy traces x86_64 and aarch64")
    table = _cache.get(key)
    if table is None:
        if key == "x86_64":
            from pdigpy.tracer.syscalls import x86_64 as mod
        else:
            from pdigpy.tracer.syscalls import aarch64 as mod
        table = _cache[key] = _build(mod.ARCH, mod.AUDIT_ARCH, mod.NUMBERS)
    return table


def native_table() -> SyscallTable:
    """The table of the machine pdigpy runs on."""
    return table_for(os.uname().machine)  # platform.machine() says the same; importing platform costs ~2 ms


def syscalls_for_events(table: SyscallTable, event_types: Iterable[str]) -> list[SyscallSpec]:
    """Rows whose event is one of ``event_types`` (unknown types are ignored), in table order."""
    wanted = set(event_types)
    return [s for s in table.by_name.values() if s.event in wanted]

"""The contract between the wait loop and the syscall tables.

The loop knows syscall numbers and stops; a table row knows what the syscall
means. At the seccomp (entry) stop the loop calls ``spec.entry``; if
``spec.exit_stop`` it resumes with PTRACE_SYSCALL and calls ``spec.exit`` at
the exit stop with the return value, else it calls ``spec.exit`` right away
with ``ret=None``. ``exit`` returns Falco's parameters for the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol


class MemReader(Protocol):
    """Reads the tracee's memory (process_vm_readv, split at page boundaries)."""

    def read(self, tid: int, addr: int, size: int) -> bytes:
        """Up to ``size`` bytes; shorter when the range runs into unmapped memory."""

    def read_cstr(self, tid: int, addr: int, limit: int = 4096) -> bytes | None:
        """A NUL-terminated string without its NUL; None for a NULL or unreadable pointer."""


Args = tuple[int, int, int, int, int, int]
EntryDecoder = Callable[[int, Args, MemReader], Any]
ExitDecoder = Callable[[int, Args, Any, "int | None", MemReader], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SyscallSpec:
    """One traceable syscall of one arch: its number, event type, stops and decoders."""

    name: str  # kernel name: "openat"
    event: str  # Falco event type: "openat"
    nr: int
    exit_stop: bool  # does the event need the return value? (one stop or two)
    entry: EntryDecoder | None  # reads what must be read before the call runs
    exit: ExitDecoder  # builds the event's parameters

"""The contract between the wait loop and the syscall tables.

The loop knows syscall numbers and stops; a table row knows what the syscall
means. At the seccomp (entry) stop the loop calls ``spec.entry``; if
``spec.exit_stop`` it resumes with PTRACE_SYSCALL and calls ``spec.exit`` at
the exit stop with the return value, else it calls ``spec.exit`` right away
with ``ret=None``. ``exit`` returns Falco's parameters for the event.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
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


def _reduce_by_init(self):  # pickle/copy a frozen written-out class through its __init__
    return self.__class__, tuple([getattr(self, name) for name in self.__dataclass_fields__])


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class SyscallSpec:
    """SyscallSpec(name, event, nr, exit_stop, entry, exit)."""

    __slots__ = ("name", "event", "nr", "exit_stop", "entry", "exit")
    name: str  # kernel name: "openat"
    event: str  # Falco event type: "openat"
    nr: int
    exit_stop: bool  # does the event need the return value? (one stop or two)
    entry: EntryDecoder | None  # reads what must be read before the call runs
    exit: ExitDecoder  # builds the event's parameters

    def __init__(
        self,
        name: str,
        event: str,
        nr: int,
        exit_stop: bool,
        entry: EntryDecoder | None,
        exit: ExitDecoder,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "event", event)
        object.__setattr__(self, "nr", nr)
        object.__setattr__(self, "exit_stop", exit_stop)
        object.__setattr__(self, "entry", entry)
        object.__setattr__(self, "exit", exit)

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(name={self.name!r}, event={self.event!r}, nr={self.nr!r}, exit_stop={self.exit_stop!r}, entry={self.entry!r}, exit={self.exit!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.name, self.event, self.nr, self.exit_stop, self.entry, self.exit) == (other.name, other.event, other.nr, other.exit_stop, other.entry, other.exit)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.event, self.nr, self.exit_stop, self.entry, self.exit))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce_by_init

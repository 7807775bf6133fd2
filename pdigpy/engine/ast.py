"""The condition AST, shared by the parser, the loader (macro expansion) and the compiler.

Nodes are immutable. ``pos`` is the 0-based index in the condition text where
the node starts (for error locations); it takes no part in equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


def _reduce(self):
    # Pickle as a constructor call: the condition cache unpickles thousands of nodes at start-up,
    # and the frozen-slots default (_dataclass_setstate, which calls fields() per node) is ~4x slower.
    return self.__class__, tuple([getattr(self, name) for name in self.__slots__])


@dataclass(frozen=True, slots=True)
class FieldRef:
    name: str  # "proc.name", "evt.arg.flags"
    arg: str | None = None  # "2" in proc.aname[2]
    pos: int = field(default=-1, compare=False)

    __reduce__ = _reduce


@dataclass(frozen=True, slots=True)
class Value:
    """A literal string value, as written (unescaped). Converted per LHS type at compile time."""

    text: str
    quoted: bool = False
    pos: int = field(default=-1, compare=False)

    __reduce__ = _reduce


@dataclass(frozen=True, slots=True)
class ListValue:
    items: tuple[Value, ...]
    pos: int = field(default=-1, compare=False)

    __reduce__ = _reduce


@dataclass(frozen=True, slots=True)
class Transformer:
    name: str  # tolower, toupper, b64, basename, len, join, concat, getopt
    args: tuple[Operand, ...]
    arg: str | None = None  # trailing [arg]
    pos: int = field(default=-1, compare=False)

    __reduce__ = _reduce


@dataclass(frozen=True, slots=True)
class FieldValue:
    """``val(field)`` on the RHS: a field-to-field comparison."""

    field: FieldRef
    pos: int = field(default=-1, compare=False)

    __reduce__ = _reduce


Operand = Union[FieldRef, Transformer, Value, ListValue, FieldValue]


@dataclass(frozen=True, slots=True)
class Check:
    lhs: FieldRef | Transformer
    op: str  # as written: "=", "==", "in", "exists", "contains" ...
    rhs: Value | ListValue | FieldValue | Transformer | None = None  # None for exists
    modifier: str | None = None  # anyof / allof / oneof (0.44+)
    pos: int = field(default=-1, compare=False)

    __reduce__ = _reduce


@dataclass(frozen=True, slots=True)
class MacroRef:
    name: str
    pos: int = field(default=-1, compare=False)

    __reduce__ = _reduce


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    pos: int = field(default=-1, compare=False)

    __reduce__ = _reduce


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    pos: int = field(default=-1, compare=False)

    __reduce__ = _reduce


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    pos: int = field(default=-1, compare=False)

    __reduce__ = _reduce


Node = Union[Check, MacroRef, Not, And, Or]

"""The condition AST, shared by the parser, the loader (macro expansion) and the compiler.

Nodes are immutable. ``pos`` is the 0-based index in the condition text where
the node starts (for error locations); it takes no part in equality.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
from typing import Union


def _reduce(self):
    # Pickle as a constructor call: the condition cache unpickles thousands of nodes at start-up,
    # and the frozen-slots default (_dataclass_setstate, which calls fields() per node) is ~4x slower.
    return self.__class__, tuple([getattr(self, name) for name in self.__dataclass_fields__])


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class FieldRef:
    """FieldRef(name, arg, pos)."""

    __slots__ = ("name", "arg", "pos")
    name: str  # "proc.name", "evt.arg.flags"
    arg: str | None  # "2" in proc.aname[2]
    pos: int

    def __init__(self, name: str, arg: str | None = None, pos: int = -1) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "arg", arg)
        object.__setattr__(self, "pos", pos)

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(name={self.name!r}, arg={self.arg!r}, pos={self.pos!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.name, self.arg) == (other.name, other.arg)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.arg))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class Value:
    """A literal string value, as written (unescaped). Converted per LHS type at compile time."""

    __slots__ = ("text", "quoted", "pos")
    text: str
    quoted: bool
    pos: int

    def __init__(self, text: str, quoted: bool = False, pos: int = -1) -> None:
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "quoted", quoted)
        object.__setattr__(self, "pos", pos)

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(text={self.text!r}, quoted={self.quoted!r}, pos={self.pos!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.text, self.quoted) == (other.text, other.quoted)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.text, self.quoted))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class ListValue:
    """ListValue(items, pos)."""

    __slots__ = ("items", "pos", "_hash")
    items: tuple[Value, ...]
    pos: int

    def __init__(self, items: tuple[Value, ...], pos: int = -1) -> None:
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "pos", pos)
        object.__setattr__(self, "_hash", None)  # computed once: whole trees are dict keys

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(items={self.items!r}, pos={self.pos!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.items,) == (other.items,)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self.items,))
            object.__setattr__(self, "_hash", h)
        return h

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class Transformer:
    """Transformer(name, args, arg, pos)."""

    __slots__ = ("name", "args", "arg", "pos", "_hash")
    name: str  # tolower, toupper, b64, basename, len, join, concat, getopt
    args: tuple[Operand, ...]
    arg: str | None  # trailing [arg]
    pos: int

    def __init__(self, name: str, args: tuple[Operand, ...], arg: str | None = None, pos: int = -1) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "arg", arg)
        object.__setattr__(self, "pos", pos)
        object.__setattr__(self, "_hash", None)  # computed once: whole trees are dict keys

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(name={self.name!r}, args={self.args!r}, arg={self.arg!r}, pos={self.pos!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.name, self.args, self.arg) == (other.name, other.args, other.arg)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self.name, self.args, self.arg))
            object.__setattr__(self, "_hash", h)
        return h

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class FieldValue:
    """``val(field)`` on the RHS: a field-to-field comparison."""

    __slots__ = ("field", "pos")
    field: FieldRef
    pos: int

    def __init__(self, field: FieldRef, pos: int = -1) -> None:
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "pos", pos)

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(field={self.field!r}, pos={self.pos!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.field,) == (other.field,)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.field,))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce


Operand = Union[FieldRef, Transformer, Value, ListValue, FieldValue]


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class Check:
    """Check(lhs, op, rhs, modifier, pos)."""

    __slots__ = ("lhs", "op", "rhs", "modifier", "pos", "_hash")
    lhs: FieldRef | Transformer
    op: str  # as written: "=", "==", "in", "exists", "contains" ...
    rhs: Value | ListValue | FieldValue | Transformer | None  # None for exists
    modifier: str | None  # anyof / allof / oneof (0.44+)
    pos: int

    def __init__(
        self,
        lhs: FieldRef | Transformer,
        op: str,
        rhs: Value | ListValue | FieldValue | Transformer | None = None,
        modifier: str | None = None,
        pos: int = -1,
    ) -> None:
        object.__setattr__(self, "lhs", lhs)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "rhs", rhs)
        object.__setattr__(self, "modifier", modifier)
        object.__setattr__(self, "pos", pos)
        object.__setattr__(self, "_hash", None)  # computed once: whole trees are dict keys

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(lhs={self.lhs!r}, op={self.op!r}, rhs={self.rhs!r}, modifier={self.modifier!r}, pos={self.pos!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.lhs, self.op, self.rhs, self.modifier) == (other.lhs, other.op, other.rhs, other.modifier)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self.lhs, self.op, self.rhs, self.modifier))
            object.__setattr__(self, "_hash", h)
        return h

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class MacroRef:
    """MacroRef(name, pos)."""

    __slots__ = ("name", "pos")
    name: str
    pos: int

    def __init__(self, name: str, pos: int = -1) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "pos", pos)

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(name={self.name!r}, pos={self.pos!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.name,) == (other.name,)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name,))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class Not:
    """Not(child, pos)."""

    __slots__ = ("child", "pos", "_hash")
    child: Node
    pos: int

    def __init__(self, child: Node, pos: int = -1) -> None:
        object.__setattr__(self, "child", child)
        object.__setattr__(self, "pos", pos)
        object.__setattr__(self, "_hash", None)  # computed once: whole trees are dict keys

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(child={self.child!r}, pos={self.pos!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.child,) == (other.child,)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self.child,))
            object.__setattr__(self, "_hash", h)
        return h

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class And:
    """And(children, pos)."""

    __slots__ = ("children", "pos", "_hash")
    children: tuple[Node, ...]
    pos: int

    def __init__(self, children: tuple[Node, ...], pos: int = -1) -> None:
        object.__setattr__(self, "children", children)
        object.__setattr__(self, "pos", pos)
        object.__setattr__(self, "_hash", None)  # computed once: whole trees are dict keys

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(children={self.children!r}, pos={self.pos!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.children,) == (other.children,)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self.children,))
            object.__setattr__(self, "_hash", h)
        return h

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class Or:
    """Or(children, pos)."""

    __slots__ = ("children", "pos", "_hash")
    children: tuple[Node, ...]
    pos: int

    def __init__(self, children: tuple[Node, ...], pos: int = -1) -> None:
        object.__setattr__(self, "children", children)
        object.__setattr__(self, "pos", pos)
        object.__setattr__(self, "_hash", None)  # computed once: whole trees are dict keys

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(children={self.children!r}, pos={self.pos!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.children,) == (other.children,)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self.children,))
            object.__setattr__(self, "_hash", h)
        return h

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce


Node = Union[Check, MacroRef, Not, And, Or]

"""Field transformers: tolower, toupper, b64, basename, len, join, concat, getopt (spec §1.6).

Each transformer is a row of :data:`TRANSFORMERS`: how many arguments it takes,
which input types it accepts, its output type, and the function applied to the
extracted values. A function returns None when the value cannot be produced
(e.g. invalid base64), which makes the check false like any missing value.
``val()`` is not here: it is the identity and only marks a field-to-field RHS.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import FrozenInstanceError, dataclass
from typing import Any, Callable

from pdigpy.engine.operators import ascii_lower, ascii_upper

__all__ = ["TransformerSpec", "TRANSFORMERS", "apply", "TransformerError"]


class TransformerError(ValueError):
    """A transformer used with the wrong argument count or types (compile time)."""


def _reduce_by_init(self):  # pickle/copy a frozen written-out class through its __init__
    return self.__class__, tuple([getattr(self, name) for name in self.__dataclass_fields__])


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class TransformerSpec:
    """TransformerSpec(name, min_args, max_args, out_type, func, takes_field_arg, arity_message)."""

    __slots__ = ("name", "min_args", "max_args", "out_type", "func", "takes_field_arg", "arity_message")
    name: str
    min_args: int
    max_args: int | None  # None: unbounded
    out_type: Callable[[list[str], list[bool], str | None], tuple[str, bool]]
    func: Callable[..., Any]  # applied to the argument values (and the [arg] for getopt)
    takes_field_arg: bool  # getopt(...)[c]
    arity_message: str  # libsinsp's wording when the argument count is wrong

    def __init__(
        self,
        name: str,
        min_args: int,
        max_args: int | None,
        out_type: Callable[[list[str], list[bool], str | None], tuple[str, bool]],
        func: Callable[..., Any],
        takes_field_arg: bool = False,
        arity_message: str = "",
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "min_args", min_args)
        object.__setattr__(self, "max_args", max_args)
        object.__setattr__(self, "out_type", out_type)
        object.__setattr__(self, "func", func)
        object.__setattr__(self, "takes_field_arg", takes_field_arg)
        object.__setattr__(self, "arity_message", arity_message)

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(name={self.name!r}, min_args={self.min_args!r}, max_args={self.max_args!r}, out_type={self.out_type!r}, func={self.func!r}, takes_field_arg={self.takes_field_arg!r}, arity_message={self.arity_message!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.name, self.min_args, self.max_args, self.out_type, self.func, self.takes_field_arg, self.arity_message) == (other.name, other.min_args, other.max_args, other.out_type, other.func, other.takes_field_arg, other.arity_message)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.min_args, self.max_args, self.out_type, self.func, self.takes_field_arg, self.arity_message))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    __reduce__ = _reduce_by_init


def _tolower(v: Any) -> Any:
    return ascii_lower(v)


def _toupper(v: Any) -> Any:
    return ascii_upper(v)


def _b64(v: Any) -> Any:
    raw = v if isinstance(v, bytes) else os.fsencode(v)
    raw = raw.rstrip(b"=")
    raw += b"=" * (-len(raw) % 4)  # padding is optional
    try:
        out = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    return out if isinstance(v, bytes) else os.fsdecode(out)


def _basename(v: str) -> str:
    return v.rpartition("/")[2]


def _len(v: Any) -> int:
    if isinstance(v, str):
        v = v.split("\0", 1)[0]
        return len(v) if v.isascii() else len(os.fsencode(v))
    return len(v)


def _join(sep: Any, values: Any) -> str:
    return str(sep).join(str(x) for x in values)


def _concat(*values: Any) -> str:
    return "".join(str(x) for x in values)


def _optstring(optstring: str) -> dict[str, bool]:
    """Option character -> whether it takes a value (``n:``); ':' itself is never an option."""
    takes: dict[str, bool] = {}
    chars = optstring[1:] if optstring.startswith(":") else optstring
    i = 0
    while i < len(chars):
        c = chars[i]
        if c != ":":
            has_value = i + 1 < len(chars) and chars[i + 1] == ":"
            takes[c] = has_value
            if has_value:
                i += 1
        i += 1
    return takes


def getopt_parse(args: list[str], optstring: str) -> list[tuple[str, str | None]]:
    """getopt(3)-like scan as libsinsp does it: (option, value) pairs in order.

    Stops at ``--``, at an empty or lone ``-`` or at the first non-option;
    long options (``--x``) are skipped; clusters (``-nt``) are expanded; an
    unknown option is ``("?", None)``; an option whose value is missing is
    ``(c, "")`` and ends the scan of that token.
    """
    takes = _optstring(optstring)
    out: list[tuple[str, str | None]] = []
    k = 0
    while k < len(args):
        arg = args[k]
        if arg == "--":
            break
        if len(arg) > 2 and arg.startswith("--"):
            k += 1
            continue
        if len(arg) < 2 or arg[0] != "-":
            break
        for j in range(1, len(arg)):
            c = arg[j]
            if c not in takes:
                out.append(("?", None))
                continue
            if not takes[c]:
                out.append((c, None))
                continue
            if j + 1 < len(arg):
                out.append((c, arg[j + 1 :]))
            elif k + 1 < len(args):
                k += 1
                out.append((c, args[k]))
            else:
                out.append((c, ""))
            break
        k += 1
    return out


def _getopt(values: Any, optstring: Any, which: str | None = None) -> Any:
    """Without ``[c]``: the option characters, each followed by its value when it has one
    (a missing value is an empty string). With ``[c]``: the value of the last ``-c`` (or
    ``c`` itself when it takes none); missing when ``-c`` does not occur."""
    pairs = getopt_parse([str(v) for v in values], str(optstring))
    if which is None:
        out: list[str] = []
        for c, v in pairs:
            if v == "":
                out.append("")  # libsinsp reports a missing value as an empty option
            else:
                out.append(c)
                if v is not None:
                    out.append(v)
        return out
    found = None
    for c, v in pairs:
        if c == which:
            found = c if v is None else v
    return found


def _scalar_string_in(name: str, allowed: tuple[str, ...], same_out: bool = True):
    def out_type(types: list[str], lists: list[bool], arg: str | None) -> tuple[str, bool]:
        if lists[0] or types[0] not in allowed:
            kind = "list" if lists[0] else types[0]
            raise TransformerError(f"field transformer '{name}' is not supported on {kind} values")
        if arg is not None:
            raise TransformerError(f"field transformer '{name}' does not take an argument")
        return (types[0] if same_out else "uint"), False

    return out_type


def _len_type(types: list[str], lists: list[bool], arg: str | None) -> tuple[str, bool]:
    if not lists[0] and types[0] not in ("string", "bytebuf"):
        raise TransformerError(f"field transformer 'len' is not supported on {types[0]} values")
    if arg is not None:
        raise TransformerError("field transformer 'len' does not take an argument")
    return "uint", False


def _join_type(types: list[str], lists: list[bool], arg: str | None) -> tuple[str, bool]:
    if lists[0]:
        raise TransformerError("join() first argument (separator) must be a single value, not a list")
    if not lists[1]:
        raise TransformerError("join() second argument must be a list")
    if arg is not None:
        raise TransformerError("transformer 'join' does not support field arguments")
    return "string", False


def _concat_type(types: list[str], lists: list[bool], arg: str | None) -> tuple[str, bool]:
    if any(lists) or any(t != "string" for t in types):
        raise TransformerError("concat() arguments must be strings")
    if arg is not None:
        raise TransformerError("transformer 'concat' does not support field arguments")
    return "string", False


def _getopt_type(types: list[str], lists: list[bool], arg: str | None) -> tuple[str, bool]:
    if not lists[0]:
        raise TransformerError("getopt() first argument must be a list")
    if lists[1]:
        raise TransformerError("getopt() second argument (optstring) must be a single value")
    if types[0] != "string" or types[1] != "string":
        raise TransformerError("getopt() arguments must be strings")
    if arg is not None and len(arg) != 1:
        raise TransformerError("getopt() field argument must be a single option character")
    return "string", arg is None


TRANSFORMERS: dict[str, TransformerSpec] = {
    "tolower": TransformerSpec("tolower", 1, 1, _scalar_string_in("tolower", ("string",)), _tolower),
    "toupper": TransformerSpec("toupper", 1, 1, _scalar_string_in("toupper", ("string",)), _toupper),
    "b64": TransformerSpec("b64", 1, 1, _scalar_string_in("b64", ("string", "bytebuf")), _b64),
    "basename": TransformerSpec("basename", 1, 1, _scalar_string_in("basename", ("string",)), _basename),
    "len": TransformerSpec("len", 1, 1, _len_type, _len),
    "join": TransformerSpec(
        "join", 2, 2, _join_type, _join,
        arity_message="join() requires exactly 2 arguments: separator and list",
    ),
    "concat": TransformerSpec(
        "concat", 2, None, _concat_type, _concat, arity_message="concat() requires at least 2 arguments"
    ),
    "getopt": TransformerSpec(
        "getopt", 2, 2, _getopt_type, _getopt, takes_field_arg=True,
        arity_message="getopt() requires exactly 2 arguments: args list and optstring",
    ),
}


def apply(name: str, *values: Any, arg: str | None = None) -> Any:
    """Apply transformer ``name`` to already-extracted values; None if any input is missing."""
    spec = TRANSFORMERS[name]
    if any(v is None for v in values):
        return None
    if spec.takes_field_arg:
        return spec.func(*values, arg)
    return spec.func(*values)

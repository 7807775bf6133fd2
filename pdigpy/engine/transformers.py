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
from dataclasses import dataclass
from typing import Any, Callable

from pdigpy.engine.operators import ascii_lower, ascii_upper

__all__ = ["TransformerSpec", "TRANSFORMERS", "apply", "TransformerError"]


class TransformerError(ValueError):
    """A transformer used with the wrong argument count or types (compile time)."""


@dataclass(frozen=True, slots=True)
class TransformerSpec:
    name: str
    min_args: int
    max_args: int | None  # None: unbounded
    # (arg types, arg list-ness) -> output (type, is_list); raises TransformerError
    out_type: Callable[[list[str], list[bool], str | None], tuple[str, bool]]
    func: Callable[..., Any]  # applied to the argument values (and the [arg] for getopt)
    takes_field_arg: bool = False  # getopt(...)[c]


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


def getopt_parse(args: list[str], optstring: str) -> list[tuple[str, str | None]]:
    """getopt(3)-like scan: (option, value) pairs; stops at ``--`` or the first non-option.

    Long options (``--x``) are skipped; an unknown option is reported as ``?``
    (as is a missing required value).
    """
    takes_value = {}
    chars = optstring.lstrip("+-:")
    i = 0
    while i < len(chars):
        c = chars[i]
        has = i + 1 < len(chars) and chars[i + 1] == ":"
        takes_value[c] = has
        i += 2 if has else 1
    out: list[tuple[str, str | None]] = []
    k = 0
    while k < len(args):
        arg = args[k]
        if arg == "--":
            break
        if arg.startswith("--"):
            k += 1
            continue
        if not arg.startswith("-") or arg == "-":
            break
        j = 1
        while j < len(arg):
            c = arg[j]
            if c not in takes_value or c == ":":
                out.append(("?", None))
                j += 1
                continue
            if takes_value[c]:
                if j + 1 < len(arg):
                    out.append((c, arg[j + 1 :]))
                elif k + 1 < len(args):
                    k += 1
                    out.append((c, args[k]))
                else:
                    out.append(("?", None))
                break
            out.append((c, None))
            j += 1
        k += 1
    return out


def _getopt(values: Any, optstring: Any, which: str | None = None) -> Any:
    pairs = getopt_parse([str(v) for v in values], str(optstring))
    if which is None:
        return [c if v is None else f"{c}{v}" for c, v in pairs]
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
    if lists[0] or not lists[1]:
        raise TransformerError("field transformer 'join' expects a separator and a list")
    if arg is not None:
        raise TransformerError("field transformer 'join' does not take an argument")
    return "string", False


def _concat_type(types: list[str], lists: list[bool], arg: str | None) -> tuple[str, bool]:
    if any(lists) or any(t != "string" for t in types):
        raise TransformerError("field transformer 'concat' expects string values")
    if arg is not None:
        raise TransformerError("field transformer 'concat' does not take an argument")
    return "string", False


def _getopt_type(types: list[str], lists: list[bool], arg: str | None) -> tuple[str, bool]:
    if not lists[0] or lists[1] or types[1] != "string":
        raise TransformerError("field transformer 'getopt' expects a list of strings and an optstring")
    if arg is not None and len(arg) != 1:
        raise TransformerError("field transformer 'getopt' takes a single option character")
    return "string", arg is None


TRANSFORMERS: dict[str, TransformerSpec] = {
    "tolower": TransformerSpec("tolower", 1, 1, _scalar_string_in("tolower", ("string",)), _tolower),
    "toupper": TransformerSpec("toupper", 1, 1, _scalar_string_in("toupper", ("string",)), _toupper),
    "b64": TransformerSpec("b64", 1, 1, _scalar_string_in("b64", ("string", "bytebuf")), _b64),
    "basename": TransformerSpec("basename", 1, 1, _scalar_string_in("basename", ("string",)), _basename),
    "len": TransformerSpec("len", 1, 1, _len_type, _len),
    "join": TransformerSpec("join", 2, 2, _join_type, _join),
    "concat": TransformerSpec("concat", 2, None, _concat_type, _concat),
    "getopt": TransformerSpec("getopt", 2, 2, _getopt_type, _getopt, takes_field_arg=True),
}


def apply(name: str, *values: Any, arg: str | None = None) -> Any:
    """Apply transformer ``name`` to already-extracted values; None if any input is missing."""
    spec = TRANSFORMERS[name]
    if any(v is None for v in values):
        return None
    if spec.takes_field_arg:
        return spec.func(*values, arg)
    return spec.func(*values)

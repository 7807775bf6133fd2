"""Compile a condition AST into one Python function ``predicate(evt) -> bool``.

Everything that can be decided once is decided here: fields are bound through
the registry, RHS literals are converted to the field's type, patterns are
compiled, operators are checked against the field type (Falco's messages), and
warnings are collected. What is left per event is a closure per check, glued
together by one generated Python expression for the and/or/not structure.

Evaluation rules (spec §1.4, §1.5, §1.9):

- a missing LHS value (None) makes the check false for every operator,
  including ``!=``; a missing field-to-field RHS makes it false too;
- ``any_of`` fields (``proc.aname`` without an argument) hold a list of
  ancestors: the check is true if any element satisfies it;
- ``either`` fields (``fd.ip``, ``fd.net``, ``fd.port``, ``fd.proto``) hold both
  endpoints: ``=``/``in`` are true if either matches, ``!=`` only if both differ;
- list-typed fields: ``in`` means every element is in the set, ``intersects``
  at least one.

Reordering: inside an ``and``/``or`` the checks on ``evt.type`` are moved
first. All compiled checks are pure (no side effects, errors are raised at
compile time), so only the evaluation order changes, never the result.
"""

from __future__ import annotations

import operator
import re
import weakref
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from pdigpy.engine.ast import (
    And,
    Check,
    FieldRef,
    FieldValue,
    ListValue,
    MacroRef,
    Not,
    Or,
    Transformer,
    Value,
)
from pdigpy.engine.fields.base import DEPRECATED, NO_RHS, NO_TRANSFORMER, FieldError
from pdigpy.engine.operators import (
    OperatorError,
    ascii_lower,
    cached_glob,
    make_glob,
    make_pmatch,
    make_regex,
    regex_could_be_simpler,
)
from pdigpy.engine.transformers import TRANSFORMERS, TransformerError
from pdigpy.engine.values import (
    IP_TYPES,
    DomainSet,
    NUMERIC_TYPES,
    ValueConversionError,
    convert_value,
    known_event_types,
)

if TYPE_CHECKING:
    from pdigpy.events.model import Event

__all__ = ["CompileError", "CompileWarning", "compile_condition", "Predicate"]

Predicate = Callable[["Event"], bool]

WARN_COMPILE = "LOAD_COMPILE_CONDITION"
WARN_DEPRECATED = "LOAD_DEPRECATED_ITEM"


class CompileError(Exception):
    """A condition that parses but cannot be compiled; ``pos`` is the 0-based text index (-1: unknown)."""

    def __init__(self, message: str, pos: int = -1) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class CompileWarning:
    """A non-fatal finding of the compiler about one condition (a deprecated item, a condition issue)."""

    code: str  # LOAD_COMPILE_CONDITION | LOAD_DEPRECATED_ITEM
    message: str
    pos: int = -1
    field: str | None = None  # the deprecated field, for the JSON "deprecated_field" key


# Operators allowed per type group (spec §1.3).
_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">=", "in", "intersects", "exists"})
_BOOL_OPS = frozenset({"=", "!=", "in", "intersects", "exists"})
_STRING_OPS = frozenset(
    {"=", "!=", "<", "<=", ">", ">=", "contains", "icontains", "startswith", "endswith",
     "glob", "iglob", "regex", "in", "intersects", "pmatch", "exists"}
)
_BUFFER_OPS = frozenset(
    {"=", "!=", "contains", "bcontains", "startswith", "bstartswith", "endswith", "in",
     "intersects", "exists"}
)
_IP_OPS = frozenset({"=", "!=", "in", "intersects", "exists"})
_LIST_OPS = frozenset({"in", "intersects", "exists"})
_EITHER_OPS = frozenset({"=", "!=", "in", "intersects", "exists"})
_MODIFIER_OPS = frozenset(
    {"=", "!=", "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith",
     "glob", "iglob", "regex"}
)

_FIELD_LIKE = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+(?:\[[^\]]*\])?")
_TRANSFORMER_LIKE = re.compile(r"(?:val|" + "|".join(TRANSFORMERS) + r")\(.*\)", re.DOTALL)

# Python's compiler limits nesting of generated expressions; deeper trees use closures.
_MAX_SOURCE_DEPTH = 50


def _type_group(ftype: str) -> tuple[str, frozenset[str]]:
    if ftype in NUMERIC_TYPES:
        return "numeric", _NUMERIC_OPS
    if ftype == "bool":
        return "bool", _BOOL_OPS
    if ftype == "string":
        return "string", _STRING_OPS
    if ftype == "bytebuf":
        return "buffer", _BUFFER_OPS
    if ftype in IP_TYPES:
        return "ip", _IP_OPS
    return ftype, _STRING_OPS


@dataclass(slots=True)
class _Operand:
    """A compiled LHS/RHS operand: how to get its value from an event, and its shape."""

    get: Callable[[Any], Any]
    type: str
    is_list: bool = False
    any_of: bool = False
    either: bool = False
    flags: frozenset[str] = frozenset()
    name: str = ""
    bits: int = 64
    extra: dict[str, Any] | None = None


def compile_condition(node, registry, warnings: list[CompileWarning] | None = None) -> Predicate:
    """Compile a macro-expanded AST into ``predicate(evt) -> bool``; raises :class:`CompileError`.

    Warnings (regex that could be simpler, field or transformer used as a
    string, deprecated fields) are appended to ``warnings`` when given.
    """
    return _Compiler(registry, warnings).compile(node)


# Compiled checks per registry, keyed by node identity: a macro's subtree is shared
# by every rule that uses it, so its checks are compiled once per registry.
_CHECK_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _check_cache(registry) -> dict[int, tuple]:
    try:
        cache = _CHECK_CACHE.get(registry)
        if cache is None:
            cache = _CHECK_CACHE[registry] = {}
        return cache
    except TypeError:  # a registry that cannot be weakly referenced: no cache
        return {}


class _Compiler:
    def __init__(self, registry, warnings: list[CompileWarning] | None) -> None:
        self.registry = registry
        self.warnings = warnings
        self.ns: dict[str, Any] = {}
        self.cache = _check_cache(registry)

    # ------------------------------------------------------------ structure

    def compile(self, node) -> Predicate:
        if _depth(node) > _MAX_SOURCE_DEPTH:
            return self._closure(node)
        source = self._source(node)
        fn = eval("lambda evt: " + source, self.ns)  # noqa: S307 - our own generated expression
        fn.__doc__ = "compiled condition"
        return fn

    def _source(self, node) -> str:
        if isinstance(node, Check):
            n = len(self.ns)
            predicate = self._check(node)
            inline = getattr(predicate, "inline", None)
            if inline is None:
                self.ns[f"_c{n}"] = predicate
                return f"_c{n}(evt)"
            # Hot path: simple checks are written into the expression itself,
            # saving a function call per check and event.
            kind, get, const = inline
            self.ns[f"_g{n}"] = get
            self.ns[f"_k{n}"] = const
            if kind == "exists":
                return f"(_g{n}(evt) is not None)"
            value = f"(_v := _g{n}(evt)) is not None"
            if kind in ("==", "!=", "<", "<=", ">", ">="):
                return f"({value} and _v {kind} _k{n})"
            if kind == "in":
                return f"({value} and _v in _k{n})"
            if kind == "contains":
                return f"({value} and _k{n} in _v)"
            if kind == "call":  # any other test on a present value
                return f"({value} and _k{n}(_v))"
            return f"({value} and _v.{kind}(_k{n}))"  # startswith / endswith
        if isinstance(node, And):
            return "(" + " and ".join(self._source(c) for c in _cheap_first(node.children)) + ")"
        if isinstance(node, Or):
            return "(" + " or ".join(self._source(c) for c in _cheap_first(node.children)) + ")"
        if isinstance(node, Not):
            return "(not " + self._source(node.child) + ")"
        if isinstance(node, MacroRef):
            raise CompileError(f"Undefined macro '{node.name}' used in filter.", node.pos)
        raise CompileError(f"unexpected node in condition: {type(node).__name__}")

    def _closure(self, node) -> Predicate:
        # Used only for very deep trees (see _MAX_SOURCE_DEPTH).
        if isinstance(node, Check):
            return self._check(node)
        if isinstance(node, (And, Or)):
            fns = tuple(self._closure(c) for c in _cheap_first(node.children))
            if isinstance(node, And):
                return lambda evt: all(f(evt) for f in fns)
            return lambda evt: any(f(evt) for f in fns)
        if isinstance(node, Not):
            child = self._closure(node.child)
            return lambda evt: not child(evt)
        if isinstance(node, MacroRef):
            raise CompileError(f"Undefined macro '{node.name}' used in filter.", node.pos)
        raise CompileError(f"unexpected node in condition: {type(node).__name__}")

    # ------------------------------------------------------------- operands

    def _warn(self, code: str, message: str, pos: int, field: str | None = None) -> None:
        if self.warnings is not None:
            w = CompileWarning(code, message, pos, field)
            if w not in self.warnings:
                self.warnings.append(w)

    def _field(self, ref: FieldRef) -> _Operand:
        try:
            bound = self.registry.bind(ref.name, ref.arg)
        except FieldError as exc:
            raise CompileError(str(exc), ref.pos) from None
        flags = bound.info.flags
        if DEPRECATED in flags:
            self._warn(WARN_DEPRECATED, f"field '{ref.name}' is deprecated", ref.pos, ref.name)
        return _Operand(
            get=bound.extract,
            type=bound.type,
            is_list=bound.is_list,
            any_of=bound.any_of,
            either=bound.either,
            flags=flags,
            name=ref.name if ref.arg is None else f"{ref.name}[{ref.arg}]",
            bits=int(bound.extra.get("bits", 64)) if bound.extra else 64,
            extra=bound.extra or None,
        )

    def _operand(self, node) -> _Operand:
        if isinstance(node, FieldRef):
            return self._field(node)
        if isinstance(node, Transformer):
            return self._transformer(node)
        if isinstance(node, FieldValue):
            return self._field(node.field)
        raise CompileError("expected a field or a transformer", getattr(node, "pos", -1))

    def _transformer(self, node: Transformer) -> _Operand:
        spec = TRANSFORMERS.get(node.name)
        if spec is None:
            raise CompileError(f"unknown field transformer '{node.name}'", node.pos)
        n = len(node.args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            message = spec.arity_message or f"wrong number of arguments for field transformer '{node.name}'"
            raise CompileError(message, node.pos)
        args: list[_Operand] = []
        for a in node.args:
            if isinstance(a, (FieldRef, Transformer)):
                op = self._operand(a)
                if isinstance(a, FieldRef) and (NO_TRANSFORMER in op.flags or op.any_of or op.either):
                    raise CompileError(
                        f"field '{op.name}' does not support field transformers", a.pos
                    )
                args.append(op)
            elif isinstance(a, Value):
                text = a.text
                args.append(_Operand(get=lambda evt, _t=text: _t, type="string", name=repr(text)))
            elif isinstance(a, ListValue):
                items = [v.text for v in a.items]
                args.append(_Operand(get=lambda evt, _i=items: _i, type="string", is_list=True))
            else:
                raise CompileError(f"invalid argument for field transformer '{node.name}'", node.pos)
        try:
            out_type, out_list = spec.out_type([a.type for a in args], [a.is_list for a in args], node.arg)
        except TransformerError as exc:
            raise CompileError(str(exc), node.pos) from None
        return _Operand(
            get=_transformer_getter(spec, [a.get for a in args], node.arg),
            type=out_type,
            is_list=out_list,
            name=node.name,
        )

    # ---------------------------------------------------------------- checks

    def _check(self, node: Check) -> Predicate:
        hit = self.cache.get(id(node))
        if hit is None or hit[0] is not node:
            outer, self.warnings = self.warnings, []
            try:
                result: Any = self._compile_check(node)
            except CompileError as exc:
                result = exc
            hit = (node, result, tuple(self.warnings))
            self.warnings = outer
            self.cache[id(node)] = hit
        for w in hit[2]:
            self._warn(w.code, w.message, w.pos, w.field)
        if isinstance(hit[1], CompileError):
            raise hit[1]
        return hit[1]

    def _compile_check(self, node: Check) -> Predicate:
        predicate = self._compile_check_inner(node)
        lhs = node.lhs
        if isinstance(lhs, FieldRef) and getattr(predicate, "on_value", None) is not None:
            # compile_plan reads the field once per event into a local and tests that local.
            predicate.field_key = lhs.name if lhs.arg is None else f"{lhs.name}[{lhs.arg}]"  # type: ignore[attr-defined]
        return predicate

    def _compile_check_inner(self, node: Check) -> Predicate:
        op = "=" if node.op == "==" else node.op
        lhs = self._operand(node.lhs)
        self._check_operator(node, op, lhs)
        get = lhs.get

        if lhs.extra and "address" in lhs.extra and isinstance(node.lhs, FieldRef):
            return _domain_check(node, op, lhs.extra["address"])

        if op == "exists":
            if lhs.any_of:
                return _on_value(lambda evt: bool(get(evt)), get, bool)
            return _inlinable(lambda evt: get(evt) is not None, "exists", get, None)

        if isinstance(node.rhs, (FieldValue, Transformer)):
            return self._field_to_field(node, op, lhs)

        consts = self._constants(node, op, lhs)
        if node.modifier:
            test = _modifier_test(node.modifier, op, lhs.type, consts, node.pos)
            plain = not (lhs.any_of or lhs.either or lhs.is_list)
            if (plain and node.modifier == "anyof" and op in ("startswith", "endswith") and lhs.type == "string"
                    and all(isinstance(c, str) for c in consts)):
                # str.startswith/endswith take a tuple: the whole or-chain in one C call.
                return _inlinable(_wrap(get, test, lhs, op), op, get, tuple(consts))
        elif lhs.is_list and not (lhs.any_of or lhs.either):
            return _list_check(op, get, frozenset(consts))
        else:
            test = _single_test(op, lhs.type, consts, isinstance(node.rhs, ListValue), node)
            plain = not (lhs.any_of or lhs.either or lhs.is_list)
            if plain and lhs.type in _INLINE_TYPES and op in _INLINE_OPS:
                kind = _INLINE_OPS[op]
                const = frozenset(consts) if kind == "in" else consts[0]
                return _inlinable(_wrap(get, test, lhs, op), kind, get, const)
        return _wrap(get, test, lhs, op)

    def _check_operator(self, node: Check, op: str, lhs: _Operand) -> None:
        if lhs.either:
            if op not in _EITHER_OPS:
                raise CompileError("IP filter only supports '=' and '!='", node.pos)
            return
        if lhs.is_list and not lhs.any_of:
            if op not in _LIST_OPS:
                raise CompileError(f"filter error: '{node.op}' operator not supported for list filters", node.pos)
            return
        group, allowed = _type_group(lhs.type)
        if op not in allowed:
            raise CompileError(
                f"filter error: '{node.op}' operator not supported for {group} filters", node.pos
            )
        if node.modifier and op not in _MODIFIER_OPS:
            raise CompileError(f"the '{node.modifier}' modifier is not supported with '{node.op}'", node.pos)

    def _constants(self, node: Check, op: str, lhs: _Operand) -> list[Any]:
        rhs = node.rhs
        values = list(rhs.items) if isinstance(rhs, ListValue) else [rhs]
        self._literal_warnings(node, op, values)
        is_evt_type = isinstance(node.lhs, FieldRef) and node.lhs.name in ("evt.type", "syscall.type")
        known = known_event_types() if is_evt_type else None
        out = []
        for v in values:
            if known is not None and v.text not in known:
                raise CompileError(f"unknown event type {v.text}", v.pos)
            if op == "pmatch" or (op in ("glob", "iglob", "regex") and lhs.type == "string"):
                out.append(v.text)
                continue
            try:
                out.append(convert_value(v.text, lhs.type, bits=lhs.bits, op=op))
            except ValueConversionError as exc:
                raise CompileError(str(exc), v.pos) from None
        return out

    def _literal_warnings(self, node: Check, op: str, values: list[Value]) -> None:
        for v in values:
            text = v.text
            if op == "regex" and regex_could_be_simpler(text):
                self._warn(
                    WARN_COMPILE,
                    f"regex check with '{text}' may be optimized with simpler operators "
                    "such as '=', 'contains', 'startswith', 'endswith'",
                    v.pos,
                )
            # cheap character tests first: most values are neither
            if "." in text and _FIELD_LIKE.fullmatch(text) and self._is_field(text):
                self._warn(
                    WARN_COMPILE, f"'{text}' may be a valid field misused as a const string value", v.pos
                )
            elif "(" in text and _TRANSFORMER_LIKE.fullmatch(text):
                self._warn(
                    WARN_COMPILE,
                    f"'{text}' may be a valid field transformer misused as a const string value",
                    v.pos,
                )

    def _is_field(self, text: str) -> bool:
        name, _, arg = text.partition("[")
        has = getattr(self.registry, "has", None)
        if has is not None:
            return bool(has(name))
        try:
            self.registry.bind(name, arg[:-1] if arg else None)
        except FieldError:
            return False
        return True

    def _field_to_field(self, node: Check, op: str, lhs: _Operand) -> Predicate:
        rhs = self._operand(node.rhs)
        if op in ("pmatch", "regex"):
            raise CompileError(f"'{node.op}' operator does not support a field on the right-hand side", node.pos)
        if lhs.type == "ipnet":
            raise CompileError("field-to-field comparison is not supported for IP network fields", node.pos)
        for side, ref in ((lhs, node.lhs), (rhs, node.rhs)):
            if NO_RHS in side.flags or side.any_of or side.either:
                raise CompileError(
                    f"field '{side.name}' cannot be used in a field-to-field comparison",
                    getattr(ref, "pos", node.pos),
                )
        same_type = lhs.type == rhs.type or (lhs.type in NUMERIC_TYPES and rhs.type in NUMERIC_TYPES)
        if not same_type or lhs.is_list != rhs.is_list:
            raise CompileError(
                f"field-to-field comparison between incompatible types: {lhs.name} ({lhs.type}) "
                f"and {rhs.name} ({rhs.type})",
                node.pos,
            )
        test2 = _pair_test(op, lhs.type, lhs.is_list)
        get, rget = lhs.get, rhs.get

        # Hot path: one closure per field-to-field check.
        def check(evt: Any) -> bool:
            v = get(evt)
            if v is None:
                return False
            w = rget(evt)
            return w is not None and test2(v, w)

        return check


# ----------------------------------------------------------- helpers


# Checks the generated expression evaluates itself (see _Compiler._source).
_INLINE_OPS = {
    "=": "==", "!=": "!=", "in": "in", "intersects": "in", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
    "contains": "contains", "startswith": "startswith", "endswith": "endswith",
}
_INLINE_TYPES = frozenset({"string", "int", "uint", "bool", "port", "reltime", "abstime", "ipaddr"})


def _inlinable(predicate: Predicate, kind: str, get: Callable, const: Any) -> Predicate:
    predicate.inline = (kind, get, const)  # type: ignore[attr-defined]
    predicate.on_value = (get, None)  # type: ignore[attr-defined]
    return predicate


def _on_value(predicate: Predicate, get: Callable, test: Callable[[Any], bool]) -> Predicate:
    """Mark ``predicate(evt) == test(get(evt))``, test taking None too: compile_plan memoises get."""
    predicate.on_value = (get, test)  # type: ignore[attr-defined]
    return predicate


def _domain_check(node: Check, op: str, address: Callable) -> Predicate:
    """fd.sip.name and friends: the socket address against the RHS names' addresses."""
    if op == "exists":
        return lambda evt: address(evt) is not None
    if op not in ("=", "!=", "in", "intersects") or not isinstance(node.rhs, (Value, ListValue)):
        raise CompileError("IP filter only supports '=' and '!='", node.pos)
    names = [v.text for v in node.rhs.items] if isinstance(node.rhs, ListValue) else [node.rhs.text]
    domains = DomainSet(names)

    # Hot path: one set lookup; the set fills in when the background lookups finish.
    if op == "!=":

        def check_differs(evt: Any) -> bool:
            a = address(evt)
            return a is not None and a not in domains.addresses

        check_differs.domains = domains  # type: ignore[attr-defined]
        return check_differs

    def check_resolves(evt: Any) -> bool:
        a = address(evt)
        return a is not None and a in domains.addresses

    check_resolves.domains = domains  # type: ignore[attr-defined]
    return check_resolves


def _depth(node, level: int = 0) -> int:
    if isinstance(node, (And, Or)):
        return max(_depth(c, level + 1) for c in node.children)
    if isinstance(node, Not):
        return _depth(node.child, level + 1)
    return level


def _is_type_check(node) -> bool:
    return (
        isinstance(node, Check)
        and isinstance(node.lhs, FieldRef)
        and node.lhs.name == "evt.type"
        and node.modifier is None
    )


def _cheap_first(children: tuple) -> list:
    """evt.type checks first (stable): cheap, and they decide most events."""
    return sorted(children, key=lambda c: 0 if _is_type_check(c) else 1)


def _transformer_getter(spec, getters: list[Callable], arg: str | None) -> Callable:
    func = spec.func
    if spec.takes_field_arg:
        func = partial(_call_with_arg, spec.func, arg)
    if len(getters) == 1:
        g = getters[0]

        # Hot path: transformer over one field.
        def get1(evt: Any) -> Any:
            v = g(evt)
            return None if v is None else func(v)

        return get1

    def getn(evt: Any) -> Any:
        values = []
        for g in getters:
            v = g(evt)
            if v is None:
                return None
            values.append(v)
        return func(*values)

    return getn


def _call_with_arg(func: Callable, arg: str | None, *values: Any) -> Any:
    return func(*values, arg)


def _in_net(net: Any) -> Callable[[Any], bool]:
    def test(v: Any) -> bool:
        try:
            if hasattr(v, "network_address"):  # a network value: inside the RHS network
                return v.version == net.version and v.subnet_of(net)
            return v in net
        except (TypeError, AttributeError):  # None or a non-address value: not inside
            return False

    return test


def _one_test(op: str, ftype: str, r: Any, node: Check) -> Callable[[Any], bool]:
    """The test ``value <op> r`` for one converted constant r."""
    if op == "=":
        return _in_net(r) if ftype == "ipnet" else partial(operator.eq, r)
    if op == "!=":
        if ftype == "ipnet":
            inside = _in_net(r)
            return lambda v: not inside(v)
        return partial(operator.ne, r)
    if op == "<":
        return partial(operator.gt, r)
    if op == "<=":
        return partial(operator.ge, r)
    if op == ">":
        return partial(operator.lt, r)
    if op == ">=":
        return partial(operator.le, r)
    if op in ("contains", "bcontains"):
        return lambda v: r in v
    if op == "icontains":
        low = ascii_lower(r)
        return lambda v: low in ascii_lower(v)
    if op in ("startswith", "bstartswith"):
        return lambda v: v.startswith(r)
    if op == "endswith":
        return lambda v: v.endswith(r)
    if op in ("glob", "iglob"):
        return make_glob(r, op == "iglob")
    if op == "regex":
        try:
            return make_regex(r)
        except OperatorError as exc:
            raise CompileError(str(exc), getattr(node.rhs, "pos", node.pos)) from None
    raise CompileError(f"operator '{op}' is not supported here", node.pos)


def _single_test(op: str, ftype: str, consts: list[Any], rhs_is_list: bool, node: Check):
    if op in ("in", "intersects"):
        if ftype == "ipnet":
            nets = [_in_net(c) for c in consts]
            return lambda v: any(t(v) for t in nets)
        members = frozenset(consts)
        return members.__contains__
    if op == "pmatch":
        return make_pmatch(consts)
    if len(consts) != 1:
        raise CompileError(f"'{node.op}' expects a single value, not a list", node.pos)
    return _one_test(op, ftype, consts[0], node)


def _modifier_test(modifier: str, op: str, ftype: str, consts: list[Any], pos: int):
    if ftype in IP_TYPES and op != "!=":
        op = "="  # on IP and network types a modified operator degrades to equality
    dummy = Check(FieldRef("_"), op, None, None, pos)
    tests = tuple(_one_test(op, ftype, c, dummy) for c in consts)
    if modifier == "anyof" and ftype == "string" and consts and all(isinstance(c, str) for c in consts):
        # Hot path: merged or-chains (engine.merge_or_checks) land here; one C call instead of N.
        if op in ("startswith", "endswith"):
            tup = tuple(consts)
            return (lambda v: v.startswith(tup)) if op == "startswith" else (lambda v: v.endswith(tup))
        if op in ("contains", "icontains"):
            texts = consts if op == "contains" else [ascii_lower(c) for c in consts]
            search = re.compile("|".join(re.escape(c) for c in texts)).search
            if op == "contains":
                return lambda v: search(v) is not None
            return lambda v: search(ascii_lower(v)) is not None
    if modifier == "anyof":
        return lambda v: any(t(v) for t in tests)
    if modifier == "allof":
        return lambda v: all(t(v) for t in tests)
    if modifier == "oneof":
        return lambda v: sum(1 for t in tests if t(v)) == 1
    raise CompileError(f"unknown modifier '{modifier}'", pos)


def _wrap(get: Callable, test: Callable[[Any], bool], lhs: _Operand, op: str) -> Predicate:
    # Hot path: these closures run per event; no lookups beyond locals.
    if lhs.any_of:

        def any_value(v: Any) -> bool:
            return v is not None and any(map(test, v))

        def check_any(evt: Any) -> bool:
            v = get(evt)
            return v is not None and any(map(test, v))

        return _on_value(check_any, get, any_value)
    if lhs.either:
        if op == "!=":

            def both_values(v: Any) -> bool:
                if v is None:
                    return False
                if not isinstance(v, (list, tuple)):
                    return test(v)
                # an endpoint without a value is missing: it neither differs nor matches
                known = [x for x in v if x is not None]
                return bool(known) and all(map(test, known))

            def check_both(evt: Any) -> bool:
                return both_values(get(evt))

            return _on_value(check_both, get, both_values)

        def either_value(v: Any) -> bool:
            if v is None:
                return False
            if not isinstance(v, (list, tuple)):
                return test(v)
            return any(test(x) for x in v if x is not None)

        def check_either(evt: Any) -> bool:
            return either_value(get(evt))

        return _on_value(check_either, get, either_value)

    def check(evt: Any) -> bool:
        v = get(evt)
        return v is not None and test(v)

    return _inlinable(check, "call", get, test)


def _list_check(op: str, get: Callable, members: frozenset) -> Predicate:
    # Hot path: list-typed fields (fd.types, getopt(...)).
    if op == "in":

        def subset(v: Any) -> bool:
            return bool(v) and all(x in members for x in v)

        return _on_value(lambda evt: subset(get(evt)), get, subset)

    def intersects(v: Any) -> bool:
        return bool(v) and any(x in members for x in v)

    return _on_value(lambda evt: intersects(get(evt)), get, intersects)


def _pair_test(op: str, ftype: str, is_list: bool) -> Callable[[Any, Any], bool]:
    """``v <op> w`` for a field-to-field comparison (w known per event)."""
    if is_list:
        if op == "in":
            return lambda v, w: bool(v) and set(v) <= set(w)
        if op == "intersects":
            return lambda v, w: bool(set(v) & set(w))
    table: dict[str, Callable[[Any, Any], bool]] = {
        "=": operator.eq,
        "!=": operator.ne,
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
        "contains": lambda v, w: w in v,
        "bcontains": lambda v, w: w in v,
        "icontains": lambda v, w: ascii_lower(w) in ascii_lower(v),
        "startswith": lambda v, w: v.startswith(w),
        "bstartswith": lambda v, w: v.startswith(w),
        "endswith": lambda v, w: v.endswith(w),
        "glob": lambda v, w: cached_glob(w)(v),
        "iglob": lambda v, w: cached_glob(w, True)(v),
        "in": operator.eq,
        "intersects": operator.eq,
    }
    fn = table.get(op)
    if fn is None:
        raise CompileError(f"'{op}' operator does not support a field on the right-hand side")
    return fn


# ------------------------------------------------------------ evaluation plans

_UNSET = object()  # "not computed yet" for the memo locals of a plan function


def compile_plan(
    registry,
    evtype: str,
    shared: list,
    rules: list[tuple[tuple[int, ...], Any]],
    first: bool,
) -> Callable[[Any], Any]:
    """One Python function evaluating every rule of one event type: ``run(evt)`` returns the
    indices of the matching ``rules`` (a tuple of the first only when ``first``).

    ``rules[k] = (shared ids, rest)``: rule k matches when each ``shared[id]`` node and the
    ``rest`` node (None: nothing more) hold. Inside the function each field is extracted at most
    once per event (a local filled on first use), each shared node is evaluated at most once, and
    checks on ``evt.type``/``evt.num`` are decided for ``evtype`` at generation time. Checks are
    pure, so this gives the result of evaluating every rule's condition on its own.
    """
    return _PlanWriter(registry, evtype).function(shared, rules, first)


class _PlanWriter:
    """Writes the source of one plan function.

    Fields live in locals ``f0, f1 ...`` (``U`` until extracted); shared nodes and guards in
    ``c0 ...``/``g0 ...`` memo locals. The writer tracks which field locals are certainly
    assigned at each point of the straight-line code (``known``): an and/or evaluates its first
    child always, and each later child only after the earlier ones; a memo's expression ran
    either here or earlier in the same call. A known field is read as the bare local, others
    through ``(f if f is not U else (f := G(evt)))``.
    """

    def __init__(self, registry, evtype: str) -> None:
        self.compiler = _Compiler(registry, None)
        self.evtype = evtype
        self.ns: dict[str, Any] = {"U": _UNSET}
        self.names: dict[int, str] = {}  # id(object) -> global name in ns
        self.fields: dict[str, str] = {}  # field key -> local name
        self.keep: list[Any] = []  # objects named in ns (ids stay valid)

    def _name(self, obj: Any, prefix: str) -> str:
        name = self.names.get(id(obj))
        if name is None:
            name = self.names[id(obj)] = f"{prefix}{len(self.names)}"
            self.ns[name] = obj
            self.keep.append(obj)
        return name

    def _field(self, key: str, get: Callable, known: set) -> tuple[str, str]:
        """(value expression, local name) of a field."""
        local = self.fields.get(key)
        if local is None:
            local = self.fields[key] = f"f{len(self.fields)}"
            self.ns[f"G{local}"] = get
        if local in known:
            return local, local
        return f"({local} if {local} is not U else ({local} := G{local}(evt)))", local

    def _is_cheap(self, node) -> bool:
        """A single check written inline without a call: recomputing it costs no more than a memo."""
        if not isinstance(node, Check) or _is_type_check(node):
            return isinstance(node, Check)
        predicate = self.compiler._check(node)
        inline = getattr(predicate, "inline", None)
        return getattr(predicate, "field_key", None) is not None and inline is not None and inline[0] != "call"

    def function(self, shared: list, rules: list, first: bool) -> Callable[[Any], Any]:
        cheap = [self._is_cheap(n) for n in shared]
        memos: list[str] = []  # memo locals, in order of creation

        def shared_part(sid: int, known: set) -> tuple[str, set]:
            src, must = self.expr(shared[sid], 0, known)
            if src in ("True", "False") or cheap[sid]:
                return src, must
            name = f"c{sid}"
            if name not in memos:
                memos.append(name)
            return f"({name} if {name} is not U else ({name} := {src}))", must

        # Guards: the conjunction of a rule's shared checks (a macro such as open_read, often the
        # same for many rules) is memoised as a whole, so that a rule whose guard failed for this
        # event costs one test. A guard reuses the memo of its longest prefix that is a guard too.
        fulls = {sids for sids, _rest in rules if len(sids) > 1}
        uses = {t: sum(1 for sids, _rest in rules if sids[: len(t)] == t) for t in fulls}
        guard_names: dict[tuple, str] = {}

        def conj(parts: list) -> tuple[str, set]:
            """and-join (src, must) parts, with constant folding; must = the first part's."""
            srcs = [p for p, _m in parts if p != "True"]
            if "False" in srcs:
                return "False", set()
            musts = [m for p, m in parts if p != "True"]
            return (" and ".join(srcs) if srcs else "True"), (musts[0] if musts else set())

        def guard(sids: tuple, known: set) -> list[tuple[str, set]]:
            n = next((n for n in range(len(sids), 1, -1) if uses.get(sids[:n], 0) > 1), 0)
            parts: list[tuple[str, set]] = []
            k = set(known)
            if n:
                prefix = sids[:n]
                inner_parts = guard(prefix[:-1], k)
                for _p, m in inner_parts:
                    k |= m
                inner_parts.append(shared_part(prefix[-1], k))
                src, must = conj(inner_parts)
                if src not in ("True", "False"):
                    name = guard_names.get(prefix)
                    if name is None:
                        name = guard_names[prefix] = f"g{len(guard_names)}"
                        memos.append(name)
                    src = f"({name} if {name} is not U else ({name} := ({src})))"
                parts.append((src, must))
                k |= must
            for sid in sids[n:]:
                part = shared_part(sid, k)
                parts.append(part)
                k |= part[1]
            return parts

        body = []
        known: set = set()
        for k, (sids, rest) in enumerate(rules):
            parts = guard(sids, known)
            if rest is not None:
                kk = set(known)
                for _p, m in parts:
                    kk |= m
                parts.append(self.expr(rest, 0, kk))
            cond, must = conj(parts)
            if cond == "False":
                continue
            body.append(f"    if {cond}:")
            body.append(f"        return ({k},)" if first else f"        out.append({k})")
            known |= must  # the condition ran: its first part's fields are extracted from here on
        head = ["def run(evt):"] + [f"    # {local}: {key}" for key, local in self.fields.items()]
        memo = memos + list(self.fields.values())
        if memo:
            head.append("    " + " = ".join(memo) + " = U")
        if not first:
            head.append("    out = []")
        tail = ["    return ()" if first else "    return out"]
        src = "\n".join(head + body + tail) + "\n"
        exec(compile(src, f"<pdigpy plan {self.evtype}>", "exec"), self.ns)  # noqa: S102 - generated above
        run = self.ns["run"]
        run.source = src  # for debugging and tests
        return run

    def expr(self, node, depth: int, known: set) -> tuple[str, set]:
        """(Python source, fields certainly extracted by it) for ``node``; evt.type/evt.num checks
        are decided for this event type. ``known`` is not changed."""
        if depth > _MAX_SOURCE_DEPTH:  # Python limits nesting: deep subtrees stay closures
            return f"{self._name(self.compiler.compile(node), 'P')}(evt)", set()
        if isinstance(node, Check):
            return self._check_source(node, known)
        if isinstance(node, (And, Or)):
            decisive, neutral = ("False", "True") if isinstance(node, And) else ("True", "False")
            parts = []
            must: set | None = None
            k = known
            for child in _cheap_first(node.children):
                src, m = self.expr(child, depth + 1, k)
                if src == decisive:  # checks are pure: the earlier children need not run
                    return decisive, set()
                if src != neutral:
                    parts.append(src)
                    if must is None:
                        must = m
                    k = k | m
            if not parts:
                return neutral, set()
            joiner = " and " if isinstance(node, And) else " or "
            return (parts[0] if len(parts) == 1 else "(" + joiner.join(parts) + ")"), must or set()
        if isinstance(node, Not):
            src, m = self.expr(node.child, depth + 1, known)
            if src in ("True", "False"):
                return ("False" if src == "True" else "True"), set()
            return f"(not {src})", m
        if isinstance(node, MacroRef):
            raise CompileError(f"Undefined macro '{node.name}' used in filter.", node.pos)
        raise CompileError(f"unexpected node in condition: {type(node).__name__}")

    def _check_source(self, node: Check, known: set) -> tuple[str, set]:
        from pdigpy.engine.index import static_truth

        truth = static_truth(node, self.evtype)
        if truth is not None:
            return str(truth), set()
        predicate = self.compiler._check(node)
        key = getattr(predicate, "field_key", None)
        if key is None:
            return f"{self._name(predicate, 'P')}(evt)", set()
        get, test = predicate.on_value
        value, v = self._field(key, get, known)
        must = {v}
        inline = getattr(predicate, "inline", None)
        if inline is None:
            return f"{self._name(test, 'T')}({value})", must
        kind, _get, const = inline
        if kind == "exists":
            return f"({value} is not None)", must
        k = self._name(const, "K") if const is not None else "None"
        if kind in ("==", "!=", "<", "<=", ">", ">="):
            return f"({value} is not None and {v} {kind} {k})", must
        if kind == "in":
            return f"({value} is not None and {v} in {k})", must
        if kind == "contains":
            return f"({value} is not None and {k} in {v})", must
        if kind == "call":
            return f"({value} is not None and {k}({v}))", must
        return f"({value} is not None and {v}.{kind}({k}))", must  # startswith / endswith

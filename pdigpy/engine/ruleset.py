"""Lists, macros and rules: collecting definitions and resolving them into compiled rules.

Two stages, as in Falco:

1. **Collect** (:class:`RuleCollector`): each declaration read from a file is
   defined, redefined, appended to or overridden. Every such step bumps a
   global counter; an object keeps the ``index`` of its first definition (its
   evaluation order) and gets a new ``visibility`` on every change (what it can
   see when resolving names).
2. **Resolve** (:func:`compile_ruleset`), over everything collected so far:
   lists expand earlier lists one level deep; every condition gets the lists
   substituted *as text* before parsing; macros are parsed (even unused ones)
   and expanded as AST copies (a macro sees macros first defined before its
   visibility, a rule sees all); exceptions become ``and not (...)`` text;
   outputs are validated; conditions are compiled and their event types
   computed. The first error stops the resolution (Falco's behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from pdigpy.engine.ast import And, Check, FieldRef, MacroRef, Node, Not, Or, Transformer
from pdigpy.engine.errors import Context, FileResult, RuleLoadError
from pdigpy.engine.index import EventTypes, rule_event_types
from pdigpy.engine.loader import (
    Entry,
    ExceptionDecl,
    ListDecl,
    MacroDecl,
    PluginRequirement,
    RuleDecl,
    RuleUpdate,
    parse_priority,
    parse_semver,
)
from pdigpy.engine.priority import Priority

if TYPE_CHECKING:
    from pdigpy.events.model import Event

ENGINE_VERSION = (0, 62, 0)  # Falco 0.44's engine version: the rules language we implement
KNOWN_SOURCES = frozenset({"syscall"})
# Plugins whose fields pdigpy provides itself (the container plugin's container.* and k8s.* fields).
BUILTIN_PLUGINS = frozenset({"container"})
NO_EVTTYPE_THRESHOLD = 50  # more event names than this (or no restriction at all) -> LOAD_NO_EVTTYPE
NO_EVTTYPE_MSG = "Rule matches too many evt.type values. This has a significant performance penalty."

ERROR_NO_PREVIOUS_MACRO = "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists"
ERROR_NO_PREVIOUS_LIST = "List uses 'append' or 'override.items: append' but no list by that name already exists"
ERROR_NO_PREVIOUS_RULE_APPEND = "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists"
ERROR_NO_PREVIOUS_RULE_REPLACE = (
    "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists"
)

_OPERATORS = frozenset(
    "= == != < <= > >= contains icontains bcontains startswith bstartswith endswith glob iglob regex "
    "in intersects pmatch exists".split()
)
_MODIFIABLE = frozenset("= == != contains icontains bcontains startswith bstartswith endswith glob iglob regex".split())
_MODIFIERS = frozenset(("oneof", "anyof", "allof"))
_LIST_OPERATORS = frozenset(("in", "intersects", "pmatch"))


def _split_modifier(op: str) -> tuple[str, str | None]:
    parts = op.split()
    if len(parts) == 2 and parts[0] in _MODIFIABLE and parts[1] in _MODIFIERS:
        return parts[0], parts[1]
    return op.strip(), None


def is_operator_defined(op: str) -> bool:
    base, mod = _split_modifier(op)
    return mod is not None or base in _OPERATORS


def is_list_operator(op: str) -> bool:
    base, mod = _split_modifier(op)
    return mod is not None or base in _LIST_OPERATORS


# --- collected records ------------------------------------------------------


@dataclass(slots=True)
class ListInfo:
    """A list as collected across the rules files (appends and overrides applied)."""

    name: str
    items: list[str]
    ctx: Context
    index: int = 0
    visibility: int = 0


@dataclass(slots=True)
class MacroInfo:
    """A macro as collected across the rules files (appends and overrides applied)."""

    name: str
    cond: str
    ctx: Context
    cond_ctx: Context
    index: int = 0
    visibility: int = 0


@dataclass(slots=True)
class ExceptionInfo:
    """A rule's exception as collected, validated and ready to append to its condition."""

    name: str
    ctx: Context
    fields: Entry
    comps: Entry
    values: list[Entry] = field(default_factory=list)


@dataclass(slots=True)
class RuleInfo:
    """A rule as collected across the rules files, before its condition is compiled."""

    name: str
    ctx: Context
    cond: str
    cond_ctx: Context
    output: str
    output_ctx: Context
    desc: str
    priority: Priority
    source: str = "syscall"
    enabled: bool = True
    warn_evttypes: bool = True
    skip_if_unknown_filter: bool = False
    capture: bool = False
    capture_duration: int = 0
    tags: set[str] = field(default_factory=set)
    exceptions: list[ExceptionInfo] = field(default_factory=list)
    unknown_source: bool = False
    index: int = 0
    visibility: int = 0


@dataclass(slots=True, eq=False)
class Rule:
    """A compiled rule, as the engine evaluates it and ``-L`` lists it."""

    name: str
    desc: str
    condition: str  # as written, after appends and overrides
    output: str  # as written, after appends and overrides
    priority: Priority
    source: str
    enabled: bool  # the rules files' verdict (enabled key, overrides); the engine's selection may differ
    tags: tuple[str, ...]  # sorted, unique
    index: int  # evaluation order: the position of the first definition
    full_condition: str  # with exceptions appended: the text that was compiled
    ast: Node  # macro-expanded
    event_types: EventTypes
    output_format: str  # output plus append_output extras: what is rendered
    match: Callable[[Event], bool]
    formatter: Any
    exception_names: tuple[str, ...] = ()
    exception_fields: tuple[str, ...] = ()
    macros: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    warn_evttypes: bool = True
    skip_if_unknown_filter: bool = False
    capture: bool = False
    capture_duration: int = 0


@dataclass(slots=True)
class CompiledRuleset:
    """The compiled rules with their lists and macros, and what refers to what for ``-L``."""

    rules: list[Rule]
    lists: dict[str, list[str]]  # compiled items
    macros: dict[str, Node]  # resolved ASTs
    used_lists: set[str]
    used_macros: set[str]
    # for -L: what each macro/list refers to directly
    macro_macros: dict[str, tuple[str, ...]] = field(default_factory=dict)
    macro_lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    list_lists: dict[str, tuple[str, ...]] = field(default_factory=dict)


# --- the collector ----------------------------------------------------------


def _fail(msg: str, ctx: Context, code: str = "LOAD_ERR_VALIDATE") -> RuleLoadError:
    return RuleLoadError(code, msg, ctx)


class RuleCollector:
    """Falco's collector: definitions in first-definition order, with index/visibility bookkeeping."""

    def __init__(self, check_lhs: Callable[[str], bool] | None = None):
        self.lists: dict[str, ListInfo] = {}
        self.macros: dict[str, MacroInfo] = {}
        self.rules: dict[str, RuleInfo] = {}
        self.required_engine_version: tuple[int, int, int] = (0, 0, 0)
        self.required_engine_version_text = "0.0.0"
        self.plugin_requirements: list[PluginRequirement] = []
        self.counter = 0
        self.result: FileResult | None = None  # where warnings of the file being read go
        self.check_lhs = check_lhs  # is this exception field valid for the syscall source?

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _define(self, table: dict, info) -> None:
        prev = table.get(info.name)
        if prev is not None:
            info.index = prev.index
            info.visibility = self._next()
        else:
            info.index = info.visibility = self._next()
        table[info.name] = info  # dict keeps the first definition's position

    # -- versions

    def define_engine_version(self, text: str, version: tuple[int, int, int], ctx: Context) -> None:
        if version[0] != ENGINE_VERSION[0] or version > ENGINE_VERSION:
            raise _fail(
                f"Rules require engine version {'.'.join(map(str, version))}, but engine version is "
                f"{'.'.join(map(str, ENGINE_VERSION))}",
                ctx,
            )
        if version > self.required_engine_version:
            self.required_engine_version = version
            self.required_engine_version_text = text

    def define_plugin_requirement(self, req: PluginRequirement) -> None:
        for name, version in req.alternatives:
            if parse_semver(version) is None:
                raise _fail(f"Invalid required version '{version}' for plugin '{name}'", req.ctx)
        self.plugin_requirements.append(req)

    # -- lists and macros

    def define_list(self, decl: ListDecl) -> None:
        self._define(self.lists, ListInfo(decl.name, list(decl.items), decl.ctx))

    def append_list(self, decl: ListDecl) -> None:
        prev = self.lists.get(decl.name)
        if prev is None:
            raise _fail(ERROR_NO_PREVIOUS_LIST, decl.ctx)
        prev.visibility = self._next()
        prev.items.extend(decl.items)

    def define_macro(self, decl: MacroDecl) -> None:
        self._define(self.macros, MacroInfo(decl.name, decl.cond, decl.ctx, decl.cond_ctx))

    def append_macro(self, decl: MacroDecl) -> None:
        prev = self.macros.get(decl.name)
        if prev is None:
            raise _fail(ERROR_NO_PREVIOUS_MACRO, decl.ctx)
        prev.cond = prev.cond + " " + decl.cond
        prev.visibility = self._next()

    # -- rules

    def define_rule(self, decl: RuleDecl) -> None:
        prev = self.rules.get(decl.name)
        if prev is not None and prev.source != decl.source:
            raise _fail("Rule has been re-defined with a different source", decl.ctx)
        info = RuleInfo(
            name=decl.name, ctx=decl.ctx, cond=decl.cond, cond_ctx=decl.cond_ctx or decl.ctx, output=decl.output,
            output_ctx=decl.output_ctx or decl.ctx, desc=decl.desc, priority=parse_priority(decl.priority),
            source=decl.source, enabled=decl.enabled, warn_evttypes=decl.warn_evttypes,
            skip_if_unknown_filter=decl.skip_if_unknown_filter, capture=decl.capture,
            capture_duration=decl.capture_duration, tags=set(decl.tags),
        )
        if decl.source not in KNOWN_SOURCES:
            info.unknown_source = True
            if self.result is not None:
                self.result.add_warning("LOAD_UNKNOWN_SOURCE", f"Unknown source {decl.source}, skipping", decl.ctx)
        for ex in decl.exceptions:
            info.exceptions.append(self._validate_exception(ex, info.unknown_source))
        self._define(self.rules, info)

    def _check_source(self, prev: RuleInfo, upd: RuleUpdate) -> None:
        if not prev.unknown_source and prev.source not in KNOWN_SOURCES:
            raise _fail(f"Unknown source {prev.source}", upd.ctx)

    def append_rule(self, upd: RuleUpdate) -> None:
        prev = self.rules.get(upd.name)
        if prev is None:
            raise _fail(ERROR_NO_PREVIOUS_RULE_APPEND, upd.ctx)
        v = upd.values
        if not v:
            raise _fail("Appended rule must have exceptions or condition property", upd.ctx)
        self._check_source(prev, upd)
        if v.get("condition"):
            prev.cond = prev.cond + " " + v["condition"]
        if v.get("output"):
            prev.output = prev.output + " " + v["output"]
        if v.get("desc"):
            prev.desc = prev.desc + " " + v["desc"]
        if "tags" in v:
            prev.tags |= v["tags"]
        for ex in v.get("exceptions", ()):
            old = next((e for e in prev.exceptions if e.name == ex.name), None)
            if old is None:
                if ex.fields is None:
                    raise _fail("Rule exception must have fields property with a list of fields", ex.ctx)
                if not ex.values:
                    raise _fail("Rule exception must have values property with a list of values", ex.ctx)
                prev.exceptions.append(self._validate_exception(ex, prev.unknown_source))
            else:
                if ex.fields is not None:
                    raise _fail("Can not append exception fields to existing exception, only values", ex.ctx)
                if ex.comps is not None:
                    raise _fail("Can not append exception comps to existing exception, only values", ex.ctx)
                old.values.extend(ex.values)
        prev.visibility = self._next()

    def replace_rule(self, upd: RuleUpdate) -> None:
        prev = self.rules.get(upd.name)
        if prev is None:
            raise _fail(ERROR_NO_PREVIOUS_RULE_REPLACE, upd.ctx)
        v = upd.values
        if not v:
            raise _fail("The rule must have at least one property", upd.ctx)
        self._check_source(prev, upd)
        if "condition" in v:
            prev.cond = v["condition"]
            prev.cond_ctx = upd.cond_ctx or prev.cond_ctx
        if "output" in v:
            prev.output = v["output"].strip()
            prev.output_ctx = upd.output_ctx or prev.output_ctx
        if "desc" in v:
            prev.desc = v["desc"]
        if "tags" in v:
            prev.tags = set(v["tags"])
        if "exceptions" in v:
            new = []
            for ex in v["exceptions"]:
                if ex.fields is None:
                    raise _fail("Rule exception must have fields property with a list of fields", ex.ctx)
                new.append(self._validate_exception(ex, prev.unknown_source))
            prev.exceptions = new
        if "priority" in v:
            prev.priority = parse_priority(v["priority"])
        for key, attr in (
            ("enabled", "enabled"), ("warn_evttypes", "warn_evttypes"),
            ("skip-if-unknown-filter", "skip_if_unknown_filter"), ("capture", "capture"),
            ("capture_duration", "capture_duration"),
        ):
            if key in v:
                setattr(prev, attr, v[key])
        prev.visibility = self._next()

    def enable_rule(self, name: str, enabled: bool, ctx: Context) -> None:
        prev = self.rules.get(name)
        if prev is None:
            raise _fail("Rule has 'enabled' key but no rule by that name already exists", ctx)
        prev.enabled = enabled

    # -- exceptions

    def _validate_exception(self, ex: ExceptionDecl, unknown_source: bool) -> ExceptionInfo:
        if ex.fields is None:
            raise _fail("Rule exception item must have fields property with a list of fields", ex.ctx)
        fields_, comps = ex.fields, ex.comps
        if fields_.is_list:
            if comps is None:
                comps = Entry(True, "", [Entry(False, "=") for _ in fields_.items])
            if not comps.is_list or len(fields_.items) != len(comps.items):
                raise _fail("Fields and comps lists must have equal length", ex.ctx)
            for c in comps.items:
                if c.is_list or not is_operator_defined(c.item):
                    raise _fail(f"'{c.item}' is not a supported comparison operator", ex.ctx)
            for f in fields_.items:
                if f.is_list:
                    raise _fail("Fields must be a list of strings", ex.ctx)
            if not unknown_source and self.check_lhs is not None:
                for f in fields_.items:
                    if not self.check_lhs(f.item):
                        raise _fail(f"'{f.item}' is not a supported filter field", ex.ctx)
        else:
            if comps is None:
                comps = Entry(False, "in")
            if comps.is_list:
                raise _fail("Fields and comps must both be strings", ex.ctx)
            base, mod = _split_modifier(comps.item)
            if base not in ("in", "pmatch", "intersects") and mod is None:
                raise _fail(
                    "When fields is a single value, comps must be one of (in, pmatch, intersects) or a modifier "
                    "operator (e.g. startswith oneof)",
                    ex.ctx,
                )
            if not unknown_source and self.check_lhs is not None and not self.check_lhs(fields_.item):
                raise _fail(f"'{fields_.item}' is not a supported filter field", ex.ctx)
        return ExceptionInfo(ex.name, ex.ctx, fields_, comps, list(ex.values))


# --- text transformations (Falco works on condition *text* here) -----------

_BLANKS = " \t\n\r"
_DELIMS = _BLANKS + "(),="


def quote_item(item: str) -> str:
    if " " in item and item[:1] not in ('"', "'"):
        return '"' + item + '"'
    return item


def paren_item(item: str) -> str:
    return item if item.startswith("(") else "(" + item + ")"


def substitute_list(cond: str, name: str, items: list[str], edits: list | None = None) -> tuple[str, bool]:
    """Replace every delimited occurrence of list ``name`` by its items (Falco's textual list expansion).

    ``edits`` receives (start, old length, new length, name position) per replacement, to map
    positions back."""
    if name not in cond:
        return cond, False
    sub = ", ".join(quote_item(i) for i in items)
    used = False
    start = cond.find(name)
    while start != -1:
        end = start + len(name)
        if (start == 0 or cond[start - 1] in _DELIMS) and (end >= len(cond) or cond[end] in _DELIMS):
            at = start
            while start > 0 and cond[start - 1] in _BLANKS:
                start -= 1
            while end < len(cond) and cond[end] in _BLANKS:
                end += 1
            if not sub:  # an empty list also takes one neighbouring comma away
                if start > 0 and cond[start - 1] == ",":
                    start -= 1
                elif end < len(cond) and cond[end] == ",":
                    end += 1
            head = cond[:start] + " " if start > 0 else ""
            cond = head + sub + " " + cond[end:]
            if edits is not None:
                edits.append((start, end - start, len(head) - start + len(sub) + 1, at))
            start = len(head) + len(sub)
            used = True
        start = cond.find(name, start + 1)
    return cond, used


def exception_condition(cond: str, exceptions: list[ExceptionInfo]) -> tuple[str, set[str]]:
    """``(C) and not E1 and not E2 ...`` as Falco builds it from the exceptions' values."""
    fields_used: set[str] = set()
    if not exceptions:
        return cond, fields_used  # positions in errors then match the condition as written
    out = "(" + cond + ")"
    for ex in exceptions:
        if not ex.fields.is_list:
            parts = []
            for val in ex.values:
                if val.is_list:
                    raise _fail("Expected values array to contain a list of strings", ex.ctx)
                parts.append(quote_item(val.item))
                fields_used.add(ex.fields.item)
            icond = f"({ex.fields.item} {ex.comps.item} ({', '.join(parts)}))" if parts else ""
        else:
            terms = []
            for values in ex.values:
                if not values.is_list or len(values.items) != len(ex.fields.items):
                    raise _fail("Fields and values lists must have equal length", ex.ctx)
                checks = []
                for f, c, v in zip(ex.fields.items, ex.comps.items, values.items):
                    if v.is_list:
                        rhs = "(" + ", ".join(quote_item(x.item) for x in v.items) + ")"
                    elif is_list_operator(c.item):
                        rhs = paren_item(v.item)
                    else:
                        rhs = quote_item(v.item)
                    checks.append(f"{f.item} {c.item.strip()} {rhs}")
                    fields_used.add(f.item)
                terms.append("(" + " and ".join(checks) + ")")
            icond = "(" + " or ".join(terms) + ")" if terms else ""
        if icond:
            out += " and not " + icond
    return out, fields_used


# --- macro expansion (AST) --------------------------------------------------


class MacroResolveError(Exception):
    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.message = message
        self.pos = pos


def resolve_macros(
    node: Node, macros, used: set[str], stack: tuple[str, ...] = (), done: set[int] | frozenset = frozenset()
) -> Node:
    """Replace macro references by the macros' ASTs, recursively; raises on unknown names and loops.

    ``done`` holds the identities of macro ASTs already free of references: they are inserted as
    they are (shared, never walked again), which keeps macros of macros linear."""
    if isinstance(node, MacroRef):
        ast = macros.get(node.name)
        if ast is None:
            raise MacroResolveError(f"Undefined macro '{node.name}' used in filter.", node.pos)
        if node.name in stack:
            raise MacroResolveError(f"reference loop in macro '{node.name}'", node.pos)
        used.add(node.name)
        if id(ast) in done:
            return ast
        return resolve_macros(ast, macros, used, stack + (node.name,), done)
    if isinstance(node, (And, Or)):
        kids = tuple(resolve_macros(c, macros, used, stack, done) for c in node.children)
        if all(a is b for a, b in zip(kids, node.children)):
            return node
        return node.__class__(kids, node.pos)  # And/Or; not dataclasses.replace: ~10x faster
    if isinstance(node, Not):
        child = resolve_macros(node.child, macros, used, stack, done)
        return node if child is node.child else Not(child, node.pos)
    return node  # a check: identifiers inside transformer arguments are never macros


class _VisibleMacros:
    """The macros a macro may use: those first defined before its own visibility (a mapping view)."""

    __slots__ = ("infos", "resolved", "parsed", "visibility")

    def __init__(self, infos: dict, resolved: dict, parsed: dict, visibility: int):
        self.infos, self.resolved, self.parsed, self.visibility = infos, resolved, parsed, visibility

    def get(self, name: str):
        info = self.infos.get(name)
        if info is None or info.index >= self.visibility:
            return None
        got = self.resolved.get(name)
        return got if got is not None else self.parsed[name]


MAX_CONDITION_NODES = 200_000


def expanded_size(node: Node, memo: dict | None = None) -> int:
    """Nodes of the condition as a tree. Expanded macros are shared subtrees, so a macro used twice
    by a macro used twice... is counted in linear time (memo by identity) though the tree may be huge.

    ``memo`` may be shared by the rules of one ruleset (their expanded macros are the same
    objects); it holds each node with its value, so that no identity is reused while it lives."""
    if memo is None:
        memo = {}

    def size(n) -> int:
        got = memo.get(("size", id(n)))
        if got is None:
            if isinstance(n, (And, Or)):
                value = 1 + sum(size(c) for c in n.children)
            elif isinstance(n, Not):
                value = 1 + size(n.child)
            else:
                value = 1
            memo[("size", id(n))] = (n, value)
            return value
        return got[1]

    return size(node)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    pos = max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def expr_ctx(ctx: Context, condition: str, pos: int, origin: tuple[str, list, int] | None = None) -> Context:
    """Context of a position in ``condition``; ``origin`` = (text as written, list edits, prefix
    length added by the exception wrapping) to locate it in the file."""
    line, col = _line_col(condition, pos)
    original = None
    if origin is not None:
        written, edits, shift = origin
        original = (written, unmap_position(pos, edits) - shift)
    return ctx.expression(condition, pos, line, col, original)


def operators_in(node: Node) -> list[str]:
    """The check operators of a condition, with their modifiers (for -L)."""
    out: list[str] = []

    def walk(n) -> None:
        if isinstance(n, (And, Or)):
            for c in n.children:
                walk(c)
        elif isinstance(n, Not):
            walk(n.child)
        elif isinstance(n, Check):
            out.append(n.op + (" " + n.modifier if n.modifier else ""))

    walk(node)
    return out


def fields_in(node: Node) -> list[FieldRef]:
    """Every field reference in a condition or an exception LHS (for validation and -L)."""
    out: list[FieldRef] = []

    def operand(x) -> None:
        if isinstance(x, FieldRef):
            out.append(x)
        elif isinstance(x, Transformer):
            for a in x.args:
                operand(a)
        elif hasattr(x, "field") and isinstance(getattr(x, "field"), FieldRef):
            out.append(x.field)

    def walk(n) -> None:
        if isinstance(n, (And, Or)):
            for c in n.children:
                walk(c)
        elif isinstance(n, Not):
            walk(n.child)
        elif isinstance(n, Check):
            operand(n.lhs)
            operand(n.rhs)

    walk(node)
    return out


def field_keys_in(node: Node, memo: dict[int, frozenset[str]] | None = None) -> frozenset[str]:
    """Every field a condition reads, as ``name`` or ``name[arg]``. Expanded macros are shared
    subtrees, so ``memo`` (node identity -> keys) lets many rules be walked in one pass."""
    memo = {} if memo is None else memo

    def key(f: FieldRef) -> str:
        return f.name if f.arg is None else f"{f.name}[{f.arg}]"

    def walk(n) -> frozenset[str]:
        got = memo.get(id(n))
        if got is not None:
            return got
        if isinstance(n, (And, Or)):
            out: set[str] = set()
            for c in n.children:
                out |= walk(c)
            got = frozenset(out)
        elif isinstance(n, Not):
            got = walk(n.child)
        else:
            got = frozenset(key(f) for f in fields_in(n))
        memo[id(n)] = got
        return got

    return walk(node)


# --- resolution -------------------------------------------------------------


@dataclass
class CompileEnv:
    """What resolution needs from the engine: the field registry and the memo tables that make reloads cheap."""

    registry: Any
    append_output: list = field(default_factory=list)  # format.AppendOutput entries
    condition_cache: dict = field(default_factory=dict)  # AST -> (match, [warnings]) | CompileError
    output_cache: dict = field(default_factory=dict)  # output text -> formatter | exception
    parse_cache: Any = None  # cache.ConditionCache: condition text -> AST, kept across runs


def _unknown_filter(msg: str) -> bool:
    low = msg.lower()
    return any(
        s in low for s in ("nonexistent field", "invalid formatting token", "unknown event type", "unknown filter",
                           "unknown field", "is not a valid field", "not a supported filter field")
    )


def _parse(text: str, ctx: Context, env: CompileEnv | None = None, origin: tuple | None = None) -> Node:
    cache = env.parse_cache if env is not None else None
    if cache is not None:
        node = cache.get(text)
        if node is not None:
            return node
    from pdigpy.engine.grammar import ParseError, parse_condition

    try:
        node = parse_condition(text)
        if cache is not None:
            cache.put(text, node)
        return node
    except ParseError as e:
        original = None
        if origin is not None:
            original = (origin[0], unmap_position(e.pos, origin[1]) - origin[2])
        raise RuleLoadError("LOAD_ERR_COMPILE_CONDITION", e.message, ctx.expression(text, e.pos, e.line, e.col, original))
    except RecursionError:
        raise RuleLoadError("LOAD_ERR_COMPILE_CONDITION", "exceeded max depth limit of 1000", ctx) from None


def _substitute_lists(cond: str, lists: dict[str, list[str]], used: set[str], edits: list | None = None) -> str:
    for name, items in lists.items():
        if name in cond:  # the common miss without a call: every condition meets every list
            cond, hit = substitute_list(cond, name, items, edits)
            if hit:
                used.add(name)
    return cond


def unmap_position(pos: int, edits: list) -> int:
    """A position in the substituted text -> the position in the text before substitution."""
    for start, old_len, new_len, at in reversed(edits):
        if pos >= start + new_len:
            pos += old_len - new_len
        elif pos > start:
            pos = at  # inside a list's items: point at the list's name
    return pos


def _formatter(env: CompileEnv, text: str, extra_fields: list):
    key = (text, repr(extra_fields))
    got = env.output_cache.get(key)
    if got is None:
        from pdigpy.engine.format import OutputFormatter

        try:
            got = OutputFormatter(text, env.registry, extra_fields)
        except Exception as e:  # any formatter complaint is an output error, reported with its message
            got = e
        env.output_cache[key] = got
    if isinstance(got, Exception):
        raise got
    return got


def _compile(env: CompileEnv, ast: Node):
    got = env.condition_cache.get(ast)
    if got is None:
        from pdigpy.engine.compiler import compile_condition

        warnings: list = []
        try:
            got = (compile_condition(ast, env.registry, warnings), warnings)
        except Exception as e:
            got = e
        env.condition_cache[ast] = got
    if isinstance(got, Exception):
        raise got
    return got


def _append_output(env: CompileEnv, info: RuleInfo, output: str) -> tuple[str, list]:
    """falco.yaml ``append_output``: (output with extra text, extra JSON fields) for this rule."""
    if not env.append_output:
        return output, []
    from pdigpy.engine.format import append_output_for

    suffix, extra = append_output_for(env.append_output, info.name, info.tags, env.registry, info.source)
    return output + suffix, list(extra)


def compile_ruleset(col: RuleCollector, res: FileResult, env: CompileEnv) -> CompiledRuleset | None:
    """Resolve everything collected so far; errors and warnings go to ``res``. None on error."""
    try:
        out = _resolve(col, res, env)
    except RuleLoadError as e:
        res.add_error(e.code, e.message, e.context)
        return None
    for name, info in col.macros.items():
        if name not in out.used_macros:
            res.add_warning("LOAD_UNUSED_MACRO", "Macro not referred to by any other rule/macro", info.ctx)
    for name, info in col.lists.items():
        if name not in out.used_lists:
            res.add_warning("LOAD_UNUSED_LIST", "List not referred to by any other rule/macro", info.ctx)
    return out


def _resolve(col: RuleCollector, res: FileResult, env: CompileEnv) -> CompiledRuleset:
    # 1. lists: an item naming an earlier-visible list is replaced by that list's raw items (one level)
    lists: dict[str, list[str]] = {}
    used_lists: set[str] = set()
    list_lists: dict[str, tuple[str, ...]] = {}
    for info in col.lists.values():
        items: list[str] = []
        refs: list[str] = []
        for item in info.items:
            ref = col.lists.get(item)
            if ref is not None and ref.index < info.visibility:
                used_lists.add(ref.name)
                refs.append(ref.name)
                items.extend(ref.items)
            else:
                items.append(item)
        lists[info.name] = items
        list_lists[info.name] = tuple(refs)

    # 2. macros: parse every one (even unused), then expand with each macro's visibility
    parsed: dict[str, Node] = {}
    macro_lists: dict[str, tuple[str, ...]] = {}
    for m in col.macros.values():
        mine: set[str] = set()
        edits: list = []
        text = _substitute_lists(m.cond, lists, mine, edits)
        parsed[m.name] = _parse(text, m.cond_ctx, env, (m.cond, edits, 0))
        used_lists |= mine
        macro_lists[m.name] = tuple(sorted(mine))
    macros: dict[str, Node] = {}
    used_macros: set[str] = set()
    macro_macros: dict[str, tuple[str, ...]] = {}
    done: set[int] = set()  # identities of resolved macro ASTs
    for m in col.macros.values():
        visible = _VisibleMacros(col.macros, macros, parsed, m.visibility)
        try:
            mine = set()
            macros[m.name] = resolve_macros(parsed[m.name], visible, mine, (), done)
            used_macros |= mine
            macro_macros[m.name] = tuple(sorted(mine))
            done.add(id(macros[m.name]))
        except MacroResolveError as e:
            edits = []
            text = _substitute_lists(m.cond, lists, set(), edits)
            ctx = m.ctx if m.cond_ctx.source is None else m.ctx.with_source(m.cond_ctx.source)
            raise RuleLoadError("LOAD_ERR_VALIDATE", e.message, expr_ctx(ctx, text, e.pos, (m.cond, edits, 0))) from None

    # 3. rules, in evaluation order
    rules: list[Rule] = []
    memo: dict = {}  # expanded_size / rule_event_types of subtrees shared by rules (expanded macros)
    for info in col.rules.values():
        if info.unknown_source:
            continue
        rule = _compile_rule(info, res, env, lists, used_lists, macros, used_macros, done, memo)
        if rule is not None:
            rules.append(rule)
    return CompiledRuleset(rules, lists, macros, used_lists, used_macros, macro_macros, macro_lists, list_lists)


def _compile_rule(info: RuleInfo, res: FileResult, env: CompileEnv, lists, used_lists, macros, used_macros, done,
                  memo: dict | None = None):
    condition, exception_fields = exception_condition(info.cond, info.exceptions)

    output = info.output
    if "%container.info" in output:
        output = output.replace("%container.info", "")
        res.add_warning(
            "LOAD_DEPRECATED_ITEM",
            "%container.info is deprecated and replaced by an empty string; add container fields with "
            "append_output instead",
            info.output_ctx,
        )
    output, extra = _append_output(env, info, output)
    try:
        formatter = _formatter(env, output, extra)
    except Exception as e:
        msg = str(e) or type(e).__name__
        if info.skip_if_unknown_filter and _unknown_filter(msg):
            res.add_warning("LOAD_UNKNOWN_FILTER", msg, info.output_ctx)
            return None
        raise RuleLoadError("LOAD_ERR_COMPILE_OUTPUT", msg, info.output_ctx) from None

    rule_lists: set[str] = set()
    edits: list = []
    text = _substitute_lists(condition, lists, rule_lists, edits)
    origin = (info.cond, edits, 1 if info.exceptions else 0)  # exceptions wrap the condition in "(...)"
    used_lists |= rule_lists
    ast = _parse(text, info.cond_ctx, env, origin)
    rule_macros: set[str] = set()
    try:
        ast = resolve_macros(ast, macros, rule_macros, (), done)
    except MacroResolveError as e:
        ctx = info.ctx if info.cond_ctx.source is None else info.ctx.with_source(info.cond_ctx.source)
        raise RuleLoadError("LOAD_ERR_VALIDATE", e.message, expr_ctx(ctx, text, e.pos, origin)) from None
    used_macros |= rule_macros
    size = expanded_size(ast, memo)
    if size > MAX_CONDITION_NODES:
        raise RuleLoadError(
            "LOAD_ERR_VALIDATE",
            f"Condition has {size} nodes after macro expansion (at most {MAX_CONDITION_NODES}); macros that use "
            "other macros many times multiply the condition's size",
            info.cond_ctx,
        )

    try:
        match, warnings = _compile(env, ast)
    except Exception as e:
        msg = getattr(e, "message", None) or str(e) or type(e).__name__
        ctx = expr_ctx(info.cond_ctx, text, max(0, getattr(e, "pos", 0) or 0), origin)
        if info.skip_if_unknown_filter and _unknown_filter(msg):
            res.add_warning("LOAD_UNKNOWN_FILTER", msg, ctx)
            return None
        raise RuleLoadError("LOAD_ERR_COMPILE_CONDITION", msg, ctx) from None
    for w in warnings:
        code = getattr(w, "code", None) or "LOAD_COMPILE_CONDITION"
        wctx = expr_ctx(info.cond_ctx, text, max(0, getattr(w, "pos", 0) or 0), origin)
        res.add_warning(code, getattr(w, "message", None) or str(w), wctx, getattr(w, "field", None))

    types = rule_event_types(ast, memo)
    if info.warn_evttypes and (types.complement or len(types.names) > NO_EVTTYPE_THRESHOLD):
        res.add_warning("LOAD_NO_EVTTYPE", NO_EVTTYPE_MSG, info.ctx)

    return Rule(
        name=info.name, desc=info.desc, condition=info.cond, output=info.output, priority=info.priority,
        source=info.source, enabled=info.enabled, tags=tuple(sorted(info.tags)), index=info.index,
        full_condition=condition, ast=ast, event_types=types, output_format=output, match=match,
        formatter=formatter, exception_names=tuple(e.name for e in info.exceptions),
        exception_fields=tuple(sorted(exception_fields)), macros=tuple(sorted(rule_macros)),
        lists=tuple(sorted(rule_lists)), warn_evttypes=info.warn_evttypes,
        skip_if_unknown_filter=info.skip_if_unknown_filter, capture=info.capture,
        capture_duration=info.capture_duration,
    )

"""Reading a rules file: YAML text -> list/macro/rule declarations handed to a collector.

This is Falco's *reader* stage. The YAML is composed into nodes (not Python
objects) so that every item, key and value keeps its line, column and offset
for error reports, and so that scalars keep their text as written (``80`` in a
list is the string "80", as Falco reads it). Booleans follow yaml-cpp
(true/false, yes/no, on/off).

Reading stops at the first error in a file (as Falco does); warnings
accumulate. The collector (:mod:`pdigpy.engine.ruleset`) receives each
declaration as soon as it is read, so that "append to nothing" errors stop the
file at the right item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pdigpy.engine.errors import Context, FileResult, RuleLoadError, ScalarSource

if TYPE_CHECKING:
    from yaml.nodes import Node as YamlNode

RGX_IDENTIFIER = "([a-zA-Z]+[a-zA-Z0-9_]*)"
RGX_BARESTR = "([^()\"'[:space:]=,]+)"
# Patterns go through re's own cache (compiled on first use): importing the loader must stay cheap.
_IDENTIFIER_RE = r"[a-zA-Z]+[a-zA-Z0-9_]*\Z"
_BARESTR_RE = r"[^()\"'\s=,]+\Z"

WARNING_APPEND = (
    "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead."
)
WARNING_ENABLED = (
    "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry "
    "under the 'override' key (i.e. 'enabled: replace')."
)
ERROR_OVERRIDE_APPEND = (
    "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. "
    "'condition: append') under 'override' instead."
)

# Keys each item kind understands; anything else is LOAD_UNKNOWN_KEY (Falco 0.44+).
KNOWN_KEYS = {
    "required_engine_version": {"required_engine_version"},
    "required_plugin_versions": {"required_plugin_versions"},
    "list": {"list", "items", "append", "override"},
    "macro": {"macro", "condition", "append", "override"},
    "rule": {
        "rule", "condition", "output", "desc", "priority", "source", "enabled", "tags", "exceptions",
        "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration", "append", "override",
    },
}
EXCEPTION_KEYS = {"name", "fields", "comps", "values"}

RULE_OVERRIDE_APPEND = ("condition", "output", "desc", "tags", "exceptions")
RULE_OVERRIDE_REPLACE = (
    "condition", "output", "desc", "priority", "tags", "exceptions", "enabled", "warn_evttypes",
    "skip-if-unknown-filter", "capture", "capture_duration",
)

_TRUE = {"y", "yes", "true", "on"}
_FALSE = {"n", "no", "false", "off"}
_MAX_FLOW_DEPTH = 200  # deeper YAML flow nesting is refused (libyaml recurses on the C stack)
_MAX_BLOCK_COLUMNS = 10000  # block nesting needs a column per level: libyaml copes with this many
_BLOCK_PREFIX = r"(?m)^ *(?:[-?] +)*"
_MAX_ENTRY_DEPTH = 64  # nested exception values
# Readings of shorter texts are not stored: embedded and test snippets would churn the cache
# directory, and they compose in well under a millisecond once PyYAML is imported.
_READ_CACHE_MIN = 2048


# --- declarations (what the reader hands to the collector) -------------------


@dataclass(slots=True)
class Entry:
    """An exception ``fields``/``comps``/``values`` entry: a scalar or a (nested) list."""

    is_list: bool = False
    item: str = ""
    items: list[Entry] = field(default_factory=list)


@dataclass(slots=True)
class ExceptionDecl:
    """A rule's exception as a rules file declares it, before validation."""

    name: str
    ctx: Context
    fields: Entry | None = None  # None: not given
    comps: Entry | None = None
    values: list[Entry] = field(default_factory=list)
    has_values: bool = False


@dataclass(slots=True)
class ListDecl:
    """A ``list`` item as a rules file declares it."""

    name: str
    items: list[str]
    ctx: Context


@dataclass(slots=True)
class MacroDecl:
    """A ``macro`` item as a rules file declares it."""

    name: str
    cond: str
    ctx: Context
    cond_ctx: Context


@dataclass(slots=True)
class RuleDecl:
    """A ``rule`` item as a rules file declares it (its first definition, before appends)."""

    name: str
    ctx: Context
    cond: str = ""
    cond_ctx: Context | None = None
    output: str = ""
    output_ctx: Context | None = None
    desc: str = ""
    priority: str = ""
    source: str = "syscall"
    source_given: bool = False
    enabled: bool = True
    warn_evttypes: bool = True
    skip_if_unknown_filter: bool = False
    tags: set[str] = field(default_factory=set)
    exceptions: list[ExceptionDecl] = field(default_factory=list)
    capture: bool = False
    capture_duration: int = 0


@dataclass(slots=True)
class RuleUpdate:
    """An ``append: true`` or ``override`` item: only the keys given are set."""

    name: str
    ctx: Context
    values: dict = field(default_factory=dict)  # key -> decoded value
    cond_ctx: Context | None = None
    output_ctx: Context | None = None


@dataclass(slots=True)
class PluginRequirement:
    """A ``required_plugin_versions`` entry: a plugin and the alternatives that satisfy it."""

    alternatives: list[tuple[str, str]]  # (name, version), the first is the main one
    ctx: Context


class _Recorder:
    """Stands for both the FileResult and the collector while a file is read, and records each call
    the reader makes (pickled at once: the collector may later change the declarations it got)."""

    def __init__(self, res: FileResult, col: Collector):
        self._res = res
        self._col = col
        self.calls: list[bytes] = []
        self.name = res.name
        self.schema_warnings = _RecordedList(self)

    def _record(self, target: str, method: str, args: tuple, kwargs: dict) -> None:
        import pickle

        self.calls.append(pickle.dumps((target, method, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL))

    def add_warning(self, *args, **kwargs) -> None:
        self._record("res", "add_warning", args, kwargs)
        self._res.add_warning(*args, **kwargs)

    def add_error(self, *args, **kwargs) -> None:  # a failed reading is never stored
        self._res.add_error(*args, **kwargs)

    def __getattr__(self, method: str):  # the collector's define_*/append_*/... methods
        target = getattr(self._col, method)

        def call(*args, **kwargs):
            self._record("col", method, args, kwargs)
            return target(*args, **kwargs)

        return call


class _RecordedList:
    def __init__(self, recorder: _Recorder):
        self._recorder = recorder

    def append(self, item: str) -> None:
        self._recorder._record("res", "schema_warning", (item,), {})
        self._recorder._res.schema_warnings.append(item)


class _LazyYaml:
    """Stands for the ``yaml`` module until a rules text is actually read: PyYAML costs ~30 ms to
    import, which a start-up served from the read cache (or with no rules) never pays. The first
    attribute access imports it and replaces this placeholder in the module's globals."""

    def __getattr__(self, name: str):
        import yaml as module

        globals()["yaml"] = module
        return getattr(module, name)


yaml = _LazyYaml()


class Collector(Protocol):
    def define_engine_version(self, text: str, version: tuple[int, int, int], ctx: Context) -> None: ...
    def define_plugin_requirement(self, req: PluginRequirement) -> None: ...
    def define_list(self, decl: ListDecl) -> None: ...
    def append_list(self, decl: ListDecl) -> None: ...
    def define_macro(self, decl: MacroDecl) -> None: ...
    def append_macro(self, decl: MacroDecl) -> None: ...
    def define_rule(self, decl: RuleDecl) -> None: ...
    def append_rule(self, upd: RuleUpdate) -> None: ...
    def replace_rule(self, upd: RuleUpdate) -> None: ...
    def enable_rule(self, name: str, enabled: bool, ctx: Context) -> None: ...


# --- YAML node helpers ------------------------------------------------------


def _mark(node: YamlNode) -> tuple[int, int, int]:
    m = node.start_mark
    return m.line, m.column, m.index


def _child(ctx: Context, node: YamlNode, item_type: str, item_name: str = "") -> Context:
    line, col, idx = _mark(node)
    return ctx.child(item_type, item_name, line, col, idx)


def _is_null(node: YamlNode | None) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _get(node: YamlNode, key: str) -> YamlNode | None:
    """``item[key]`` as yaml-cpp does it: the first mapping entry whose scalar key equals ``key``."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def _keys(node: YamlNode) -> list[tuple[str, YamlNode]]:
    return [(k.value, k) for k, _ in node.value if isinstance(k, yaml.ScalarNode)]


def _fail(msg: str, ctx: Context) -> RuleLoadError:
    return RuleLoadError("LOAD_ERR_YAML_VALIDATE", msg, ctx)


def _scalar(item: YamlNode, key: str, ctx: Context, optional: bool = False) -> tuple[str, Context] | None:
    """Falco's decode_val: present, not null, scalar, non-empty."""
    val = _get(item, key)
    if val is None:
        if optional:
            return None
        raise _fail(f"Item has no mapping for key '{key}'", ctx)
    if _is_null(val):
        raise _fail(f"Mapping for key '{key}' is empty", ctx)
    vctx = _child(ctx, val, "value for", key)
    if not isinstance(val, yaml.ScalarNode):
        raise _fail("Value is not a scalar value", vctx)
    if val.value == "":
        raise _fail("Value must be non-empty", vctx)
    return val.value, vctx


def _string(item: YamlNode, key: str, ctx: Context) -> str:
    return _scalar(item, key, ctx)[0]  # type: ignore[index]


def _decode_bool(text: str) -> bool | None:
    low = text.lower()
    if text not in (low, low.upper(), low.capitalize()):
        return None
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return None


def _bool(item: YamlNode, key: str, ctx: Context, default: bool | None = None, optional: bool = True) -> bool | None:
    got = _scalar(item, key, ctx, optional)
    if got is None:
        return default
    value = _decode_bool(got[0])
    if value is None:
        raise _fail("Can't decode YAML scalar value", got[1])
    return value


def _int(item: YamlNode, key: str, ctx: Context, default: int = 0) -> int:
    got = _scalar(item, key, ctx, True)
    if got is None:
        return default
    try:
        return int(got[0].strip(), 10)
    except ValueError:
        raise _fail("Can't decode YAML scalar value", got[1]) from None


def _seq(item: YamlNode, key: str, ctx: Context, optional: bool) -> list[str] | None:
    """Falco's decode_seq: a sequence of scalars (numbers kept as written)."""
    val = _get(item, key)
    if val is None:
        if optional:
            return None
        raise _fail(f"Item has no mapping for key '{key}'", ctx)
    vctx = _child(ctx, val, "value for", key)
    if not isinstance(val, yaml.SequenceNode):
        raise _fail("Value is not a sequence", vctx)
    out = []
    for v in val.value:
        if not isinstance(v, yaml.ScalarNode):
            raise _fail("sequence value is not scalar", _child(vctx, v, "list item"))
        out.append(v.value)
    return out


_PRIORITY_NAMES = {
    "emergency": 0, "alert": 1, "critical": 2, "error": 3, "warning": 4, "notice": 5,
    "informational": 6, "info": 6, "debug": 7,
}


def parse_priority(text: str):
    """Falco's parse_priority: the eight names (any case) and ``info``; nothing else (no ``warn``)."""
    from pdigpy.engine.priority import Priority

    num = _PRIORITY_NAMES.get(text.lower())
    return None if num is None else Priority(num)


def parse_semver(text: str) -> tuple[int, int, int] | None:
    m = re.match(r"\s*(\d+)\.(\d+)\.(\d+)", text)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


# --- the reader -------------------------------------------------------------


class RulesReader:
    """Reads one rules file's text into a collector, recording errors and warnings in ``result``."""

    def __init__(self, result: FileResult, collector: Collector):
        self.res = result
        self.col = collector
        self.text = ""

    def read(self, text: str) -> bool:
        self.text = text
        if not text.strip() or text.strip() == "[]":  # an empty rules file: nothing to compose
            return True
        from pdigpy.engine import cache

        reading = cache.load_reading(self.res.name, text)
        if reading is not None:
            return self._replay(reading)
        res, col = self.res, self.col
        recorder = _Recorder(res, col)
        self.res, self.col = recorder, recorder  # type: ignore[assignment]
        try:
            ok = self._read(text)
        finally:
            self.res, self.col = res, col
        if ok and len(text) >= _READ_CACHE_MIN:
            import pickle

            # stored as one list: one pickle.load at replay, and contexts shared between calls stay shared
            cache.store_reading(res.name, text, [pickle.loads(blob) for blob in recorder.calls])
        return ok

    def _replay(self, reading: list[tuple]) -> bool:
        """Make the recorded calls again: the collector still checks each declaration against what
        earlier files defined, so its errors come as they would from a fresh read."""
        res, col = self.res, self.col
        try:
            for target, method, args, kwargs in reading:
                if target == "res":
                    if method == "schema_warning":
                        res.schema_warnings.append(*args)
                    else:
                        getattr(res, method)(*args, **kwargs)
                else:
                    getattr(col, method)(*args, **kwargs)
        except RuleLoadError as e:
            res.add_error(e.code, e.message, e.context)
            return False
        except RecursionError:
            res.add_error("LOAD_ERR_YAML_VALIDATE", "Rules content is nested too deeply", Context.root(res.name))
            return False
        return True

    def _read(self, text: str) -> bool:
        root = Context.root(self.res.name)
        try:
            docs = _compose(text)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line, col, idx = (mark.line, mark.column, mark.index) if mark else (0, 0, 0)
            problem = e.problem or e.context or "invalid YAML"
            msg = f"yaml: error at line {line + 1}, column {col + 1}: {problem}"
            self.res.add_error("LOAD_ERR_YAML_PARSE", msg, root.child("value for", "", line, col, idx))
            return False
        except (yaml.YAMLError, RecursionError, ValueError) as e:
            msg = "yaml: nesting too deep" if isinstance(e, RecursionError) else f"yaml: {e}".replace("\n", " ")
            self.res.add_error("LOAD_ERR_YAML_PARSE", msg, root)
            return False
        try:
            for doc in docs:
                if doc is None or _is_null(doc):
                    continue
                if not isinstance(doc, (yaml.MappingNode, yaml.SequenceNode)):
                    raise _fail("Rules content is not yaml", root)
                if not isinstance(doc, yaml.SequenceNode):
                    raise _fail("Rules content is not yaml array of objects", root)
                for item in doc.value:
                    if not _is_null(item):
                        self.read_item(item, root)
        except RuleLoadError as e:
            self.res.add_error(e.code, e.message, e.context)
            return False
        except RecursionError:
            self.res.add_error("LOAD_ERR_YAML_VALIDATE", "Rules content is nested too deeply", root)
            return False
        return True

    # -- items

    def read_item(self, item: YamlNode, parent: Context) -> None:
        if not isinstance(item, yaml.MappingNode):
            raise _fail(
                "Unexpected element type. Each element should be a yaml associative array.",
                _child(parent, item, "rules content item"),
            )
        if _get(item, "required_engine_version") is not None:
            self._engine_version(item, parent)
        elif _get(item, "required_plugin_versions") is not None:
            self._plugin_versions(item, parent)
        elif _get(item, "list") is not None:
            self._list(item, parent)
        elif _get(item, "macro") is not None:
            self._macro(item, parent)
        elif _get(item, "rule") is not None:
            self._rule(item, parent)
        else:
            self.res.add_warning("LOAD_UNKNOWN_ITEM", "Unknown top level item", _child(parent, item, "rules content item"))

    def _unknown_keys(self, item: YamlNode, kind: str, ctx: Context, known: set[str] | None = None) -> None:
        known = known or KNOWN_KEYS[kind]
        for key, _knode in _keys(item):
            if key not in known:
                self.res.add_warning("LOAD_UNKNOWN_KEY", f"Unknown key '{key}'. The key will be ignored.", ctx)
                self.res.schema_warnings.append(f"{kind} '{key}': additional property not allowed")

    def _engine_version(self, item: YamlNode, parent: Context) -> None:
        ctx = _child(parent, item, "required_engine_version")
        self._unknown_keys(item, "required_engine_version", ctx)
        text = _string(item, "required_engine_version", ctx)
        if re.fullmatch(r"\s*\+?\d+\s*", text):
            version = (0, int(text), 0)  # the legacy integer form N means 0.N.0
        else:
            parsed = parse_semver(text)
            if parsed is None:
                raise _fail(
                    f"Unable to parse engine version '{text}' as a semver string. Expected \"x.y.z\" semver format.",
                    ctx,
                )
            version = parsed
        self.col.define_engine_version(text, version, ctx)

    def _plugin_versions(self, item: YamlNode, parent: Context) -> None:
        reqs = _get(item, "required_plugin_versions")
        ctx = _child(parent, reqs, "required plugin versions")
        if not isinstance(reqs, yaml.SequenceNode):
            raise _fail("Value of required_plugin_versions must be a sequence", ctx)
        for plugin in reqs.value:
            tmp = _child(ctx, plugin, "required plugin versions entry")
            if not isinstance(plugin, yaml.MappingNode):
                raise _fail("Plugin version must be a mapping", tmp)
            name = _string(plugin, "name", tmp)
            pctx = _child(ctx, plugin, "required plugin versions entry", name)
            self._unknown_keys(plugin, "required plugin versions entry", pctx, {"name", "version", "alternatives"})
            alts = [(name, _string(plugin, "version", pctx))]
            alternatives = _get(plugin, "alternatives")
            if alternatives is not None:
                if not isinstance(alternatives, yaml.SequenceNode):
                    raise _fail("Value of plugin version alternatives must be a sequence", pctx)
                for alt in alternatives.value:
                    actx = _child(pctx, alt, "required plugin versions alternative")
                    if not isinstance(alt, yaml.MappingNode):
                        raise _fail("Plugin version alternative must be a mapping", actx)
                    aname = _string(alt, "name", actx)
                    actx = _child(pctx, alt, "required plugin versions alternative", aname)
                    self._unknown_keys(alt, "required plugin versions alternative", actx, {"name", "version"})
                    alts.append((aname, _string(alt, "version", actx)))
            self.col.define_plugin_requirement(PluginRequirement(alts, pctx))

    def _overrides(
        self, item: YamlNode, ctx: Context, can_append: tuple[str, ...], can_replace: tuple[str, ...]
    ) -> tuple[list[str], list[str]]:
        val = _get(item, "override")
        if val is None:
            return [], []
        octx = _child(ctx, item, "overrides")
        if not isinstance(val, yaml.MappingNode):
            if _is_null(val):
                return [], []
            raise _fail("Value of override must be a mapping of key: append|replace", _child(octx, val, "value for", "override"))
        appends: list[str] = []
        replaces: list[str] = []
        for knode, vnode in val.value:
            if not isinstance(knode, yaml.ScalarNode) or not isinstance(vnode, yaml.ScalarNode):
                raise _fail("Override entries must be 'key: append' or 'key: replace'", _child(octx, knode, "value for"))
            key, op = knode.value, vnode.value
            kctx = _child(octx, knode, "overrides", key)
            if op == "append":
                if key not in can_append:
                    raise _fail(f"Key '{key}' cannot be appended to, use 'replace' instead", kctx)
                if key not in appends:
                    appends.append(key)
            elif op == "replace":
                if key not in can_replace:
                    raise _fail(f"Key '{key}' cannot be replaced", kctx)
                if key not in replaces:
                    replaces.append(key)
            else:
                allowed = ("append " if key in can_append else "") + ("replace " if key in can_replace else "")
                raise _fail(
                    f"Invalid override operation for key '{key}': '{op}'. Allowed values are: {allowed}",
                    _child(octx, vnode, "value for", key),
                )
        return appends, replaces

    def _list(self, item: YamlNode, parent: Context) -> None:
        name = _string(item, "list", _child(parent, item, "list"))
        ctx = _child(parent, item, "list", name)
        self._unknown_keys(item, "list", ctx)
        if not re.match(_BARESTR_RE, name):
            self.res.add_warning(
                "LOAD_INVALID_LIST_NAME",
                "List has an invalid name. List names should match a regular expression: " + RGX_BARESTR,
                ctx,
            )
        items = _seq(item, "items", ctx, optional=False) or []
        append = bool(_bool(item, "append", ctx, False))
        if append:
            self.res.add_warning("LOAD_DEPRECATED_ITEM", WARNING_APPEND, ctx)
        appends, replaces = self._overrides(item, ctx, ("items",), ("items",))
        if append and (appends or replaces):
            raise _fail(ERROR_OVERRIDE_APPEND, ctx)
        decl = ListDecl(name, items, ctx)
        if append or "items" in appends:
            self.col.append_list(decl)
        else:
            self.col.define_list(decl)

    def _macro(self, item: YamlNode, parent: Context) -> None:
        name = _string(item, "macro", _child(parent, item, "macro"))
        ctx = _child(parent, item, "macro", name)
        self._unknown_keys(item, "macro", ctx)
        if not re.match(_IDENTIFIER_RE, name):
            self.res.add_warning(
                "LOAD_INVALID_MACRO_NAME",
                "Macro has an invalid name. Macro names should match a regular expression: " + RGX_IDENTIFIER,
                ctx,
            )
        cond = _string(item, "condition", ctx)
        cond_ctx = self._source_ctx(_child(ctx, _get(item, "condition"), "macro condition"), _get(item, "condition"))
        append = bool(_bool(item, "append", ctx, False))
        if append:
            self.res.add_warning("LOAD_DEPRECATED_ITEM", WARNING_APPEND, ctx)
        appends, replaces = self._overrides(item, ctx, ("condition",), ("condition",))
        if append and (appends or replaces):
            raise _fail(ERROR_OVERRIDE_APPEND, ctx)
        decl = MacroDecl(name, cond, ctx, cond_ctx)
        if append or "condition" in appends:
            self.col.append_macro(decl)
        else:
            self.col.define_macro(decl)

    def _rule(self, item: YamlNode, parent: Context) -> None:
        name = _string(item, "rule", _child(parent, item, "rule"))
        ctx = _child(parent, item, "rule", name)
        self._unknown_keys(item, "rule", ctx)
        has_append = bool(_bool(item, "append", ctx, False))
        if has_append:
            self.res.add_warning("LOAD_DEPRECATED_ITEM", WARNING_APPEND, ctx)
        appends, replaces = self._overrides(item, ctx, RULE_OVERRIDE_APPEND, RULE_OVERRIDE_REPLACE)
        if has_append and (appends or replaces):
            raise _fail(ERROR_OVERRIDE_APPEND, ctx)

        if appends or replaces:
            overridable = set(RULE_OVERRIDE_APPEND) | set(RULE_OVERRIDE_REPLACE)
            expected = [k for k, _ in _keys(item) if k in overridable]
            for kind, keys in (("append", appends), ("replace", replaces)):
                if not keys:
                    continue
                upd = RuleUpdate(name, ctx)
                for key in (k for k in RULE_OVERRIDE_REPLACE if k in keys):
                    if key not in expected:
                        raise _fail(f"An {kind} override for '{key}' was specified but '{key}' is not defined", ctx)
                    expected.remove(key)
                    upd.values[key] = self._rule_value(item, key, ctx, upd)
                if kind == "append":
                    self.col.append_rule(upd)
                else:
                    self.col.replace_rule(upd)
            for key in expected:
                raise _fail(
                    f"Unexpected key '{key}': no corresponding entry under 'override' is defined.",
                    _child(ctx, _get(item, key), "overrides", key),
                )
            return

        if has_append:
            upd = RuleUpdate(name, ctx)
            if _get(item, "condition") is not None:
                upd.values["condition"] = self._rule_value(item, "condition", ctx, upd)
            if _get(item, "exceptions") is not None:
                upd.values["exceptions"] = self._exceptions(item, ctx, append=True)
            self.col.append_rule(upd)
            return

        if all(_get(item, k) is None for k in ("condition", "output", "desc", "priority")):
            enabled = _bool(item, "enabled", ctx, optional=False)
            self.res.add_warning("LOAD_DEPRECATED_ITEM", WARNING_ENABLED, ctx)
            self.col.enable_rule(name, bool(enabled), ctx)
            return

        decl = RuleDecl(name, ctx)
        decl.cond = _string(item, "condition", ctx)
        decl.cond_ctx = self._source_ctx(_child(ctx, _get(item, "condition"), "rule condition"), _get(item, "condition"))
        decl.output = _string(item, "output", ctx).strip()
        decl.output_ctx = _child(ctx, _get(item, "output"), "rule output")
        decl.desc = _string(item, "desc", ctx)
        decl.priority = self._priority(item, ctx)
        src = _scalar(item, "source", ctx, optional=True)
        if src is not None:
            decl.source, decl.source_given = src[0], True
        decl.enabled = bool(_bool(item, "enabled", ctx, True))
        decl.warn_evttypes = bool(_bool(item, "warn_evttypes", ctx, True))
        decl.skip_if_unknown_filter = bool(_bool(item, "skip-if-unknown-filter", ctx, False))
        decl.capture = bool(_bool(item, "capture", ctx, False))
        decl.capture_duration = _int(item, "capture_duration", ctx)
        decl.tags = set(_seq(item, "tags", ctx, optional=True) or ())
        decl.exceptions = self._exceptions(item, ctx, append=False)
        self.col.define_rule(decl)

    def _source_ctx(self, ctx: Context, node: YamlNode) -> Context:
        """Attach where the condition scalar sits in the file, for exact error positions."""
        if not isinstance(node, yaml.ScalarNode) or node.end_mark is None:
            return ctx
        start, end = node.start_mark.index, node.end_mark.index
        raw = self.text[start:end]
        return ctx.with_source(ScalarSource(node.value, raw, node.start_mark.line, node.start_mark.column, node.style))

    def _priority(self, item: YamlNode, ctx: Context) -> str:
        text = _string(item, "priority", ctx)
        pctx = _child(ctx, _get(item, "priority"), "rule priority")
        if parse_priority(text) is None:
            raise _fail("Invalid priority", pctx)
        if text.strip() != text.strip().upper():
            self.res.schema_warnings.append(f"rule priority '{text}': not one of the uppercase enum values")
        return text

    def _rule_value(self, item: YamlNode, key: str, ctx: Context, upd: RuleUpdate):
        if key == "condition":
            upd.cond_ctx = self._source_ctx(_child(ctx, _get(item, "condition"), "rule condition"), _get(item, "condition"))
            return _string(item, key, ctx)
        if key == "output":
            upd.output_ctx = _child(ctx, _get(item, "output"), "rule output")
            return _string(item, key, ctx)
        if key == "desc":
            return _string(item, key, ctx)
        if key == "tags":
            return set(_seq(item, "tags", ctx, optional=True) or ())
        if key == "exceptions":
            return self._exceptions(item, ctx, append=True)
        if key == "priority":
            return self._priority(item, ctx)
        if key == "capture_duration":
            return _int(item, key, ctx)
        return bool(_bool(item, key, ctx, optional=False))  # enabled, warn_evttypes, skip-if-unknown-filter, capture

    # -- exceptions

    def _exceptions(self, item: YamlNode, parent: Context, append: bool) -> list[ExceptionDecl]:
        exs = _get(item, "exceptions")
        if exs is None or _is_null(exs):
            return []
        ectx = _child(parent, exs, "exceptions")
        if not isinstance(exs, yaml.SequenceNode):
            raise _fail("Rule exceptions must be a sequence", ectx)
        out: list[ExceptionDecl] = []
        for ex in exs.value:
            tmp = _child(ectx, ex, "exception")
            if not isinstance(ex, yaml.MappingNode):
                raise _fail("Rule exception must be a mapping", tmp)
            name = _string(ex, "name", tmp)
            xctx = _child(parent, ex, "exception", name)
            self._unknown_keys(ex, "exception", xctx, EXCEPTION_KEYS)
            if any(prev.name == name for prev in out):
                self.res.add_warning(
                    "LOAD_EXCEPTION_NAME_NOT_UNIQUE", f"Multiple definitions of exception '{name}' in the same rule", xctx
                )
            decl = ExceptionDecl(name, xctx)
            decl.fields = self._entry_key(ex, "fields", xctx, optional=append)
            decl.comps = self._entry_key(ex, "comps", xctx, optional=True)
            vals = _get(ex, "values")
            if vals is not None:
                vctx = _child(xctx, vals, "exception values")
                if not isinstance(vals, yaml.SequenceNode):
                    raise _fail("Rule exception values must be a sequence", vctx)
                for v in vals.value:
                    decl.values.append(self._entry(v, _child(vctx, v, "exception value"), "", 0))
                decl.has_values = True
            elif append:
                self.res.add_warning("LOAD_APPEND_NO_VALUES", "Overriding/appending exception with no values", xctx)
            out.append(decl)
        return out

    def _entry_key(self, ex: YamlNode, key: str, ctx: Context, optional: bool) -> Entry | None:
        val = _get(ex, key)
        if val is None:
            if optional:
                return None
            raise _fail(f"Item has no mapping for key '{key}'", ctx)
        return self._entry(val, ctx, key, 0)

    def _entry(self, val: YamlNode, ctx: Context, key: str, depth: int) -> Entry:
        vctx = _child(ctx, val, "value for", key)
        if depth > _MAX_ENTRY_DEPTH:
            raise _fail("Exception values are nested too deeply", vctx)
        if isinstance(val, yaml.ScalarNode):
            if val.value == "" or _is_null(val):
                raise _fail("Value must be non-empty", vctx)
            return Entry(False, val.value)
        if isinstance(val, yaml.SequenceNode):
            return Entry(True, "", [self._entry(v, _child(vctx, v, "exception"), "", depth + 1) for v in val.value])
        raise _fail("Value must be a scalar or a sequence", vctx)


def _flow_depth(text: str, limit: int) -> tuple[int, int]:
    """Upper bound of the YAML flow nesting ([ and {), ignoring quoting, and the offset where it
    first exceeded ``limit`` (-1 if never): only used to pick a safe parser or refuse the text."""
    depth = best = 0
    where = -1
    for m in re.finditer(r"[\[\]{}]", text):
        if m.group() in "[{":
            depth += 1
            if depth > best:
                best = depth
                if depth > limit and where < 0:
                    where = m.start()
        elif depth:
            depth -= 1
    return best, where


def _compose(text: str) -> list:
    if text.count("[") + text.count("{") > _MAX_FLOW_DEPTH:
        _depth, where = _flow_depth(text, _MAX_FLOW_DEPTH)
        if where >= 0:  # libyaml would overflow the C stack, the pure-Python parser hit the recursion limit
            line = text.count("\n", 0, where)
            col = where - (text.rfind("\n", 0, where) + 1)
            raise yaml.MarkedYAMLError(
                problem=f"more than {_MAX_FLOW_DEPTH} nested flow collections ([ or {{)",
                problem_mark=yaml.Mark("", where, line, col, None, None),
            )
    if len(text) > _MAX_BLOCK_COLUMNS:
        for m in re.finditer(_BLOCK_PREFIX, text):
            if m.end() - m.start() > _MAX_BLOCK_COLUMNS:  # "- - - - ..." or huge indentation: block nesting
                where = m.start()
                line = text.count("\n", 0, where)
                raise yaml.MarkedYAMLError(
                    problem=f"block nesting deeper than {_MAX_BLOCK_COLUMNS} columns",
                    problem_mark=yaml.Mark("", where, line, 0, None, None),
                )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return list(yaml.compose_all(text, Loader=loader))

"""The rule engine: loads rules files, keeps the event-type dispatch table, evaluates events.

``RuleEngine(registry)`` is what the app wires between the state layer and the
outputs::

    engine = RuleEngine(registry, min_priority=Priority.DEBUG, rule_matching="first")
    result = engine.load_files(["/etc/falco/falco_rules.yaml"])
    if not result.ok: print(result.report_text()); exit 1
    tracer_options.event_types = engine.event_types()
    for evt in events: for alert in engine.evaluate(evt): hub.submit(alert)

All files share one collector (later files see and may override earlier
lists, macros and rules); after each file everything collected so far is
resolved again, as Falco does, so per-file results carry Falco's messages.
"""

from __future__ import annotations

import os
import re
import sys
import weakref
from typing import TYPE_CHECKING, Any, Iterable

from pdigpy.engine.alert import Alert
from pdigpy.engine.errors import Context, FileResult, LoadResult
from pdigpy.engine.index import all_event_types, rule_event_types
from pdigpy.engine.loader import RulesReader
from pdigpy.engine.priority import Priority
from pdigpy.engine.ruleset import (
    BUILTIN_PLUGINS,
    CompileEnv,
    CompiledRuleset,
    Rule,
    RuleCollector,
    compile_ruleset,
    expanded_size,
    field_keys_in,
    fields_in,
    operators_in,
)

if TYPE_CHECKING:
    from pdigpy.events.model import Event

DEFAULT_APPEND_OUTPUT = [{"suggested_output": True}]
MAX_DESCRIBED_NODES = 20_000  # -L prints macros up to this size after expansion  # falco.yaml's default
RULES_EXTENSIONS = (".yaml", ".yml")


def matches_wildcard(pattern: str, name: str) -> bool:
    """Falco's wildcard match: ``*`` matches any run of characters, everything else is literal."""
    if "*" not in pattern:
        return pattern == name
    rx = ".*".join(re.escape(p) for p in pattern.split("*"))
    return re.fullmatch(rx, name, re.DOTALL) is not None


def expand_rules_paths(paths: Iterable[str]) -> list[str]:
    """Directories become their ``.yaml``/``.yml`` files in alphabetical order; other files are
    skipped as Falco (0.41+) skips them; paths that do not exist are kept (they fail to read)."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                full = os.path.join(p, name)
                if name.endswith(RULES_EXTENSIONS) and os.path.isfile(full):
                    out.append(full)
        elif p.endswith(RULES_EXTENSIONS) or not os.path.exists(p):
            out.append(p)
    return out


class RuleEngine:
    def __init__(
        self,
        registry: Any,
        *,
        min_priority: Priority = Priority.DEBUG,
        rule_matching: str = "first",
        append_output: list[dict] | None = None,
        hostname: str | None = None,
        cache: bool | str | os.PathLike | None = True,
    ):
        if rule_matching not in ("first", "all"):
            raise ValueError(f"rule_matching must be 'first' or 'all', not {rule_matching!r}")
        self.registry = registry
        self.min_priority = Priority(min_priority)
        self.rule_matching = rule_matching
        self.hostname = hostname if hostname is not None else _default_hostname()
        from pdigpy.engine.format import parse_append_output

        # ValueError naming the bad key if the append_output config is malformed.
        entries = parse_append_output(DEFAULT_APPEND_OUTPUT if append_output is None else append_output)
        self._env = CompileEnv(registry, entries)
        if cache:
            from pathlib import Path

            from pdigpy.engine.cache import shared_cache

            # True: the default location; a path: that directory. Parsed conditions survive restarts.
            self._env.parse_cache = shared_cache(None if cache is True else Path(cache))
        self._collector = RuleCollector(check_lhs=self._valid_lhs)
        self._compiled: CompiledRuleset | None = None
        self._rules: list[Rule] = []
        self._enabled: dict[str, bool] = {}  # rule name -> enabled (only rules in the ruleset)
        self._selections: list[tuple[bool, str | None, str | None]] = []  # replayed after each load
        self._finite: dict[str, list[Rule]] = {}  # event type -> enabled rules naming it
        self._catchall: list[Rule] = []  # enabled rules with an "all but" event-type set
        self._plans: dict[str, _Plan] = {}
        self._first = rule_matching == "first"
        self.errors_by_rule: dict[str, int] = {}

    # ------------------------------------------------------------------ loading

    def load_files(self, paths: list[str], stop_on_error: bool = True) -> LoadResult:
        """Load rules files (or directories) in order. Stops at the first invalid file unless
        ``stop_on_error`` is False (``-V`` validates every file)."""
        result = LoadResult()
        for path in expand_rules_paths(paths):
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
            except OSError as e:
                fr = FileResult(path)
                fr.add_error("LOAD_ERR_FILE_READ", f"Could not read file {path}: {e.strerror or e}", Context.root(path))
                result.files.append(fr)
                if stop_on_error:
                    break
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                fr = _bad_utf8(path, raw, e)
            else:
                fr = self._load_one(text, path)
            result.files.append(fr)
            if not fr.successful and stop_on_error:
                break
        self._save_cache()
        return result

    def load_text(self, text: str, name: str = "rules.yaml") -> LoadResult:
        """Load rules content given as text (tests, embedded rules)."""
        result = LoadResult([self._load_one(text, name)])
        self._save_cache()
        return result

    def _save_cache(self) -> None:
        if self._env.parse_cache is not None:
            self._env.parse_cache.save()

    def _load_one(self, text: str, name: str) -> FileResult:
        fr = FileResult(name, text)
        col = self._collector
        col.result = fr
        n_reqs = len(col.plugin_requirements)
        try:
            if not RulesReader(fr, col).read(text):
                return fr
            compiled = compile_ruleset(col, fr, self._env)
            if compiled is None:
                return fr
            for req in col.plugin_requirements[n_reqs:]:
                if not any(n in BUILTIN_PLUGINS for n, _ in req.alternatives):
                    wanted = " or ".join(f"'{n}' (version {v})" for n, v in req.alternatives)
                    fr.add_error(
                        "LOAD_ERR_VALIDATE",
                        f"Plugin {wanted} is required but not loaded; pdigpy provides the fields of: "
                        + ", ".join(sorted(BUILTIN_PLUGINS)),
                        req.ctx,
                    )
            if fr.successful:
                self._install(compiled)
        except RecursionError:
            fr.add_error("LOAD_ERR_VALIDATE", "rules nested too deeply", Context.root(name))
        finally:
            col.result = None
        return fr

    def _valid_lhs(self, expr: str) -> bool:
        """Is an exception field (a field or a transformer expression) valid for the syscall source?"""
        from pdigpy.engine.grammar import ParseError, parse_condition

        try:
            node = parse_condition(expr + " exists")
        except (ParseError, RecursionError):
            return False
        refs = fields_in(node)
        if not refs or node.__class__.__name__ != "Check":
            return False
        for ref in refs:
            try:
                self.registry.bind(ref.name, ref.arg)
            except Exception:
                return False
        return True

    def _install(self, compiled: CompiledRuleset) -> None:
        self._compiled = compiled
        self._rules = compiled.rules
        # Less severe rules than the threshold are not even part of the ruleset (as in Falco).
        self._enabled = {r.name: r.enabled for r in self._rules if r.priority <= self.min_priority}
        for enable, pattern, tag in self._selections:
            self._select(enable, pattern, tag)
        self._rebuild()

    # ---------------------------------------------------------------- selection

    def enable(self, rule: str | None = None, *, tag: str | None = None) -> int:
        """Enable rules by name (``*`` wildcards) or by tag; returns how many rules matched."""
        return self._record(True, rule, tag)

    def disable(self, rule: str | None = None, *, tag: str | None = None) -> int:
        return self._record(False, rule, tag)

    def apply_rules_selection(self, selection: list[dict]) -> None:
        """falco.yaml ``rules:``: ``[{enable: {rule: pat}|{tag: t}} | {disable: ...}]`` applied in order."""
        if not isinstance(selection, list):
            raise ValueError("rules: must be a list of {enable: ...} / {disable: ...} entries")
        for i, entry in enumerate(selection):
            if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in ("enable", "disable"):
                raise ValueError(f"rules[{i}]: expected one 'enable' or 'disable' key, got {entry!r}")
            action, what = next(iter(entry.items()))
            if not isinstance(what, dict) or not what or set(what) - {"rule", "tag"}:
                raise ValueError(f"rules[{i}].{action}: expected 'rule: <name or wildcard>' or 'tag: <tag>'")
            self._record(action == "enable", _opt_str(what.get("rule")), _opt_str(what.get("tag")))

    def _record(self, enable: bool, pattern: str | None, tag: str | None) -> int:
        if pattern is None and tag is None:
            raise ValueError("give a rule name (wildcards allowed) or a tag")
        self._selections.append((enable, pattern, tag))
        n = self._select(enable, pattern, tag)
        self._rebuild()
        return n

    def _select(self, enable: bool, pattern: str | None, tag: str | None) -> int:
        n = 0
        for r in self._rules:
            if r.name not in self._enabled:
                continue
            if (pattern is not None and matches_wildcard(pattern, r.name)) or (tag is not None and tag in r.tags):
                self._enabled[r.name] = enable
                n += 1
        return n

    def _rebuild(self) -> None:
        enabled = [r for r in self._rules if self._enabled.get(r.name)]
        self._finite: dict[str, list[Rule]] = {}
        for r in enabled:
            if not r.event_types.complement:
                for n in r.event_types.names:
                    self._finite.setdefault(n, [])
        for r in enabled:  # in definition order, so every per-type list is too
            if r.event_types.complement:
                for n, lst in self._finite.items():
                    if n not in r.event_types.names:
                        lst.append(r)
            else:
                for n in r.event_types.names:
                    self._finite[n].append(r)
        self._catchall = [r for r in enabled if r.event_types.complement]
        self._plans = {}  # built on the first event of each type

    def _plan(self, evtype: str) -> _Plan:
        """The evaluation plan of one event type: its rules, specialised and sharing common checks."""
        rules = self._finite.get(evtype)
        if rules is None:
            rules = [r for r in self._catchall if evtype not in r.event_types.names]
        plan = _build_plan(evtype, rules, self._env, self._first)
        self._plans[evtype] = plan
        return plan

    # ---------------------------------------------------------------- queries

    @property
    def rules(self) -> list[Rule]:
        """Every loaded rule in evaluation order (for -L), enabled or not."""
        return list(self._rules)

    def is_enabled(self, name: str) -> bool:
        return bool(self._enabled.get(name))

    @property
    def enabled_rules(self) -> list[Rule]:
        return [r for r in self._rules if self._enabled.get(r.name)]

    @property
    def required_engine_version(self) -> str:
        return self._collector.required_engine_version_text

    def event_types(self) -> frozenset[str]:
        """Falco event names the enabled rules can match: what the tracer must stop on."""
        out: set[str] = set()
        for r in self.enabled_rules:
            if r.event_types.complement:
                out |= r.event_types.materialize(all_event_types())
            else:
                out |= r.event_types.names
        return frozenset(out)

    def referenced_fields(self) -> frozenset[str]:
        """Every field the enabled rules can read, as ``name`` or ``name[arg]``: conditions after
        list and macro expansion with exceptions, and outputs with falco.yaml's append_output
        (text and extra_fields). What the state must maintain follows from it
        (pdigpy.state.needs.state_event_types)."""
        memo: dict = {}  # expanded macros are shared subtrees: walk each once
        out: set[str] = set()
        for r in self.enabled_rules:
            out |= field_keys_in(r.ast, memo)
            out |= r.formatter.field_names
        return frozenset(out)

    def matches_all_event_types(self) -> bool:
        """True if some enabled rule has no event-type restriction (every syscall must be traced)."""
        return any(r.event_types.complement for r in self.enabled_rules)

    # ---------------------------------------------------------------- evaluation

    def evaluate(self, evt: Event) -> list[Alert]:
        # Hot path: one dict lookup on the event type, then the type's generated plan: the rules of
        # that type in order, checks decided by the type removed, checks shared by rules run once.
        plan = self._plans.get(evt.type)
        if plan is None:
            plan = self._plan(evt.type)
        run = plan.run
        if run is None:
            return []
        try:
            hits = run(evt)
        except Exception:  # some rule's check raised: redo this event rule by rule to name it
            hits = plan.slow(evt, self)
        if not hits:
            return []
        alerts = []
        entries = plan.entries
        for i in hits:
            rule = entries[i][3]
            try:
                text, fields = entries[i][2](evt)
            except Exception as exc:  # a broken output must never stop the others or the tracer
                self._rule_failed(rule, evt, exc)
                if self._first:  # the next matching rule gets its chance, as if this one had not matched
                    more = plan.slow(evt, self, i + 1)
                    if more:
                        return self._alerts_for(evt, plan, more)
                continue
            alerts.append(self._alert(evt, rule, text, fields))
        return alerts

    def _alerts_for(self, evt: Event, plan: _Plan, hits: list[int]) -> list[Alert]:
        out = []
        for i in hits:
            rule = plan.entries[i][3]
            try:
                text, fields = plan.entries[i][2](evt)
            except Exception as exc:
                self._rule_failed(rule, evt, exc)
                continue
            out.append(self._alert(evt, rule, text, fields))
        return out

    def _alert(self, evt: Event, rule: Rule, text: str, fields: dict) -> Alert:
        if "evt.time" not in fields:
            fields["evt.time"] = evt.ts
        return Alert(
            evt.ts, rule.name, rule.priority, text, fields, list(rule.tags), rule.source, self.hostname,
            getattr(evt.thread, "comm", "") or "", evt.pid,
        )

    def _rule_failed(self, rule: Rule, evt: Event, exc: Exception) -> None:
        n = self.errors_by_rule.get(rule.name, 0) + 1
        self.errors_by_rule[rule.name] = n
        if n == 1:
            sys.stderr.write(
                f"pdigpy: rule '{rule.name}' failed on event {evt.num} ({evt.type}): "
                f"{type(exc).__name__}: {exc}; the rule is skipped for such events and further failures "
                "are only counted\n"
            )

    # ---------------------------------------------------------------- -L

    def describe(self) -> dict:
        """Falco's ``-L`` JSON shape: required versions, rules, macros and lists."""
        from pdigpy.engine.astfmt import ast_to_str

        compiled = self._compiled
        col = self._collector
        rules = []
        for r in self._rules:
            rules.append(
                {
                    "info": {
                        "name": r.name, "condition": r.condition, "priority": r.priority.label,
                        "output": r.output, "description": r.desc, "enabled": self.is_enabled(r.name),
                        "source": r.source, "capture": r.capture, "capture_duration": r.capture_duration,
                        "tags": list(r.tags),
                    },
                    "details": {
                        "macros": list(r.macros), "lists": list(r.lists),
                        "condition_operators": sorted(set(operators_in(r.ast))),
                        "condition_fields": _field_names(r.ast),
                        "output_fields": list(getattr(r.formatter, "field_keys", [])),
                        "exception_fields": list(r.exception_fields), "exception_names": list(r.exception_names),
                        "events": r.event_types.describe(), "condition_compiled": ast_to_str(r.ast),
                        "output_compiled": r.output_format, "plugins": [],
                    },
                }
            )
        macros = []
        lists = []
        if compiled is not None:
            for name, info in col.macros.items():
                node = compiled.macros.get(name)
                if node is not None and expanded_size(node) > MAX_DESCRIBED_NODES:
                    node = None  # a macro of macros too large to print usefully
                macros.append(
                    {
                        "info": {"name": name, "condition": info.cond},
                        "details": {
                            "used": name in compiled.used_macros,
                            "macros": list(compiled.macro_macros.get(name, ())),
                            "lists": list(compiled.macro_lists.get(name, ())),
                            "condition_operators": sorted(set(operators_in(node))) if node is not None else [],
                            "condition_fields": _field_names(node) if node is not None else [],
                            "events": rule_event_types(node).describe() if node is not None else [],
                            "condition_compiled": ast_to_str(node) if node is not None else "",
                            "plugins": [],
                        },
                    }
                )
            for name, info in col.lists.items():
                refs = compiled.list_lists.get(name, ())
                lists.append(
                    {
                        "info": {"name": name, "items": [i for i in info.items if i not in refs]},
                        "details": {
                            "used": name in compiled.used_lists,
                            "lists": list(refs),
                            "items_compiled": list(compiled.lists.get(name, [])),
                            "plugins": [],
                        },
                    }
                )
        return {
            "required_engine_version": self.required_engine_version,
            "required_plugin_versions": [
                {"name": req.alternatives[0][0], "version": req.alternatives[0][1],
                 "alternatives": [{"name": n, "version": v} for n, v in req.alternatives[1:]]}
                for req in col.plugin_requirements
            ],
            "rules": rules,
            "macros": macros,
            "lists": lists,
        }


def _field_names(node) -> list[str]:
    return sorted({f.name + (f"[{f.arg}]" if f.arg is not None else "") for f in fields_in(node)})


_UNSET = object()


def _bad_utf8(path: str, raw: bytes, err: UnicodeDecodeError) -> FileResult:
    text = raw.decode("utf-8", errors="replace")
    head = raw[: err.start].decode("utf-8", errors="replace")
    line = head.count("\n")
    col = len(head) - (head.rfind("\n") + 1)
    fr = FileResult(path, text)
    fr.add_error(
        "LOAD_ERR_YAML_PARSE",
        f"yaml: invalid UTF-8 byte 0x{raw[err.start]:02x} at line {line + 1}, column {col + 1}",
        Context.root(path).child("value for", "", line, col, len(head)),
    )
    return fr


class _Plan:
    """Per event type: ``entries`` = (shared check ids, rest node or None, render, rule) in
    evaluation order; ``shared`` = the nodes of checks used by two or more of the rules;
    ``run(evt)`` = one generated function (compiler.compile_plan) returning the indices of the
    matching entries (the first only with ``rule_matching: first``)."""

    __slots__ = ("entries", "shared", "run", "env", "_preds")

    def __init__(self, evtype: str, entries: list, shared: list, first: bool, env: CompileEnv):
        self.entries = entries
        self.shared = shared
        self.env = env
        self._preds = None
        if not entries:
            self.run = None
            return
        from pdigpy.engine.compiler import compile_plan  # after the no-rules return: a run without rules never imports it

        try:
            self.run = compile_plan(env.registry, evtype, shared, [(e[0], e[1]) for e in entries], first)
        except (RecursionError, SyntaxError, MemoryError):  # a condition too large for one function
            shared_preds, rests = self._predicates()
            self.run = _generate([(e[0], rests[i]) for i, e in enumerate(entries)], shared_preds, first)

    def _predicates(self) -> tuple[list, list]:
        """Closures of the shared and rest nodes, compiled on first need (the slow path only)."""
        if self._preds is None:
            from pdigpy.engine.ruleset import _compile

            shared = [_compile(self.env, n)[0] for n in self.shared]
            rests = []
            for _sids, rest, _render, rule in self.entries:
                if rest is None:
                    rests.append(None)
                    continue
                try:
                    rests.append(_compile(self.env, rest)[0])
                except Exception:  # the whole condition compiled, so this is not expected
                    rests.append(rule.match)
            self._preds = (shared, rests)
        return self._preds

    def slow(self, evt: Event, engine: RuleEngine, start: int = 0) -> list[int]:
        """The same as ``run`` with each rule guarded: used when ``run`` raised, to find the rule."""
        shared, rests = self._predicates()
        memo = [_UNSET] * len(shared)
        hits = []
        for i in range(start, len(self.entries)):
            sids, _rest, _render, rule = self.entries[i]
            rest = rests[i]
            try:
                ok = True
                for sid in sids:
                    v = memo[sid]
                    if v is _UNSET:
                        v = memo[sid] = shared[sid](evt)
                    if not v:
                        ok = False
                        break
                if not ok or (rest is not None and not rest(evt)):
                    continue
            except Exception as exc:
                engine._rule_failed(rule, evt, exc)
                continue
            hits.append(i)
            if engine._first:
                break
        return hits


def _generate(entries: list, shared: list, first: bool):
    """Straight-line Python calling one closure per shared check and rule (fallback of compile_plan)."""
    params = [f"S{i}" for i in range(len(shared))] + [f"R{k}" for k, e in enumerate(entries) if e[1] is not None]
    body = ["def run(evt):"]
    if shared:
        body.append("    " + " = ".join(f"c{i}" for i in range(len(shared))) + " = UNSET")
    if not first:
        body.append("    out = []")
    for k, (sids, rest) in enumerate(entries):
        body.append("    while True:")
        for sid in sids:
            body.append(f"        if c{sid} is UNSET:")
            body.append(f"            c{sid} = S{sid}(evt)")
            body.append(f"        if not c{sid}:")
            body.append("            break")
        if rest is not None:
            body.append(f"        if not R{k}(evt):")
            body.append("            break")
        body.append(f"        return ({k},)" if first else f"        out.append({k})")
        body.append("        break")
    body.append("    return ()" if first else "    return out")
    src = f"def make({', '.join(['UNSET'] + params)}):\n" + "\n".join("    " + line for line in body) + "\n    return run\n"
    ns: dict = {}
    exec(compile(src, "<pdigpy evaluation plan>", "exec"), ns)  # noqa: S102 - source built above from indices only
    args = [_UNSET] + list(shared) + [e[1] for e in entries if e[1] is not None]
    return ns["make"](*args)


def _conjuncts(node) -> list:
    from pdigpy.engine.ast import And

    if isinstance(node, And):
        out = []
        for c in node.children:
            out.extend(_conjuncts(c))
        return out
    return [node]


# Or-chains of checks on one string field become one check: the field is extracted once.
_MERGEABLE = {"=": "in", "==": "in", "startswith": "startswith", "endswith": "endswith", "contains": "contains",
              "icontains": "icontains", "glob": "glob", "iglob": "iglob"}


def merge_or_checks(node, plain_string) -> Any:
    """``f = a or f = b`` -> ``f in (a, b)``; ``f startswith a or f startswith b`` -> ``f startswith anyof
    (a, b)`` (and contains, endswith, glob ...), for fields where ``plain_string(field)`` holds (a
    scalar string: no list, ancestor or endpoint semantics). Checks are pure, so the or's order
    does not matter; the result is the same for every event."""
    from pdigpy.engine.ast import And, Check, FieldRef, ListValue, Not, Or, Value

    if isinstance(node, Or):
        kids = [merge_or_checks(c, plain_string) for c in node.children]

        def key(c):
            if (isinstance(c, Check) and c.modifier is None and c.op in _MERGEABLE and isinstance(c.lhs, FieldRef)
                    and isinstance(c.rhs, Value) and plain_string(c.lhs)):
                return (c.lhs, _MERGEABLE[c.op])
            return None

        keys = [key(c) for c in kids]
        counts: dict = {}
        for k in keys:
            if k is not None:
                counts[k] = counts.get(k, 0) + 1
        out = []
        done: set = set()
        for c, k in zip(kids, keys):
            if k is None or counts[k] < 2:
                out.append(c)
            elif k not in done:
                done.add(k)
                values = ListValue(tuple(x.rhs for x, kk in zip(kids, keys) if kk == k), pos=c.pos)
                op = k[1]
                out.append(Check(c.lhs, op, values, None if op == "in" else "anyof", c.pos))
        if len(out) == len(node.children) and all(a is b for a, b in zip(out, node.children)):
            return node
        return out[0] if len(out) == 1 else Or(tuple(out), node.pos)
    if isinstance(node, And):
        kids = tuple(merge_or_checks(c, plain_string) for c in node.children)
        return node if all(a is b for a, b in zip(kids, node.children)) else And(kids, node.pos)
    if isinstance(node, Not):
        child = merge_or_checks(node.child, plain_string)
        return node if child is node.child else Not(child, node.pos)
    return node


def _plain_string_test(registry) -> Any:
    memo: dict = {}

    def plain_string(ref) -> bool:
        got = memo.get(ref)
        if got is None:
            try:
                bf = registry.bind(ref.name, ref.arg)
                got = bf.type == "string" and not (bf.is_list or bf.any_of or bf.either)
            except Exception:
                got = False
            memo[ref] = got
        return got

    return plain_string


_MERGED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # registry -> {id(ast): (ast, conjuncts)}


def _build_plan(evtype: str, rules: list[Rule], env: CompileEnv, first: bool) -> _Plan:
    from pdigpy.engine.ast import And
    from pdigpy.engine.index import static_truth

    # A rule's merged conjuncts do not depend on the event type: computed once per rule and
    # registry (plans are built per type, lazily).
    try:
        memo = _MERGED.get(env.registry)
        if memo is None:
            memo = _MERGED[env.registry] = {}
    except TypeError:  # a registry that cannot be weakly referenced: no memo
        memo = {}
    plain_string = None
    split: list[tuple[Rule, list]] = []
    counts: dict = {}
    for r in rules:
        try:
            hit = memo.get(id(r.ast))
            if hit is None or hit[0] is not r.ast:
                if plain_string is None:
                    plain_string = _plain_string_test(env.registry)
                hit = memo[id(r.ast)] = (r.ast, _conjuncts(merge_or_checks(r.ast, plain_string)))
            parts = []
            for c in hit[1]:
                truth = static_truth(c, evtype)
                if truth is False:
                    parts = None  # can never match this type
                    break
                if truth is None:
                    parts.append(c)
        except RecursionError:
            parts = [r.ast]
        if parts is None:
            continue
        split.append((r, parts))
        for c in set(parts):
            counts[c] = counts.get(c, 0) + 1
    ids: dict = {}
    shared: list = []
    entries = []
    for r, parts in split:
        sids = []
        unique = []
        for c in parts:
            if counts[c] > 1:
                sid = ids.get(c)
                if sid is None:
                    sid = ids[c] = len(shared)
                    shared.append(c)
                sids.append(sid)
            else:
                unique.append(c)
        rest = None if not unique else (unique[0] if len(unique) == 1 else And(tuple(unique)))
        entries.append((tuple(sids), rest, r.formatter.render, r))
    return _Plan(evtype, entries, shared, first, env)


def _opt_str(v) -> str | None:
    return None if v is None else str(v)


def _default_hostname() -> str:
    try:
        from pdigpy.engine.format import default_hostname

        return default_hostname()
    except ImportError:
        import socket

        return os.environ.get("FALCO_HOSTNAME") or socket.gethostname()

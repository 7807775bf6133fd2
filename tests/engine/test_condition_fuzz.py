"""Property tests: any input ends in a Node or a ParseError/CompileError, quickly.

- random token soups and randomly mutated upstream conditions only ever parse or
  raise ParseError (never another exception, never a hang: hypothesis' deadline);
- whatever parses either compiles or raises CompileError, and the predicate
  returns a bool on events with and without values;
- generated well-formed trees print and re-parse to the same printed form, and
  the one-regex fast paths give exactly the full grammar's result.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdigpy.engine import grammar
from pdigpy.engine.ast import And, Check, FieldRef, FieldValue, ListValue, MacroRef, Not, Or, Transformer, Value
from pdigpy.engine.astfmt import ast_to_str
from pdigpy.engine.compiler import CompileError, compile_condition
from pdigpy.engine.grammar import ParseError, parse_condition

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(
    max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

TOKENS = [
    "proc.name", "fd.name", "evt.type", "evt.res", "proc.aname", "proc.aname[1]", "fd.types", "fd.ip",
    "a", "b", "not", "and", "or", "(", ")", ",", "=", "==", "!=", "<", ">=", "in", "pmatch", "contains",
    "glob", "regex", "exists", "oneof", "anyof", "val(", "tolower(", "len(", "join(", "'", '"', "\\",
    "\\x4", "[", "]", "1", "-1", "0x10", "bash", "/etc", "*", " ", "  ", "\n", "\t", "openat", "'x y'",
]


def _slow_grammar():
    if not hasattr(_slow_grammar, "g"):
        _slow_grammar.g = grammar._build_grammar(fast=False)
    return _slow_grammar.g


def _outcome(text: str, use_slow: bool = False):
    """('ok', tree) or ('error', message, pos) for either grammar build."""
    if use_slow:
        if not text:
            return ("error", "filter input string is empty", 0)
        try:
            result = _slow_grammar().parse_string(text)
        except grammar.pp.ParseBaseException as exc:
            return ("error", exc.msg, exc.loc)
        if result[-1].loc != len(text):
            return ("trailing", result[-1].loc)
        return ("ok", result[0])
    try:
        return ("ok", grammar._parse_cached.__wrapped__(text, grammar.DEFAULT_MAX_DEPTH))
    except ParseError as exc:
        if exc.message.startswith("unexpected token after"):
            return ("trailing", exc.pos)
        return ("error", exc.message, exc.pos)


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_token_soup_parses_or_fails_cleanly(text):
    assert _outcome(text)[0] in ("ok", "error", "trailing")


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join))
def test_fast_paths_agree_with_full_grammar_on_token_soup(text):
    fast, slow = _outcome(text), _outcome(text, use_slow=True)
    if "exceeded max depth" in str(fast):
        return
    assert fast == slow


@SETTINGS
@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_fails_cleanly(text):
    try:
        parse_condition(text)
    except ParseError as exc:
        assert exc.line >= 1 and exc.col >= 1 and 0 <= exc.pos <= len(text)


def _corpus() -> list[str]:
    path = ROOT / "bench" / "bench_conditions.py"
    corpus = ROOT / "../shared/corpus/upstream-rules"
    if not corpus.is_dir():
        return ["proc.name in (bash, zsh) and not fd.name pmatch (/tmp)"]
    spec = importlib.util.spec_from_file_location("bench_conditions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.corpus_conditions()


CORPUS = _corpus()


@st.composite
def mutated_condition(draw):
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "cut"]))
        ch = draw(st.sampled_from(list("()'\",=[]\\ \nanot.x1")))
        if kind == "delete":
            text = text[:i] + text[i + 1 :]
        elif kind == "insert":
            text = text[:i] + ch + text[i:]
        elif kind == "replace":
            text = text[:i] + ch + text[i + 1 :]
        else:
            text = text[:i]
    return text


@SETTINGS
@given(mutated_condition())
def test_mutated_corpus_conditions_parse_or_fail_cleanly(text):
    fast, slow = _outcome(text), _outcome(text, use_slow=True)
    assert fast[0] in ("ok", "error", "trailing")
    assert fast == slow


# ------------------------------------------------------ generated trees

FIELDS = ["proc.name", "fd.name", "evt.type", "proc.pname", "a.b", "x.y.z"]
value_text = st.text(
    alphabet=st.sampled_from(list("abcXYZ019/_-.*?:![]{}|$^=' \"\\\t")), min_size=1, max_size=8
).filter(lambda t: not t.endswith("\\"))
values = st.builds(Value, value_text)
fields = st.builds(FieldRef, st.sampled_from(FIELDS), st.sampled_from([None, "1", "key"]))
lists = st.builds(ListValue, st.lists(values, max_size=4).map(tuple))
transformers = st.builds(
    Transformer, st.sampled_from(["tolower", "toupper", "b64", "basename", "len"]), fields.map(lambda f: (f,))
)
checks = st.one_of(
    st.builds(Check, fields | transformers, st.sampled_from(["=", "==", "!=", "contains", "glob", "startswith"]), values),
    st.builds(Check, fields | transformers, st.sampled_from(["in", "intersects", "pmatch"]), lists),
    st.builds(Check, fields, st.sampled_from(["<", ">=", ">"]), st.sampled_from(["1", "-2", "0x1f", "3.5"]).map(Value)),
    st.builds(Check, fields, st.just("exists")),
    st.builds(Check, fields, st.sampled_from(["=", "!="]), st.builds(FieldValue, fields)),
    st.builds(Check, fields, st.sampled_from(["=", "contains"]), lists, st.sampled_from(["anyof", "allof", "oneof"])),
    st.builds(MacroRef, st.sampled_from(["m1", "my_macro", "notm", "andm"])),
)
trees = st.recursive(
    checks,
    lambda inner: st.one_of(
        st.builds(And, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Or, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Not, inner),
    ),
    max_leaves=8,
)


@SETTINGS
@given(trees)
def test_generated_trees_round_trip_through_the_printed_form(tree):
    printed = ast_to_str(tree)
    reparsed = parse_condition(printed)
    assert ast_to_str(reparsed) == ast_to_str(_fold_nots(tree))
    assert _outcome(printed, use_slow=True) == ("ok", reparsed)


def _fold_nots(node):
    """The tree the parser builds for a printed tree: nested nots fold, and/or stay."""
    if isinstance(node, Not):
        child = _fold_nots(node.child)
        return child.child if isinstance(child, Not) and not isinstance(node.child, (And, Or)) else Not(child)
    if isinstance(node, (And, Or)):
        return type(node)(tuple(_fold_nots(c) for c in node.children))
    return node


@SETTINGS
@given(tree=trees)
def test_generated_trees_compile_or_fail_cleanly(tree, registry, make_ev):
    text = ast_to_str(tree)
    try:
        predicate = compile_condition(parse_condition(text), registry, [])
    except CompileError as exc:
        assert exc.message
        return
    for values in ({}, {"proc.name": "bash", "fd.name": "/etc/x", "proc.pname": "sh"}):
        assert predicate(make_ev(values)) in (True, False)


# ------------------------------------------- compiled vs. reference semantics
# A deliberately naive evaluator (an AST walk straight from spec §1.3/§1.4) is
# compared with the compiled predicate on random trees and random events: this
# covers inlined checks, evt.type-first reordering and the missing-value rule.

from pdigpy.engine.operators import make_glob, make_pmatch  # noqa: E402  (checked against libc separately)

REF_FIELDS = {"proc.name": "s", "fd.name": "s", "evt.res": "i", "proc.aname": "any", "fd.types": "list", "fd.port": "either"}
REF_WORDS = ["bash", "sh", "/etc", "/etc/x", "b*", "*sh", "1", "-1", "22"]


def _ref_one(op, v, r):
    if op in ("=", "=="):
        return v == r
    if op == "!=":
        return v != r
    if op == "<":
        return v < r
    if op == ">":
        return v > r
    if op == "contains":
        return r in v
    if op == "startswith":
        return v.startswith(r)
    if op == "endswith":
        return v.endswith(r)
    if op == "glob":
        return make_glob(r)(v)
    raise AssertionError(op)


def _ref_check(node: Check, values: dict) -> bool:
    name = node.lhs.name
    kind = REF_FIELDS[name]
    v = values.get(name)
    if v is None:
        return False
    if node.op == "exists":
        return bool(v) if kind == "any" else True
    rhs = node.rhs
    texts = [x.text for x in rhs.items] if isinstance(rhs, ListValue) else [rhs.text]
    consts = [int(t) for t in texts] if kind in ("i", "either") else texts
    op = node.op
    elements = v if kind in ("any", "either", "list") else [v]
    if kind == "list":
        if op == "in":
            return bool(v) and all(x in consts for x in v)
        return any(x in consts for x in v)

    def scalar(x):
        if node.modifier:
            hits = [_ref_one(op, x, c) for c in consts]
            return {"anyof": any(hits), "allof": all(hits), "oneof": hits.count(True) == 1}[node.modifier]
        if op in ("in", "intersects"):
            return x in consts
        if op == "pmatch":
            return make_pmatch(consts)(x)
        return _ref_one(op, x, consts[0])

    if kind == "either" and op == "!=":
        return all(scalar(x) for x in elements)
    return any(scalar(x) for x in elements)


def _ref_eval(node, values: dict) -> bool:
    if isinstance(node, And):
        return all(_ref_eval(c, values) for c in node.children)
    if isinstance(node, Or):
        return any(_ref_eval(c, values) for c in node.children)
    if isinstance(node, Not):
        return not _ref_eval(node.child, values)
    return _ref_check(node, values)


ref_words = st.sampled_from(REF_WORDS).map(Value)
ref_checks = st.one_of(
    st.builds(Check, st.sampled_from(["proc.name", "fd.name", "proc.aname"]).map(FieldRef),
              st.sampled_from(["=", "!=", "contains", "startswith", "endswith", "glob"]), ref_words),
    st.builds(Check, st.sampled_from(["proc.name", "fd.name", "proc.aname"]).map(FieldRef),
              st.sampled_from(["in", "pmatch"]), st.builds(ListValue, st.lists(ref_words, max_size=3).map(tuple))),
    st.builds(Check, st.sampled_from(["proc.name", "fd.name"]).map(FieldRef),
              st.sampled_from(["=", "!=", "contains"]), st.builds(ListValue, st.lists(ref_words, max_size=3).map(tuple)),
              st.sampled_from(["anyof", "allof", "oneof"])),
    st.builds(Check, st.just(FieldRef("evt.res")), st.sampled_from(["=", "!=", "<", ">"]),
              st.sampled_from(["1", "-1", "22"]).map(Value)),
    st.builds(Check, st.just(FieldRef("fd.port")), st.sampled_from(["=", "!="]), st.sampled_from(["1", "22"]).map(Value)),
    st.builds(Check, st.just(FieldRef("fd.types")), st.sampled_from(["in", "intersects"]),
              st.builds(ListValue, st.lists(st.sampled_from(["file", "ipv4"]).map(Value), max_size=2).map(tuple))),
    st.builds(Check, st.sampled_from(list(REF_FIELDS)).map(FieldRef), st.just("exists")),
)
ref_trees = st.recursive(
    ref_checks,
    lambda inner: st.one_of(
        st.builds(And, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Or, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Not, inner),
    ),
    max_leaves=6,
)
maybe = lambda s: st.none() | s  # noqa: E731
ref_events = st.fixed_dictionaries(
    {
        "proc.name": maybe(st.sampled_from(["bash", "sh", "b", "/etc/x"])),
        "fd.name": maybe(st.sampled_from(["/etc", "/etc/x", "/etcx", "bash", ""])),
        "evt.res": maybe(st.sampled_from([-1, 1, 22])),
        "proc.aname": maybe(st.lists(st.sampled_from(["bash", "sh", "init"]), max_size=3)),
        "fd.types": maybe(st.lists(st.sampled_from(["file", "ipv4", "pipe"]), max_size=2)),
        "fd.port": maybe(st.lists(st.sampled_from([1, 22, 80]), min_size=2, max_size=2)),
    }
)


@SETTINGS
@given(tree=ref_trees, values=ref_events)
def test_compiled_predicate_agrees_with_reference_semantics(tree, values, registry, make_ev):
    predicate = compile_condition(tree, registry)
    present = {k: v for k, v in values.items() if v is not None}
    assert predicate(make_ev(present)) is _ref_eval(tree, present)


@SETTINGS
@given(mutated_condition())
def test_mutated_corpus_conditions_compile_or_fail_cleanly_with_the_real_registry(text):
    from pdigpy.engine.fields.registry import FieldRegistry
    from pdigpy.events.model import Event

    try:
        tree = parse_condition(text)
    except ParseError:
        return
    if not hasattr(test_mutated_corpus_conditions_compile_or_fail_cleanly_with_the_real_registry, "reg"):
        test_mutated_corpus_conditions_compile_or_fail_cleanly_with_the_real_registry.reg = FieldRegistry()
    registry = test_mutated_corpus_conditions_compile_or_fail_cleanly_with_the_real_registry.reg
    try:
        predicate = compile_condition(tree, registry, [])
    except CompileError:
        return
    for evt in (Event(1, 0, 1, 1, "openat", 3, {"name": "/etc/x", "flags": 1}), Event(2, 0, 1, 1, "execve", 0, {})):
        assert predicate(evt) in (True, False)

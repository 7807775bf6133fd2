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

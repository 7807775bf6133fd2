"""Every macro and rule condition of the upstream rules files parses, prints and re-parses.

Lists are substituted textually first (bench/bench_conditions.py does it the
way the loader does, simplified), as Falco does before parsing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pdigpy.engine import grammar
from pdigpy.engine.ast import Value
from pdigpy.engine.astfmt import ast_to_str

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "../shared/corpus/upstream-rules"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_conditions", ROOT / "bench" / "bench_conditions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus_conditions() -> list[str]:
    if not CORPUS.is_dir():
        pytest.skip("upstream rules corpus not present")
    return _bench().corpus_conditions()


@pytest.fixture(scope="module")
def slow_grammar():
    return grammar._build_grammar(fast=False)


def test_corpus_size(corpus_conditions):
    # falco_rules.yaml alone has 25 rules and 87 macros; the three files together several hundred
    assert len(corpus_conditions) > 400


def test_every_corpus_condition_parses(corpus_conditions):
    failures = []
    for text in corpus_conditions:
        try:
            grammar._parse_cached.__wrapped__(text, 1000)
        except grammar.ParseError as exc:
            failures.append((text[:80], exc.message))
    assert failures == []


def _values(node):
    for name in ("children", "child", "lhs", "rhs", "items", "args", "field"):
        sub = getattr(node, name, None)
        if sub is None:
            continue
        for s in sub if isinstance(sub, tuple) else (sub,):
            yield from _values(s)
    if isinstance(node, Value):
        yield node.text


def test_printed_form_is_a_fixed_point(corpus_conditions):
    # Trees may differ only in Value.quoted ('f' prints as f). Falco prints values
    # holding '(', ')' or ',' unquoted, and the empty value as nothing, so those
    # printed forms do not parse back; nor does a quoted value ending in a backslash.
    checked = 0
    for text in corpus_conditions:
        tree = grammar.parse_condition(text)
        if any(v == "" or v.endswith("\\") or any(c in v for c in "(),") for v in _values(tree)):
            continue
        printed = ast_to_str(tree)
        assert ast_to_str(grammar.parse_condition(printed)) == printed, text[:100]
        checked += 1
    assert checked > 350


def test_fast_paths_build_the_same_trees_as_the_full_grammar(corpus_conditions, slow_grammar):
    for text in corpus_conditions:
        fast = grammar.parse_condition(text)
        result = slow_grammar.parse_string(text)
        assert result[-1].loc == len(text)
        assert result[0] == fast, text[:100]


def test_upstream_shapes_are_present(corpus_conditions):
    """The corpus exercises the operators the engine must get right."""
    joined = "\n".join(corpus_conditions)
    for token in (" pmatch ", " glob ", " startswith ", " endswith ", " contains ", " in (", " exists", "not "):
        assert token in joined, token

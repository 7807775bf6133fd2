"""Shared helpers for the rules-engine tests (E2): real registry, real files, no mocks."""

from __future__ import annotations

from pathlib import Path

from pdigpy.engine.engine import RuleEngine
from pdigpy.engine.errors import LoadResult
from pdigpy.engine.fields.registry import FieldRegistry

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus" / "upstream-rules"
UPSTREAM = [CORPUS / "falco_rules.yaml", CORPUS / "falco-incubating_rules.yaml", CORPUS / "falco-sandbox_rules.yaml"]
LEGACY = sorted(CORPUS.glob("legacy/*/falco_rules.yaml"))

RULE = """
- rule: {name}
  desc: test rule
  condition: {cond}
  output: "file=%fd.name"
  priority: WARNING
"""


def make_engine(**kw) -> RuleEngine:
    kw.setdefault("append_output", [])
    kw.setdefault("cache", False)  # tests never write the user's cache (tests/engine/test_loader_cache.py does, in tmp)
    return RuleEngine(FieldRegistry(), **kw)


def load(text: str, name: str = "rules.yaml", **kw) -> tuple[RuleEngine, LoadResult]:
    engine = make_engine(**kw)
    return engine, engine.load_text(text, name)


def codes(result: LoadResult) -> list[str]:
    return [m.code for m in result.errors] + [m.code for m in result.warnings]


def compiled(engine: RuleEngine, name: str) -> str:
    from pdigpy.engine.astfmt import ast_to_str

    rule = next(r for r in engine.rules if r.name == name)
    return ast_to_str(rule.ast)


def test_support_paths_exist():
    assert all(p.is_file() for p in UPSTREAM), UPSTREAM
    assert len(LEGACY) == 2

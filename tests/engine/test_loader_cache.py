"""The persistent parse cache: a second process start reuses parsed conditions; bad files are ignored."""

from __future__ import annotations

import os
import subprocess
import sys

from pdigpy.engine.astfmt import ast_to_str
from pdigpy.engine.cache import ConditionCache
from test_loader_support import REPO, UPSTREAM, make_engine

PROBE = """
import sys
from pdigpy.engine.engine import RuleEngine
from pdigpy.engine.fields.registry import FieldRegistry
e = RuleEngine(FieldRegistry(), cache=sys.argv[1])
res = e.load_files(sys.argv[2:])
c = e._env.parse_cache
g = sys.modules.get('pdigpy.engine.grammar')
print(res.ok, c.hits, c.misses, g is not None and g._GRAMMAR is not None)
"""


def run_probe(cache_dir, *files) -> list[str]:
    env = dict(os.environ)
    env.pop("PDIGPY_NO_CACHE", None)
    out = subprocess.run([sys.executable, "-c", PROBE, str(cache_dir), *map(str, files)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.split()


def test_second_start_parses_nothing(tmp_path):
    first = run_probe(tmp_path, *UPSTREAM)
    # misses: parsed once; hits: the same texts met again when later files re-resolve everything
    assert first[0] == "True" and int(first[2]) > 300 and first[3] == "True"
    (cache_file,) = tmp_path.glob("conditions-*.pickle")
    assert oct(tmp_path.stat().st_mode & 0o777) == "0o700"
    second = run_probe(tmp_path, *UPSTREAM)
    assert second[0] == "True" and int(second[1]) > 300 and int(second[2]) == 0
    assert second[3] == "False"  # the pyparsing grammar is not even built


def test_cached_trees_equal_parsed_trees(tmp_path):
    fresh = make_engine()
    assert fresh.load_files([str(UPSTREAM[0])]).ok
    cached1 = make_engine(cache=tmp_path)
    assert cached1.load_files([str(UPSTREAM[0])]).ok
    assert next(tmp_path.glob("conditions-*.pickle")).stat().st_size > 0
    reloaded = ConditionCache(tmp_path)
    assert len(reloaded.entries) > 100
    cached2 = make_engine(cache=tmp_path)
    assert cached2.load_files([str(UPSTREAM[0])]).ok
    assert [ast_to_str(r.ast) for r in fresh.rules] == [ast_to_str(r.ast) for r in cached2.rules]


def test_corrupt_or_foreign_cache_is_ignored(tmp_path):
    c = ConditionCache(tmp_path)
    c.path.parent.mkdir(parents=True, exist_ok=True)
    c.path.write_bytes(b"not a pickle")
    assert ConditionCache(tmp_path).entries == {}
    c.path.write_bytes(b"\x80\x05K\x01.")  # a pickle of 1, not a dict
    assert ConditionCache(tmp_path).entries == {}
    real = ConditionCache(tmp_path / "real")
    real.put("evt.type = open", "a tree")
    real.save()
    assert ConditionCache(tmp_path / "real").entries == {"evt.type = open": "a tree"}
    os.chmod(real.path, 0o666)  # writable by others: never unpickled
    assert ConditionCache(tmp_path / "real").entries == {}


def test_unwritable_cache_dir_is_silent(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        engine = make_engine(cache=ro / "sub")
        res = engine.load_text("- macro: m\n  condition: evt.type = open\n- rule: r\n  desc: d\n  condition: m\n"
                               "  output: o\n  priority: INFO\n")
        assert res.ok
    finally:
        os.chmod(ro, 0o700)

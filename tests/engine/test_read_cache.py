"""The read cache: a rules file read once is replayed from the cache on the next start, with the
same rules, warnings and errors as a fresh read, and without importing PyYAML."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from test_loader_support import REPO, UPSTREAM

PROBE = """
import json, sys
from pdigpy.engine.engine import RuleEngine
from pdigpy.engine.fields.registry import FieldRegistry
e = RuleEngine(FieldRegistry(), cache=False, append_output=[])
res = e.load_files(sys.argv[1:], stop_on_error=False)
print(json.dumps({
    "yaml": "yaml" in sys.modules,
    "report": res.report_text(),
    "rules": sorted(r.name for r in e.rules),
    "enabled": sorted(n for n, on in e._enabled.items() if on),
    "types": sorted(e.event_types()),
}))
"""


def probe(cache_dir, *files) -> dict:
    import json

    env = dict(os.environ, PDIGPY_CACHE_DIR=str(cache_dir))
    env.pop("PDIGPY_NO_CACHE", None)
    out = subprocess.run([sys.executable, "-c", PROBE, *map(str, files)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout)


def test_replay_equals_a_fresh_read_and_skips_yaml(tmp_path):
    first = probe(tmp_path, *UPSTREAM)
    assert first["yaml"] and first["rules"]
    assert len(list(tmp_path.glob("read-*.pickle"))) == len(UPSTREAM)
    second = probe(tmp_path, *UPSTREAM)
    assert not second["yaml"]  # every file came from the cache
    assert {k: v for k, v in second.items() if k != "yaml"} == {k: v for k, v in first.items() if k != "yaml"}


def test_warnings_and_collector_errors_replay(tmp_path):
    padding = "".join(f"- list: pad_{i}\n  items: [a, b, c, d, e, f, g, h]\n" for i in range(60))
    base = tmp_path / "base.yaml"
    base.write_text(padding + "- macro: m\n  condition: evt.type = close\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text(padding + "- rule: r1\n  desc: d\n  condition: evt.type = open and m\n  output: o\n"
                     "  priority: INFO\n  bogus_key: 1\n- macro: m\n  condition: evt.type = open\n  append: true\n")
    cache = tmp_path / "cache"
    first = probe(cache, base, extra)
    assert "bogus_key" in first["report"]
    second = probe(cache, base, extra)
    assert not second["yaml"]
    assert second == dict(first, yaml=False)
    # extra's stored reading, replayed alone: the append now has nothing to append to, as on a fresh read
    alone = probe(cache, extra)
    fresh = probe(tmp_path / "fresh", extra)
    assert not alone["yaml"] and fresh["yaml"]
    assert alone["report"] == fresh["report"] and "LOAD_ERR" in alone["report"]


def test_failed_reading_is_not_stored(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- list: x\n  items: [a]\n" * 200 + "- rule: [unclosed\n")
    cache = tmp_path / "cache"
    first = probe(cache, bad)
    assert "LOAD_ERR_YAML_PARSE" in first["report"] or "yaml" in first["report"]
    assert not list(cache.glob("read-*.pickle"))


@pytest.mark.parametrize("text", ["", "[]\n", "  \n"])
def test_empty_files_need_no_yaml(tmp_path, text):
    empty = tmp_path / "empty.yaml"
    empty.write_text(text)
    got = probe(tmp_path / "cache", empty)
    assert not got["yaml"] and got["rules"] == []

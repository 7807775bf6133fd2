"""The import diet of a plain run: what a `pdigpy -- cmd` start-up must not load.

Start-up is paid on every wrapped command, and in a short run importing is most of it. Each
test runs pdigpy in a fresh interpreter that records ``sys.modules`` after ``main()`` returns,
so a module imported at any point of the run (before the app is forked or after it exits)
counts. Modules, not milliseconds: the tests never time anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Runs pdigpy's main() with argv[2:], then writes the names of every imported module to argv[1].
PROBE = """
import sys
from pdigpy.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""

# Never needed by a run with stderr output only, whatever its rules.
NEVER_IN_A_PLAIN_RUN = (
    "rich",
    "json",
    "logging",
    "http.client",
    "urllib.request",
    "ssl",
    "subprocess",
    "shutil",
    "datetime",
    "xml.etree.ElementTree",
    "pdigpy.outputs.forwarders",
    "pdigpy.outputs.forwarders.common",
    "pdigpy.outputs.spawner",
    "pdigpy.outputs.channels.program",
    "pdigpy.outputs.payloads",
    "pdigpy.outputs.httpclient",
    "pdigpy.report.junit",
)
# What reading and parsing rules needs: a run whose rules are cached, or empty, does without.
RULE_PARSING = ("yaml", "pyparsing", "pdigpy.engine.grammar")


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _modules(tmp_path: Path, *args: str) -> set[str]:
    listing = tmp_path / "modules.txt"
    env = dict(os.environ, PDIGPY_CACHE_DIR=str(tmp_path / "cache"))
    for key in ("PDIGPY_NO_CACHE", "PDIGPY_CONFIG", "ECS_CONTAINER_METADATA_URI_V4"):
        env.pop(key, None)
    res = subprocess.run([sys.executable, "-c", PROBE, str(listing), *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""  # the app's stdout is the app's: /bin/true writes nothing, nor does pdigpy
    modules = set(listing.read_text().split())
    assert {"pdigpy.app", "pdigpy.tracer.session", "pdigpy.engine.engine"} <= modules  # the probe sees the run
    return modules


def test_empty_rules_run_loads_no_parser_no_cache_and_no_output_extras(tmp_path):
    rules = tmp_path / "empty.yaml"
    rules.write_text("[]\n")
    modules = _modules(tmp_path, "-r", str(rules), "--no-summary", "--", "/bin/true")
    assert sorted(modules.intersection(NEVER_IN_A_PLAIN_RUN + RULE_PARSING)) == []
    # nothing to look up or store: the caches' pickle and digests stay unloaded
    assert sorted(modules.intersection(("pickle", "hashlib", "tempfile"))) == []
    assert "pdigpy.engine.compiler" not in modules  # no rule, no plan to generate code for


def test_default_rules_with_a_warm_cache_load_no_parser(tmp_path):
    cold = _modules(tmp_path, "--no-summary", "--", "/bin/true")
    assert set(RULE_PARSING) <= cold  # the first run parses: the probe would see a parser
    warm = _modules(tmp_path, "--no-summary", "--", "/bin/true")
    assert sorted(warm.intersection(NEVER_IN_A_PLAIN_RUN + RULE_PARSING + ("tempfile",))) == []
    assert "pdigpy.engine.cache" in warm  # served from the cache, not by skipping the rules
    # the cache is read with CPython's built-in sha256 and unpickler, not hashlib and pickle.py
    if _has_module("_pickle") and (_has_module("_sha2") or _has_module("_sha256")):
        assert sorted(warm.intersection(("hashlib", "pickle"))) == []


def test_json_output_loads_json(tmp_path):
    """The control for the json entry above: a run that writes JSON alerts does import it."""
    rules = tmp_path / "r.yaml"
    rules.write_text("- rule: r\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n")
    modules = _modules(tmp_path, "-r", str(rules), "-o", "json_output=true", "--", "/bin/true")
    assert "json" in modules

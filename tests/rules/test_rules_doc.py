"""docs/rules.md: every YAML example loads with the default rules, and the tuning examples do what they say.

The examples are read from the document itself, so an edit that breaks one
breaks this test. Each rules example is validated by the real ``pdigpy -V``
together with rules/, and the behavioural ones are also run for real: the
same scenario once without and once with the example, the alert must go away.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from rules_helpers import (NETNS_SCRIPT, PYTHON, REPO, RULES_DIR, pdigpy_argv, python_app, run_traced,
                           unique)

DOC = REPO / "docs" / "rules.md"
DEFAULT_RULES_FILE = RULES_DIR / "pdigpy_rules.yaml"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the scenario needs root")


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def _rules_examples() -> list[str]:
    """The rules-file examples meant to load cleanly (not the config one, not the warning ones)."""
    return [b for b in _yaml_blocks() if not b.startswith(("# pdigpy.yaml", "# warns:"))]


def _warning_examples() -> list[tuple[str, str]]:
    return [(b.split("\n", 1)[0].split(":", 1)[1].strip(), b) for b in _yaml_blocks() if b.startswith("# warns:")]


def _example(first_line: str) -> str:
    """The rules example whose first item starts with ``first_line``."""
    hits = [b for b in _rules_examples() if b.startswith(first_line)]
    assert len(hits) == 1, f"docs/rules.md: expected one example starting with {first_line!r}"
    return hits[0]


def _write(work: Path, text: str) -> Path:
    path = work / f"{unique('example')}.yaml"
    path.write_text(text)
    return path


def _describe(*rules_files: Path) -> dict:
    args = [x for f in rules_files for x in ("-r", str(f))]
    proc = subprocess.run([*pdigpy_argv(), *args, "-L", "-o", "json_output=true"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {r["info"]["name"]: r["info"] for r in json.loads(proc.stdout)["rules"]}


def test_the_doc_has_examples():
    assert len(_rules_examples()) >= 8
    assert len(_yaml_blocks()) == len(_rules_examples()) + 1 + len(_warning_examples())  # + one config example
    assert len(_warning_examples()) >= 4


@pytest.mark.parametrize("index", range(len(_rules_examples())))
def test_every_rules_example_loads_after_the_defaults_without_warnings(work, index):
    example = _write(work, _rules_examples()[index])
    proc = subprocess.run([*pdigpy_argv(), "-V", str(DEFAULT_RULES_FILE), str(example)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Warning" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert proc.stdout.count(": Ok") == 2, proc.stdout


@pytest.mark.parametrize("index", range(len(_warning_examples())))
def test_warning_examples_warn_as_the_doc_says(work, index):
    code, text = _warning_examples()[index]
    example = _write(work, text)
    proc = subprocess.run([*pdigpy_argv(), "-V", str(DEFAULT_RULES_FILE), str(example), "-o", "json_output=true"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    codes = {w["code"] for result in report["falco_load_results"] for w in result.get("warnings", [])}
    assert codes == {code}, proc.stdout


def test_warning_table_covers_every_code_the_engine_has():
    from pdigpy.engine.errors import WARNING_CODES

    table = DOC.read_text().split("### Load warnings", 1)[1].split("For example", 1)[0]
    documented = set(re.findall(r"`(LOAD_[A-Z_]+)`", table))
    assert documented == set(WARNING_CODES)


def test_every_default_rule_is_described_in_the_doc():
    text = DOC.read_text()
    names = [i["rule"] for i in yaml.safe_load(DEFAULT_RULES_FILE.read_text()) if "rule" in i]
    for name in names:
        assert f"**{name}**" in text, f"docs/rules.md does not describe {name!r}"
        assert f"| {name} |" in text, f"docs/rules.md's summary table lacks {name!r}"


def test_summary_table_matches_the_rules():
    """Priority and event types in the doc's table are the engine's."""
    from pdigpy.app import _rule_event_types
    from pdigpy.engine.engine import RuleEngine
    from pdigpy.engine.fields.registry import FieldRegistry
    from pdigpy.engine.priority import Priority

    engine = RuleEngine(FieldRegistry(None))
    assert engine.load_files([str(DEFAULT_RULES_FILE)]).ok
    rows = {m.group(1): (m.group(2), set(m.group(3).split(", ")))
            for m in re.finditer(r"^\| (.+?) \| (\w+) \| (.+?) \|$", DOC.read_text(), flags=re.M)}
    for rule in engine.rules:
        priority, types = rows[rule.name]
        assert priority == Priority(rule.priority).label, rule.name
        assert types == set(_rule_event_types(rule)), rule.name


def test_filter_set_in_the_doc_is_the_real_one():
    """The syscalls the doc says the rules add, and the total, are what --print-filter prints."""
    from pdigpy.state.needs import STATE_EVENT_TYPES

    proc = subprocess.run([*pdigpy_argv(), "--print-filter", "-r", str(RULES_DIR)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [ln.split("\t") for ln in proc.stdout.splitlines() if not ln.startswith("#")]
    added = {name for name, etype, _who in lines if etype not in STATE_EVENT_TYPES}
    text = DOC.read_text()
    block = re.search(r"default rules add (\d+) syscalls:\n\n```\n(.*?)```", text, flags=re.S)
    assert block, "docs/rules.md: the filter paragraph moved"
    assert set(block.group(2).split()) == added
    assert int(block.group(1)) == len(added)
    assert f"That gives {len(lines)} syscalls" in text


# ---------------------------------------------------------------------------
# The examples, run


@needs_root
def test_example_allowed_ports(work):
    if not shutil.which("ip") or not shutil.which("unshare"):
        pytest.skip("needs ip and unshare")
    example = _write(work, _example("- list: pdigpy_allowed_outbound_ports"))
    argv = ["unshare", "-n", "sh", "-c", NETNS_SCRIPT.format(python=PYTHON, port=5432)]
    rule = "Outbound connection to an unexpected port"
    before = run_traced(argv, work)
    if before.returncode == 99:
        pytest.skip("cannot configure a private network namespace here")
    assert before.fired(rule), before.describe()
    after = run_traced(argv, work, rules=[RULES_DIR, example])
    assert after.returncode == 0 and not after.fired(rule), after.describe()


def _named_python(work: Path, name: str) -> str:
    """A symlink to the interpreter: the process's name (comm) is the link's name."""
    link = work / "bin" / name
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(PYTHON)
    return str(link)


def test_example_exception_for_sdk_app(work):
    example = _write(work, _example("- rule: Read cloud or service credentials"))
    creds = work / "home" / ".aws" / "credentials"
    creds.parent.mkdir(parents=True)
    creds.write_text("[default]\n")
    code = f"open({str(creds)!r}).read()"
    rule = "Read cloud or service credentials"
    myapp = run_traced([_named_python(work, "myapp"), "-c", code], work, rules=[RULES_DIR, example])
    assert not myapp.fired(rule), myapp.describe()
    other = run_traced([PYTHON, "-c", code], work, rules=[RULES_DIR, example])
    assert other.fired(rule), other.describe()  # the exception is for myapp only


def test_example_build_directory_exception(work):
    """The doc's path is /builds/myproject/out; the test points the same example at its own directory."""
    text = _example("- rule: Executable changed after its parent started")
    out = work / "out"
    out.mkdir()
    example = _write(work, text.replace("/builds/myproject/out", str(out)))
    prog = out / "unit-tests"
    app = python_app(f"""
        import shutil, subprocess
        shutil.copy('/usr/bin/true', {str(prog)!r})
        subprocess.run([{str(prog)!r}])
    """)
    rule = "Executable changed after its parent started"
    assert run_traced(app, work).fired(rule)
    after = run_traced(app, work, rules=[RULES_DIR, example])
    assert not after.fired(rule), after.describe()


def test_example_known_shell_spawners(work):
    example = _write(work, _example("- list: pdigpy_known_shell_spawners"))
    argv = [_named_python(work, "celery"), "-c", "import subprocess; subprocess.run(['sh', '-c', 'true'])"]
    rule = "Shell spawned by a non-shell program"
    assert run_traced(argv, work).fired(rule)
    after = run_traced(argv, work, rules=[RULES_DIR, example])
    assert not after.fired(rule), after.describe()


def test_example_condition_append(work):
    example = _write(work, _example("- rule: Write below /etc"))
    info = _describe(RULES_DIR, example)["Write below /etc"]
    assert info["condition"].rstrip().endswith("and not fd.name startswith /etc/myapp/")


def test_example_priority_and_enabled(work):
    example = _write(work, _example("- rule: Shell spawned by a non-shell program"))
    rules = _describe(RULES_DIR, example)
    assert rules["Shell spawned by a non-shell program"]["priority"] == "Warning"
    assert rules["Outbound connection to an unexpected port"]["enabled"] is False
    assert rules["Connection to a cryptomining pool port"]["enabled"] is True


@needs_root
def test_example_macro_redefinition(work, cleanup):
    example = _write(work, _example("- list: my_installers"))
    target = Path("/etc") / unique()
    cleanup.append(target)
    code = f"import os; open({str(target)!r}, 'w').write('x'); os.unlink({str(target)!r})"
    rule = "Write below /etc"
    assert run_traced([_named_python(work, "acme-deploy"), "-c", code], work).fired(rule)
    after = run_traced([str(work / "bin" / "acme-deploy"), "-c", code], work, rules=[RULES_DIR, example])
    assert after.returncode == 0 and not after.fired(rule), after.describe()


@needs_root
def test_example_own_rule(work, cleanup):
    example = _write(work, _example("- rule: Docker secret read by another program"))
    secrets = Path("/run/secrets")
    if not secrets.exists():
        secrets.mkdir()
        cleanup.append(secrets)
    secret = secrets / unique()
    cleanup.append(secret)
    secret.write_text("hunter2\n")
    rule = "Docker secret read by another program"
    run = run_traced([PYTHON, "-c", f"open({str(secret)!r}).read()"], work, rules=[RULES_DIR, example])
    hits = run.fired(rule)
    assert len(hits) == 1 and f"file={secret}" in hits[0]["output"], run.describe()
    owner = run_traced([_named_python(work, "myapp"), "-c", f"open({str(secret)!r}).read()"], work,
                       rules=[RULES_DIR, example])
    assert not owner.fired(rule), owner.describe()


def test_config_example_rule_selection(work):
    config_text = [b for b in _yaml_blocks() if b.startswith("# pdigpy.yaml")][0]
    config = work / "pdigpy.yaml"
    config.write_text(config_text)
    proc = subprocess.run([*pdigpy_argv(), "-c", str(config), "-r", str(RULES_DIR), "-L"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    disabled = {line.split("  ")[0].strip() for line in proc.stdout.splitlines() if line.endswith("(disabled)")}
    assert "Outbound connection to an unexpected port" in disabled
    assert "Network tool spawned by a non-shell program" in disabled
    assert "Connection to a cryptomining pool port" not in disabled  # enabled again by the second entry
    # the -o form from the doc
    line = re.search(r"pdigpy -o '(rules\[\]=\{.*?\})' -- ./myapp", DOC.read_text()).group(1)
    proc = subprocess.run([*pdigpy_argv(), "-o", line, "-r", str(RULES_DIR), "-L"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Outbound connection to an unexpected port" in {
        ln.split("  ")[0].strip() for ln in proc.stdout.splitlines() if ln.endswith("(disabled)")}


def test_falco_stable_rules_load_and_fire(work):
    """The doc says Falco's falco_rules.yaml loads with -r and works on a real program."""
    falco_rules = REPO.parent / "shared" / "corpus" / "upstream-rules" / "falco_rules.yaml"
    if not falco_rules.is_file():
        pytest.skip("upstream rules corpus not available")
    proc = subprocess.run([*pdigpy_argv(), "-V", str(falco_rules)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Warning" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    if os.geteuid() == 0:
        run = run_traced(python_app("open('/etc/shadow').read()"), work, rules=[falco_rules])
        assert run.fired("Read sensitive file untrusted"), run.describe()

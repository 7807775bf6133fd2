"""The README's first screen and .ci/run say and do what the brief promises."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import pytest

from cli_helpers import REPO

README = REPO / "README.md"
CI_RUN = REPO / ".ci" / "run"
FIRST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/pdigpy -- examples/demo/app.sh"


def _fenced_blocks(text: str) -> list[list[str]]:
    return [[l for l in block.splitlines() if l.strip()] for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S)]


def test_first_screen_has_exactly_the_two_setup_commands():
    text = README.read_text()
    first_screen = text.split("\n---\n")[0]
    assert "pdig" in first_screen and "archived" in first_screen and "kilt" in first_screen
    blocks = _fenced_blocks(first_screen)
    assert blocks == [[FIRST_COMMAND, "bash .ci/run"]]


def test_demo_app_is_executable_and_cleans_up():
    app = REPO / "examples" / "demo" / "app.sh"
    assert app.stat().st_mode & stat.S_IXUSR
    before = set(os.listdir("/tmp"))
    res = subprocess.run([str(app)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "demo: done" in res.stdout
    assert not {n for n in set(os.listdir("/tmp")) - before if n.startswith("pdigpy-demo.")}


def test_ci_run_is_strict_bash_and_runs_the_readme_test_command():
    text = CI_RUN.read_text()
    assert CI_RUN.stat().st_mode & stat.S_IXUSR
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert "pip\" install -q --disable-pip-version-check -e '.[test,kafka,aws]'" in text
    assert '-m pytest -q "$@"' in text
    assert "status == 5" in text
    subprocess.run(["bash", "-n", str(CI_RUN)], check=True)


@pytest.mark.slow
def test_ci_run_treats_no_tests_as_failure(tmp_path):
    """Runs .ci/run for real in a throwaway venv, selecting no test: pytest's 5 must become 1."""
    env = dict(os.environ, PDIGPY_CI_VENV=str(tmp_path / "venv"))
    env.pop("VIRTUAL_ENV", None)
    res = subprocess.run(["bash", str(CI_RUN), "-k", "pdigpy_no_such_test_zz", "tests/cli/test_cli_readme.py"],
                         capture_output=True, text=True, env=env, timeout=1800, cwd=REPO)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "collected no tests" in res.stderr
    assert (tmp_path / "venv" / "bin" / "pdigpy").exists()


def test_examples_use_flags_pdigpy_accepts():
    """The commands in examples/ and the README parse with pdigpy's own parser."""
    import json
    import shlex

    import yaml

    from pdigpy.cli import build_parser, split_command

    workflow = yaml.safe_load((REPO / "examples/github-actions/pdigpy-pytest.yml").read_text())
    runs = [step["run"] for step in workflow["jobs"]["test"]["steps"] if "pdigpy --" in step.get("run", "")]
    commands = [" ".join(r.replace("\\\n", " ").split()) for r in runs]
    dockerfile = (REPO / "examples/fargate/Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (.*)$", dockerfile, re.M).group(1))
    commands.append(shlex.join(entry + ["/app/server"]))
    readme = README.read_text()
    commands += [line.split("#")[0] for block in _fenced_blocks(readme) for line in block
                 if line.startswith("pdigpy ") and "\\" not in line]
    assert len(commands) >= 8
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "pdigpy", command
        if argv[1:2] == ["replay"]:
            continue
        before, _cmd = split_command(argv[1:])
        build_parser().parse_args(before)  # exits 2 on an unknown flag


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def test_container_section_links_the_example_and_the_docs():
    section = _section(README.read_text(), "## Running in a container")
    links = re.findall(r"\]\(([^)]+)\)", section)
    for target in ("examples/fargate/", "docs/fargate.md", "docs/ci.md", "docs/architecture.md", "docs/rules.md",
                   "docs/outputs.md", "docs/security.md", "docs/performance.md"):
        assert target in links, f"the container section does not link {target}"
    assert "ecs-fargate" not in section


def test_every_relative_link_in_the_readme_exists():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text()):
        if "://" in target:
            continue
        assert (REPO / target).exists(), f"README links {target}, which does not exist"

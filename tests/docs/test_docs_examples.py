"""Every command and config example in docs/fargate.md, docs/ci.md and docs/architecture.md is exercised.

The docs are split into fenced code blocks, and each block is handled by its
language tag:

- ``sh``: run with bash in a scratch directory that holds links to the
  repository's ``examples/``, ``rules/`` and ``pdigpy/`` (so the commands read
  as they would from a checkout, and whatever they write stays in the scratch
  directory), with the venv's ``pdigpy`` and ``python`` first on PATH. The
  blocks of one page run in order in the same directory. The block must end
  with status 0 and print no traceback or usage error. A block made only of
  ``docker``/``aws`` commands cannot run here; each such command is checked
  instead (``docker build``: the Dockerfile exists and every COPY source is in
  the build context; ``aws ecs register-task-definition``: the file is a
  Fargate task definition).
- ``text`` after ``<!-- output -->``: the output of the ``sh`` block before
  it. Each line must match a line of that output (stdout and stderr); ``...``
  matches anything.
- ``yaml``: a mapping is a pdigpy config and must build the output hub (every
  key checked, as at start-up); a list is a rules file and must pass
  ``pdigpy -V``.
- ``json``: a fragment of ``examples/fargate/task-definition.json`` (every key
  and value is in the file; list items in the same order).
- ``dockerfile``: every instruction appears in ``examples/fargate/Dockerfile``.
- ``python``: run with the venv's python in the scratch directory.
- ``text`` and ``mermaid`` blocks that are not output are pictures (diagrams,
  sample alerts) and are not run.

``<!-- not-run: reason -->`` on the line before a block skips it. Each page may
use it at most :data:`MAX_NOT_RUN` times, and the reason must say why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCS = ["fargate.md", "ci.md", "architecture.md"]
MAX_NOT_RUN = 3
RUNNABLE = {"sh", "yaml", "json", "dockerfile", "python"}
PICTURES = {"text", "mermaid"}
LINKED = ["examples", "rules", "pdigpy", "pyproject.toml", "README.md"]
EXTERNAL = {"docker", "aws"}


@dataclass
class Block:
    doc: str
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    markers: dict[str, str] = field(default_factory=dict)  # not-run / output / file -> value

    @property
    def where(self) -> str:
        return f"docs/{self.doc}:{self.line}"


_MARKER = re.compile(r"<!--\s*(not-run|output)\s*(?::\s*(.*?))?\s*-->")


def parse_blocks(doc: str) -> list[Block]:
    lines = (REPO / "docs" / doc).read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        if j == len(lines):
            raise AssertionError(f"docs/{doc}:{start + 1}: unclosed code fence")
        markers: dict[str, str] = {}
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        while k >= 0:
            mm = _MARKER.fullmatch(lines[k].strip())
            if not mm:
                break
            markers[mm.group(1)] = mm.group(2) or ""
            k -= 1
        blocks.append(Block(doc, start + 1, m.group(1).lower(), "\n".join(lines[start + 1:j]) + "\n", markers))
        i = j + 1
    return blocks


ALL_BLOCKS = {doc: parse_blocks(doc) for doc in DOCS if (REPO / "docs" / doc).is_file()}


def test_every_page_exists():
    missing = [doc for doc in DOCS if doc not in ALL_BLOCKS]
    assert not missing, f"missing docs: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_blocks_are_tagged_and_exceptions_are_rare(doc):
    blocks = ALL_BLOCKS.get(doc, [])
    not_run = [b for b in blocks if "not-run" in b.markers]
    for b in not_run:
        assert len(b.markers["not-run"].split()) >= 3, f"{b.where}: say why the block is not run"
    assert len(not_run) <= MAX_NOT_RUN, f"docs/{doc}: {len(not_run)} blocks not run; at most {MAX_NOT_RUN}"
    for b in blocks:
        assert b.lang in RUNNABLE | PICTURES, f"{b.where}: tag the block with one of {sorted(RUNNABLE | PICTURES)}"
        if "output" in b.markers:
            assert b.lang == "text", f"{b.where}: an output block is a ```text block"
    assert any(b.lang in RUNNABLE and "not-run" not in b.markers for b in blocks), f"docs/{doc}: nothing to run"


# ---------------------------------------------------------------------------
# Running the blocks of a page, in order


def _scratch(tmp: Path) -> Path:
    for name in LINKED:
        (tmp / name).symlink_to(REPO / name)
    return tmp


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PDIGPY_CONFIG", None)
    env.pop("ECS_CONTAINER_METADATA_URI_V4", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    return env


def _commands(text: str) -> list[str]:
    """Logical command lines of a shell block: continuations joined, comments and blank lines dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        stripped = cur.strip()
        if stripped and not stripped.startswith("#"):
            out.append(stripped)
        cur = ""
    return out


def _load_fargate_support():
    spec = importlib.util.spec_from_file_location("fargate_support_for_docs", REPO / "tests" / "fargate" / "fargate_support.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def check_external(command: str, cwd: Path) -> None:
    words = shlex.split(command, comments=True)
    if words[:2] == ["docker", "build"]:
        dockerfile = cwd / "Dockerfile"
        if "-f" in words:
            dockerfile = cwd / words[words.index("-f") + 1]
        context = cwd / words[-1]
        assert dockerfile.is_file(), f"{command}: no Dockerfile {dockerfile}"
        assert "-t" in words, f"{command}: tag the image (-t) so later commands can name it"
        df = _load_fargate_support().parse_dockerfile(dockerfile)
        assert df.entrypoint and df.entrypoint[0] == "pdigpy"
        for copy in df.copies:
            for src in copy.sources:
                assert (context / src).exists(), f"{command}: COPY source {src} is not in the build context"
        return
    if words[:3] == ["aws", "ecs", "register-task-definition"]:
        arg = words[words.index("--cli-input-json") + 1]
        assert arg.startswith("file://"), f"{command}: --cli-input-json takes file://PATH"
        task = json.loads((cwd / arg[len("file://"):]).read_text())
        assert task["requiresCompatibilities"] == ["FARGATE"]
        assert task["family"] and task["containerDefinitions"]
        return
    raise AssertionError(f"no check for `{command}`: it cannot run here; mark the block <!-- not-run: why -->")


def run_sh(block: Block, cwd: Path) -> str:
    commands = _commands(block.text)
    external = [c for c in commands if c.split()[0] in EXTERNAL]
    if external:
        assert len(external) == len(commands), f"{block.where}: keep docker/aws commands in blocks of their own"
        for c in commands:
            check_external(c, cwd)
        return ""
    p = subprocess.run(["bash", "-c", block.text], cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=180)
    out = p.stdout
    assert p.returncode == 0, f"{block.where}: exit status {p.returncode}\n{out[-3000:]}"
    for bad in ("Traceback (most recent call last)", "pdigpy: error:", "command not found", "internal error"):
        assert bad not in out, f"{block.where}: {bad!r} in the output\n{out[-3000:]}"
    return out


def check_output(block: Block, actual: str, source: Block) -> None:
    lines = actual.splitlines()
    for want in block.text.splitlines():
        if not want.strip():
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.rstrip().split("...")))
        assert any(pattern.fullmatch(line.rstrip()) for line in lines), (
            f"{block.where}: no line of the output of {source.where} matches\n  {want}\noutput:\n{actual[-3000:]}")


def check_yaml(block: Block, cwd: Path) -> None:
    data = yaml.safe_load(block.text)
    if isinstance(data, list):
        path = cwd / f"rules-{block.line}.yaml"
        path.write_text(block.text)
        p = subprocess.run([str(Path(sys.executable).parent / "pdigpy"), "-V", str(path)], cwd=cwd,
                           env=_env(), capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"{block.where}: pdigpy -V failed\n{p.stdout}{p.stderr}"
        return
    assert isinstance(data, dict), f"{block.where}: a config is a mapping, rules are a list"
    from pdigpy.config import load_config
    from pdigpy.outputs import OutputHub

    path = cwd / f"config-{block.line}.yaml"
    path.write_text(block.text)
    config = load_config(str(path), [])
    hub = OutputHub.from_config(config.data)
    hub.start()
    hub.close(0.2, report=False)


def _fragment_of(fragment, whole) -> bool:
    if isinstance(fragment, dict):
        return isinstance(whole, dict) and all(k in whole and _fragment_of(v, whole[k]) for k, v in fragment.items())
    if isinstance(fragment, list):
        if not isinstance(whole, list):
            return False
        i = 0
        for item in fragment:  # in order: a subsequence of the file's list
            while i < len(whole) and not _fragment_of(item, whole[i]):
                i += 1
            if i == len(whole):
                return False
            i += 1
        return True
    return fragment == whole


def check_json(block: Block) -> None:
    fragment = json.loads(block.text)
    task = json.loads((REPO / "examples" / "fargate" / "task-definition.json").read_text())
    candidates = [task] + task["containerDefinitions"]
    assert any(_fragment_of(fragment, c) for c in candidates), (
        f"{block.where}: not a fragment of examples/fargate/task-definition.json (the docs and the example differ)")


def check_dockerfile(block: Block) -> None:
    def instructions(text: str) -> list[str]:
        return [" ".join(c.split()) for c in _commands(text)]

    example = instructions((REPO / "examples" / "fargate" / "Dockerfile").read_text())
    for line in instructions(block.text):
        assert line in example, f"{block.where}: `{line}` is not in examples/fargate/Dockerfile"


@pytest.mark.parametrize("doc", DOCS)
def test_examples_run(doc, tmp_path):
    cwd = _scratch(tmp_path)
    last_sh: tuple[Block, str] | None = None
    ran = 0
    for block in ALL_BLOCKS.get(doc, []):
        if "not-run" in block.markers:
            continue
        if "output" in block.markers:
            assert last_sh is not None, f"{block.where}: an output block must follow a sh block"
            check_output(block, last_sh[1], last_sh[0])
            continue
        if block.lang == "sh":
            last_sh = (block, run_sh(block, cwd))
        elif block.lang == "yaml":
            check_yaml(block, cwd)
        elif block.lang == "json":
            check_json(block)
        elif block.lang == "dockerfile":
            check_dockerfile(block)
        elif block.lang == "python":
            p = subprocess.run([sys.executable, "-c", block.text], cwd=cwd, env=_env(), capture_output=True,
                               text=True, timeout=120)
            assert p.returncode == 0, f"{block.where}: python failed\n{p.stdout}{p.stderr}"
            last_sh = (block, p.stdout + p.stderr)
        else:
            continue
        ran += 1
    assert ran, f"docs/{doc}: no example was exercised"


# ---------------------------------------------------------------------------
# The harness itself must be able to fail


def test_harness_catches_a_wrong_output_line(tmp_path):
    block = Block("x.md", 1, "text", "app: ready\nexit status: ...\n", {"output": ""})
    check_output(block, "app: ready\nexit status: 0\n", block)
    with pytest.raises(AssertionError):
        check_output(block, "app: ready\n", block)


def test_harness_catches_a_json_block_the_example_does_not_have():
    good = Block("x.md", 1, "json", '{"linuxParameters": {"capabilities": {"add": ["SYS_PTRACE"]}}}\n')
    check_json(good)
    bad = Block("x.md", 1, "json", '{"linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}}\n')
    with pytest.raises(AssertionError):
        check_json(bad)


def test_harness_refuses_an_unknown_external_command(tmp_path):
    with pytest.raises(AssertionError, match="not-run"):
        check_external("aws ecs run-task --cluster prod", tmp_path)

"""The Dockerfile's build steps, replayed on this machine: the installed pdigpy finds its rules and runs.

There is no Docker engine here, so the image is stood in for by a directory
tree: ``/usr/local`` (the python image's prefix) is a fresh venv, every other
image path lives below a scratch root. Each COPY copies the build-context
files there, each RUN runs its shell line with the image paths mapped, in
Dockerfile order. Then the image's ENTRYPOINT + CMD run with that venv's
pdigpy. This catches a COPY that misses a file the install needs, or the
bundled rules landing where an installed (not editable) pdigpy does not look.

It needs the package index pip is configured with (as ``.ci/run`` does) to
install pdigpy's dependencies into the fresh venv.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fargate_support import REPO, parse_dockerfile

pytestmark = pytest.mark.slow


class ImageTree:
    def __init__(self, tmp: Path) -> None:
        self.prefix = tmp / "usr-local"  # stands for /usr/local
        self.root = tmp / "root"  # stands for /

    def path(self, image_path: str) -> Path:
        if image_path == "/usr/local" or image_path.startswith("/usr/local/"):
            return self.prefix / image_path[len("/usr/local/"):]
        return self.root / image_path.lstrip("/")

    def map_words(self, line: str, image_paths: list[str]) -> str:
        """A shell line with each whole image path (or a path below it) replaced by its place in the tree."""
        for p in sorted(image_paths, key=len, reverse=True):
            line = re.sub(r"(?<![\w/.-])" + re.escape(p) + r"(?=$|[/\s\"'\[])", lambda _m: str(self.path(p)), line)
        return line


def _copy(src: Path, dest: Path, dest_is_dir: bool) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True, ignore=ignore)
    else:
        target = dest / src.name if dest_is_dir else dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def test_the_image_build_installs_a_pdigpy_that_finds_its_rules(tmp_path):
    df = parse_dockerfile()
    assert df.base.startswith("python:"), "the recipe assumes a python image (prefix /usr/local)"
    tree = ImageTree(tmp_path)
    subprocess.run([sys.executable, "-m", "venv", str(tree.prefix)], check=True, capture_output=True)
    env = dict(os.environ)
    env["PATH"] = f"{tree.prefix / 'bin'}{os.pathsep}{env['PATH']}"
    env.pop("PYTHONPATH", None)
    env.pop("PDIGPY_CONFIG", None)
    dests = [c.dest.rstrip("/") for c in df.copies]
    for word, rest in df.instructions:
        if word == "COPY":
            copy = next(c for c in df.copies if rest.endswith(c.dest))
            dest_is_dir = copy.dest.endswith("/") or len(copy.sources) > 1
            for src in copy.sources:
                _copy(REPO / src, tree.path(copy.dest), dest_is_dir)
        elif word == "RUN":
            line = tree.map_words(rest, dests)
            p = subprocess.run(["sh", "-c", line], env=env, capture_output=True, text=True, timeout=600)
            assert p.returncode == 0, f"RUN {rest}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    installed = tree.prefix / "bin" / "pdigpy"
    assert installed.is_file(), "the RUN step must install the pdigpy command"
    # the install is a real copy, not a link back to this checkout
    where = subprocess.run([str(tree.prefix / "bin" / "python"), "-c", "import pdigpy; print(pdigpy.__file__)"],
                           env=env, capture_output=True, text=True, cwd=tmp_path)
    assert where.stdout.startswith(str(tree.prefix)), where
    # ENTRYPOINT + CMD of the image, with -v inserted to hear which rules were loaded
    ep = [str(tree.path(w)) if w.startswith("/") else w for w in df.entrypoint]
    cmd = [str(tree.path(w)) if w.startswith("/") else w for w in df.cmd]
    argv = ep[:-1] + ["-v", "--"] + cmd
    p = subprocess.run(argv, env={**env, "APP_FAIL_WITH": "7"}, capture_output=True, text=True,
                       cwd=tree.path(df.workdir), timeout=120)
    assert p.returncode == 7, p.stderr
    rules_dir = tree.path("/usr/local/share/pdigpy/rules")
    assert f"from 1 file: {rules_dir}/pdigpy_rules.yaml" in p.stderr, p.stderr
    assert "Shell spawned by a non-shell program" in p.stderr

"""Quiet on ordinary work: everyday developer and CI commands raise no alert under the default rules.

Each workload runs for real under ``pdigpy -r rules/`` in a private temporary
directory; the test fails on any alert, naming it. When one of these trips a
rule, the rule is what gets fixed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from rules_helpers import PYTHON, docker_default_caps_wrap, run_traced

HELLO_C = '#include <stdio.h>\n#include "greet.h"\nint main(void) { greet("world"); return 0; }\n'
GREET_C = '#include <stdio.h>\n#include "greet.h"\nvoid greet(const char *who) { printf("hello %s\\n", who); }\n'
GREET_H = "void greet(const char *who);\n"
MAKEFILE = """\
CC ?= cc
CFLAGS ?= -O2 -Wall
OBJS = hello.o greet.o

hello: $(OBJS)
\t$(CC) $(CFLAGS) -o $@ $(OBJS)

%.o: %.c greet.h
\t$(CC) $(CFLAGS) -c $< -o $@

clean:
\trm -f hello $(OBJS)
"""


def _c_project(work: Path) -> None:
    (work / "hello.c").write_text(HELLO_C)
    (work / "greet.c").write_text(GREET_C)
    (work / "greet.h").write_text(GREET_H)
    (work / "Makefile").write_text(MAKEFILE)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _write_wheel(work: Path) -> Path:
    """A tiny pure-Python wheel with a console script, written by hand (no build backend, no network)."""
    name, version = "pdigpy_quiet_demo", "1.0"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"def main():\n    print('demo')\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": f"[console_scripts]\nquiet-demo = {name}:main\n".encode(),
    }
    lines = [_record_line(n, d) for n, d in files.items()] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = ("\n".join(lines) + "\n").encode()
    wheel = work / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    return wheel


def _python_import(work: Path) -> list[str]:
    pkg = work / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .util import double\n")
    (pkg / "util.py").write_text("import json, decimal, sqlite3, ssl, email.mime.text\n"
                                 "def double(x):\n    return 2 * x\n")
    # byte-code caching on even if the test runner's environment turned it off
    return [PYTHON, "-c", "import sys; sys.dont_write_bytecode = False; import mypkg; assert mypkg.double(2) == 4"]


def _gcc(work: Path) -> list[str]:
    _c_project(work)
    return ["gcc", "-O2", "-Wall", "-o", "hello", "hello.c", "greet.c"]


def _git(work: Path) -> list[str]:
    (work / "README").write_text("demo\n")
    script = ("git init -q . && git add README && "
              "git -c user.name=Dev -c user.email=dev@example.com commit -q -m 'first commit' && git log --oneline")
    return ["sh", "-c", script]


def _pip_install(work: Path) -> list[str]:
    wheel = _write_wheel(work)
    venv = work / "venv"
    # --system-site-packages: the venv's interpreter finds this interpreter's pip (offline, fast)
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    return [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", "--quiet", str(wheel)]


def _tar(work: Path) -> list[str]:
    src = work / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(20):
        (src / "sub" / f"f{i}.txt").write_text("data\n" * i)
    return ["tar", "-czf", "src.tar.gz", "src"]


def _make(work: Path) -> list[str]:
    _c_project(work)
    return ["make", "-s"]


WORKLOADS = {
    "python-import": _python_import,
    "gcc-compile": _gcc,
    "git-init-commit": _git,
    "pip-install-local-wheel": _pip_install,
    "tar-directory": _tar,
    "make-small-project": _make,
}


@pytest.mark.parametrize("where", ["host", "container"])
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_ordinary_work_raises_no_alert(work, request, name, where):
    """On the host as root, and in an emulated Docker container (ECS metadata, Docker's default capabilities)."""
    env = wrap = None
    if where == "container":
        if os.geteuid() != 0:
            pytest.skip("emulating a container's capability set needs root")
        wrap = docker_default_caps_wrap()
        if wrap is None:
            pytest.skip("capsh is not installed")
        env = request.getfixturevalue("ecs_env")
    argv = WORKLOADS[name](work)
    run = run_traced(argv, work, cwd=work, timeout=120, env=env, wrap=wrap)
    assert run.returncode == 0, run.describe()
    assert run.alerts == [], run.describe()
    # the work really happened
    done = {
        "gcc-compile": lambda: (work / "hello").is_file(),
        "make-small-project": lambda: (work / "hello").is_file() and (work / "greet.o").is_file(),
        "git-init-commit": lambda: "first commit" in run.stdout,
        "pip-install-local-wheel": lambda: any((work / "venv").glob("lib/python*/site-packages/pdigpy_quiet_demo"))
        and (work / "venv" / "bin" / "quiet-demo").is_file(),
        "tar-directory": lambda: (work / "src.tar.gz").stat().st_size > 0,
        "python-import": lambda: (work / "mypkg" / "__pycache__").is_dir(),
    }[name]
    assert done(), run.describe()


def test_the_container_emulation_is_one(work, ecs_env):
    """The `container` runs above really see a container id and Docker's default capabilities."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    wrap = docker_default_caps_wrap()
    if wrap is None:
        pytest.skip("capsh is not installed")
    probe = work / "probe.yaml"
    probe.write_text("""
- rule: probe container
  desc: test probe
  condition: evt.type in (execve, execveat)
  output: probe id=%container.id caps=%thread.cap_effective
  priority: DEBUG
""")
    run = run_traced(["true"], work, rules=[probe], env=ecs_env, wrap=wrap)
    out = run.fired("probe container")[0]["output"]
    assert "id=0f2a6b9c4d1e " in out, out
    assert "CAP_SYS_PTRACE" in out and "CAP_NET_RAW" in out, out
    assert "CAP_SYS_ADMIN" not in out and "CAP_SYS_MODULE" not in out, out

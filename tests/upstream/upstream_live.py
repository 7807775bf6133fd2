"""Run real actions under the real ``pdigpy`` command with an upstream Falco rules file.

Every run loads one file of the upstream corpus (read in place from
``<repo>/../shared/corpus/upstream-rules``, never copied), writes Falco JSON
alerts to a file of its own, and appends ``container.id``/``container.name`` to
every alert (``append_output``) so a test can tell where pdigpy thought the
action happened. "In a container" means pdigpy was started with
``ECS_CONTAINER_METADATA_URI_V4`` pointing at a local metadata endpoint
(:mod:`ecs_metadata`), as on ECS Fargate; "on the host" means without it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / ".." / "shared" / "corpus" / "upstream-rules"
STABLE = "falco_rules.yaml"
INCUBATING = "falco-incubating_rules.yaml"
SANDBOX = "falco-sandbox_rules.yaml"
ECS_ENV = "ECS_CONTAINER_METADATA_URI_V4"

# Appended to every rule's output so the JSON names the container pdigpy saw.
CONTAINER_OUTPUT = "container_id=%container.id container_name=%container.name"


@dataclass
class Action:
    """One real action: what to run under pdigpy and what the alert must say about it.

    ``wrap`` goes before pdigpy (e.g. ``unshare -m sh -c ...``); ``tty`` runs pdigpy
    with a pseudo-terminal as its controlling terminal; ``expect`` maps output fields
    to their expected value (a callable is a predicate on the value).
    """

    argv: list[str]
    expect: dict[str, Any] = field(default_factory=dict)
    wrap: list[str] = field(default_factory=list)
    tty: bool = False
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    timeout: float = 60


@dataclass
class Run:
    """One traced run: exit status, pdigpy's stderr and the Falco JSON alerts."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    alerts: list[dict] = field(default_factory=list)

    def fired(self, rule: str) -> list[dict]:
        return [a for a in self.alerts if a["rule"] == rule]

    def describe(self) -> str:
        lines = [f"$ {shlex.join(self.command)}", f"exit {self.returncode}; {len(self.alerts)} alert(s)"]
        lines += [f"  {a['priority']}: {a['rule']}: {a['output']}" for a in self.alerts]
        lines.append("pdigpy stderr (tail): " + self.stderr[-1500:])
        return "\n".join(lines)


def pdigpy_command(rules_file: str, alerts_file: Path, argv: list[str], options: tuple[str, ...] = (),
                   extra_rules: tuple[Path, ...] = ()) -> list[str]:
    extra = [arg for opt in options for arg in ("-o", opt)]
    extra += [arg for path in extra_rules for arg in ("-r", str(path))]
    return [sys.executable, "-m", "pdigpy", "-r", str(CORPUS / rules_file), *extra,
            "-o", "json_output=true",
            "-o", "stderr_output.enabled=false",
            "-o", "file_output.enabled=true", "-o", f"file_output.filename={alerts_file}",
            "-o", "append_output[]={extra_output: \"%s\"}" % CONTAINER_OUTPUT,
            "--no-summary", "--", *argv]


def run_upstream(action: Action, workdir: Path, rules_file: str = STABLE,
                 container_uri: str | None = None, options: tuple[str, ...] = (),
                 extra_rules: tuple[Path, ...] = ()) -> Run:
    """Run ``action`` under pdigpy with ``rules_file`` (then ``extra_rules``); in a container
    iff ``container_uri``; ``options`` are extra ``-o KEY=VALUE``."""
    alerts_file = workdir / f"alerts-{uuid.uuid4().hex[:8]}.jsonl"
    cmd = [*action.wrap, *pdigpy_command(rules_file, alerts_file, action.argv, options, extra_rules)]
    env = dict(os.environ)
    env.pop("PDIGPY_CONFIG", None)
    env.pop(ECS_ENV, None)
    if container_uri is not None:
        env[ECS_ENV] = container_uri
    env.update(action.env)
    stdin: Any = subprocess.DEVNULL
    master = slave = None
    if action.tty:
        # util-linux setsid --ctty makes the pty slave (our stdin) the controlling terminal,
        # so the traced processes get a non-zero tty_nr (proc.tty), like `kubectl exec -it`.
        master, slave = os.openpty()
        cmd = ["setsid", "--wait", "--ctty", *cmd]
        stdin = slave
    try:
        proc = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, env=env,
                              cwd=action.cwd or workdir, timeout=action.timeout)
    finally:
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)
    alerts = []
    if alerts_file.exists():
        alerts = [json.loads(line) for line in alerts_file.read_text().splitlines() if line.strip()]
        alerts_file.unlink()
    return Run(cmd, proc.returncode, proc.stdout, proc.stderr, alerts)


def check_fields(alert: dict, expect: dict[str, Any]) -> list[str]:
    """Mismatches between the alert's output_fields and ``expect`` (empty if all match)."""
    problems = []
    got = alert.get("output_fields", {})
    for name, want in expect.items():
        if name not in got:
            problems.append(f"{name}: not in output_fields")
            continue
        value = got[name]
        ok = want(value) if callable(want) else value == want
        if not ok:
            problems.append(f"{name}: got {value!r}, want {want.__doc__ if callable(want) else repr(want)}")
    return problems


def predicate(doc: str, fn: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """A named predicate for ``Action.expect`` (the name shows in failure messages)."""
    fn.__doc__ = doc
    return fn

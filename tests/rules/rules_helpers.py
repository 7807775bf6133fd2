"""Run real programs under the real ``pdigpy`` command with the default rules, and read the alerts.

Every run writes Falco JSON alerts to a file of its own (file_output), so the
tests read exactly what a user's falcosidekick would get, and stderr stays free
for the summary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "rules"
PYTHON = sys.executable  # a real interpreter (not a pyenv shim: shims are shell scripts)


def pdigpy_argv() -> list[str]:
    script = Path(sys.executable).with_name("pdigpy")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "pdigpy"]


@dataclass
class Run:
    """One traced run: the app's exit status, pdigpy's stderr and the alerts (parsed JSON)."""

    returncode: int
    stdout: str
    stderr: str
    alerts: list[dict] = field(default_factory=list)

    def fired(self, rule: str) -> list[dict]:
        return [a for a in self.alerts if a["rule"] == rule]

    def rules(self) -> list[str]:
        return sorted({a["rule"] for a in self.alerts})

    def describe(self) -> str:
        lines = [f"exit {self.returncode}; {len(self.alerts)} alerts"]
        lines += [f"  {a['priority']}: {a['rule']}: {a['output']}" for a in self.alerts]
        lines.append("stderr: " + self.stderr[-2000:])
        return "\n".join(lines)


def run_traced(argv: list[str], workdir: Path, *, rules: list[str | Path] | None = None,
               env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60,
               wrap: list[str] | None = None, options: list[str] = ()) -> Run:
    """Run ``pdigpy -r RULES... -- argv`` (``wrap`` goes before pdigpy, e.g. capsh; ``options``: -o values)."""
    alerts_file = workdir / f"alerts-{uuid.uuid4().hex[:8]}.jsonl"
    rule_args: list[str] = []
    for r in rules if rules is not None else [RULES_DIR]:
        rule_args += ["-r", str(r)]
    cmd = [*(wrap or []), *pdigpy_argv(), *rule_args, "-o", "json_output=true",
           "-o", "stderr_output.enabled=false", "-o", "file_output.enabled=true",
           "-o", f"file_output.filename={alerts_file}", *[x for o in options for x in ("-o", o)],
           "--no-summary", "--", *argv]
    full_env = dict(os.environ)
    full_env.pop("PDIGPY_CONFIG", None)
    if env:
        full_env.update(env)
    for _attempt in range(3):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=cwd or workdir,
                              timeout=timeout)
        # pdigpy gives the ECS metadata endpoint 1 s; on a loaded shared VM the local test server can
        # miss that, and the run is then not "in a container". That is the environment, not the rules:
        # run again (the app is rerun from scratch; alerts of the failed attempt are discarded).
        if "ECS_CONTAINER_METADATA_URI_V4" not in (env or {}) or "container.* fields fall back" not in proc.stderr:
            break
        alerts_file.unlink(missing_ok=True)
    alerts = []
    if alerts_file.exists():
        alerts = [json.loads(line) for line in alerts_file.read_text().splitlines() if line.strip()]
        alerts_file.unlink()
    return Run(proc.returncode, proc.stdout, proc.stderr, alerts)


def python_app(code: str) -> list[str]:
    """argv running ``code`` (dedented) in a real Python interpreter."""
    return [PYTHON, "-c", textwrap.dedent(code)]


def unique(prefix: str = "pdigpy-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def assert_names(alert: dict, *, process: str | None = None, user: str = "root",
                 obj: str | None = None) -> None:
    """The output names the process, the user and the object (file, connection, target...)."""
    out = alert["output"]
    if process is not None:
        assert f"process={process} " in out or f"={process} " in out, out
    assert f"user={user} " in out, out
    if obj is not None:
        assert obj in out, out


# A non-loopback address without a network: a private network namespace whose
# loopback device also carries 192.0.2.1 (TEST-NET-1). The listener and the
# client both run in it, under pdigpy.
NETNS_SCRIPT = """
ip link set lo up && ip addr add 192.0.2.1/32 dev lo || exit 99
{python} -c '
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.1", {port})); s.listen(1)
threading.Thread(target=s.accept, daemon=True).start()
socket.create_connection(("192.0.2.1", {port}), timeout=5).close()
'
"""


# Docker's default capability set, plus SYS_PTRACE (the one capability pdigpy needs, as on Fargate).
DOCKER_DEFAULT_CAPS = {"chown", "dac_override", "fsetid", "fowner", "mknod", "net_raw", "setgid", "setuid",
                       "setfcap", "setpcap", "net_bind_service", "sys_chroot", "kill", "audit_write", "sys_ptrace"}


def docker_default_caps_wrap() -> list[str] | None:
    """A prefix that runs pdigpy with only Docker's default capabilities (capsh), or None without capsh."""
    import shutil as _shutil

    if not _shutil.which("capsh"):
        return None
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    names = subprocess.run(["capsh", "--decode=" + format((1 << (last + 1)) - 1, "x")], capture_output=True,
                           text=True).stdout.strip().split("=", 1)[1].split(",")
    drop = [n for n in names if n.removeprefix("cap_") not in DOCKER_DEFAULT_CAPS]
    # capsh hands what follows -- to bash: `bash -c 'exec "$@"' capsh pdigpy ...`
    return ["capsh", "--drop=" + ",".join(drop), "--", "-c", 'exec "$@"', "capsh"]


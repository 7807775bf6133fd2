"""examples/fargate/task-definition.json is a Fargate task that runs the Dockerfile's command line under pdigpy."""

from __future__ import annotations

import pytest
import yaml

from fargate_support import CONFIG, app_container, load_task_definition, parse_dockerfile


@pytest.fixture(scope="module")
def task():
    return load_task_definition()


@pytest.fixture(scope="module")
def container(task):
    return app_container(task)


def test_runs_on_fargate(task):
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["networkMode"] == "awsvpc", "Fargate tasks must use awsvpc networking"
    # pidMode "task" would share one PID namespace between the task's containers: pdigpy would not be PID 1.
    assert task.get("pidMode") is None
    # Valid Fargate size (cpu units -> allowed memory in MiB), from the ECS task-size table.
    sizes = {"256": range(512, 2049), "512": range(1024, 4097), "1024": range(2048, 8193),
             "2048": range(4096, 16385), "4096": range(8192, 30721)}
    assert int(task["memory"]) in sizes[task["cpu"]]


def test_adds_sys_ptrace_and_nothing_else(task, container):
    linux = container["linuxParameters"]
    assert linux["capabilities"]["add"] == ["SYS_PTRACE"]
    assert not linux["capabilities"].get("drop"), "do not drop capabilities the app may need"
    assert not container.get("privileged"), "Fargate refuses privileged containers"
    for other in task["containerDefinitions"]:
        if other is not container:
            assert not ((other.get("linuxParameters") or {}).get("capabilities") or {}).get("add")


def test_pdigpy_is_pid1(container):
    # initProcessEnabled would put ECS's own init in front of pdigpy; pdigpy does those duties itself.
    assert container["linuxParameters"].get("initProcessEnabled") in (None, False)
    assert container["essential"] is True


def test_entrypoint_and_command_are_the_dockerfiles(container):
    df = parse_dockerfile()
    entry = container["entryPoint"]
    assert container["command"] == df.cmd
    # the image's ENTRYPOINT, with deployment-specific -o options inserted before the final --
    head = df.entrypoint[:-1]
    assert entry[: len(head)] == head
    assert entry[-1] == "--" and entry.count("--") == 1
    extra = entry[len(head):-1]
    assert len(extra) % 2 == 0
    for flag, value in zip(extra[::2], extra[1::2]):
        assert flag == "-o" and "=" in value, f"only -o KEY=VALUE may be added, got {flag} {value}"


def test_alerts_go_to_kafka_and_to_cloudwatch(container):
    from pdigpy.config import load_config
    from pdigpy.outputs import OutputHub

    entry = container["entryPoint"]
    options = [entry[i + 1] for i, w in enumerate(entry) if w == "-o"]
    config = load_config(str(CONFIG), options)
    hub = OutputHub.from_config(config.data)  # a wrong key would raise ConfigError naming it
    try:
        assert set(hub.sink_names) == {"stderr_output", "forwarders.kafka"}
    finally:
        hub.close(0, report=False)
    kafka = config.data["forwarders"]["kafka"]
    assert kafka["hostport"] and kafka["topic"]
    assert config.data["json_output"] is True


def test_stderr_goes_to_cloudwatch_logs(container):
    log = container["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    options = log["options"]
    for key in ("awslogs-group", "awslogs-region", "awslogs-stream-prefix"):
        assert options.get(key), key
    assert options.get("mode", "non-blocking") in ("blocking", "non-blocking")


def test_stop_timeout_leaves_time_for_the_last_alerts(container):
    """ECS sends SIGKILL stopTimeout seconds after SIGTERM; pdigpy's flush must fit in it."""
    flush = yaml.safe_load(CONFIG.read_text())["pdigpy"]["flush_timeout"]
    assert container["stopTimeout"] <= 120, "Fargate allows at most 120 s"
    assert container["stopTimeout"] >= flush + 10, "give the app time to stop, then pdigpy time to flush"

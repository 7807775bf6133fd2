"""The container.* fields docs/fargate.md lists, filled from the ECS task metadata endpoint of a Fargate task."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fargate_support import (
    CLUSTER_ARN,
    CONTAINER_NAME,
    DOCKER_ID,
    IMAGE,
    TASK_ARN,
    EcsMetadataEndpoint,
    alerts_in,
    container_env,
)

RULE = """
- rule: Show container fields
  desc: every container field the Fargate guide names, for the app's own exec
  condition: evt.type = execve and evt.num = 1
  output: >
    id=%container.id name=%container.name image=%container.image
    repo=%container.image.repository tag=%container.image.tag type=%container.type
    ip=%container.ip task=%container.label[com.amazonaws.ecs.task-arn]
    privileged=%container.privileged host_pid=%container.host_pid start=%container.start_ts
  priority: NOTICE
"""


def test_container_fields_come_from_the_task_metadata(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE)
    with EcsMetadataEndpoint() as ecs:
        env = container_env({"ECS_CONTAINER_METADATA_URI_V4": ecs.uri})
        p = subprocess.run([str(Path(sys.executable).with_name("pdigpy")), "-r", str(rules), "-o", "json_output=true",
                            "--no-summary", "--", "true"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    (alert,) = alerts_in(p.stderr)
    f = alert["output_fields"]
    assert f["container.id"] == DOCKER_ID[:12]
    assert f["container.name"] == CONTAINER_NAME
    assert f["container.image"] == IMAGE
    assert f["container.image.repository"] == IMAGE.rsplit(":", 1)[0]
    assert f["container.image.tag"] == "latest"
    assert f["container.type"] == "containerd"
    assert f["container.ip"] == "10.0.7.42"
    assert f["container.label[com.amazonaws.ecs.task-arn]"] == TASK_ARN
    assert f["container.privileged"] is False and f["container.host_pid"] is False
    assert f["container.start_ts"] == 1795744801500000000  # StartedAt 2026-11-27T02:00:01.5Z


def test_an_unreadable_endpoint_is_one_warning_and_the_app_still_runs(tmp_path):
    env = container_env({"ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:9/v4/nothing-listens-here"})
    p = subprocess.run([str(Path(sys.executable).with_name("pdigpy")), "--no-summary", "--", "sh", "-c", "exit 4"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 4
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pdigpy: warning: ECS_CONTAINER_METADATA_URI_V4: cannot read")
    assert "container.* fields fall back to cgroup ids" in lines[0]

"""Fixtures for the default-rules tests: a private work directory removed even on failure."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest


@pytest.fixture
def work():
    """A fresh directory under /tmp, world-readable (some tests run programs as nobody)."""
    path = Path(tempfile.mkdtemp(prefix="pdigpy-rules-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cleanup():
    """Paths to remove after the test, whatever happens (files the app creates outside `work`)."""
    paths: list[Path] = []
    try:
        yield paths
    finally:
        for p in paths:
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink()
            except FileNotFoundError:
                pass


ECS_DOCKER_ID = "0f2a6b9c4d1e47a8b3c5d7e9f1a2b3c4-1234567890"


class _EcsMetadata(http.server.BaseHTTPRequestHandler):
    """The two ECS v4 documents pdigpy reads: the container and its task."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        container = {"DockerId": ECS_DOCKER_ID, "Name": "web", "DockerName": "ecs-web-1-web",
                     "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.2",
                     "ImageID": "sha256:" + "ab" * 32,
                     "Labels": {"com.amazonaws.ecs.container-name": "web",
                                "com.amazonaws.ecs.task-definition-family": "web"},
                     "CreatedAt": "2026-11-27T01:00:00.000000000Z", "StartedAt": "2026-11-27T01:00:01.000000000Z",
                     "Type": "NORMAL", "Networks": [{"NetworkMode": "bridge", "IPv4Addresses": ["172.17.0.5"]}]}
        task = {"Cluster": "default", "TaskARN": "arn:aws:ecs:eu-west-1:123456789012:task/default/0f2a6b9c",
                "Family": "web", "Revision": "1", "LaunchType": "EC2", "Containers": [container]}
        base = "/v4/" + ECS_DOCKER_ID
        body = {base: container, base + "/task": task}.get(self.path)
        if body is None:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def ecs_env():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EcsMetadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"ECS_CONTAINER_METADATA_URI_V4": f"http://127.0.0.1:{server.server_address[1]}/v4/{ECS_DOCKER_ID}"}
    finally:
        server.shutdown()
        server.server_close()

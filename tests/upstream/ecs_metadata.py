"""A local ECS task metadata endpoint (v4) on 127.0.0.1, serving a realistic Fargate task.

pdigpy reads ``$ECS_CONTAINER_METADATA_URI_V4`` once at start-up; with it, the traced
processes are in that container (``container.id != host``), which is what the upstream
rules gated on the ``container`` macro need. The shapes follow the AWS documentation of
the v4 endpoint (container object at ``<uri>``, task object at ``<uri>/task``).
"""

from __future__ import annotations

import http.server
import json
import threading

TASK_ID = "5b0c1f9d2e3a4b6c8d7e9f0a1b2c3d4e"
DOCKER_ID = f"{TASK_ID}-1527884413"
CONTAINER_ID = DOCKER_ID[:12]  # what container.id shows
CONTAINER_NAME = "payments-api"
CONTAINER_IP = "10.0.3.77"  # the task's awsvpc address
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments-api:2.4.1"

CONTAINER = {
    "DockerId": DOCKER_ID,
    "Name": CONTAINER_NAME,
    "DockerName": CONTAINER_NAME,
    "Image": IMAGE,
    "ImageID": "sha256:8d4c1e7b0a5f9c3e2d6b4a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d",
    "Labels": {
        "com.amazonaws.ecs.cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "com.amazonaws.ecs.container-name": CONTAINER_NAME,
        "com.amazonaws.ecs.task-arn": f"arn:aws:ecs:eu-west-1:123456789012:task/prod/{TASK_ID}",
        "com.amazonaws.ecs.task-definition-family": "payments-api",
        "com.amazonaws.ecs.task-definition-version": "31",
    },
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "Limits": {"CPU": 2, "Memory": 1024},
    "CreatedAt": "2026-11-27T01:02:03.123456789Z",
    "StartedAt": "2026-11-27T01:02:04.987654321Z",
    "Type": "NORMAL",
    "Networks": [{
        "NetworkMode": "awsvpc",
        "IPv4Addresses": [CONTAINER_IP],
        "AttachmentIndex": 0,
        "MACAddress": "0a:58:a9:fe:ac:02",
        "IPv4SubnetCIDRBlock": "10.0.3.0/24",
        "DomainNameServers": ["10.0.0.2"],
        "PrivateDNSName": "ip-10-0-3-77.eu-west-1.compute.internal",
        "SubnetGatewayIpv4Address": "10.0.3.1/24",
    }],
    "ContainerARN": "arn:aws:ecs:eu-west-1:123456789012:container/prod/5b0c1f9d/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "LogDriver": "awslogs",
    "LogOptions": {"awslogs-group": "/ecs/payments-api", "awslogs-region": "eu-west-1",
                   "awslogs-stream": f"ecs/payments-api/{TASK_ID}"},
}
TASK = {
    "Cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
    "TaskARN": f"arn:aws:ecs:eu-west-1:123456789012:task/prod/{TASK_ID}",
    "Family": "payments-api",
    "Revision": "31",
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "Limits": {"CPU": 0.5, "Memory": 1024},
    "PullStartedAt": "2026-11-27T01:01:40.000000000Z",
    "PullStoppedAt": "2026-11-27T01:01:58.000000000Z",
    "AvailabilityZone": "eu-west-1b",
    "LaunchType": "FARGATE",
    "Containers": [CONTAINER],
}


class _Handler(http.server.BaseHTTPRequestHandler):
    container: dict = CONTAINER
    task: dict = TASK

    def do_GET(self):  # noqa: N802 (http.server's naming)
        base = "/v4/" + DOCKER_ID
        body = {base: self.container, base + "/task": self.task}.get(self.path)
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


class MetadataServer:
    """Serves the task above until :meth:`close`; ``uri`` is the value for the env variable.

    ``image`` replaces the container's image (repository:tag), e.g. to test a rule's
    allow-list of images."""

    def __init__(self, image: str | None = None) -> None:
        handler = _Handler
        if image is not None:
            container = dict(CONTAINER, Image=image)
            task = dict(TASK, Containers=[container])
            handler = type("ImageHandler", (_Handler,), {"container": container, "task": task})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.uri = f"http://127.0.0.1:{self._server.server_address[1]}/v4/{DOCKER_ID}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _serve_in_namespace(ready_file: str, listen: str | None) -> None:
    """``python ecs_metadata.py READY_FILE [HOST:PORT]``: for a test's private network namespace.

    Serves the metadata (and accepts then closes TCP connections on HOST:PORT), writes the
    URI to READY_FILE once listening, and exits when its parent exits (checked every 0.1 s)
    or after 60 s, so it never outlives the test.
    """
    import os
    import socket
    import time

    parent = os.getppid()
    server = MetadataServer()
    if listen:
        host, port = listen.rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(8)
        sock.settimeout(0.1)
    tmp = ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(server.uri)
    os.rename(tmp, ready_file)
    deadline = time.monotonic() + 60
    while os.getppid() == parent and time.monotonic() < deadline:
        if listen:
            try:
                conn, _ = sock.accept()
                conn.close()
            except OSError:
                pass
        else:
            time.sleep(0.1)
    server.close()


if __name__ == "__main__":
    import sys

    _serve_in_namespace(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)

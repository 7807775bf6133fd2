"""Reading examples/fargate/ the way Docker and ECS read it, and running it on this machine.

Docker cannot run here, so the tests take the Dockerfile's exec-form
ENTRYPOINT and CMD word for word and run them on the host. The only
substitution is where files are: a path inside the image (the destination of
a COPY) becomes the file of the build context it was copied from, and the
image's PATH is stood in for by the venv's bin directory (``pdigpy`` and
``python`` are found there, as they are in /usr/local/bin of the image).
"""

from __future__ import annotations

import http.server
import json
import os
import shlex
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "fargate"
DOCKERFILE = EXAMPLE / "Dockerfile"
TASK_DEFINITION = EXAMPLE / "task-definition.json"
CONFIG = EXAMPLE / "pdigpy.yaml"
VENV_BIN = Path(sys.executable).parent


@dataclass
class Copy:
    sources: list[str]  # relative to the build context (the repository root)
    dest: str  # absolute path in the image


@dataclass
class Dockerfile:
    base: str = ""
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    workdir: str = "/"
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def image_to_context(self, path: str) -> Path | None:
        """The build-context file a path of the image came from, or None if no COPY put it there."""
        best: tuple[int, Path] | None = None
        for c in self.copies:
            dest = c.dest
            if dest.endswith("/"):
                # a directory copy: `COPY dir/ /dest/` puts dir's content below /dest/
                if len(c.sources) != 1 or not (path == dest.rstrip("/") or path.startswith(dest)):
                    continue
                rest = path[len(dest):] if path.startswith(dest) else ""
                local = REPO / c.sources[0] / rest
            elif path == dest and len(c.sources) == 1:
                local = REPO / c.sources[0]
            else:
                continue
            if best is None or len(dest) > best[0]:
                best = (len(dest), local)
        return best[1] if best else None

    def local_argv(self, argv: list[str]) -> list[str]:
        """``argv`` with every word that names a copied file replaced by that file on this machine."""
        out = []
        for word in argv:
            local = self.image_to_context(word) if word.startswith("/") else None
            out.append(str(local) if local is not None else word)
        return out

    def local_workdir(self) -> Path:
        local = self.image_to_context(self.workdir)
        if local is None:
            raise AssertionError(f"WORKDIR {self.workdir} is not filled by any COPY")
        return local


def parse_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    """The instructions the tests need; ENTRYPOINT and CMD must be in exec (JSON) form."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    df = Dockerfile()
    for line in logical:
        word, _, rest = line.partition(" ")
        word = word.upper()
        rest = rest.strip()
        df.instructions.append((word, rest))
        if word == "FROM":
            df.base = rest.split()[0]
        elif word in ("ENTRYPOINT", "CMD"):
            try:
                value = json.loads(rest)
            except ValueError:
                raise AssertionError(f"{word} must be in exec form (a JSON list), got: {rest}") from None
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise AssertionError(f"{word} must be a JSON list of strings, got: {rest}")
            setattr(df, "entrypoint" if word == "ENTRYPOINT" else "cmd", value)
        elif word == "COPY":
            parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            df.copies.append(Copy(parts[:-1], parts[-1]))
        elif word == "RUN":
            df.runs.append(rest)
        elif word == "WORKDIR":
            df.workdir = rest
    return df


def load_task_definition(path: Path = TASK_DEFINITION) -> dict:
    return json.loads(path.read_text())


def app_container(task: dict) -> dict:
    """The essential container that runs pdigpy (the only one in the example)."""
    found = [c for c in task["containerDefinitions"] if (c.get("entryPoint") or [None])[0] == "pdigpy"]
    assert len(found) == 1, "exactly one container must run pdigpy as its entryPoint"
    return found[0]


def container_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the container, as far as it matters: PATH finds pdigpy and python first."""
    env = dict(os.environ)
    env.pop("PDIGPY_CONFIG", None)
    env.pop("ECS_CONTAINER_METADATA_URI_V4", None)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONUNBUFFERED"] = "1"  # as python images usually set it; the app flushes anyway
    if extra:
        env.update(extra)
    return env


# ---------------------------------------------------------------------------
# A local ECS task metadata endpoint (v4), shaped like a Fargate task's.

TASK_ID = "9f3c2b1a0e8d4c7b6a5f4e3d2c1b0a99"
DOCKER_ID = f"{TASK_ID}-2419631024"
CONTAINER_NAME = "myapp"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/myapp-pdigpy:latest"
CLUSTER_ARN = "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"
TASK_ARN = f"arn:aws:ecs:eu-west-1:123456789012:task/prod/{TASK_ID}"

CONTAINER_METADATA = {
    "DockerId": DOCKER_ID,
    "Name": CONTAINER_NAME,
    "DockerName": CONTAINER_NAME,
    "Image": IMAGE,
    "ImageID": "sha256:3b1f0c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c",
    "Labels": {
        "com.amazonaws.ecs.cluster": CLUSTER_ARN,
        "com.amazonaws.ecs.container-name": CONTAINER_NAME,
        "com.amazonaws.ecs.task-arn": TASK_ARN,
        "com.amazonaws.ecs.task-definition-family": "myapp-pdigpy",
        "com.amazonaws.ecs.task-definition-version": "7",
    },
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "CreatedAt": "2026-11-27T02:00:00.000000000Z",
    "StartedAt": "2026-11-27T02:00:01.500000000Z",
    "Type": "NORMAL",
    "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.7.42"]}],
    "LogDriver": "awslogs",
}
TASK_METADATA = {
    "Cluster": CLUSTER_ARN,
    "TaskARN": TASK_ARN,
    "Family": "myapp-pdigpy",
    "Revision": "7",
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "LaunchType": "FARGATE",
    "AvailabilityZone": "eu-west-1a",
    "Containers": [CONTAINER_METADATA],
}


class EcsMetadataEndpoint:
    """Serves ``/v4/<id>`` (the container) and ``/v4/<id>/task`` on 127.0.0.1; counts requests."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                endpoint.requests.append(self.path)
                base = f"/v4/{DOCKER_ID}"
                body = {base: CONTAINER_METADATA, base + "/task": TASK_METADATA}.get(self.path.rstrip("/"))
                data = json.dumps(body).encode() if body is not None else b"{}"
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v4/{DOCKER_ID}"

    def __enter__(self) -> EcsMetadataEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def alerts_in(stderr: str) -> list[dict]:
    """The Falco JSON alerts among pdigpy's stderr lines (other lines are notices and the summary)."""
    alerts = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            obj = json.loads(line)
            if "rule" in obj and "priority" in obj:
                alerts.append(obj)
    return alerts

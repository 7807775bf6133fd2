"""ECS task metadata (v4) from a local HTTP server on 127.0.0.1, as on Fargate."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid

import pytest
from fields_support import start_chain, stop_chain

from pdigpy.engine.compiler import compile_condition
from pdigpy.engine.fields.container import ECS_ENV, ContainerMetadataError, ContainerMeta, detect_container
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.format import OutputFormatter, parse_append_output, rule_formatter
from pdigpy.engine.grammar import parse_condition

TASK_ID = "cd189a933e5849daa93386466019ab50"
DOCKER_ID = f"{TASK_ID}-2495160603"
CONTAINER = {
    "DockerId": DOCKER_ID,
    "Name": "curl",
    "DockerName": "curl",
    "Image": "111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest:latest",
    "ImageID": "sha256:25f3695bedfb454a50f12d127839a68ad3caf91e451c1da073db34c542c4d2cb",
    "Labels": {
        "com.amazonaws.ecs.cluster": "arn:aws:ecs:us-west-2:111122223333:cluster/default",
        "com.amazonaws.ecs.container-name": "curl",
        "com.amazonaws.ecs.task-arn": f"arn:aws:ecs:us-west-2:111122223333:task/default/{TASK_ID}",
        "com.amazonaws.ecs.task-definition-family": "curltest",
        "com.amazonaws.ecs.task-definition-version": "24",
    },
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "Limits": {"CPU": 10, "Memory": 128},
    "CreatedAt": "2020-10-08T20:09:11.44527186Z",
    "StartedAt": "2020-10-08T20:09:11.44527186Z",
    "Type": "NORMAL",
    "Networks": [{
        "NetworkMode": "awsvpc",
        "IPv4Addresses": ["192.0.2.3"],
        "AttachmentIndex": 0,
        "MACAddress": "0a:de:f6:10:51:e5",
        "IPv4SubnetCIDRBlock": "192.0.2.0/24",
        "DomainNameServers": ["192.0.2.2"],
        "PrivateDNSName": "ip-10-0-0-222.us-west-2.compute.internal",
        "SubnetGatewayIpv4Address": "192.0.2.0/24",
    }],
    "ContainerARN": "arn:aws:ecs:us-west-2:111122223333:container/05966557-f16c-49cb-9352-24b3a0dcd0e1",
    "LogOptions": {"awslogs-create-group": "true", "awslogs-group": "/ecs/containerlogs",
                   "awslogs-region": "us-west-2", "awslogs-stream": f"ecs/curl/{TASK_ID}"},
    "LogDriver": "awslogs",
}
TASK = {
    "Cluster": "arn:aws:ecs:us-west-2:111122223333:cluster/default",
    "TaskARN": f"arn:aws:ecs:us-west-2:111122223333:task/default/{TASK_ID}",
    "Family": "curltest",
    "Revision": "26",
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "Limits": {"CPU": 0.25, "Memory": 512},
    "PullStartedAt": "2020-10-08T20:47:16.053330955Z",
    "PullStoppedAt": "2020-10-08T20:47:19.592684631Z",
    "AvailabilityZone": "us-west-2a",
    "Containers": [CONTAINER],
    "LaunchType": "FARGATE",
    "ClockDrift": {"ClockErrorBound": 0.5458, "ReferenceTime": "2021-09-07T16:57:44Z",
                   "ClockSynchronizationStatus": "SYNCHRONIZED"},
    "EphemeralStorageMetrics": {"Utilized": 261, "Reserved": 20496},
}


class _Handler(http.server.BaseHTTPRequestHandler):
    delay = 0.0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        time.sleep(self.delay)
        base = "/v4/" + DOCKER_ID
        if self.path == base:
            body = CONTAINER
        elif self.path == base + "/task":
            body = TASK
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    handler = type("H", (_Handler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v4/{DOCKER_ID}", handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def chain(tmp_path):
    c = start_chain(tmp_path, "ecs-" + uuid.uuid4().hex[:8])
    yield c
    stop_chain(c)


def test_detect_reads_container_and_task(endpoint, monkeypatch):
    url, _ = endpoint
    monkeypatch.setenv(ECS_ENV, url)
    meta = detect_container(timeout=2)
    assert meta is not None
    assert (meta.id, meta.full_id, meta.name, meta.type) == (DOCKER_ID[:12], DOCKER_ID, "curl", "containerd")
    assert meta.image_repository == "111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest"
    assert meta.image_tag == "latest"
    assert meta.image_digest == CONTAINER["ImageID"]
    assert meta.image_id == CONTAINER["ImageID"].removeprefix("sha256:")
    assert meta.privileged is False
    assert meta.ip == "192.0.2.3"
    assert meta.ecs["task_arn"] == TASK["TaskARN"] and meta.ecs["launch_type"] == "FARGATE"
    assert meta.ecs["availability_zone"] == "us-west-2a" and meta.ecs["revision"] == "26"
    assert meta.start_ts == 1602187751445271860


def test_metadata_is_read_directly_even_with_an_http_proxy_in_the_environment(endpoint, monkeypatch):
    """Egress setups set HTTP_PROXY; the link-local metadata endpoint must not go through it."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead_proxy = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()  # nothing listens there: a proxied request would fail
    url, _ = endpoint
    monkeypatch.setenv(ECS_ENV, url)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    meta = detect_container(timeout=2)
    assert meta is not None and meta.full_id == DOCKER_ID


def test_no_env_no_metadata(monkeypatch):
    monkeypatch.delenv(ECS_ENV, raising=False)
    assert detect_container() is None


def test_unreachable_endpoint_names_the_variable(monkeypatch):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    monkeypatch.setenv(ECS_ENV, f"http://127.0.0.1:{port}/v4/x")
    with pytest.raises(ContainerMetadataError, match=ECS_ENV):
        detect_container(timeout=0.5)


def test_slow_endpoint_times_out_quickly(endpoint, monkeypatch):
    url, handler = endpoint
    handler.delay = 2.0
    monkeypatch.setenv(ECS_ENV, url)
    start = time.monotonic()
    with pytest.raises(ContainerMetadataError):
        detect_container(timeout=0.3)
    assert time.monotonic() - start < 1.5


def test_fargate_processes_are_in_the_task_container(endpoint, monkeypatch, chain):
    """Fargate: cgroups name no container (private cgroupns); the ECS metadata makes it one."""
    url, _ = endpoint
    monkeypatch.setenv(ECS_ENV, url)
    meta = detect_container(timeout=2)
    chain.state.get_thread(chain.sleep_pid).proc.cgroups = ["unified=/"]
    reg = FieldRegistry(state=chain.state, container=meta)
    e = chain.event("getpid", res=1)
    assert compile_condition(parse_condition("container.id != host"), reg)(e) is True
    assert compile_condition(parse_condition("container.id != host and container.privileged = false"), reg)(e)
    assert reg.bind("container.label.com.amazonaws.ecs.task-definition-family").extract(e) == "curltest"
    fmt = rule_formatter("x", "r", [], reg, parse_append_output([{"suggested_output": True}]))
    text, fields = fmt.render(e)
    assert text == ("x container_id=cd189a933e58 container_name=curl container_image_repository="
                    "111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest container_image_tag=latest "
                    "k8s_pod_name=<NA> k8s_ns_name=<NA>")
    assert fields["container.id"] == "cd189a933e58" and fields["k8s.ns.name"] is None
    # replay: the header's copy gives the same answers
    replay = FieldRegistry(state=chain.state, container=ContainerMeta.from_dict(json.loads(json.dumps(meta.to_dict()))))
    assert OutputFormatter("%container.name %container.image.tag", replay).render(e)[0] == "curl latest"

"""Container ids from real-world cgroup line formats, and Falco's host/unknown container values."""

from __future__ import annotations

import uuid

import pytest
from fields_support import start_chain, stop_chain

from pdigpy.engine.compiler import compile_condition
from pdigpy.engine.fields.container import HOST, ContainerMeta, ContainerResolver, parse_container_id
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.grammar import parse_condition
from pdigpy.tracer.procfs import parse_cgroups

H = "3f4b1c2d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"
POD = "1c2f3a4b_5d6e_7f80_9a0b_1c2d3e4f5a6b"
TASK = "8a9b1c2d3e4f40a1b2c3d4e5f6a7b8c9"

# (raw /proc/PID/cgroup content, expected (full id, type) or None for a host process)
CASES = [
    (f"12:memory:/docker/{H}\n11:cpu,cpuacct:/docker/{H}\n", (H, "docker")),
    (f"0::/system.slice/docker-{H}.scope\n", (H, "docker")),
    (f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD}.slice/cri-containerd-{H}.scope\n",
     (H, "containerd")),
    (f"11:cpu,cpuacct:/kubepods/burstable/pod{POD.replace('_', '-')}/{H}\n", (H, "cri")),
    (f"0::/kubepods/besteffort/pod{POD.replace('_', '-')}/{H}\n", (H, "cri")),
    (f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD}.slice/crio-{H}.scope\n",
     (H, "cri-o")),
    (f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD}.slice/crio-conmon-{H}.scope\n", None),
    (f"0::/machine.slice/libpod-{H}.scope/container\n", (H, "podman")),
    (f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{H}.scope/container\n", (H, "podman")),
    (f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-{H}.scope\n", None),
    (f"9:perf_event:/ecs/5a0d5ceddf6c44a1928d367a7ed1ded7/{H}\n", (H, "docker")),
    (f"0::/ecs/{TASK}/{TASK}-2495160603\n", (f"{TASK}-2495160603", "containerd")),
    (f"0::/default/{H}\n", (H, "containerd")),
    ("0::/lxc.payload.web01/system.slice/ssh.service\n", ("web01", "lxc")),
    ("4:memory:/lxc/web02\n", ("web02", "lxc")),
    ("0::/user.slice/user-0.slice/session-3.scope\n", None),
    ("0::/\n", None),
    ("0::/init.scope\n", None),
    ("0::/system.slice/docker.service\n", None),
    ("4:memory:/process_api/c23b5fc52d177ca0d8355a382a2a7c36\n0::/\n", None),
    ("", None),
]


@pytest.mark.parametrize("raw, want", CASES)
def test_cgroup_formats(raw, want):
    # Through T2's /proc parser, as the tracer records them ("subsys=/path") ...
    assert parse_container_id(parse_cgroups(raw.encode())) == want
    # ... and as raw /proc lines.
    assert parse_container_id([line for line in raw.split("\n") if line]) == want


def test_resolver_ids_are_12_chars_and_unknown_metadata_is_missing():
    r = ContainerResolver()
    assert r.for_cgroups([f"memory=/docker/{H}"]).id == H[:12]
    assert r.for_cgroups([f"memory=/docker/{H}"]).known is False
    assert r.for_cgroups(["unified=/"]) is HOST
    fargate = r.for_cgroups([f"unified=/ecs/{TASK}/{TASK}-2495160603"])
    assert fargate.id == TASK[:12]


@pytest.fixture
def chain(tmp_path):
    c = start_chain(tmp_path, "c-" + uuid.uuid4().hex[:8])
    yield c
    stop_chain(c)


def test_host_values_on_a_host_process(chain):
    chain.state.get_thread(chain.sleep_pid).proc.cgroups = ["unified=/user.slice/user-0.slice/session-1.scope"]
    reg = FieldRegistry(state=chain.state)
    e = chain.event("getpid", res=1)
    got = {n: reg.bind(n).extract(e) for n in (
        "container.id", "container.full_id", "container.name", "container.type", "container.privileged",
        "container.image", "container.image.repository", "container.image.tag", "container.image.digest",
        "container.image.id", "k8s.pod.name", "k8s.ns.name", "k8s.rc.name")}
    assert got == {"container.id": "host", "container.full_id": "host", "container.name": "host",
                   "container.type": "host", "container.privileged": False, "container.image": "",
                   "container.image.repository": "", "container.image.tag": "", "container.image.digest": "",
                   "container.image.id": "", "k8s.pod.name": None, "k8s.ns.name": None, "k8s.rc.name": None}
    assert reg.bind("container.mount.dest", "/proc*").extract(e) is None
    is_container = compile_condition(parse_condition("container.id != host"), reg)
    assert is_container(e) is False


def test_unknown_container_only_has_id_and_times(chain):
    t = chain.state.get_thread(chain.sleep_pid)
    t.proc.cgroups = [f"memory=/docker/{H}"]
    t.proc.pidns_init_start_ts = 1_000_000_000
    reg = FieldRegistry(state=chain.state)
    e = chain.event("getpid", res=1, ts=6_000_000_000)
    assert reg.bind("container.id").extract(e) == H[:12]
    assert reg.bind("container.start_ts").extract(e) == 1_000_000_000
    assert reg.bind("container.duration").extract(e) == 5_000_000_000
    for name in ("container.name", "container.full_id", "container.type", "container.image.repository",
                 "container.privileged", "k8s.ns.name"):
        assert reg.bind(name).extract(e) is None, name
    assert compile_condition(parse_condition("container.id != host"), reg)(e) is True
    assert compile_condition(parse_condition("container.image.repository in (nginx)"), reg)(e) is False


def test_known_container_metadata_and_mounts(chain):
    t = chain.state.get_thread(chain.sleep_pid)
    t.proc.cgroups = [f"memory=/docker/{H}"]
    meta = ContainerMeta(id=H[:12], full_id=H, name="web", type="docker", image="nginx:1.27", image_repository="nginx",
                         image_tag="1.27", privileged=True, labels={"app": "web"},
                         mounts=[{"source": "/proc", "dest": "/host/proc", "mode": "ro", "rdwr": False,
                                  "propagation": "rprivate"},
                                 {"source": "/var/run/docker.sock", "dest": "/var/run/docker.sock", "mode": "",
                                  "rdwr": True, "propagation": "rprivate"}])
    reg = FieldRegistry(state=chain.state, container=meta)
    e = chain.event("getpid", res=1)
    assert reg.bind("container.name").extract(e) == "web"
    assert reg.bind("container.privileged").extract(e) is True
    assert reg.bind("container.mount.dest", "/proc*").extract(e) == "/host/proc"
    assert reg.bind("container.mount.dest", "/var/run/docker.sock").extract(e) == "/var/run/docker.sock"
    assert reg.bind("container.mount.dest", "/etc").extract(e) is None
    assert reg.bind("container.mount.source", "1").extract(e) == "/var/run/docker.sock"
    assert reg.bind("container.mounts").extract(e) == (
        "/proc:/host/proc:ro:false:rprivate,/var/run/docker.sock:/var/run/docker.sock::true:rprivate")
    assert reg.bind("container.label.app").extract(e) == "web"
    assert reg.bind("container.label", "app").extract(e) == "web"
    assert reg.bind("container.labels").extract(e) == "app:web"


def test_meta_round_trips_through_a_capture_header():
    import json

    meta = ContainerMeta(id="abc", full_id="abcdef", name="n", labels={"k": "v"}, privileged=False,
                         ecs={"task_arn": "arn:x"})
    back = ContainerMeta.from_dict(json.loads(json.dumps({"container": meta.to_dict()}))["container"])
    assert back == meta
    assert ContainerMeta.from_dict({**meta.to_dict(), "future_key": 1}) == meta


def test_resolver_cache_is_keyed_by_cgroups_content_and_stays_small():
    """Every process has its own cgroups list; the cache must not grow one entry per process."""
    from types import SimpleNamespace

    from pdigpy.state.records import ProcShared

    r = ContainerResolver()
    contents = (["unified=/user.slice/user-0.slice/session-1.scope"], [f"memory=/docker/{H}"])
    metas = set()
    for i in range(3000):
        proc = ProcShared(cgroups=list(contents[i % 2]))  # a fresh list per process, as the state layer makes
        metas.add(id(r.for_thread(SimpleNamespace(proc=proc))))
    assert len(r._cache) == 2
    assert len(metas) == 2  # the same ContainerMeta for the same cgroups
    assert r.for_thread(SimpleNamespace(proc=ProcShared(cgroups=list(contents[1])))).id == H[:12]


def test_resolver_cache_stays_bounded_for_endless_distinct_cgroups():
    from types import SimpleNamespace

    from pdigpy.state.records import ProcShared

    r = ContainerResolver()
    for i in range(ContainerResolver._MAX_ENTRIES + 10):
        r.for_thread(SimpleNamespace(proc=ProcShared(cgroups=[f"unified=/scope-{i}"])))
    assert len(r._cache) <= ContainerResolver._MAX_ENTRIES

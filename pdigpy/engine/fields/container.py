"""``container.*`` and ``k8s.*`` fields (Falco's container plugin), and where their values come from.

Container identity comes from the thread's cgroups (``ThreadInfo.proc.cgroups``): docker,
containerd/CRI, cri-o, podman, ECS and lxc path formats; the id is the first 12 characters of
the full id. A process in no container gets Falco's synthetic ``host`` container (id, name,
type ``host``; image fields ``""``; k8s fields missing). A container whose id is known but
whose metadata is not has every field missing except ``container.id``, ``container.start_ts``
and ``container.duration``.

Metadata (name, image, labels ...) is known for the container pdigpy itself runs in when
``ECS_CONTAINER_METADATA_URI_V4`` is set: :func:`detect_container` reads the ECS task
metadata endpoint once at startup. On Fargate the cgroup paths inside the task often show
no id at all (private cgroup namespace), so threads whose cgroups name no container are
taken to be in pdigpy's own container when that metadata is present. That is what makes the
rules gated on ``container.id != host`` work on Fargate. :class:`ContainerMeta` round-trips
through a capture header (:meth:`ContainerMeta.to_dict` / :meth:`ContainerMeta.from_dict`)
so a replay sees the same values.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable

from pdigpy.engine.fields.base import FieldInfo
from pdigpy.engine.fields.registry import SUGGESTED, FieldDef, make

if TYPE_CHECKING:
    from pdigpy.events.model import Event

ECS_ENV = "ECS_CONTAINER_METADATA_URI_V4"


@dataclass(slots=True)
class ContainerMeta:
    """What pdigpy knows about one container. ``known=False``: only the id is known."""

    id: str
    full_id: str | None = None
    name: str | None = None
    type: str | None = None
    image: str | None = None
    image_id: str | None = None
    image_repository: str | None = None
    image_tag: str | None = None
    image_digest: str | None = None
    privileged: bool | None = None
    labels: dict[str, str] | None = None
    ip: str | None = None
    mounts: list[dict[str, Any]] | None = None  # {source, dest, mode, rdwr, propagation}
    host_pid: bool | None = None
    host_network: bool | None = None
    host_ipc: bool | None = None
    start_ts: int = 0  # ns since epoch, when the metadata says so
    k8s_pod_name: str | None = None
    k8s_ns_name: str | None = None
    k8s_pod_uid: str | None = None
    k8s_pod_sandbox_id: str | None = None
    k8s_pod_labels: dict[str, str] | None = None
    k8s_pod_ip: str | None = None
    ecs: dict[str, Any] = field(default_factory=dict)  # task_arn, cluster, family, revision, ...
    known: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the capture header ``meta``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContainerMeta:
        """Inverse of :meth:`to_dict`; unknown keys are ignored (newer captures)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def unknown(cls, full_id: str) -> ContainerMeta:
        return cls(id=full_id[:12], full_id=None, known=False)


HOST = ContainerMeta(
    id="host", full_id="host", name="host", type="host", image="", image_id="", image_repository="",
    image_tag="", image_digest="", privileged=False,
)


# ---------------------------------------------------------------------------
# cgroup paths -> container id
# ---------------------------------------------------------------------------

_HEX64 = "[0-9a-f]{64}"
# (regex, container type). First match wins; order goes from specific to generic.
_CGROUP_SOURCES: tuple[tuple[str, str], ...] = (
    (r"/ecs/[0-9a-f]{32}/([0-9a-f]{32}-[0-9]{1,10})(?:/|$)", "containerd"),  # ECS Fargate
    (rf"/ecs/(?:[0-9a-f]{{32}}|[0-9a-f-]{{36}})/({_HEX64})(?:/|$)", "docker"),  # ECS on EC2
    (rf"cri-containerd-({_HEX64})\.scope", "containerd"),
    (rf"(?<![a-z])crio-(?!conmon-)({_HEX64})(?:\.scope)?(?:/|$)", "cri-o"),
    (rf"libpod-(?!conmon-)({_HEX64})(?:\.scope)?(?:/|$)", "podman"),
    (rf"docker-({_HEX64})\.scope", "docker"),
    (rf"/docker/({_HEX64})(?:/|$)", "docker"),
    (rf"/kubepods[^/]*(?:/[^/]+)*?/pod[0-9a-f_-]+(?:\.slice)?/({_HEX64})(?:/|$)", "cri"),
    (rf"/(?:default|k8s\.io|moby)/({_HEX64})(?:/|$)", "containerd"),
    (rf"nerdctl-({_HEX64})\.scope", "containerd"),
    (r"/lxc\.payload[./]([^/]+)", "lxc"),
    (r"/lxc/([^/]+)", "lxc"),
)
_cgroup_patterns: list[tuple[re.Pattern[str], str]] | None = None
# Each pattern needs 32 hex digits in a row or an lxc directory: a path with neither (a host
# process's user.slice or session scope) is decided by this one search, the list left uncompiled.
_CANDIDATE = r"[0-9a-f]{32}|/lxc[./]"


def cgroup_patterns() -> list[tuple[re.Pattern[str], str]]:
    """The compiled cgroup patterns, compiled on first use: compiling them costs ~1.4 ms,
    which a run that never asks for a container id (no container.* field) does not pay."""
    global _cgroup_patterns
    if _cgroup_patterns is None:
        _cgroup_patterns = [(re.compile(source), ctype) for source, ctype in _CGROUP_SOURCES]
    return _cgroup_patterns


def _cgroup_path(line: str) -> str:
    """The path of a cgroup entry: ProcInfo's ``subsys=/path`` or /proc's ``N:subsys:/path``."""
    if "=" in line and not line.split("=", 1)[0].count(":"):
        return line.split("=", 1)[1]
    parts = line.split(":", 2)
    return parts[2] if len(parts) == 3 else line


def parse_container_id(cgroups: list[str]) -> tuple[str, str] | None:
    """(full id, container type) named by the cgroup entries, or None for a host process."""
    for line in cgroups:
        path = _cgroup_path(line)
        if path in ("/", "") or re.search(_CANDIDATE, path) is None:
            continue
        for rx, ctype in cgroup_patterns():
            m = rx.search(path)
            if m:
                return m.group(1), ctype
    return None


class ContainerResolver:
    """Thread -> ContainerMeta, cached per cgroups content.

    Hot path: one tuple of the thread's cgroups and one dict lookup; parsing only happens for
    cgroups never seen before. Keyed by content, not by list identity: every process has its
    own list, but a host has only a handful of distinct cgroups, so the cache stays tiny.
    """

    _MAX_ENTRIES = 8192  # bound against an adversary that creates cgroups without end

    def __init__(self, own: ContainerMeta | None = None) -> None:
        self.own = own
        self._cache: dict[tuple[str, ...], ContainerMeta] = {}
        self._unknown: dict[str, ContainerMeta] = {}

    def for_thread(self, t: Any) -> ContainerMeta | None:
        if t is None:
            return None
        key = tuple(t.proc.cgroups)
        meta = self._cache.get(key)
        if meta is not None:
            return meta
        meta = self.for_cgroups(t.proc.cgroups)
        if len(self._cache) >= self._MAX_ENTRIES:
            self._cache.clear()
        self._cache[key] = meta
        return meta

    def for_cgroups(self, cgroups: list[str]) -> ContainerMeta:
        parsed = parse_container_id(cgroups)
        own = self.own
        if parsed is None:
            return own if own is not None else HOST
        full, _ctype = parsed
        if own is not None and own.full_id and (own.full_id == full or own.full_id.startswith(full)
                                                or full.startswith(own.id)):
            return own
        meta = self._unknown.get(full)
        if meta is None:
            meta = self._unknown[full] = ContainerMeta.unknown(full)
        return meta


# ---------------------------------------------------------------------------
# ECS task metadata endpoint (v4)
# ---------------------------------------------------------------------------


def split_image(image: str) -> tuple[str, str, str]:
    """``repo[:tag][@digest]`` -> (repository, tag, digest); a registry port is not a tag."""
    digest = ""
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = ""
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        image, tag = image[:colon], image[colon + 1 :]
    return image, tag, digest


def _rfc3339_ns(text: str | None) -> int:
    from datetime import datetime  # only when ECS metadata is read

    if not text:
        return 0
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", text.strip())
    if not m:
        return 0
    base, frac, tz = m.groups()
    dt = datetime.fromisoformat(base + ("+00:00" if tz in (None, "Z") else tz))
    ns = int(dt.timestamp()) * 1_000_000_000
    if frac:
        ns += int((frac + "000000000")[:9])
    return ns


def parse_ecs(container: dict[str, Any], task: dict[str, Any] | None = None) -> ContainerMeta:
    """ContainerMeta from the v4 endpoint's container object and (optionally) task object."""
    task = task or {}
    full_id = str(container.get("DockerId") or "")
    image = str(container.get("Image") or "")
    repo, tag, digest = split_image(image)
    image_id = str(container.get("ImageID") or "")
    if not digest and image_id.startswith("sha256:"):
        digest = image_id
    labels = {str(k): str(v) for k, v in (container.get("Labels") or {}).items()}
    ip = None
    for net in container.get("Networks") or []:
        addrs = net.get("IPv4Addresses") or []
        if addrs:
            ip = str(addrs[0])
            break
    mounts = []
    for vol in container.get("Volumes") or []:
        mounts.append({"source": str(vol.get("Source", "")), "dest": str(vol.get("Destination", "")),
                       "mode": "", "rdwr": True, "propagation": ""})
    launch = str(task.get("LaunchType") or "")
    fargate = launch.upper() == "FARGATE" or re.fullmatch(r"[0-9a-f]{32}-[0-9]+", full_id) is not None
    ecs = {
        "task_arn": task.get("TaskARN") or labels.get("com.amazonaws.ecs.task-arn"),
        "cluster": task.get("Cluster") or labels.get("com.amazonaws.ecs.cluster"),
        "family": task.get("Family") or labels.get("com.amazonaws.ecs.task-definition-family"),
        "revision": task.get("Revision") or labels.get("com.amazonaws.ecs.task-definition-version"),
        "availability_zone": task.get("AvailabilityZone"),
        "launch_type": launch or ("FARGATE" if fargate else None),
        "container_arn": container.get("ContainerARN"),
    }
    return ContainerMeta(
        id=full_id[:12],
        full_id=full_id,
        name=str(container.get("Name") or container.get("DockerName") or ""),
        type="containerd" if fargate else "docker",
        image=image,
        image_id=image_id.removeprefix("sha256:"),
        image_repository=repo,
        image_tag=tag,
        image_digest=digest,
        privileged=False if fargate else None,  # Fargate never runs privileged containers
        labels=labels,
        ip=ip,
        mounts=mounts,
        host_pid=False if fargate else None,
        host_network=False if fargate else None,
        host_ipc=False if fargate else None,
        start_ts=_rfc3339_ns(container.get("StartedAt") or container.get("CreatedAt")),
        ecs={k: v for k, v in ecs.items() if v is not None},
    )


class ContainerMetadataError(Exception):
    """The ECS metadata endpoint was set but could not be read; the message names it."""


def fetch_ecs_metadata(uri: str, timeout: float = 1.0) -> ContainerMeta:
    """Read ``<uri>`` (container) and ``<uri>/task`` once; raises ContainerMetadataError."""
    import json  # json and urllib: only on ECS, where the metadata endpoint is set
    import urllib.error
    import urllib.request

    # The metadata endpoint is link-local (or loopback): never send it through the task's
    # HTTP_PROXY, which egress setups commonly set and which cannot reach it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(url: str) -> Any:
        try:
            with opener.open(url, timeout=timeout) as resp:  # noqa: S310 (env-provided URL)
                return json.loads(resp.read().decode("utf-8"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ContainerMetadataError(f"{ECS_ENV}: cannot read {url}: {exc}") from None

    base = uri.rstrip("/")
    container = get(base)
    if not isinstance(container, dict):
        raise ContainerMetadataError(f"{ECS_ENV}: {base} did not return a JSON object")
    try:
        task = get(base + "/task")
    except ContainerMetadataError:
        task = None  # the container object alone still names the container
    return parse_ecs(container, task if isinstance(task, dict) else None)


def detect_container(env: dict[str, str] | None = None, timeout: float = 1.0) -> ContainerMeta | None:
    """pdigpy's own container metadata at startup: the ECS endpoint if configured, else None."""
    env = os.environ if env is None else env
    uri = env.get(ECS_ENV)
    if not uri:
        return None
    return fetch_ecs_metadata(uri, timeout)


# ---------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------


def _meta_field(get: Callable[[ContainerMeta], Any]):
    """A field read from the thread's container; missing for unknown containers."""

    def factory(reg, info, arg):
        resolve = reg.container_resolver().for_thread

        def extract(e: Event) -> Any:
            m = resolve(e.thread)
            if m is None or not m.known:
                return None
            return get(m)

        return make(info, arg, extract)

    return factory


def _f_id(reg, info, arg):
    resolve = reg.container_resolver().for_thread

    def extract(e: Event) -> str | None:
        m = resolve(e.thread)
        return None if m is None else m.id

    return make(info, arg, extract)


def _start_ts(e: Event, m: ContainerMeta) -> int | None:
    t = e.thread
    ts = t.proc.pidns_init_start_ts if t is not None else 0
    if not ts and m is not HOST:
        ts = m.start_ts
    return ts or None


def _f_start_ts(reg, info, arg):
    resolve = reg.container_resolver().for_thread

    def extract(e: Event) -> int | None:
        m = resolve(e.thread)
        return None if m is None else _start_ts(e, m)

    return make(info, arg, extract)


def _f_duration(reg, info, arg):
    resolve = reg.container_resolver().for_thread

    def extract(e: Event) -> int | None:
        m = resolve(e.thread)
        if m is None:
            return None
        ts = _start_ts(e, m)
        return None if ts is None else e.ts - ts

    return make(info, arg, extract)


def _labels_str(labels: dict[str, str] | None) -> str | None:
    if labels is None:
        return None
    return ", ".join(f"{k}:{v}" for k, v in labels.items())


def _mount_str(m: dict[str, Any]) -> str:
    return f"{m.get('source', '')}:{m.get('dest', '')}:{m.get('mode', '')}:" \
           f"{'true' if m.get('rdwr') else 'false'}:{m.get('propagation', '')}"


def _mounts_str(mounts: list[dict[str, Any]] | None) -> str | None:
    if mounts is None:
        return None
    return ",".join(_mount_str(m) for m in mounts)


def _find_mount(mounts: list[dict[str, Any]] | None, arg: str, match_key: str) -> dict[str, Any] | None:
    """By index (all digits) or by a glob on ``match_key`` (source for .dest, dest for .source)."""
    if not mounts:
        return None
    if arg.isdigit():
        i = int(arg)
        return mounts[i] if i < len(mounts) else None
    for m in mounts:
        if fnmatch.fnmatchcase(str(m.get(match_key, "")), arg):
            return m
    return None


def _f_mount(attr: str | None, match_key: str):
    def factory(reg, info, arg):
        resolve = reg.container_resolver().for_thread
        key = arg

        def extract(e: Event) -> Any:
            m = resolve(e.thread)
            if m is None or not m.known:
                return None
            mount = _find_mount(m.mounts, key, match_key)
            if mount is None:
                return None
            if attr is None:
                return _mount_str(mount)
            v = mount.get(attr)
            if attr == "rdwr":
                return "true" if v else "false"
            return None if v is None else str(v)

        return make(info, arg, extract)

    return factory


def _f_label(get_labels: Callable[[ContainerMeta], dict[str, str] | None]):
    def factory(reg, info, arg):
        resolve = reg.container_resolver().for_thread
        key = arg

        def extract(e: Event) -> str | None:
            m = resolve(e.thread)
            if m is None or not m.known:
                return None
            labels = get_labels(m)
            return None if labels is None else labels.get(key)

        return make(info, arg, extract)

    return factory


def _cinfo(name: str, ftype: str, desc: str, cls: str = "container", **kw: Any) -> FieldInfo:
    return FieldInfo(name=name, type=ftype, desc=desc, field_class=cls, **kw)


_SUG = frozenset({SUGGESTED})


def _never(reg, info, arg):
    return make(info, arg, lambda e: None)


FIELDS = [
    FieldDef(_cinfo("container.id", "string", "12-character container id, or 'host'.", flags=_SUG), _f_id),
    FieldDef(_cinfo("container.full_id", "string", "Full container id, or 'host'."), _meta_field(lambda m: m.full_id)),
    FieldDef(_cinfo("container.name", "string", "Container name, or 'host'.", flags=_SUG),
             _meta_field(lambda m: m.name)),
    FieldDef(_cinfo("container.image", "string", "Image name as given (repo:tag)."), _meta_field(lambda m: m.image)),
    FieldDef(_cinfo("container.image.id", "string", "Image id."), _meta_field(lambda m: m.image_id)),
    FieldDef(_cinfo("container.type", "string", "docker, containerd, cri, cri-o, podman, lxc or host."),
             _meta_field(lambda m: m.type)),
    FieldDef(_cinfo("container.privileged", "bool", "The container runs privileged."),
             _meta_field(lambda m: m.privileged)),
    FieldDef(_cinfo("container.mounts", "string", "Mounts: source:dest:mode:rdwr:propagation, comma-separated."),
             _meta_field(lambda m: _mounts_str(m.mounts))),
    FieldDef(_cinfo("container.mount", "string", "One mount, by index or source glob.", arg="required",
                    arg_kind="key"), _f_mount(None, "source")),
    FieldDef(_cinfo("container.mount.source", "string", "A mount's source, by index or destination glob.",
                    arg="required", arg_kind="key"), _f_mount("source", "dest")),
    FieldDef(_cinfo("container.mount.dest", "string", "A mount's destination, by index or source glob.",
                    arg="required", arg_kind="key"), _f_mount("dest", "source")),
    FieldDef(_cinfo("container.mount.mode", "string", "A mount's mode, by index or source glob.",
                    arg="required", arg_kind="key"), _f_mount("mode", "source")),
    FieldDef(_cinfo("container.mount.rdwr", "string", "A mount's read-write flag, by index or source glob.",
                    arg="required", arg_kind="key"), _f_mount("rdwr", "source")),
    FieldDef(_cinfo("container.mount.propagation", "string", "A mount's propagation, by index or source glob.",
                    arg="required", arg_kind="key"), _f_mount("propagation", "source")),
    FieldDef(_cinfo("container.image.repository", "string", "Image repository.", flags=_SUG),
             _meta_field(lambda m: m.image_repository)),
    FieldDef(_cinfo("container.image.tag", "string", "Image tag.", flags=_SUG), _meta_field(lambda m: m.image_tag)),
    FieldDef(_cinfo("container.image.digest", "string", "Image digest."), _meta_field(lambda m: m.image_digest)),
    FieldDef(_cinfo("container.start_ts", "abstime", "Container start (pid namespace start), ns since epoch."),
             _f_start_ts),
    FieldDef(_cinfo("container.duration", "reltime", "ns since the container started."), _f_duration),
    FieldDef(_cinfo("container.ip", "string", "Container IP address."), _meta_field(lambda m: m.ip)),
    FieldDef(_cinfo("container.host_pid", "bool", "Shares the host's pid namespace."),
             _meta_field(lambda m: m.host_pid)),
    FieldDef(_cinfo("container.host_network", "bool", "Shares the host's network namespace."),
             _meta_field(lambda m: m.host_network)),
    FieldDef(_cinfo("container.host_ipc", "bool", "Shares the host's ipc namespace."),
             _meta_field(lambda m: m.host_ipc)),
    FieldDef(_cinfo("container.label", "string", "One container label (container.label[KEY]).",
                    arg="required", arg_kind="key"), _f_label(lambda m: m.labels), dotted=True),
    FieldDef(_cinfo("container.labels", "string", "All container labels, 'k:v, k2:v2'."),
             _meta_field(lambda m: _labels_str(m.labels))),
    FieldDef(_cinfo("k8s.pod.name", "string", "Kubernetes pod name.", "k8s", flags=_SUG),
             _meta_field(lambda m: m.k8s_pod_name)),
    FieldDef(_cinfo("k8s.ns.name", "string", "Kubernetes namespace.", "k8s", flags=_SUG),
             _meta_field(lambda m: m.k8s_ns_name)),
    FieldDef(_cinfo("k8s.pod.uid", "string", "Kubernetes pod uid.", "k8s"), _meta_field(lambda m: m.k8s_pod_uid)),
    FieldDef(_cinfo("k8s.pod.id", "string", "Kubernetes pod uid (legacy name).", "k8s"),
             _meta_field(lambda m: m.k8s_pod_uid)),
    FieldDef(_cinfo("k8s.pod.sandbox_id", "string", "Pod sandbox id, 12 characters.", "k8s"),
             _meta_field(lambda m: m.k8s_pod_sandbox_id[:12] if m.k8s_pod_sandbox_id else None)),
    FieldDef(_cinfo("k8s.pod.full_sandbox_id", "string", "Pod sandbox id.", "k8s"),
             _meta_field(lambda m: m.k8s_pod_sandbox_id)),
    FieldDef(_cinfo("k8s.pod.label", "string", "One pod label (k8s.pod.label[KEY]).", "k8s", arg="required",
                    arg_kind="key"), _f_label(lambda m: m.k8s_pod_labels), dotted=True),
    FieldDef(_cinfo("k8s.pod.labels", "string", "All pod labels.", "k8s"),
             _meta_field(lambda m: _labels_str(m.k8s_pod_labels))),
    FieldDef(_cinfo("k8s.pod.ip", "string", "Pod IP.", "k8s"), _meta_field(lambda m: m.k8s_pod_ip)),
] + [
    # Deprecated in Falco: they exist so that old rules load, and never extract.
    FieldDef(_cinfo(name, "string", "Deprecated; never has a value.", "k8s"), _never)
    for name in ("k8s.ns.id", "k8s.ns.labels", "k8s.rc.name", "k8s.rc.id", "k8s.svc.name", "k8s.svc.id",
                 "k8s.rs.name", "k8s.rs.id", "k8s.deployment.name", "k8s.deployment.id")
]


def suggested_fields(registry: Any) -> list[str]:
    """Field names flagged "suggested output", in the plugin's order."""
    return [i.name for i in registry.infos() if SUGGESTED in i.flags]

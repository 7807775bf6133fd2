"""``fs.path.*`` fields, and the path arithmetic shared with fd.* and evt.abspath.

Falco makes a syscall's path absolute with the thread's cwd (or the dirfd's path for *at
calls) and normalises it lexically (``.``, ``..``, repeated ``/``); symlinks are never
resolved, so ``/bin/x`` stays ``/bin/x`` on a merged-/usr system.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pdigpy.engine.fields.base import FieldInfo
from pdigpy.engine.fields.registry import FieldDef, make

if TYPE_CHECKING:
    from pdigpy.events.model import Event

AT_FDCWD = -100


def normalize(path: str) -> str:
    """Lexical normalisation of an absolute path, as libsinsp's concatenate_paths does."""
    out: list[str] = []
    for part in path.split("/"):
        if part == "" or part == ".":
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return "/" + "/".join(out)


def join_path(base: str, rel: str) -> str:
    """``rel`` made absolute against ``base`` (a directory), normalised."""
    if rel.startswith("/"):
        return normalize(rel)
    if not base:
        base = "/"
    return normalize(base + "/" + rel)


def fd_lookup(thread: Any, num: int) -> Any:
    """The FdInfo for ``num`` in the thread's fd table, or None (tolerant of the table's API)."""
    fds = getattr(thread, "fds", None)
    if fds is None:
        return None
    get = getattr(fds, "get", None)
    if get is not None:
        try:
            return get(num)
        except Exception:  # a table keyed differently must not break extraction
            return None
    return None


def resolve_at(evt: Event, dirfd: int | None, path: str | None) -> str | None:
    """Absolute form of ``path`` relative to ``dirfd`` (AT_FDCWD or None: the cwd)."""
    if path is None:
        return None
    if path.startswith("/"):
        return normalize(path)
    t = evt.thread
    if dirfd is None or dirfd == AT_FDCWD:
        if t is None:
            return None
        return join_path(t.proc.cwd, path)
    if t is None:
        return None
    fdi = fd_lookup(t, dirfd)
    if fdi is None or not fdi.name:
        return None
    return join_path(fdi.name, path)


# Per event type: how to find the path (fs.path.name) and the source/target pairs.
# Each entry: (dirfd arg or None, path arg). Only successful calls have values.
_NAME: dict[str, tuple[str | None, str]] = {
    "mkdir": (None, "path"),
    "mkdirat": ("dirfd", "path"),
    "rmdir": (None, "path"),
    "unlink": (None, "path"),
    "unlinkat": ("dirfd", "name"),
    "open": (None, "name"),
    "openat": ("dirfd", "name"),
    "openat2": ("dirfd", "name"),
    "chmod": (None, "filename"),
    "fchmodat": ("dirfd", "filename"),
    "chown": (None, "path"),
    "lchown": (None, "path"),
    "fchownat": ("dirfd", "pathname"),
    "quotactl": (None, "special"),
    "umount": (None, "name"),
    "umount2": (None, "name"),
}
# (source dirfd, source path, target dirfd, target path)
_SRC_TGT: dict[str, tuple[str | None, str, str | None, str]] = {
    "rename": (None, "oldpath", None, "newpath"),
    "renameat": ("olddirfd", "oldpath", "newdirfd", "newpath"),
    "renameat2": ("olddirfd", "oldpath", "newdirfd", "newpath"),
    # Falco: for link the source is newpath and the target oldpath; for symlink the
    # source is linkpath and the target the link's content.
    "link": (None, "newpath", None, "oldpath"),
    "linkat": ("newdir", "newpath", "olddir", "oldpath"),
    "symlink": (None, "linkpath", None, "target"),
    "symlinkat": ("linkdirfd", "linkpath", None, "target"),
    "mount": (None, "dev", None, "dir"),
}
_FD_PATH = {"fchmod", "fchown"}  # the path is the fd's name


def _succeeded(evt: Event) -> bool:
    res = evt.res
    return res is not None and res >= 0


def _name(evt: Event, raw: bool) -> str | None:
    if not _succeeded(evt):
        return None
    t = evt.type
    if t in _FD_PATH:
        fdi = evt.fdinfo
        return fdi.name if fdi is not None else None
    spec = _NAME.get(t)
    if spec is None:
        return None
    dirarg, patharg = spec
    path = evt.args.get(patharg)
    if path is None or raw:
        return path
    return resolve_at(evt, evt.args.get(dirarg) if dirarg else None, path)


def _pair(evt: Event, which: int, raw: bool) -> str | None:
    if not _succeeded(evt):
        return None
    spec = _SRC_TGT.get(evt.type)
    if spec is None:
        return None
    dirarg, patharg = (spec[0], spec[1]) if which == 0 else (spec[2], spec[3])
    path = evt.args.get(patharg)
    if path is None or raw:
        return path
    if evt.type in ("symlink", "symlinkat") and which == 1:
        return path  # a symlink's content is kept as written
    if evt.type == "mount":
        return path
    return resolve_at(evt, evt.args.get(dirarg) if dirarg else None, path)


def _factory(fn: Callable[[Event], Any]):
    def factory(reg, info, arg):
        return make(info, arg, fn)

    return factory


def _info(name: str, desc: str) -> FieldInfo:
    return FieldInfo(name=name, type="string", desc=desc, field_class="fs")


FIELDS = [
    FieldDef(_info("fs.path.name", "Path of a successful filesystem syscall, made absolute."),
             _factory(lambda e: _name(e, False))),
    FieldDef(_info("fs.path.nameraw", "Path of a successful filesystem syscall, as passed."),
             _factory(lambda e: _name(e, True))),
    FieldDef(_info("fs.path.source", "Source of a rename, link or symlink, made absolute."),
             _factory(lambda e: _pair(e, 0, False))),
    FieldDef(_info("fs.path.sourceraw", "Source of a rename, link or symlink, as passed."),
             _factory(lambda e: _pair(e, 0, True))),
    FieldDef(_info("fs.path.target", "Target of a rename, link or symlink, made absolute."),
             _factory(lambda e: _pair(e, 1, False))),
    FieldDef(_info("fs.path.targetraw", "Target of a rename, link or symlink, as passed."),
             _factory(lambda e: _pair(e, 1, True))),
]

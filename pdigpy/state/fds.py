"""A process's fd table, the FdInfo builders, and Falco-style path names.

The table is shared by the threads of a process (CLONE_FILES), copied on
fork and trimmed of close-on-exec fds at execve. Entries of a fork copy are
the *same* FdInfo objects as the parent's: both fd numbers refer to one open
file description, so a connect() seen in the child is also the truth for the
parent. Whatever is per fd-number (cloexec) gets a fresh FdInfo when it can
differ (dup, dup2, dup3, F_DUPFD).

Path names follow Falco: made absolute against cwd or the dirfd's path, then
normalised lexically (``//``, ``.``, ``..`` collapsed; symlinks NOT resolved,
so ``/bin/x`` stays ``/bin/x`` on a merged-/usr system). A relative name whose
dirfd is unknown to the state becomes ``<UNKNOWN>/name``, as Falco does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator

from pdigpy.state.records import FdInfo

if TYPE_CHECKING:
    from pdigpy.events.procinfo import ProcFd

# Falco's (PPM) open flags, the encoding of open/openat/pipe2/dup3/... flags.
PPM_O_RDONLY = 1 << 0
PPM_O_WRONLY = 1 << 1
PPM_O_RDWR = PPM_O_RDONLY | PPM_O_WRONLY
PPM_O_CREAT = 1 << 2
PPM_O_TRUNC = 1 << 8
PPM_O_DIRECTORY = 1 << 10
PPM_O_CLOEXEC = 1 << 12
PPM_O_TMPFILE = 1 << 13

AT_FDCWD = -100
UNKNOWN_DIR = "<UNKNOWN>"

# fd.type -> fd.typechar (Falco's letters)
TYPECHARS = {
    "file": "f",
    "directory": "d",
    "ipv4": "4",
    "ipv6": "6",
    "unix": "u",
    "pipe": "p",
    "event": "e",
    "signalfd": "s",
    "eventpoll": "l",
    "inotify": "i",
    "timerfd": "t",
    "netlink": "n",
    "bpf": "b",
    "userfaultfd": "u",
    "io_uring": "r",
    "memfd": "m",
    "pidfd": "P",
    "unknown": "o",
}


class FdTable:
    """fd number -> FdInfo of one process (or of processes sharing CLONE_FILES)."""

    __slots__ = ("fds",)

    def __init__(self, fds: dict[int, FdInfo] | None = None) -> None:
        self.fds: dict[int, FdInfo] = fds if fds is not None else {}

    def get(self, num: int) -> FdInfo | None:
        return self.fds.get(num)

    def add(self, info: FdInfo) -> FdInfo:
        self.fds[info.num] = info
        return info

    def remove(self, num: int) -> FdInfo | None:
        return self.fds.pop(num, None)

    def replace_all(self, fds: Iterable[FdInfo]) -> None:
        """Become exactly ``fds`` (a snapshot's view of the process, read at a ptrace stop)."""
        table = self.fds
        table.clear()
        for info in fds:
            table[info.num] = info

    def copy(self) -> FdTable:
        """The table a fork child starts with (same FdInfo objects, see module doc)."""
        return FdTable(dict(self.fds))

    def drop_cloexec(self) -> None:
        """What execve does: close-on-exec fds vanish."""
        fds = self.fds
        doomed = [num for num, info in fds.items() if info.cloexec]
        for num in doomed:
            del fds[num]

    def __len__(self) -> int:
        return len(self.fds)

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self.fds))

    def __contains__(self, num: object) -> bool:
        return num in self.fds

    def items(self) -> list[tuple[int, FdInfo]]:
        return sorted(self.fds.items())

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}:<{i.typechar}>{i.name}" for n, i in self.items())
        return f"FdTable({inner})"


# ---------------------------------------------------------------- paths


def normalize_path(path: str) -> str:
    """Collapse ``//``, ``.`` and ``..`` of an absolute path; no trailing slash.

    ``..`` above the root stays at the root, as the kernel does. Paths that do
    not start with "/" (e.g. ``<UNKNOWN>/x``) keep their first component.
    """
    if not path.startswith("/"):
        head, _, rest = path.partition("/")
        if not rest:
            return path
        tail = normalize_path("/" + rest)
        return head if tail == "/" else head + tail
    if (
        "//" not in path
        and (len(path) == 1 or path[-1] != "/")
        and ("/." not in path or ("/./" not in path and "/../" not in path and not path.endswith(("/.", "/.."))))
    ):
        return path  # already normal, dot-files (.cache, .venv, .git) included: the common case, kept cheap
    parts: list[str] = []
    for part in path.split("/"):
        if not part or part == ".":
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def join_path(base: str, name: str) -> str:
    """``name`` made absolute against directory ``base`` and normalised."""
    if name.startswith("/"):
        return normalize_path(name)
    if not name:
        return normalize_path(base) if base else "/"
    if not base:
        base = "/"
    return normalize_path(base + "/" + name)


def dirname_of(path: str) -> str:
    """fd.directory of a file path (``/`` at the root)."""
    head = path.rpartition("/")[0]
    return head or "/"


def basename_of(path: str) -> str:
    return path.rpartition("/")[2]


# ---------------------------------------------------------------- builders


def file_fd(num: int, path: str, nameraw: str, openflags: int, dev: int = 0, ino: int = 0,
            cloexec: bool | None = None) -> FdInfo:
    """A regular file, or a directory when opened with O_DIRECTORY (Falco's rule)."""
    if openflags & PPM_O_DIRECTORY:
        ftype, char = "directory", "d"
    else:
        ftype, char = "file", "f"
    if cloexec is None:
        cloexec = bool(openflags & PPM_O_CLOEXEC)
    return FdInfo(num=num, type=ftype, typechar=char, name=path, nameraw=nameraw,
                  openflags=openflags, dev=dev, ino=ino, cloexec=cloexec)


def failed_open_fd(path: str, nameraw: str, openflags: int) -> FdInfo:
    """What fd.* shows for a failed open (spec §4.4 "When the fd table has no entry").

    fd.num is -1, fd.typechar 'f'; ``type`` is "" meaning *missing* (fd.type and
    fd.filename are null for such an fd). The shipped macro open_file_failed
    relies on exactly this.
    """
    return FdInfo(num=-1, type="", typechar="f", name=path, nameraw=nameraw,
                  openflags=openflags)


def simple_fd(num: int, ftype: str, name: str = "", cloexec: bool = False,
              openflags: int = 0, ino: int = 0) -> FdInfo:
    """An fd of a type with no address: pipe, event, signalfd, timerfd, ..."""
    return FdInfo(num=num, type=ftype, typechar=TYPECHARS.get(ftype, "o"), name=name,
                  cloexec=cloexec, openflags=openflags, ino=ino)


def dup_fd(source: FdInfo, num: int, cloexec: bool) -> FdInfo:
    """The entry dup/dup2/dup3/F_DUPFD creates: same description, own number."""
    return FdInfo(num=num, type=source.type, typechar=source.typechar, name=source.name,
                  nameraw=source.nameraw, openflags=source.openflags, ino=source.ino,
                  dev=source.dev, l4proto=source.l4proto, cip=source.cip,
                  cport=source.cport, sip=source.sip, sport=source.sport,
                  is_server=source.is_server, connected=source.connected,
                  cloexec=cloexec,
                  extra=dict(source.extra) if source.extra else None)


def fd_from_snapshot(fd: ProcFd) -> FdInfo:
    """The entry for an fd a snapshot carries (read from /proc, see pdigpy.tracer.procfs.read_fds).

    The tracer already gave it the values the handlers would have built for
    the same kind of fd; a file's nameraw is its name (there was no syscall
    argument), other kinds have none, as their handlers give them none.
    """
    nameraw = fd.name if fd.type in ("file", "directory") else ""
    info = FdInfo(num=fd.num, type=fd.type, typechar=TYPECHARS.get(fd.type, "o"), name=fd.name,
                  nameraw=nameraw, openflags=fd.openflags, ino=fd.ino, dev=fd.dev,
                  l4proto=fd.l4proto, cip=fd.cip, cport=fd.cport, sip=fd.sip, sport=fd.sport,
                  is_server=fd.is_server, connected=fd.connected, cloexec=fd.cloexec)
    if fd.type == "pidfd" and fd.pid:
        info.extra = {"pid": fd.pid}  # as pidfd_open's handler keeps it, for pidfd_getfd
    return info


def ip_fd_name(cip: str, cport: int, sip: str, sport: int) -> str:
    """fd.name of an IP socket: ``cip:cport->sip:sport`` (IPv6 unbracketed, as Falco)."""
    return f"{cip}:{cport}->{sip}:{sport}"

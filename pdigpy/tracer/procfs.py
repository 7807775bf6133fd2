"""What /proc says about a thread, read at a ptrace stop: ``read_procinfo(tid)``.

Called at every successful execve (and for snapshots of pre-existing
processes), so it is on a warm path: raw ``os.open``/``os.read`` instead of
file objects, one pass over each file, no regular expressions. About 12
syscall-sized reads per call (status, stat, cmdline, environ, cgroup,
loginuid, two readlinks, one stat, prlimit, and an occasional statvfs).

Sources of each ProcInfo field:

- status: comm (Name), pid (Tgid), ptid (PPid), uid/euid, gid/egid,
  vtid/vpid/vpgid (last NSpid/NStgid/NSpgid value), cap_* (CapInh/Prm/Eff)
- stat: tty (tty_nr), pgid, sid, start_ts (starttime ticks / CLK_TCK + btime)
- cmdline: exe (argv[0]) and args (argv[1:]); env from environ
- exe -> exepath (" (deleted)" stripped), exe_from_memfd ("/memfd:" target);
  os.stat of the exe link: exe_ino, exe_ino_ctime, exe_ino_mtime
- exe_writable: emulates the kernel's write-permission check for the
  process's effective uid/gid (owner/group/other bits, CAP_DAC_OVERRIDE),
  then a read-only mount makes it False. Supplementary groups are ignored.
- exe_upper_layer / exe_lower_layer: always False. Telling overlayfs layers
  apart from userspace needs mountinfo plus the layer directories (privileged
  and slow); documented as not supported.
- cwd (readlink), loginuid (-1 when unset), cgroups ("ctl=/path" per
  controller; cgroup v2's single line expands to the controllers listed in
  /sys/fs/cgroup/cgroup.controllers, or "unified=/path" if unreadable)
- fdlimit: soft RLIMIT_NOFILE via prlimit (one syscall), else /proc/PID/limits
- pidns_init_start_ts: start time of the pid namespace's init; for the host
  namespace that is pid 1; for a nested namespace the init is found once per
  namespace by scanning /proc and cached.

Returns None when the thread is gone (no status file).
"""

from __future__ import annotations

import os
import resource

from pdigpy.events.procinfo import ProcInfo

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_NS = 1_000_000_000
_ARGS_LIMIT = 1 << 26  # argv/env are read in full; the kernel caps them far below this
_btime_ns: int | None = None
_controllers: list[str] | None = None
_pidns_start: dict[str, tuple[int, int]] = {}  # ns link -> (init's host pid, its start time)


def _read(path: str, limit: int = 1 << 20) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 65536)
        if len(data) < 65536:  # the whole file in one read: /proc files fill the buffer unless at the end
            return data
        chunks = [data]
        total = len(data)
        while total < limit:
            chunk = os.read(fd, 65536)
            chunks.append(chunk)
            total += len(chunk)
            if len(chunk) < 65536:  # /proc reads fill the buffer unless at the end: save a read
                break
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def boot_time_ns() -> int:
    global _btime_ns
    if _btime_ns is None:
        data = _read("/proc/stat") or b""
        for line in data.split(b"\n"):
            if line.startswith(b"btime "):
                _btime_ns = int(line.split()[1]) * _NS
                break
        else:
            _btime_ns = 0
    return _btime_ns


def _cgroup_controllers() -> list[str]:
    global _controllers
    if _controllers is None:
        data = _read("/sys/fs/cgroup/cgroup.controllers")
        _controllers = data.decode().split() if data else []
    return _controllers


_cgroup_cache: dict[bytes, list[str]] = {}


def parse_cgroups(data: bytes) -> list[str]:
    """/proc/PID/cgroup -> ["ctl=/path", ...] (memoised: most processes share their cgroups)."""
    cached = _cgroup_cache.get(data)
    if cached is None:
        if len(_cgroup_cache) > 256:
            _cgroup_cache.clear()
        cached = _cgroup_cache[data] = _parse_cgroups(data)
    return list(cached)


def _parse_cgroups(data: bytes) -> list[str]:
    out: list[str] = []
    for line in data.decode("utf-8", "surrogateescape").split("\n"):
        if not line:
            continue
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctls, path = parts
        if ctls:
            for ctl in ctls.split(","):
                out.append(f"{ctl.removeprefix('name=')}={path}")
        else:
            ctl_list = _cgroup_controllers()
            if ctl_list:
                out.extend(f"{ctl}={path}" for ctl in ctl_list)
            else:
                out.append(f"unified={path}")
    return out


def _split_nul(data: bytes | None) -> list[str]:
    if not data:
        return []
    if data.endswith(b"\0"):
        data = data[:-1]
    return data.decode("utf-8", "surrogateescape").split("\0")  # = os.fsdecode per item, faster


def _status_field(status: bytes, key: bytes) -> bytes:
    """Value of one "Key:<tab>value" line of /proc/PID/status (b"" if absent)."""
    i = status.find(key)
    if i < 0:
        return b""
    i += len(key)
    j = status.find(b"\n", i)
    return status[i:j].strip() if j >= 0 else status[i:].strip()


def _stat_fields(tid: int) -> list[bytes] | None:
    data = _read(f"/proc/{tid}/stat")
    if not data:
        return None
    # comm may contain spaces and parentheses: the fields start after the last ")"
    return data[data.rindex(b")") + 2 :].split()


def start_time_ns(tid: int) -> int:
    fields = _stat_fields(tid)
    if not fields:
        return 0
    return boot_time_ns() + int(fields[19]) * _NS // _CLK_TCK


def _pidns_init_start(tid: int, nspid_depth: int) -> int:
    try:
        ns = os.readlink(f"/proc/{tid}/ns/pid")
    except OSError:
        return 0
    cached = _pidns_start.get(ns)
    if cached is not None:
        init_pid, start = cached
        # A dead namespace's inode number can be reused by a new one: trust the entry only while
        # its init still lives in it, with the same start time
        if init_pid <= 1 or (_same_ns(init_pid, ns) and start_time_ns(init_pid) == start):
            return start
    init_pid, start = 0, 0
    if nspid_depth <= 1:
        init_pid, start = 1, start_time_ns(1)
    else:
        for name in os.listdir("/proc"):
            if not name.isdigit() or not _same_ns(int(name), ns):
                continue
            status = _read(f"/proc/{name}/status") or b""
            for line in status.split(b"\n"):
                if line.startswith(b"NSpid:") and line.split()[-1] == b"1":
                    init_pid, start = int(name), start_time_ns(int(name))
                    break
            if start:
                break
    if start:
        _pidns_start[ns] = (init_pid, start)
    return start


def _same_ns(pid: int, ns: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == ns
    except OSError:
        return False


def _exe_writable(path: str, st: os.stat_result, euid: int, egid: int, cap_eff: int) -> bool:
    if cap_eff & 0x2:  # CAP_DAC_OVERRIDE
        allowed = True
    elif st.st_uid == euid:
        allowed = bool(st.st_mode & 0o200)
    elif st.st_gid == egid:
        allowed = bool(st.st_mode & 0o020)
    else:
        allowed = bool(st.st_mode & 0o002)
    if not allowed:
        return False
    try:
        return not os.statvfs(path).f_flag & os.ST_RDONLY
    except OSError:
        return True


def _fdlimit(pid: int) -> int:
    """Soft RLIMIT_NOFILE: prlimit (one syscall); /proc/PID/limits when prlimit is refused
    (another uid and no CAP_SYS_RESOURCE)."""
    try:
        return resource.prlimit(pid, resource.RLIMIT_NOFILE)[0]
    except (OSError, ValueError):
        pass
    data = _read(f"/proc/{pid}/limits") or b""
    for line in data.split(b"\n"):
        if line.startswith(b"Max open files"):
            soft = line[len(b"Max open files"):].split()[0]
            return -1 if soft == b"unlimited" else int(soft)
    return 0


def read_procinfo(tid: int) -> ProcInfo | None:
    """ProcInfo of thread ``tid`` from /proc, or None if the thread is gone."""
    base = f"/proc/{tid}/"
    status = _read(base + "status")
    if not status:
        return None
    info = ProcInfo(tid=tid, pid=tid, ptid=0)
    field = _status_field
    info.comm = field(status, b"Name:").decode("utf-8", "surrogateescape")
    info.pid = int(field(status, b"\nTgid:"))
    info.ptid = int(field(status, b"\nPPid:"))
    ids = field(status, b"\nUid:").split()
    info.uid, info.euid = int(ids[0]), int(ids[1])
    ids = field(status, b"\nGid:").split()
    info.gid, info.egid = int(ids[0]), int(ids[1])
    ns = field(status, b"\nNStgid:").split()
    if ns:
        info.vpid = int(ns[-1])
    ns = field(status, b"\nNSpid:").split()
    nspid_depth = len(ns) or 1
    if ns:
        info.vtid = int(ns[-1])
    ns = field(status, b"\nNSpgid:").split()
    if ns:
        info.vpgid = int(ns[-1])
    info.cap_inheritable = int(field(status, b"\nCapInh:") or b"0", 16)
    info.cap_permitted = int(field(status, b"\nCapPrm:") or b"0", 16)
    info.cap_effective = int(field(status, b"\nCapEff:") or b"0", 16)
    if b"\\" in info.comm.encode("utf-8", "surrogateescape"):
        # status escapes unusual characters in Name; comm has them raw
        comm = _read(base + "comm")
        if comm:
            info.comm = os.fsdecode(comm.rstrip(b"\n"))

    fields = _stat_fields(tid)
    if fields:
        info.pgid = int(fields[2])
        info.sid = int(fields[3])
        info.tty = int(fields[4])
        info.start_ts = boot_time_ns() + int(fields[19]) * _NS // _CLK_TCK
    if not info.vpgid:
        info.vpgid = info.pgid

    argv = _split_nul(_read(base + "cmdline", _ARGS_LIMIT))
    if argv:
        info.exe = argv[0]
        info.args = argv[1:]
    else:
        info.exe = info.comm
    info.env = _split_nul(_read(base + "environ", _ARGS_LIMIT))

    try:
        exepath = os.readlink(base + "exe")
    except OSError:
        exepath = ""
    if exepath.endswith(" (deleted)"):
        exepath = exepath[: -len(" (deleted)")]
    info.exepath = exepath
    info.exe_from_memfd = exepath.startswith("/memfd:")
    if exepath:
        try:
            st = os.stat(base + "exe")
            info.exe_ino = st.st_ino
            info.exe_ino_ctime = st.st_ctime_ns
            info.exe_ino_mtime = st.st_mtime_ns
            info.exe_writable = _exe_writable(base + "exe", st, info.euid, info.egid, info.cap_effective)
        except OSError:
            pass

    try:
        info.cwd = os.readlink(base + "cwd")
    except OSError:
        info.cwd = ""
    loginuid = _read(base + "loginuid")
    if loginuid:
        value = int(loginuid)
        info.loginuid = -1 if value == 0xFFFFFFFF else value
    cgroup = _read(base + "cgroup")
    if cgroup:
        info.cgroups = parse_cgroups(cgroup)
    info.fdlimit = _fdlimit(info.pid)
    info.pidns_init_start_ts = _pidns_init_start(tid, nspid_depth)
    return info

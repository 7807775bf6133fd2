"""Argument decoders: raw syscall registers (+ tracee memory) -> Falco event parameters.

Every row of the syscall tables (pdigpy.tracer.syscalls.rows) has an
``entry`` and an ``exit`` decoder with SyscallSpec's signatures:

- ``entry(tid, args, mem) -> val``: runs at the seccomp (entry) stop; reads
  what must be read before the kernel acts: path strings, the buffer of a
  write, a sockaddr, execve's filename (gone after a successful exec).
- ``exit(tid, args, val, ret, mem) -> dict``: builds the parameters in schema
  order. ``ret`` is the signed return value, or None when the row takes no
  exit stop. Exit decoders may look at /proc/<tid> (the thread is stopped).

Most rows are "simple": each parameter comes straight from an argument, the
return value, or a string read at entry. Those are described by a parameter
list (see :func:`simple`) and compiled into a pair of closures once at import.
The rest have hand-written decoders below.

Hot path: decoders run once per traced syscall, so they avoid per-call
allocation beyond the result dict and read tracee memory only when needed.
"""

from __future__ import annotations

import os
import struct
import sys
from typing import Any, Callable

from pdigpy.events import flags as F
from pdigpy.tracer import lifecycle, ppm
from pdigpy.tracer.procfs import read_procinfo
from pdigpy.tracer.sockaddr import listen_queue, make_tuple, parse_sockaddr, socket_endpoints

PATH_MAX = 4096
DATA_SNAPLEN = 80  # bytes of I/O buffers kept in `data` params (Falco's default snaplen)
SOCKADDR_MAX = 128  # sizeof(struct sockaddr_storage)
AT_FDCWD = -100
EINPROGRESS = 115

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF


def s32(x: int) -> int:
    x &= _M32
    return x - 0x100000000 if x & 0x80000000 else x


def s64(x: int) -> int:
    x &= _M64
    return x - 0x10000000000000000 if x & 0x8000000000000000 else x


def u32(x: int) -> int:
    return x & _M32


# os.fsdecode, without its per-call type checks and codec lookup (hot: every path argument).
_FS_UTF8 = sys.getfilesystemencoding() == "utf-8" and sys.getfilesystemencodeerrors() == "surrogateescape"


def read_path(mem, tid: int, addr: int, limit: int = PATH_MAX) -> str | None:
    if not addr:
        return None
    raw = mem.read_cstr(tid, addr, limit)
    if raw is None:
        return None
    return raw.decode("utf-8", "surrogateescape") if _FS_UTF8 else os.fsdecode(raw)


def read_data(mem, tid: int, addr: int, size: int) -> bytes:
    if not addr or size <= 0:
        return b""
    return mem.read(tid, addr, min(size, DATA_SNAPLEN))


def read_sockaddr(mem, tid: int, addr: int, length: int):
    if not addr or length <= 0:
        return None
    return parse_sockaddr(mem.read(tid, addr, min(length, SOCKADDR_MAX)))


def _read_u32(mem, tid: int, addr: int) -> int | None:
    raw = mem.read(tid, addr, 4) if addr else b""
    return struct.unpack("=I", raw)[0] if len(raw) == 4 else None


def _read_u64(mem, tid: int, addr: int) -> int | None:
    raw = mem.read(tid, addr, 8) if addr else b""
    return struct.unpack("=Q", raw)[0] if len(raw) == 8 else None


def _read_fd_pair(mem, tid: int, addr: int) -> tuple[int, int]:
    raw = mem.read(tid, addr, 8) if addr else b""
    if len(raw) != 8:
        return -1, -1
    return struct.unpack("=ii", raw)


def _norm_ret(ret: int | None) -> int | None:
    return None if ret is None else s64(ret)


# -- /proc helpers for exit decoders ---------------------------------------------

# Whether opens stat /proc/<tid>/fd/<fd> for the dev and ino params (fd.dev, fd.ino, evt.arg.dev/ino,
# evt.args). That stat is about a fifth of the tracer's CPU per open, so the app turns it off when
# nothing can show those values (pdigpy.state.needs.fd_stat_needed); they are then 0, as for an
# fd of unknown origin. On by default: a library user gets complete events.
FD_STAT = True


def set_fd_stat(enabled: bool) -> None:
    global FD_STAT
    FD_STAT = bool(enabled)


def fd_dev_ino(tid: int, fd: int) -> tuple[int, int]:
    """dev (kernel encoding) and inode of the file behind the tracee's fd."""
    try:
        st = os.stat(f"/proc/{tid}/fd/{fd}")
    except OSError:
        return 0, 0
    return st.st_dev & _M32, st.st_ino


def fd_ino(tid: int, fd: int) -> int:
    return fd_dev_ino(tid, fd)[1]


def path_exists(tid: int, path: str | None, dirfd: int = AT_FDCWD) -> bool:
    """Whether ``path`` exists as the tracee would resolve it (through its root, cwd or dirfd)."""
    if not path:
        return False
    if path.startswith("/"):
        probe = f"/proc/{tid}/root{path}"
    elif dirfd == AT_FDCWD:
        probe = f"/proc/{tid}/cwd/{path}"
    else:
        probe = f"/proc/{tid}/fd/{dirfd}/{path}"
    try:
        os.stat(probe)
        return True
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell (ENOTDIR, ELOOP ...): not something the open creates


# -- simple rows -------------------------------------------------------------------
# A source is one of:
#   "ret"               the return value (None without exit stop)
#   ("fd", i)           args[i] as a signed 32-bit int (fds, pids, ints)
#   ("s64", i) / ("u32", i) / ("u64", i)
#   ("path", i)         NUL-terminated string at args[i], read at entry, PATH_MAX
#   ("str", i, limit)   same with a smaller limit
#   ("conv", i, fn)     fn(args[i])
#   ("const", value)
Source = Any
Decoders = tuple[Callable | None, Callable]


def simple(params: list[tuple[str, Source]]) -> Decoders:
    """Compile a parameter list into (entry, exit) decoders."""
    reads = [(k, src[1], PATH_MAX if src[0] == "path" else src[2])
             for k, (name, src) in enumerate(params) if isinstance(src, tuple) and src[0] in ("path", "str")]
    read_slots = {k: j for j, (k, _, _) in enumerate(reads)}
    getters: list[tuple[str, Callable]] = []
    for k, (name, src) in enumerate(params):
        if src == "ret":
            getters.append((name, lambda a, v, r: r))
            continue
        kind = src[0]
        if kind == "fd":
            i = src[1]
            getters.append((name, lambda a, v, r, i=i: s32(a[i])))
        elif kind == "s64":
            i = src[1]
            getters.append((name, lambda a, v, r, i=i: s64(a[i])))
        elif kind == "u32":
            i = src[1]
            getters.append((name, lambda a, v, r, i=i: a[i] & _M32))
        elif kind == "u64":
            i = src[1]
            getters.append((name, lambda a, v, r, i=i: a[i] & _M64))
        elif kind in ("path", "str"):
            j = read_slots[k]
            getters.append((name, lambda a, v, r, j=j: v[j] if v is not None else None))
        elif kind == "conv":
            i, fn = src[1], src[2]
            getters.append((name, lambda a, v, r, i=i, fn=fn: fn(a[i])))
        elif kind == "const":
            value = src[1]
            getters.append((name, lambda a, v, r, value=value: value))
        else:  # pragma: no cover - table authoring error
            raise ValueError(f"unknown source {src!r}")

    entry = None
    if reads:
        def entry(tid, args, mem, _reads=tuple((i, lim) for _, i, lim in reads)):
            return tuple(read_path(mem, tid, args[i], lim) for i, lim in _reads)

    def exit_(tid, args, val, ret, mem, _getters=tuple(getters)):
        r = None if ret is None else s64(ret)
        return {name: get(args, val, r) for name, get in _getters}

    return entry, exit_


# -- opens -------------------------------------------------------------------------
def _open_common(tid, fd, l_flags, created_before, extra_flags=0):
    flags = ppm.open_flags(l_flags) | extra_flags
    dev = ino = 0
    if fd is not None and fd >= 0:
        if l_flags & ppm.L_O_CREAT and (l_flags & ppm.L_O_EXCL or not created_before):
            flags |= F.O_F_CREATED
        if FD_STAT:
            dev, ino = fd_dev_ino(tid, fd)
    return flags, dev, ino


def _existed_before(tid, name, l_flags, dirfd=AT_FDCWD):
    if l_flags & ppm.L_O_CREAT and not l_flags & ppm.L_O_EXCL:
        return path_exists(tid, name, dirfd)
    return False


def open_entry(tid, args, mem):
    name = read_path(mem, tid, args[0])
    return name, _existed_before(tid, name, args[1])


def open_exit(tid, args, val, ret, mem):
    name, existed = val if val is not None else (None, False)
    fd = _norm_ret(ret)
    l_flags = args[1] & _M32
    flags, dev, ino = _open_common(tid, fd, l_flags, existed)
    return {"fd": fd, "name": name, "flags": flags, "mode": ppm.open_mode(l_flags, args[2]),
            "dev": dev, "ino": ino}


def openat_entry(tid, args, mem):
    name = read_path(mem, tid, args[1])
    return name, _existed_before(tid, name, args[2], s32(args[0]))


def openat_exit(tid, args, val, ret, mem):
    name, existed = val if val is not None else (None, False)
    fd = _norm_ret(ret)
    l_flags = args[2] & _M32
    flags, dev, ino = _open_common(tid, fd, l_flags, existed)
    return {"fd": fd, "dirfd": s32(args[0]), "name": name, "flags": flags,
            "mode": ppm.open_mode(l_flags, args[3]), "dev": dev, "ino": ino}


def openat2_entry(tid, args, mem):
    name = read_path(mem, tid, args[1])
    raw = mem.read(tid, args[2], 24) if args[2] else b""
    how = struct.unpack("=QQQ", raw) if len(raw) == 24 else (0, 0, 0)
    return name, _existed_before(tid, name, how[0], s32(args[0])), how


def openat2_exit(tid, args, val, ret, mem):
    name, existed, how = val if val is not None else (None, False, (0, 0, 0))
    fd = _norm_ret(ret)
    l_flags = how[0] & _M32
    flags, dev, ino = _open_common(tid, fd, l_flags, existed)
    return {"fd": fd, "dirfd": s32(args[0]), "name": name, "flags": flags,
            "mode": ppm.open_mode(l_flags, how[1]), "resolve": ppm.openat2_resolve(how[2]),
            "dev": dev, "ino": ino}


_CREAT_LINUX = ppm.L_O_CREAT | ppm.L_O_WRONLY | ppm.L_O_TRUNC


def creat_entry(tid, args, mem):
    name = read_path(mem, tid, args[0])
    return name, path_exists(tid, name)


def creat_exit(tid, args, val, ret, mem):
    name, existed = val if val is not None else (None, False)
    fd = _norm_ret(ret)
    flags, dev, ino = _open_common(tid, fd, _CREAT_LINUX, existed)
    return {"fd": fd, "name": name, "mode": args[1] & 0o7777, "dev": dev, "ino": ino, "creat_flags": flags}


def open_by_handle_at_exit(tid, args, val, ret, mem):
    fd = _norm_ret(ret)
    path = None
    if fd is not None and fd >= 0:
        try:
            path = os.readlink(f"/proc/{tid}/fd/{fd}")
        except OSError:
            path = None
    return {"fd": fd, "mountfd": s32(args[0]), "flags": ppm.open_flags(args[2] & _M32), "path": path}


# -- fd creators with out-parameters -------------------------------------------------
def pipe_exit(tid, args, val, ret, mem):
    r = _norm_ret(ret)
    fd1, fd2 = _read_fd_pair(mem, tid, args[0]) if r == 0 else (-1, -1)
    return {"res": r, "fd1": fd1, "fd2": fd2, "ino": fd_ino(tid, fd1) if fd1 >= 0 else 0}


def pipe2_exit(tid, args, val, ret, mem):
    out = pipe_exit(tid, args, val, ret, mem)
    out["flags"] = ppm.fd_flags(args[1] & _M32)
    return out


def socketpair_exit(tid, args, val, ret, mem):
    r = _norm_ret(ret)
    fd1, fd2 = _read_fd_pair(mem, tid, args[3]) if r == 0 else (-1, -1)
    # Falco puts the kernel's socket addresses here; the socket inodes identify the ends just as well
    source = fd_ino(tid, fd1) if fd1 >= 0 else 0
    peer = fd_ino(tid, fd2) if fd2 >= 0 else 0
    return {"res": r, "fd1": fd1, "fd2": fd2, "source": source, "peer": peer,
            "domain": s32(args[0]), "type": args[1] & _M32, "proto": args[2] & _M32}


def signalfd_entry(tid, args, mem):
    return _read_u32(mem, tid, args[1]) or 0


def signalfd_exit(tid, args, val, ret, mem):
    return {"res": _norm_ret(ret), "fd": s32(args[0]), "mask": val or 0, "flags": 0}


def signalfd4_exit(tid, args, val, ret, mem):
    return {"res": _norm_ret(ret), "flags": args[3] & 0xFFFF, "fd": s32(args[0]), "mask": val or 0}


def io_uring_setup_exit(tid, args, val, ret, mem):
    r = _norm_ret(ret)
    raw = mem.read(tid, args[1], 24) if args[1] else b""
    sq, cq, flags, cpu, idle, feats = struct.unpack("=6I", raw) if len(raw) == 24 else (0,) * 6
    return {"res": r, "entries": args[0] & _M32, "sq_entries": sq, "cq_entries": cq,
            "flags": ppm.io_uring_setup_flags(flags), "sq_thread_cpu": cpu, "sq_thread_idle": idle,
            "features": feats}


# -- sockets ----------------------------------------------------------------------------
def _endpoints(tid, fd):
    if fd is None or fd < 0:
        return None
    return socket_endpoints(tid, fd)


def bind_entry(tid, args, mem):
    return read_sockaddr(mem, tid, args[1], args[2] & _M32)


def bind_exit(tid, args, val, ret, mem):
    return {"res": _norm_ret(ret), "addr": val, "fd": s32(args[0])}


def connect_exit(tid, args, val, ret, mem):
    r = _norm_ret(ret)
    fd = s32(args[0])
    tup = None
    if r == 0 or r == -EINPROGRESS:
        ep = _endpoints(tid, fd)
        remote = val if val is not None else (ep.peer if ep else None)
        tup = make_tuple(ep.l4proto if ep else "", ep.local if ep else None, remote)
    return {"res": r, "tuple": tup, "fd": fd, "addr": val}


def accept_exit(tid, args, val, ret, mem):
    fd = _norm_ret(ret)
    tup = None
    qlen = qmax = qpct = 0
    if fd is not None and fd >= 0:
        ep = _endpoints(tid, fd)
        if ep is not None:
            tup = make_tuple(ep.l4proto, ep.peer, ep.local)
            if ep.l4proto == "tcp":
                queue = listen_queue(tid, s32(args[0]))
                if queue is not None:
                    qlen, qmax = queue
                    qpct = qlen * 100 // qmax if qmax else 0
    return {"fd": fd, "tuple": tup, "queuepct": qpct, "queuelen": qlen, "queuemax": qmax}


def accept4_exit(tid, args, val, ret, mem):
    out = accept_exit(tid, args, val, ret, mem)
    out["flags"] = s32(args[3])
    return out


def _send_tuple(tid, fd, dest):
    """Tuple of a send with an explicit destination (unconnected UDP, unix dgram)."""
    if dest is None:
        return None
    if dest.family == "unix":
        return make_tuple("", None, dest)
    ep = _endpoints(tid, fd)
    return make_tuple(ep.l4proto if ep else "udp", ep.local if ep else None, dest)


def sendto_entry(tid, args, mem):
    return read_data(mem, tid, args[1], args[2]), read_sockaddr(mem, tid, args[4], args[5] & _M32)


def sendto_exit(tid, args, val, ret, mem):
    data, dest = val if val is not None else (b"", None)
    fd = s32(args[0])
    r = _norm_ret(ret)
    tup = _send_tuple(tid, fd, dest) if r is None or r >= 0 else None
    return {"res": r, "data": data, "fd": fd, "size": args[2] & _M32, "tuple": tup}


_MSGHDR = struct.Struct("=QI4xQQQQi4x")  # name, namelen, iov, iovlen, control, controllen, flags


def _read_msghdr(mem, tid, addr):
    raw = mem.read(tid, addr, _MSGHDR.size) if addr else b""
    return _MSGHDR.unpack(raw) if len(raw) == _MSGHDR.size else None


def _read_iov(mem, tid, iov_addr, iovlen, limit):
    """(total length, first ``limit`` bytes of the data) of an iovec array."""
    n = min(iovlen, 1024)
    raw = mem.read(tid, iov_addr, 16 * n) if iov_addr and n else b""
    total = 0
    chunks = []
    want = limit
    for k in range(len(raw) // 16):
        base, length = struct.unpack_from("=QQ", raw, 16 * k)
        total += length
        if want > 0 and length:
            piece = mem.read(tid, base, min(length, want))
            chunks.append(piece)
            want -= len(piece)
    return total, b"".join(chunks)


def sendmsg_entry(tid, args, mem):
    hdr = _read_msghdr(mem, tid, args[1])
    if hdr is None:
        return 0, b"", None
    name, namelen, iov, iovlen = hdr[0], hdr[1], hdr[2], hdr[3]
    size, data = _read_iov(mem, tid, iov, iovlen, DATA_SNAPLEN)
    return size, data, read_sockaddr(mem, tid, name, namelen)


def sendmsg_exit(tid, args, val, ret, mem):
    size, data, dest = val if val is not None else (0, b"", None)
    fd = s32(args[0])
    r = _norm_ret(ret)
    tup = _send_tuple(tid, fd, dest) if r is None or r >= 0 else None
    return {"res": r, "data": data, "fd": fd, "size": size & _M32, "tuple": tup}


def _recv_tuple(tid, fd, src):
    if src is None:
        return None
    if src.family == "unix":
        return make_tuple("", src, None) if src.path else None
    ep = _endpoints(tid, fd)
    return make_tuple(ep.l4proto if ep else "udp", src, ep.local if ep else None)


def recvfrom_exit(tid, args, val, ret, mem):
    r = _norm_ret(ret)
    fd = s32(args[0])
    data = b""
    tup = None
    if r is not None and r >= 0:
        data = read_data(mem, tid, args[1], r)
        if args[4] and args[5]:
            alen = _read_u32(mem, tid, args[5]) or 0
            tup = _recv_tuple(tid, fd, read_sockaddr(mem, tid, args[4], alen))
    return {"res": r, "data": data, "tuple": tup, "fd": fd, "size": args[2] & _M32}


def recvmsg_exit(tid, args, val, ret, mem):
    r = _norm_ret(ret)
    fd = s32(args[0])
    size, data, tup, control = 0, b"", None, b""
    hdr = _read_msghdr(mem, tid, args[1]) if r is not None and r >= 0 else None
    if hdr is not None:
        name, namelen, iov, iovlen, ctrl, ctrllen = hdr[:6]
        size, data = _read_iov(mem, tid, iov, iovlen, min(r, DATA_SNAPLEN))
        if name and namelen:
            tup = _recv_tuple(tid, fd, read_sockaddr(mem, tid, name, namelen))
        if ctrl and ctrllen:
            control = mem.read(tid, ctrl, min(ctrllen, DATA_SNAPLEN))
    return {"res": r, "size": size & _M32, "data": data, "tuple": tup, "msgcontrol": control, "fd": fd}


# -- plain data ---------------------------------------------------------------------------
def read_exit(tid, args, val, ret, mem):
    r = _norm_ret(ret)
    data = read_data(mem, tid, args[1], r) if r and r > 0 else b""
    return {"res": r, "data": data, "fd": s32(args[0]), "size": args[2] & _M32}


def pread_exit(tid, args, val, ret, mem):
    out = read_exit(tid, args, val, ret, mem)
    out["pos"] = args[3] & _M64
    return out


def write_entry(tid, args, mem):
    return read_data(mem, tid, args[1], args[2])


def write_exit(tid, args, val, ret, mem):
    return {"res": _norm_ret(ret), "data": val or b"", "fd": s32(args[0]), "size": args[2] & _M32}


def pwrite_exit(tid, args, val, ret, mem):
    out = write_exit(tid, args, val, ret, mem)
    out["pos"] = args[3] & _M64
    return out


def readv_exit(tid, args, val, ret, mem):
    r = _norm_ret(ret)
    data = _read_iov(mem, tid, args[1], args[2], min(r, DATA_SNAPLEN))[1] if r and r > 0 else b""
    return {"res": r, "size": max(r or 0, 0) & _M32, "data": data, "fd": s32(args[0])}


def preadv_exit(tid, args, val, ret, mem):
    out = readv_exit(tid, args, val, ret, mem)
    out["pos"] = args[3] & _M64
    return out


def writev_entry(tid, args, mem):
    return _read_iov(mem, tid, args[1], args[2], DATA_SNAPLEN)


def writev_exit(tid, args, val, ret, mem):
    size, data = val if val is not None else (0, b"")
    return {"res": _norm_ret(ret), "data": data, "fd": s32(args[0]), "size": size & _M32}


def pwritev_exit(tid, args, val, ret, mem):
    out = writev_exit(tid, args, val, ret, mem)
    out["pos"] = args[3] & _M64
    return out


def sendfile_exit(tid, args, val, ret, mem):
    offset = _read_u64(mem, tid, args[2]) if args[2] else 0
    return {"res": _norm_ret(ret), "offset": offset or 0, "out_fd": s32(args[0]), "in_fd": s32(args[1]),
            "size": args[3] & _M64}


# -- processes ------------------------------------------------------------------------------
def execve_entry(tid, args, mem):
    return read_path(mem, tid, args[0])


def execve_exit(tid, args, val, ret, mem):
    r = _norm_ret(ret)
    info = read_procinfo(tid)
    if info is None:
        return {"res": r, "filename": val}
    return lifecycle.execve_args(info, r if r is not None else 0, val)


def execveat_exit(tid, args, val, ret, mem):
    r = _norm_ret(ret)
    info = read_procinfo(tid)
    if info is None:
        return {"res": r}
    return lifecycle.execve_args(info, r if r is not None else 0, None, "execveat")


def _clone_exit_with(flags_of: Callable[[tuple, Any], int]):
    def clone_exit(tid, args, val, ret, mem):
        r = _norm_ret(ret)
        info = read_procinfo(tid)
        if info is None:
            return {"res": r}
        return lifecycle.clone_args(info, flags_of(args, val), r if r is not None else 0)

    return clone_exit


clone_exit = _clone_exit_with(lambda a, v: ppm.clone_flags(a[0]))
fork_exit = _clone_exit_with(lambda a, v: 0)
vfork_exit = _clone_exit_with(lambda a, v: F.CL_CLONE_VM | F.CL_CLONE_VFORK)


def clone3_entry(tid, args, mem):
    return _read_u64(mem, tid, args[0]) or 0  # struct clone_args starts with u64 flags


clone3_exit = _clone_exit_with(lambda a, v: ppm.clone_flags(v or 0))

_PR_SET_NAME, _PR_GET_NAME = 15, 16


def prctl_entry(tid, args, mem):
    if args[0] == _PR_SET_NAME:
        return read_path(mem, tid, args[1], 16)
    return None


def prctl_exit(tid, args, val, ret, mem):
    option = args[0] & _M32
    arg2_str = ""
    arg2_int = 0
    if option == _PR_SET_NAME:
        arg2_str = val or ""
    elif option == _PR_GET_NAME:
        if ret is not None and s64(ret) == 0:
            arg2_str = read_path(mem, tid, args[1], 16) or ""
    else:
        arg2_int = s64(args[1])
    return {"res": _norm_ret(ret), "option": option, "arg2_str": arg2_str, "arg2_int": arg2_int}


def capset_exit(tid, args, val, ret, mem):
    caps = {"CapInh": 0, "CapPrm": 0, "CapEff": 0}
    try:
        with open(f"/proc/{tid}/status", "rb") as fh:
            for line in fh:
                key = line[:6].decode()
                if key in caps:
                    caps[key] = int(line[7:].strip(), 16)
    except OSError:
        pass
    return {"res": _norm_ret(ret), "cap_inheritable": caps["CapInh"], "cap_permitted": caps["CapPrm"],
            "cap_effective": caps["CapEff"]}


_Q_QUOTAON, _Q_GETFMT, _Q_GETINFO, _Q_SETINFO, _Q_GETQUOTA, _Q_SETQUOTA = (
    0x800002, 0x800004, 0x800005, 0x800006, 0x800007, 0x800008)
_DQBLK = struct.Struct("=8QI4x")  # struct if_dqblk
_DQINFO = struct.Struct("=QQII")  # struct if_dqinfo


def quotactl_entry(tid, args, mem):
    sub = (args[0] & _M32) >> 8
    special = read_path(mem, tid, args[1])
    path = read_path(mem, tid, args[3]) if sub == _Q_QUOTAON else None
    return special, path


def quotactl_exit(tid, args, val, ret, mem):
    special, path = val if val is not None else (None, None)
    sub = (args[0] & _M32) >> 8
    cmd, qtype = ppm.quotactl_cmd(args[0] & _M32)
    r = _norm_ret(ret)
    blk = (0,) * 8
    info = (0, 0, 0)
    fmt_out = 1  # QFMT_NOT_USED
    ok = r is not None and r >= 0
    if sub in (_Q_GETQUOTA, _Q_SETQUOTA) and (ok or sub == _Q_SETQUOTA) and args[3]:
        raw = mem.read(tid, args[3], _DQBLK.size)
        if len(raw) == _DQBLK.size:
            blk = _DQBLK.unpack(raw)[:8]
    elif sub in (_Q_GETINFO, _Q_SETINFO) and (ok or sub == _Q_SETINFO) and args[3]:
        raw = mem.read(tid, args[3], _DQINFO.size)
        if len(raw) == _DQINFO.size:
            bgrace, igrace, dflags, _ = _DQINFO.unpack(raw)
            info = (bgrace, igrace, 2 if dflags & 1 else 1)
    elif sub == _Q_GETFMT and ok:
        fmt_out = ppm.quotactl_fmt(_read_u32(mem, tid, args[3]) or 0)
    quota_id = args[2] & _M32 if sub in (_Q_GETQUOTA, _Q_SETQUOTA) else 0
    quota_fmt = ppm.quotactl_fmt(args[2] & _M32) if sub == _Q_QUOTAON else 1
    return {"res": r, "special": special or "", "quotafilepath": path or "",
            "dqb_bhardlimit": blk[0], "dqb_bsoftlimit": blk[1], "dqb_curspace": blk[2],
            "dqb_ihardlimit": blk[3], "dqb_isoftlimit": blk[4], "dqb_btime": blk[6], "dqb_itime": blk[7],
            "dqi_bgrace": info[0], "dqi_igrace": info[1], "dqi_flags": info[2] if info[2] else 1,
            "quota_fmt_out": fmt_out, "cmd": cmd, "type": qtype, "id": quota_id, "quota_fmt": quota_fmt}


def init_module_entry(tid, args, mem):
    return read_data(mem, tid, args[0], args[1]), read_path(mem, tid, args[2])


def init_module_exit(tid, args, val, ret, mem):
    img, uargs = val if val is not None else (b"", None)
    return {"res": _norm_ret(ret), "img": img, "length": args[1] & _M64, "uargs": uargs or ""}


def mmap_exit(tid, args, val, ret, mem):
    return {"res": (ret & _M64) if ret is not None else None, "vm_size": 0, "vm_rss": 0, "vm_swap": 0,
            "addr": args[0] & _M64, "length": args[1] & _M64, "prot": ppm.prot_flags(args[2]),
            "flags": ppm.mmap_flags(args[3]), "fd": s32(args[4]), "offset": args[5] & _M64}

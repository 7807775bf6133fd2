"""Thread-table logic: where ThreadInfo records come from and where they go.

Records are born from snapshots (processes that existed before tracing), from
clone/fork/vfork/clone3 events (either side: the parent's event, res = child
tid, or the child's, res = 0; whichever comes first creates the child, the
other only completes it), from execve events of a thread never seen before
(the root app in spawn mode), or on the fly with defaults for any other event
of an unknown tid. They change at execve and die at procexit. A snapshot
that carries the process's fds (``ProcInfo.fds``, read from /proc by the
tracer) sets its fd table to them.

Release: procexit marks a record exited; it leaves ``State.threads`` at the
next event (so the procexit event itself still sees its thread and fds, as
Falco defers removal). A released process's record lives on only while a live
descendant reaches it through ``parent`` (proc.aname[N] needs it); Python's
reference counting frees it with its last descendant, so memory follows the
number of *live* processes. Its fd table is dropped at release: nothing reads
an ancestor's fds. The ancestor chain is capped at MAX_ANCESTRY levels so that
a long line of exited daemonising parents cannot grow without bound.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from pdigpy.events.model import Event
from pdigpy.events.procinfo import ProcInfo
from pdigpy.state.fds import FdTable, fd_from_snapshot
from pdigpy.state.records import ProcShared, ThreadInfo

if TYPE_CHECKING:
    from pdigpy.state.tables import State

# Falco's (PPM) clone flags.
PPM_CL_CLONE_FILES = 1 << 0
PPM_CL_CLONE_FS = 1 << 1
PPM_CL_CLONE_PARENT = 1 << 8
PPM_CL_CLONE_THREAD = 1 << 13
PPM_CL_CLONE_VM = 1 << 15
PPM_CL_CLONE_VFORK = 1 << 27

# Falco's execve "flags" param.
PPM_EXE_WRITABLE = 1 << 0
PPM_EXE_UPPER_LAYER = 1 << 1
PPM_EXE_FROM_MEMFD = 1 << 2
PPM_EXE_LOWER_LAYER = 1 << 3

MAX_ANCESTRY = 128
UNKNOWN_ID = 0xFFFFFFFF  # "-1" as an unsigned 32-bit uid/gid


@dataclass(slots=True, eq=False)
class ThreadGroup:
    """The live threads of one process (tgid), and its main-thread record."""

    pid: int
    main: ThreadInfo | None = None
    tids: set[int] = field(default_factory=set)


# ---------------------------------------------------------------- helpers


def _as_list(value: Any) -> list[str]:
    """args/env/cgroups: list[str] from the tracer; NUL-separated bytes tolerated."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, (bytes, bytearray)):
        import os

        return [os.fsdecode(part) for part in bytes(value).split(b"\0") if part]
    if isinstance(value, str):
        return [part for part in value.split("\0") if part]
    return list(value)


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def strip_cwd(cwd: str) -> str:
    """cwd without the trailing "/" (proc.cwd adds it back)."""
    if len(cwd) > 1 and cwd.endswith("/"):
        return cwd.rstrip("/") or "/"
    return cwd


def ancestors(thread: ThreadInfo) -> Iterator[ThreadInfo]:
    """Parent, grandparent, ... (proc.aname[1], [2], ...)."""
    node = thread.parent
    seen = 0
    while node is not None and seen < MAX_ANCESTRY:
        yield node
        node = node.parent
        seen += 1


def _cap_ancestry(thread: ThreadInfo) -> None:
    node = thread
    for _ in range(MAX_ANCESTRY):
        node = node.parent  # type: ignore[assignment]
        if node is None:
            return
    node.parent = None  # cut: deeper ancestors are beyond any field's reach


# ---------------------------------------------------------------- table ops


def group_of(state: State, pid: int) -> ThreadGroup:
    group = state.groups.get(pid)
    if group is None:
        group = state.groups[pid] = ThreadGroup(pid)
    return group


def process_main(state: State, pid: int) -> ThreadInfo | None:
    """The record that represents process ``pid`` (its main thread if known)."""
    group = state.groups.get(pid)
    return group.main if group is not None else None


def register(state: State, thread: ThreadInfo) -> None:
    """Put a record in the table (replacing a stale one of the same tid)."""
    old = state.threads.get(thread.tid)
    if old is not None and old is not thread:
        _forget(state, old)
    state.threads[thread.tid] = thread
    group = group_of(state, thread.pid)
    group.tids.add(thread.tid)
    main = group.main
    if main is None or thread.tid == thread.pid or (
            main.tid != main.pid and main.tid not in group.tids):
        group.main = thread


def _forget(state: State, thread: ThreadInfo) -> None:
    """Remove a record from the table at once (tid reuse, exec's killed threads)."""
    if state.threads.get(thread.tid) is thread:
        del state.threads[thread.tid]
    group = state.groups.get(thread.pid)
    if group is None:
        return
    group.tids.discard(thread.tid)
    if not group.tids:
        del state.groups[thread.pid]
        _drop_process_resources(thread, group)
    elif group.main is thread and thread.tid != thread.pid:
        # another live thread now stands for the process; a leader's record
        # keeps standing for it (children point at it) until the last thread goes
        group.main = state.threads.get(next(iter(group.tids)), thread)


def _drop_process_resources(thread: ThreadInfo, group: ThreadGroup) -> None:
    """The process is gone: its fds are of no further use, even as an ancestor."""
    empty = FdTable()
    thread.fds = empty
    if group.main is not None:
        group.main.fds = empty


def release_pending(state: State) -> None:
    pending = state.pending_release
    state.pending_release = []
    for thread in pending:
        if thread.exited:
            _forget(state, thread)


def new_thread(state: State, tid: int, pid: int, ptid: int = 0) -> ThreadInfo:
    """A record for a tid never seen before; joins its process if that is known."""
    group = state.groups.get(pid)
    sibling = group.main if group is not None else None
    if sibling is not None:
        thread = ThreadInfo(tid=tid, pid=pid, ptid=sibling.ptid, comm=sibling.comm,
                            vpid=sibling.vpid, uid=sibling.uid, gid=sibling.gid,
                            euid=sibling.euid, egid=sibling.egid, loginuid=sibling.loginuid,
                            tty=sibling.tty, sid=sibling.sid, pgid=sibling.pgid,
                            vpgid=sibling.vpgid, cap_inheritable=sibling.cap_inheritable,
                            cap_permitted=sibling.cap_permitted,
                            cap_effective=sibling.cap_effective,
                            proc=sibling.proc, fds=sibling.fds, parent=sibling.parent)
    else:
        thread = ThreadInfo(tid=tid, pid=pid, ptid=ptid, proc=ProcShared(), fds=FdTable())
        if ptid:
            thread.parent = process_main(state, ptid)
    register(state, thread)
    return thread


def thread_for_event(state: State, evt: Event) -> ThreadInfo:
    """evt.tid's record, created on the fly when unknown (never raises)."""
    thread = state.threads.get(evt.tid)
    if thread is None:
        thread = new_thread(state, evt.tid, evt.pid or evt.tid)
    return thread


# ---------------------------------------------------------------- snapshots


def proc_from_info(info: ProcInfo) -> ProcShared:
    return ProcShared(
        exe=info.exe, exepath=info.exepath, args=list(info.args), env=list(info.env),
        cwd=strip_cwd(info.cwd) or "/", exe_ino=info.exe_ino,
        exe_ino_ctime=info.exe_ino_ctime, exe_ino_mtime=info.exe_ino_mtime,
        exe_writable=info.exe_writable, exe_upper_layer=info.exe_upper_layer,
        exe_lower_layer=info.exe_lower_layer, exe_from_memfd=info.exe_from_memfd,
        start_ts=info.start_ts, exec_ts=0, fdlimit=info.fdlimit,
        cgroups=list(info.cgroups), pidns_init_start_ts=info.pidns_init_start_ts)


_PROC_FIELDS = tuple(f.name for f in dataclasses.fields(ProcShared))


def add_snapshot(state: State, info: ProcInfo) -> ThreadInfo:
    group = state.groups.get(info.pid)
    sibling = group.main if group is not None else None
    if sibling is not None and sibling.tid != info.tid:
        proc, fds = sibling.proc, sibling.fds
        if info.tid == info.pid:
            # the main thread's view of the process is the authoritative one
            fresh = proc_from_info(info)
            for name in _PROC_FIELDS:
                setattr(proc, name, getattr(fresh, name))
    else:
        proc, fds = proc_from_info(info), FdTable()
        old = state.threads.get(info.tid)
        if old is not None and old.pid == info.pid:
            fds = old.fds  # a refreshed snapshot keeps what events taught us
    thread = ThreadInfo(
        tid=info.tid, pid=info.pid, ptid=info.ptid, comm=info.comm, vtid=info.vtid,
        vpid=info.vpid, uid=info.uid, gid=info.gid, euid=info.euid, egid=info.egid,
        loginuid=info.loginuid, tty=info.tty, sid=info.sid, pgid=info.pgid,
        vpgid=info.vpgid, cap_inheritable=info.cap_inheritable,
        cap_permitted=info.cap_permitted, cap_effective=info.cap_effective,
        start_ts=info.start_ts, proc=proc, fds=fds,
        parent=process_main(state, info.ptid) if info.ptid != info.pid else None)
    register(state, thread)
    if info.fds is not None:
        # the process's open fds at the snapshot's ptrace stop: the table becomes
        # exactly them (shared by its threads, so every thread sees them)
        fds.replace_all(fd_from_snapshot(fd) for fd in info.fds)
    # Snapshots come in any order: adopt children that arrived before us.
    if thread.tid == thread.pid:
        for other in state.threads.values():
            if other.ptid == thread.pid and other.pid != thread.pid and (
                    other.parent is None or other.parent.tid != thread.tid):
                other.parent = thread
            elif other.pid == thread.pid and other is not thread:
                other.parent = thread.parent
    return thread


# ---------------------------------------------------------------- clone


def _child_from_parent(state: State, parent: ThreadInfo, tid: int, flags: int,
                       ts: int) -> ThreadInfo:
    is_thread = bool(flags & PPM_CL_CLONE_THREAD)
    if is_thread:
        pid, ptid, ancestor = parent.pid, parent.ptid, parent.parent
        proc, fds = parent.proc, parent.fds
    else:
        pid = tid
        if flags & PPM_CL_CLONE_PARENT:
            ptid, ancestor = parent.ptid, parent.parent
        else:
            ptid, ancestor = parent.pid, process_main(state, parent.pid) or parent
        proc = dataclasses.replace(parent.proc)  # fork copies cwd, exe, args ...
        proc.start_ts = ts
        fds = parent.fds if flags & PPM_CL_CLONE_FILES else parent.fds.copy()
    child = ThreadInfo(
        tid=tid, pid=pid, ptid=ptid, comm=parent.comm,
        vtid=tid if parent.vtid in (0, parent.tid) else 0,
        vpid=pid if parent.vpid in (0, parent.pid) else 0,
        uid=parent.uid, gid=parent.gid, euid=parent.euid, egid=parent.egid,
        loginuid=parent.loginuid, tty=parent.tty, sid=parent.sid, pgid=parent.pgid,
        vpgid=parent.vpgid, cap_inheritable=parent.cap_inheritable,
        cap_permitted=parent.cap_permitted, cap_effective=parent.cap_effective,
        start_ts=ts, proc=proc, fds=fds, parent=ancestor)
    register(state, child)
    if not is_thread:
        _cap_ancestry(child)
    return child


def _child_from_args(state: State, evt: Event) -> ThreadInfo:
    """The child's own clone event arrived first (or its parent is unknown)."""
    args = evt.args
    tid = evt.tid
    pid = _int(args.get("pid"), evt.pid or tid)
    ptid = _int(args.get("ptid"))
    flags = _int(args.get("flags"))
    if flags & PPM_CL_CLONE_THREAD or pid != tid:
        caller = process_main(state, pid)
    else:
        caller = process_main(state, ptid)
    if caller is not None:
        child = _child_from_parent(state, caller, tid, flags | (
            PPM_CL_CLONE_THREAD if pid != tid else 0), evt.ts)
    else:
        proc = ProcShared(exe=args.get("exe") or "", args=_as_list(args.get("args")),
                          cwd=strip_cwd(args.get("cwd") or "/"),
                          fdlimit=_int(args.get("fdlimit")),
                          cgroups=_as_list(args.get("cgroups")), start_ts=evt.ts,
                          pidns_init_start_ts=_int(args.get("pidns_init_start_ts")))
        child = ThreadInfo(tid=tid, pid=pid, ptid=ptid, comm=args.get("comm") or "",
                           start_ts=evt.ts, proc=proc, fds=FdTable(),
                           parent=process_main(state, ptid))
        uid = args.get("uid")
        gid = args.get("gid")
        if isinstance(uid, int):
            child.uid = child.euid = uid
        if isinstance(gid, int):
            child.gid = child.egid = gid
        register(state, child)
    _complete_child(child, evt)
    return child


def _complete_child(child: ThreadInfo, evt: Event) -> None:
    """What only the child's own event knows: its namespace ids."""
    args = evt.args
    vtid = args.get("vtid")
    vpid = args.get("vpid")
    if isinstance(vtid, int) and vtid > 0:
        child.vtid = vtid
    if isinstance(vpid, int) and vpid > 0:
        child.vpid = vpid
    pidns = args.get("pidns_init_start_ts")
    if isinstance(pidns, int) and pidns:
        child.proc.pidns_init_start_ts = pidns


def on_clone(state: State, evt: Event) -> None:
    res = evt.res
    if res is None:
        res = evt.args.get("res")
    if isinstance(res, int) and res > 0:
        # the caller's side: res is the new tid
        parent = thread_for_event(state, evt)
        evt.thread = parent
        existing = state.threads.get(res)
        if existing is None or existing.exited:
            _child_from_parent(state, parent, res, _int(evt.args.get("flags")), evt.ts)
        return
    if res == 0:
        existing = state.threads.get(evt.tid)
        if existing is not None and not existing.exited:
            _complete_child(existing, evt)
            evt.thread = existing
        else:
            evt.thread = _child_from_args(state, evt)
        return
    evt.thread = thread_for_event(state, evt)  # failed clone: nothing changes


# ---------------------------------------------------------------- execve


def on_exec(state: State, evt: Event) -> None:
    res = evt.res
    if isinstance(res, int) and res < 0:
        evt.thread = thread_for_event(state, evt)  # failed: the old image stays
        return
    args = evt.args
    pid = _int(args.get("pid"), evt.pid or evt.tid)
    group = state.groups.get(pid)
    execing = state.threads.get(evt.tid)
    leader = state.threads.get(pid)
    if leader is None and group is not None and group.main is not None \
            and group.main.tid == pid:
        leader = group.main  # the leader's record, released just before: revive it
    donor = execing or leader or (group.main if group is not None else None)
    old_fds = donor.fds if donor is not None else None
    # exec kills every other thread of the process (a non-leader exec takes
    # over the leader's tid)
    if group is not None:
        for tid in list(group.tids):
            if tid != pid:
                other = state.threads.get(tid)
                if other is not None:
                    other.exited = True
                    _forget(state, other)
    if leader is None:
        if donor is not None:
            leader = donor
            leader.tid = pid
        else:
            ptid = _int(args.get("ptid"))
            leader = ThreadInfo(tid=pid, pid=pid, ptid=ptid, proc=ProcShared(),
                                fds=FdTable(), parent=process_main(state, ptid),
                                start_ts=evt.ts)
            leader.proc.start_ts = evt.ts
    leader.exited = False
    leader.pid = pid
    if not leader.start_ts:
        leader.start_ts = evt.ts  # a snapshot without a start (spawn mode's root): the exec's time
    _apply_exec_args(state, leader, args, evt.ts)
    # execve unshares the fd table and closes close-on-exec fds
    fds = old_fds.copy() if old_fds is not None else FdTable()
    fds.drop_cloexec()
    leader.fds = fds
    register(state, leader)
    evt.thread = leader


def _apply_exec_args(state: State, thread: ThreadInfo, args: dict[str, Any], ts: int) -> None:
    old = thread.proc
    flags = _int(args.get("flags"))
    exepath = args.get("trusted_exepath") or args.get("exepath") or ""
    cwd = args.get("cwd")
    thread.proc = ProcShared(
        exe=args.get("exe") or "", exepath=exepath, args=_as_list(args.get("args")),
        env=_as_list(args.get("env")) if "env" in args else list(old.env),
        cwd=strip_cwd(cwd) if cwd else old.cwd,
        exe_ino=_int(args.get("exe_ino")), exe_ino_ctime=_int(args.get("exe_ino_ctime")),
        exe_ino_mtime=_int(args.get("exe_ino_mtime")),
        exe_writable=bool(flags & PPM_EXE_WRITABLE),
        exe_upper_layer=bool(flags & PPM_EXE_UPPER_LAYER),
        exe_lower_layer=bool(flags & PPM_EXE_LOWER_LAYER),
        exe_from_memfd=bool(flags & PPM_EXE_FROM_MEMFD) or exepath.startswith("/memfd:")
        or exepath.startswith("memfd:"),
        start_ts=old.start_ts or ts, exec_ts=ts,
        fdlimit=_int(args.get("fdlimit"), old.fdlimit),
        cgroups=_as_list(args.get("cgroups")) if "cgroups" in args else list(old.cgroups),
        pidns_init_start_ts=old.pidns_init_start_ts)
    comm = args.get("comm")
    if comm:
        thread.comm = comm
    ptid = args.get("ptid")
    if isinstance(ptid, int) and ptid > 0 and ptid != thread.ptid:
        thread.ptid = ptid
        thread.parent = process_main(state, ptid)
    # Falco's execve "uid"/"gid" are the effective ids (what user.uid shows);
    # exec never changes the real ids.
    uid = args.get("uid")
    if isinstance(uid, int):
        thread.euid = uid
    gid = args.get("gid")
    if isinstance(gid, int):
        thread.egid = gid
    for name in ("loginuid", "tty", "pgid", "vpgid", "cap_inheritable", "cap_permitted",
                 "cap_effective"):
        value = args.get(name)
        if isinstance(value, int):
            setattr(thread, name, value)
    vtid = args.get("vtid")
    if isinstance(vtid, int) and vtid > 0:
        thread.vtid = vtid
    vpid = args.get("vpid")
    if isinstance(vpid, int) and vpid > 0:
        thread.vpid = vpid


# ---------------------------------------------------------------- procexit


def on_exit(state: State, evt: Event) -> None:
    thread = state.threads.get(evt.tid)
    if thread is None:
        # exit of a thread we never knew (or already dropped by an exec): say
        # who it was without creating a record that nobody would release
        group = state.groups.get(evt.pid)
        evt.thread = ThreadInfo(tid=evt.tid, pid=evt.pid or evt.tid, ptid=0,
                                proc=group.main.proc if group and group.main else ProcShared(),
                                fds=FdTable(), exited=True)
        return
    thread.exited = True
    state.pending_release.append(thread)
    evt.thread = thread

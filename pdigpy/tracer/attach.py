"""Attaching to processes that already run: checks, thread and descendant discovery, seizing.

Attach mode is observation only: every thread is PTRACE_SEIZEd without
PTRACE_O_EXITKILL and without a seccomp filter (one cannot be installed from
outside without injecting code), so the tracer stops at every syscall entry
and exit (PTRACE_SYSCALL) and can detach at any time leaving the process as
it was.
"""

from __future__ import annotations

import os
import time

from pdigpy.tracer import ptrace as _pt

MAX_SCANS = 10
STOP_WAIT_S = 0.2  # how long the snapshots wait for the seized threads to stop


def parent_of(pid: int) -> int:
    """PPid of ``pid`` from /proc/PID/stat (0 if unknown)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    # comm may contain spaces and parentheses: fields start after the last ")"
    rest = data[data.rfind(b")") + 2 :].split()
    try:
        return int(rest[1])
    except (IndexError, ValueError):
        return 0


def ancestors(pid: int) -> list[int]:
    """Ancestors of ``pid``, nearest first, up to (and including) the topmost visible one."""
    out: list[int] = []
    seen = {pid}
    p = parent_of(pid)
    while p > 0 and p not in seen:
        out.append(p)
        seen.add(p)
        p = parent_of(p)
    return out


def threads_of(pid: int) -> list[int]:
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except (OSError, ValueError):
        return []


def descendants(pid: int) -> list[int]:
    """Processes below ``pid`` (by PPid), parents before children."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        p = int(name)
        children.setdefault(parent_of(p), []).append(p)
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop(0)
        for c in sorted(children.get(p, ())):
            if c not in out and c != pid:
                out.append(c)
                todo.append(c)
    return out


def tracer_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"TracerPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tgid_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def check_target(pid: int) -> str | None:
    """Why ``pid`` cannot be attached to (one line), or None if it can."""
    me = os.getpid()
    if pid <= 0:
        return f"pdigpy: cannot attach to PID {pid}: not a process id"
    tg = tgid_of(pid)
    if tg == 0:
        return f"pdigpy: cannot attach to PID {pid}: no such process"
    if tg == me:
        return f"pdigpy: cannot attach to PID {pid}: that is pdigpy itself"
    if tg in ancestors(me):
        return (
            f"pdigpy: cannot attach to PID {pid}: it is an ancestor of pdigpy "
            "(tracing the process that waits for pdigpy would stall both); run pdigpy from elsewhere"
        )
    tr = tracer_of(pid)
    if tr:
        return f"pdigpy: cannot attach to PID {pid}: already traced by PID {tr} (a debugger or another tracer)"
    return None


def seize_process(pid: int, options: int, seized: dict[int, int]) -> list[int]:
    """PTRACE_SEIZE every thread of process ``pid`` and interrupt it; records tid -> tgid in ``seized``.

    /proc/PID/task is re-read until a scan finds no new thread (threads created
    after their creator was seized are attached by PTRACE_O_TRACECLONE).
    Returns the tids seized here. Raises OSError if the main thread cannot be seized.
    """
    new: list[int] = []
    for _ in range(MAX_SCANS):
        found = False
        for tid in threads_of(pid):
            if tid in seized:
                continue
            if _pt.seize(tid, options) == -1:
                e = _pt.errno()
                if tid == pid and not new:
                    raise OSError(e, os.strerror(e))
                continue  # the thread exited meanwhile
            seized[tid] = pid
            new.append(tid)
            found = True
            # stop it once so that the loop can switch it to PTRACE_SYSCALL
            _pt.ptrace(_pt.PTRACE_INTERRUPT, tid, None, None)
        if not found:
            break
    return new


def thread_state(tid: int) -> str:
    """The state letter of /proc/TID/stat ("" if the thread is gone)."""
    try:
        with open(f"/proc/{tid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return ""
    i = data.rfind(b")")
    return data[i + 2 : i + 3].decode() if i >= 0 else ""


def wait_stopped(tids: list[int], timeout: float = STOP_WAIT_S) -> bool:
    """Wait until every thread of ``tids`` is stopped (the interrupt of seize_process) or gone.

    Snapshots read /proc then, at a consistent moment: an fd opened after the
    read would otherwise be missed (its open is not traced before the stop).
    The stop statuses stay for the loop to collect (only /proc is polled).
    True if all stopped within ``timeout``; the snapshots are taken anyway.
    """
    deadline = time.monotonic() + timeout
    todo = list(tids)
    while True:
        todo = [tid for tid in todo if thread_state(tid) not in ("t", "T", "Z", "X", "")]
        if not todo:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.0002)

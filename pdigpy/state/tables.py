"""The state: thread table, fd tables and users, fed by snapshots and events.

``State.apply(evt)`` runs for every event before the engine sees it and sets
``evt.thread`` (evt.tid's record *after* the syscall) and ``evt.fdinfo`` (the
fd the event is about). It never raises: odd input (unknown tids, missing
params, a handler bug) leaves a record built from defaults and is counted in
``errors``. The same stream of snapshots and events rebuilds the same tables
live and on replay; nothing here reads /proc.

Hot path: ``apply`` is called once per event and kept to dict look-ups.
"""

from __future__ import annotations

from typing import Iterator

from pdigpy.events.model import Event
from pdigpy.events.procinfo import ProcInfo
from pdigpy.state import threads as thr
from pdigpy.state.handlers import FD_PARAM, HANDLERS, LIFECYCLE_HANDLERS
from pdigpy.state.records import ThreadInfo
from pdigpy.state.threads import ThreadGroup
from pdigpy.state.users import UserDb


class State:
    """Threads and fds of the traced processes (and their ancestors)."""

    def __init__(self, users: UserDb | None = None) -> None:
        self.threads: dict[int, ThreadInfo] = {}
        self.groups: dict[int, ThreadGroup] = {}  # pid -> live threads of a process
        self.users: UserDb = users if users is not None else UserDb()
        self.pending_release: list[ThreadInfo] = []  # exited, dropped at the next event
        self.errors = 0  # handler failures swallowed (odd input); see last_error
        self.last_error: str | None = None

    @classmethod
    def from_capture_header(cls, header: dict) -> State:
        """A fresh state for replaying a capture: users and groups as recorded."""
        users = UserDb.from_header(header) if header.get("users") is not None else None
        return cls(users=users)

    # -------------------------------------------------------------- input

    def add_snapshot(self, info: ProcInfo) -> None:
        """A process that existed before tracing began (or one of its threads)."""
        if self.pending_release:
            thr.release_pending(self)
        try:
            thr.add_snapshot(self, info)
        except Exception as exc:  # never let odd input stop the tracer
            self._note_error(f"snapshot of tid {getattr(info, 'tid', '?')}", exc)

    def apply(self, evt: Event) -> None:
        """Update the tables for one event; set evt.thread and evt.fdinfo."""
        if self.pending_release:
            thr.release_pending(self)
        etype = evt.type
        try:
            handler = HANDLERS.get(etype)
            if handler is not None:
                thread = self.threads.get(evt.tid) or thr.thread_for_event(self, evt)
                evt.thread = thread
                handler(self, evt, thread)
                return
            lifecycle = LIFECYCLE_HANDLERS.get(etype)
            if lifecycle is not None:
                lifecycle(self, evt)
                return
            thread = self.threads.get(evt.tid) or thr.thread_for_event(self, evt)
            evt.thread = thread
            param = FD_PARAM.get(etype)
            if param is not None:
                evt.fdinfo = thread.fds.fds.get(evt.args.get(param))
        except Exception as exc:  # never let odd input stop the tracer
            self._note_error(f"{etype} event #{evt.num} of tid {evt.tid}", exc)
            if evt.thread is None:
                try:
                    evt.thread = thr.thread_for_event(self, evt)
                except Exception:
                    pass

    def _note_error(self, where: str, exc: Exception) -> None:
        self.errors += 1
        self.last_error = f"{where}: {type(exc).__name__}: {exc}"

    # -------------------------------------------------------------- queries

    def get_thread(self, tid: int) -> ThreadInfo | None:
        return self.threads.get(tid)

    def get_process(self, pid: int) -> ThreadInfo | None:
        """The record standing for process ``pid`` (its main thread when known)."""
        return thr.process_main(self, pid)

    def ancestors(self, thread: ThreadInfo) -> Iterator[ThreadInfo]:
        """Parent, grandparent, ... of a thread (proc.aname[1], [2], ...)."""
        return thr.ancestors(thread)

    def process_count(self) -> int:
        return len(self.groups)

    def __repr__(self) -> str:
        return f"State({len(self.threads)} threads, {len(self.groups)} processes)"

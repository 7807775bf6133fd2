"""STATE_EVENT_TYPES against the schema, the syscall table and the handlers."""

from __future__ import annotations

from pdigpy.events.schema import ALL_EVENT_TYPES, EVENT_SCHEMA
from pdigpy.state.handlers import HANDLERS, LIFECYCLE_HANDLERS
from pdigpy.state.needs import (
    LIFECYCLE_EVENT_TYPES,
    NOT_TRACED_FOR_STATE,
    STATE_ARG_FILTERS,
    STATE_EVENT_TYPES,
    WHY,
)
from pdigpy.tracer.syscalls.table import native_table, syscalls_for_events


def test_every_state_type_is_a_known_event_with_a_reason() -> None:
    assert STATE_EVENT_TYPES <= ALL_EVENT_TYPES, STATE_EVENT_TYPES - ALL_EVENT_TYPES
    assert set(WHY) == STATE_EVENT_TYPES and all(WHY.values())
    assert not STATE_EVENT_TYPES & LIFECYCLE_EVENT_TYPES
    assert not STATE_EVENT_TYPES & NOT_TRACED_FOR_STATE
    assert set(LIFECYCLE_HANDLERS) == LIFECYCLE_EVENT_TYPES


def test_every_state_type_has_a_handler_and_a_syscall_row() -> None:
    assert STATE_EVENT_TYPES <= set(HANDLERS)
    table = native_table()
    traced = {spec.event for spec in syscalls_for_events(table, STATE_EVENT_TYPES)}
    missing = {t for t in STATE_EVENT_TYPES - traced if t in table.by_name}
    assert not missing
    # the table may lack old syscalls on some arches (open, creat, pipe ... on aarch64),
    # but on x86_64 all of them exist
    if table.arch == "x86_64":
        assert traced == STATE_EVENT_TYPES


def test_every_fd_creating_event_of_the_schema_is_traced() -> None:
    """An fd creator the state does not see would leave a stale entry under a reused number."""
    # the schema gives fd creators a leading FD-typed return (fd or res)
    creators = {etype for etype, params in EVENT_SCHEMA.items()
                if params and params[0].ptype == "FD"}
    assert {"openat", "socket", "accept4", "dup2", "eventfd2", "memfd_create"} <= creators
    # ... and these return 0 with the fds in params (or the fd as an ERRNO-typed res)
    creators |= {"pipe", "pipe2", "socketpair", "epoll_create", "epoll_create1",
                 "io_uring_setup", "userfaultfd"}
    creators &= ALL_EVENT_TYPES
    assert creators <= STATE_EVENT_TYPES, creators - STATE_EVENT_TYPES


def test_arg_filters_name_traced_types() -> None:
    for etype, (index, values) in STATE_ARG_FILTERS.items():
        assert etype in STATE_EVENT_TYPES and 0 <= index < 6 and values

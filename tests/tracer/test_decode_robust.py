"""Decoders never raise and always produce the schema's parameters, whatever the registers hold.

Runs every row's entry and exit decoder against this very process (real
/proc, real process_vm_readv through the tracer's memory reader) with
arbitrary register values: wild pointers, negative fds, huge sizes.
"""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdigpy.events.schema import EVENT_SCHEMA
from pdigpy.tracer.memory import ProcessMemory
from pdigpy.tracer.syscalls.table import native_table

TABLE = native_table()
SPECS = sorted(TABLE.by_name.values(), key=lambda s: s.name)
MEM = ProcessMemory()

register = st.one_of(
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=0, max_value=64),
    st.sampled_from([2**64 - 1, 2**64 - 100, 2**63, 2**32 - 1, 0x7FFF_FFFF_F000]),
)
result = st.one_of(st.none(), st.integers(min_value=-4095, max_value=2**31))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.sampled_from(SPECS), args=st.tuples(*[register] * 6), ret=result)
def test_decoders_survive_arbitrary_registers(spec, args, ret):
    pid = os.getpid()
    val = spec.entry(pid, args, MEM) if spec.entry is not None else None
    out = spec.exit(pid, args, val, ret if spec.exit_stop else None, MEM)
    assert list(out) == [p.name for p in EVENT_SCHEMA[spec.event]], spec.name


def test_every_row_once_with_null_registers():
    pid = os.getpid()
    for spec in SPECS:
        args = (0, 0, 0, 0, 0, 0)
        val = spec.entry(pid, args, MEM) if spec.entry is not None else None
        out = spec.exit(pid, args, val, -14 if spec.exit_stop else None, MEM)  # EFAULT
        assert list(out) == [p.name for p in EVENT_SCHEMA[spec.event]], spec.name


def test_exit_decoders_cope_without_an_entry_value():
    """An exit stop without its entry stop (attach in the middle of a syscall) gives val=None."""
    pid = os.getpid()
    for spec in SPECS:
        out = spec.exit(pid, (1, 2, 3, 4, 5, 6), None, 0 if spec.exit_stop else None, MEM)
        assert list(out) == [p.name for p in EVENT_SCHEMA[spec.event]], spec.name

"""Kernels before 5.3 lack PTRACE_GET_SYSCALL_INFO: the loop then reads the registers.

PDIGPY_NO_SYSCALL_INFO=1 makes every stop take that path on this kernel, so the
events must be the same as with GET_SYSCALL_INFO.
"""

from __future__ import annotations

import platform

import pytest

FALLBACK = {"PDIGPY_NO_SYSCALL_INFO": "1"}


def _shape(r):
    out = []
    for e in r.events:
        a = e["args"]
        out.append((e["type"], e["res"] if e["type"] != "clone3" and e["res"] is not None and e["res"] <= 0 else "+",
                    a.get("name"), a.get("exe")))
    return out


@pytest.mark.parametrize("seccomp", [True, False])
def test_same_events_from_registers(run_traced, cbin, seccomp):
    argv = [cbin("forks"), "/bin/cat"]
    a = run_traced(argv, seccomp=seccomp)
    b = run_traced(argv, seccomp=seccomp, env=FALLBACK)
    assert a.rc == b.rc == 0
    assert a.stats["regs_fallbacks"] == 0
    assert b.stats["regs_fallbacks"] >= len(b.of_type("openat"))
    key = lambda r: sorted(map(str, _shape(r)))  # noqa: E731 - pids differ, shapes must not
    assert key(a) == key(b)
    assert len(b.of_type("openat")) >= 8


def test_threads_from_registers(run_traced, cbin):
    r = run_traced([cbin("threads"), "3", "/etc/hostname"], seccomp=False, env=FALLBACK)
    assert r.rc == 0
    opens = [e for e in r.of_type("openat") if e["args"].get("name") == "/etc/hostname"]
    assert len(opens) == 3 and all(e["tid"] != e["pid"] for e in opens)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="int 0x80 exists on x86_64 only")
def test_i386_entry_detected_from_registers(run_traced, cbin):
    r = run_traced([cbin("int80")], seccomp=False, env=FALLBACK)
    assert r.stats["compat_syscalls"] == 1
    assert "i386" in r.stderr

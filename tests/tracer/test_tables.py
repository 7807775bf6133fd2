"""Syscall tables: numbers match the kernel headers, rows cover the upstream rules' event types."""

import re
from pathlib import Path

import pytest

from pdigpy.events.schema import ALL_EVENT_TYPES, NOT_APPLICABLE_EVENT_TYPES
from pdigpy.tracer.syscalls.rows import ROWS
from pdigpy.tracer.syscalls.table import native_table, syscalls_for_events, table_for

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / ".." / "shared" / "corpus" / "upstream-rules"
X86_HEADER = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
GENERIC_HEADER = Path("/usr/include/asm-generic/unistd.h")
# Syscalls newer than the installed headers (value: number on both architectures).
NEWER_THAN_HEADERS = {"fchmodat2": 452}
AARCH64_LEGACY = {"open", "creat", "dup2", "pipe", "eventfd", "signalfd", "inotify_init", "epoll_create",
                  "mkdir", "rmdir", "unlink", "rename", "link", "symlink", "chmod", "chown", "lchown",
                  "fork", "vfork"}


def parse_unistd(path: Path) -> dict[str, int]:
    """__NR_name numbers of a unistd header, following __NR3264_ aliases (64-bit view)."""
    numbers: dict[str, int] = {}
    aliases: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"#define\s+__NR(3264)?_(\w+)\s+(\S+)", line)
        if not m:
            continue
        key = ("3264_" if m.group(1) else "") + m.group(2)
        value = m.group(3)
        if value.isdigit():
            numbers[key] = int(value)
        else:
            aliases[key] = value
    for key, value in aliases.items():
        m = re.match(r"__NR(3264)?_(\w+)$", value)
        if m:
            target = ("3264_" if m.group(1) else "") + m.group(2)
            if target in numbers:
                numbers.setdefault(key, numbers[target])
    return {k: v for k, v in numbers.items() if not k.startswith("3264_")}


@pytest.mark.parametrize("arch,header", [("x86_64", X86_HEADER), ("aarch64", GENERIC_HEADER)])
def test_numbers_match_kernel_headers(arch, header):
    assert header.exists(), f"{header} is needed to check the {arch} table"
    expected = parse_unistd(header)
    table = table_for(arch)
    assert table.by_name, arch
    for name, spec in table.by_name.items():
        want = expected.get(name, NEWER_THAN_HEADERS.get(name))
        assert spec.nr == want, f"{arch} {name}: table {spec.nr}, header {want}"
        assert table.by_nr[spec.nr] is spec


def test_x86_64_has_every_row_and_aarch64_lacks_only_legacy_calls():
    x86 = table_for("x86_64")
    a64 = table_for("aarch64")
    assert set(x86.by_name) == {r.name for r in ROWS}
    assert {r.name for r in ROWS} - set(a64.by_name) == AARCH64_LEGACY
    assert x86.audit_arch == 0xC000003E and a64.audit_arch == 0xC00000B7
    assert table_for("amd64") is x86 and table_for("arm64") is a64
    with pytest.raises(ValueError):
        table_for("riscv64")


def test_native_table_and_lookup():
    t = native_table()
    assert t.get(t.by_name["openat"].nr).name == "openat"
    assert t.get(-1) is None and t.get(100000) is None


def test_syscalls_for_events():
    t = table_for("x86_64")
    names = [s.name for s in syscalls_for_events(t, ["fchmodat", "pread", "no-such-event"])]
    assert sorted(names) == ["fchmodat", "fchmodat2", "pread64"]
    assert syscalls_for_events(t, []) == []


def corpus_event_types() -> set[str]:
    types: set[str] = set()
    files = sorted(CORPUS.glob("*.yaml"))
    assert files, f"upstream rules corpus not found at {CORPUS}"
    pattern = re.compile(r"evt\.type\s*(?:=|!=|in)\s*(\([^)]*\)|[\w-]+)")
    for f in files:
        for m in pattern.finditer(f.read_text()):
            for item in re.split(r"[,\s]+", m.group(1).strip("()")):
                if item:
                    types.add(item)
    return types


def test_upstream_event_types_are_covered_or_not_applicable():
    types = corpus_event_types()
    assert {"execve", "openat", "connect", "ptrace"} <= types  # the parse found the real ones
    uncovered = types - ALL_EVENT_TYPES - set(NOT_APPLICABLE_EVENT_TYPES)
    assert not uncovered, f"event types in the upstream rules without rows: {sorted(uncovered)}"
    produced = {s.event for s in table_for("x86_64").by_name.values()}
    assert (types - set(NOT_APPLICABLE_EVENT_TYPES)) <= produced


def test_exit_stop_policy():
    t = table_for("x86_64").by_name
    no_exit = {n for n, s in t.items() if not s.exit_stop}
    assert no_exit == {"close", "write", "pwrite64", "writev", "pwritev", "kill", "tkill", "tgkill",
                       "io_uring_enter"}
    for must in ("open", "openat", "openat2", "execve", "connect", "dup2", "chdir", "setuid", "accept4",
                 "sendto", "read"):
        assert t[must].exit_stop, must

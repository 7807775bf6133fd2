"""PPM flag rendering: Falco's table order and bit removal."""

import pytest

from pdigpy.events import flags as F
from pdigpy.events.flags import FLAG_SETS, cap_names, render_flags


@pytest.mark.parametrize(
    "setname,value,expected",
    [
        # the spec's example: open(O_WRONLY|O_CREAT|O_TRUNC)
        ("file_flags", F.O_WRONLY | F.O_CREAT | F.O_TRUNC, "O_TRUNC|O_CREAT|O_WRONLY"),
        # RDWR removes its bits: neither RDONLY nor WRONLY again
        ("file_flags", F.O_RDWR, "O_RDWR"),
        ("file_flags", F.O_RDONLY | F.O_CLOEXEC, "O_RDONLY|O_CLOEXEC"),
        ("file_flags", 4097, "O_RDONLY|O_CLOEXEC"),
        ("file_flags", F.O_RDWR | F.O_CREAT | F.O_EXCL | F.O_F_CREATED, "O_EXCL|O_CREAT|O_RDWR|O_F_CREATED"),
        ("file_flags", 0, "O_NONE"),
        ("file_flags", F.O_TMPFILE | F.O_DIRECTORY | F.O_RDWR, "O_DIRECTORY|O_RDWR|O_TMPFILE"),
        ("execve_flags", F.EXE_WRITABLE | F.EXE_FROM_MEMFD, "EXE_WRITABLE|EXE_FROM_MEMFD"),
        ("execve_flags", 0, ""),
        ("clone_flags", F.CL_CLONE_VM | F.CL_CLONE_VFORK, "CLONE_VM|CLONE_VFORK"),
        ("clone_flags", F.CL_CLONE_NEWUSER | F.CL_CLONE_NEWNS, "CLONE_NEWNS|CLONE_NEWUSER"),
        # enums: exactly one name, first match in table order
        ("socket_families", 17, "AF_PACKET"),
        ("socket_families", 2, "AF_INET"),
        ("socket_families", 10, "AF_INET6"),
        ("socket_families", 1, "AF_LOCAL"),
        ("socket_families", 16, "AF_ROUTE"),
        ("socket_families", 99, ""),
        ("ptrace_requests", 11, "PTRACE_ATTACH"),
        ("ptrace_requests", 1, "PTRACE_TRACEME"),
        ("ptrace_requests", 20, "PTRACE_SEIZE"),
        ("fcntl_commands", 26, "F_DUPFD_CLOEXEC"),
        ("chmod_mode", 0o4755, "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"),
        ("prot_flags", 0, "PROT_NONE"),
        ("prot_flags", 5, "PROT_READ|PROT_EXEC"),
        ("mount_flags", (1 << 12) | (1 << 14), "BIND|REC"),
        ("unlinkat_flags", 0x200, "AT_REMOVEDIR"),
        ("no_such_set", 1, ""),
    ],
)
def test_render_flags(setname, value, expected):
    assert render_flags(setname, value) == expected


def test_ppm_values_that_differ_from_linux():
    # PPM numbering is Falco's: ptrace ATTACH is 11 (Linux 16), O_RDONLY is 1 (Linux 0)
    table = dict(FLAG_SETS["ptrace_requests"])
    assert table["PTRACE_ATTACH"] == 11 and table["PTRACE_TRACEME"] == 1
    assert dict(FLAG_SETS["file_flags"])["O_RDONLY"] == 1


def test_every_table_has_unique_names_per_value_kind():
    for name, table in FLAG_SETS.items():
        assert table, name
        assert all(isinstance(n, str) and isinstance(v, int) for n, v in table), name


def test_cap_names():
    assert cap_names(0) == ""
    assert cap_names(1 << 0 | 1 << 21) == "CAP_CHOWN CAP_SYS_ADMIN"
    assert cap_names((1 << 41) - 1).split()[-1] == "CAP_CHECKPOINT_RESTORE"


def test_bpf_commands_render_like_the_incubating_rule_expects():
    # "BPF Program Not Profiled": evt.arg.cmd=5 or evt.arg.cmd=BPF_PROG_LOAD
    assert render_flags("bpf_commands", 5) == "BPF_PROG_LOAD"
    assert render_flags("bpf_commands", 0) == "BPF_MAP_CREATE"

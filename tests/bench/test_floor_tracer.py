"""bench/floor_tracer.py really traces: exact stop counts on a C program, exit status and stdout
passed through, the argument narrowing of its seccomp filter. Counts only, never times."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLOOR = REPO / "bench" / "floor_tracer.py"

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

# N getppid in the parent and N in a forked child; then N fcntl(F_DUPFD_CLOEXEC) and N
# fcntl(F_GETFL); prints "done" and exits with argv[2]. Neither glibc's start-up nor its exit
# makes these calls, so the counts are exact.
SOURCE = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = atoi(argv[1]);
    pid_t pid = fork();
    for (int i = 0; i < n; i++)
        syscall(SYS_getppid);
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    int fd = open("/dev/null", O_RDONLY);
    for (int i = 0; i < n; i++) {
        close(fcntl(fd, F_DUPFD_CLOEXEC, 10));
        fcntl(fd, F_GETFL);
    }
    printf("done\n");
    return atoi(argv[2]);
}
"""
N = 50
F_DUPFD_CLOEXEC = 1030


@pytest.fixture(scope="module")
def prog(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("floor")
    (d / "calls.c").write_text(SOURCE)
    subprocess.run(["gcc", "-O2", "-o", str(d / "calls"), str(d / "calls.c")], check=True)
    return str(d / "calls")


def floor(tmp_path: Path, trace: str, command: list[str], exit_stops: bool = False) -> tuple[subprocess.CompletedProcess, dict]:
    stats = tmp_path / "stats.json"
    argv = [sys.executable, "-I", "-S", str(FLOOR), *(["--exit-stops"] if exit_stops else []),
            "--stats-file", str(stats), "-e", trace, "--", *command]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return res, (json.loads(stats.read_text()) if stats.exists() else {})


@pytest.mark.parametrize("exit_stops", [False, True])
def test_one_stop_per_traced_syscall_and_exit_status_passes(tmp_path, prog, exit_stops):
    res, st = floor(tmp_path, f"getppid,fcntl@1={F_DUPFD_CLOEXEC}", [prog, str(N), "7"], exit_stops)
    assert res.returncode == 7, res.stderr
    assert res.stdout == "done\n" and res.stderr == ""
    # 2N getppid (parent and child) and N fcntl(F_DUPFD_CLOEXEC); F_GETFL is filtered out in the kernel
    assert st["ptrace_seccomp_stops"] == 3 * N
    assert st["ptrace_syscall_stops"] == (3 * N if exit_stops else 0)
    # the exec event, the fork event and the child's attach stop
    assert st["ptrace_event_stops"] == 3
    assert st["variant"] == ("exit" if exit_stops else "entry")
    assert st["ptrace_stops"] == sum(st[k] for k in ("ptrace_seccomp_stops", "ptrace_syscall_stops",
                                                       "ptrace_event_stops", "ptrace_signal_stops"))


def test_numbers_and_unnarrowed_fcntl(tmp_path, prog):
    # 110 is getppid on x86_64; fcntl without narrowing stops at both commands
    res, st = floor(tmp_path, "110,fcntl", [prog, str(N), "0"])
    assert res.returncode == 0, res.stderr
    assert st["ptrace_seccomp_stops"] == 4 * N


def test_untraced_syscalls_do_not_stop(tmp_path, prog):
    res, st = floor(tmp_path, "getppid", ["/bin/true"])
    assert res.returncode == 0
    assert st["ptrace_seccomp_stops"] == 0 and st["ptrace_event_stops"] == 1  # the exec


@pytest.mark.parametrize("spec", ["", "ptrace@0=16:16902"])
def test_empty_and_guard_only_sets(tmp_path, prog, spec):
    # pdigpy's no-rules filter is its ptrace attach guard alone (or could be empty): only event stops
    res, st = floor(tmp_path, spec, [prog, str(N), "3"])
    assert res.returncode == 3 and res.stdout == "done\n", res.stderr
    assert st["ptrace_seccomp_stops"] == st["ptrace_syscall_stops"] == 0
    assert st["ptrace_event_stops"] == 3  # exec, fork, the child's attach stop


def test_killed_command_gives_128_plus_signal(tmp_path):
    res, st = floor(tmp_path, "openat", ["sh", "-c", "echo hi; kill -TERM $$"])
    assert res.returncode == 128 + 15
    assert res.stdout == "hi\n"


def test_command_not_found(tmp_path):
    res, _ = floor(tmp_path, "openat", [str(tmp_path / "no-such-program")])
    assert res.returncode == 127
    assert "no-such-program" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("spec", ["no_such_syscall", "fcntl@9=1", "fcntl@1=x"])
def test_bad_set_is_one_line(tmp_path, spec):
    res, _ = floor(tmp_path, spec, ["/bin/true"])
    assert res.returncode == 2
    assert res.stderr.startswith("floor_tracer: -e") and res.stderr.count("\n") == 1

"""The wait loop refuses an app's ptrace attach to pdigpy itself (it would hang both), and skips foreign-ABI calls.

Real processes under the test runner (tests/helpers/run_tracer.py, which runs the Tracer in-process: the
app's parent is the tracer). The probe is built here from C source.
"""

from __future__ import annotations

import platform
import shutil
import subprocess

import pytest

PROBE_C = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* probe MODE [PID]: seize|attach the parent, a thread of the parent ("seize-thread"), or PID;
 * "x32" makes getpid through the x32 ABI; "int80-seize" seizes the parent through the i386 ABI. Prints "MODE res=R errno=NAME". */
int main(int argc, char **argv) {
    const char *mode = argv[1];
    pid_t target = argc > 2 ? atoi(argv[2]) : getppid();
    long res;
    errno = 0;
    if (!strcmp(mode, "x32")) {
        res = syscall(0x40000000 | SYS_getpid);
    } else if (!strcmp(mode, "int80-101")) {
#ifdef __x86_64__
        /* i386 nr 101 (ioperm(0, 0, 0)), the native number of ptrace on x86_64 */
        __asm__ volatile("int $0x80" : "=a"(res) : "a"(101L), "b"(0L), "c"(0L), "d"(0L) : "memory");
        printf("%s raw=%ld\n", mode, res);
#endif
        return 0;
    } else if (!strcmp(mode, "int80-seize")) {
#ifdef __x86_64__
        /* ptrace (i386 nr 26)(PTRACE_SEIZE, parent) through int 0x80: the raw result, -errno */
        __asm__ volatile("int $0x80" : "=a"(res) : "a"(26L), "b"(0x4206L), "c"((long)target), "d"(0L), "S"(0L)
                         : "memory");
        printf("%s raw=%ld\n", mode, res);
        if (res == 0) ptrace(PTRACE_DETACH, target, 0, 0);
#endif
        return 0;
    } else {
        if (!strcmp(mode, "seize-thread")) {
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/task", (int)getppid());
            DIR *d = opendir(path);
            struct dirent *e;
            target = 0;
            while (d && (e = readdir(d))) {
                int t = atoi(e->d_name);
                if (t > 0 && t != getppid()) { target = t; break; }
            }
            if (!target) { printf("%s nothread\n", mode); return 0; }
        }
        errno = 0;
        res = ptrace(strncmp(mode, "attach", 6) ? PTRACE_SEIZE : PTRACE_ATTACH, target, 0, 0);
    }
    int err = errno;
    printf("%s res=%ld errno=%s\n", mode, res, err ? strerrorname_np(err) : "0");
    fflush(stdout);
    if (res == 0 && strcmp(mode, "x32")) {
        if (!strncmp(mode, "attach", 6)) waitpid(target, NULL, __WALL);
        ptrace(PTRACE_DETACH, target, 0, 0);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required to build the tracer test helpers")
    d = tmp_path_factory.mktemp("ptrace_guard")
    (d / "probe.c").write_text(PROBE_C)
    subprocess.run(["gcc", "-O2", "-o", str(d / "probe"), str(d / "probe.c")], check=True, capture_output=True)
    return str(d / "probe")


def _warnings(r) -> list[str]:
    return [ln for ln in r.stderr.splitlines() if ln.startswith("pdigpy:")]


@pytest.mark.parametrize("seccomp", [True, False], ids=["seccomp", "no-seccomp"])
@pytest.mark.parametrize("mode", ["seize-parent", "attach-parent"])
def test_attach_to_the_tracer_fails_with_eperm_and_is_still_an_event(run_traced, probe, mode, seccomp):
    r = run_traced([probe, mode], seccomp=seccomp, types="ptrace,openat", timeout=30)
    assert r.rc == 0, r.stderr
    assert r.stdout.decode().split() == [mode, "res=-1", "errno=EPERM"]
    assert r.stats["ptrace_refused"] == 1
    ev = r.of_type("ptrace")
    assert len(ev) == 1 and ev[0]["res"] == -1  # rules still see the attempt, refused
    warn = _warnings(r)
    assert len(warn) == 1 and "ptrace-attach to pdigpy itself" in warn[0]


def test_attach_is_refused_even_when_no_rule_wants_ptrace_events(run_traced, probe):
    """The filter always stops at PTRACE_ATTACH/SEIZE (narrowed to them): the guard does not depend on the rules."""
    r = run_traced([probe, "seize-parent"], types="openat", timeout=30)
    assert r.rc == 0, r.stderr
    assert r.stdout.decode().split() == ["seize-parent", "res=-1", "errno=EPERM"]
    assert r.stats["ptrace_refused"] == 1
    assert not r.of_type("ptrace")


def test_attach_to_a_thread_of_the_tracer_is_refused(run_traced, probe):
    r = run_traced([probe, "seize-thread"], timeout=30)
    out = r.stdout.decode().split()
    if out[1:] == ["nothread"]:
        pytest.skip("the tracer runs a single thread here")
    assert out == ["seize-thread", "res=-1", "errno=EPERM"]
    assert r.stats["ptrace_refused"] == 1


def test_ptrace_of_another_pid_is_left_to_the_kernel(run_traced, probe):
    """Only pdigpy's own pids are guarded: a missing pid gets the kernel's ESRCH, nothing counted."""
    r = run_traced([probe, "seize-pid", "4194303"], types="ptrace", timeout=30)  # above any pid_max default: no such process
    assert r.stdout.decode().split() == ["seize-pid", "res=-1", "errno=ESRCH"]
    assert r.stats["ptrace_refused"] == 0
    assert _warnings(r) == []
    assert [e["res"] for e in r.of_type("ptrace")] == [-3]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the x32 ABI exists on x86_64 only")
def test_x32_call_is_skipped_counted_and_reported_under_seccomp(run_traced, probe):
    r = run_traced([probe, "x32"], timeout=30)
    assert r.rc == 0, r.stderr
    assert r.stdout.decode().split() == ["x32", "res=-1", "errno=ENOSYS"]
    assert r.stats["compat_syscalls"] == 1
    warn = _warnings(r)
    assert len(warn) == 1 and "x32 ABI" in warn[0] and "ENOSYS" in warn[0]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="int 0x80 exists on x86_64 only")
def test_i386_attach_to_the_tracer_is_refused_without_seccomp(run_traced, probe):
    """--no-seccomp lets foreign-ABI calls run: an int 0x80 ptrace(PTRACE_SEIZE, pdigpy) must still be refused."""
    r = run_traced([probe, "int80-seize"], seccomp=False, types="openat", timeout=30)
    assert r.rc == 0, r.stderr
    assert r.stdout.decode().split() == ["int80-seize", "raw=-1"]  # -EPERM
    assert r.stats["ptrace_refused"] == 1 and r.stats["compat_syscalls"] == 1


@pytest.mark.skipif(platform.machine() != "x86_64", reason="int 0x80 exists on x86_64 only")
def test_i386_attach_to_the_tracer_is_skipped_with_enosys_under_seccomp(run_traced, probe):
    r = run_traced([probe, "int80-seize"], types="openat", timeout=30)
    assert r.rc == 0, r.stderr
    assert r.stdout.decode().split() == ["int80-seize", "raw=-38"]
    assert r.stats["ptrace_refused"] == 0 and r.stats["compat_syscalls"] == 1


@pytest.mark.skipif(platform.machine() != "x86_64", reason="int 0x80 exists on x86_64 only")
def test_i386_call_numbered_like_native_ptrace_is_foreign_not_ptrace(run_traced, probe):
    """i386 nr 101 is ioperm: it must be skipped as a foreign call, never decoded as ptrace or let run."""
    r = run_traced([probe, "int80-101"], types="ptrace", timeout=30)
    assert r.rc == 0, r.stderr
    assert r.stdout.decode().split() == ["int80-101", "raw=-38"]
    assert r.stats["compat_syscalls"] == 1 and r.stats["ptrace_refused"] == 0
    assert not r.of_type("ptrace")

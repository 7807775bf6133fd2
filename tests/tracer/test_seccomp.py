"""The cBPF prefilter: program shape, and what the kernel does with it in a real process."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

from pdigpy.tracer import ptrace as pt
from pdigpy.tracer.seccomp import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_TRACE,
    build_filter,
    run_filter,
)
from pdigpy.tracer.session import TraceOptions, Tracer

REPO = Path(__file__).resolve().parents[2]
ENOSYS_ACTION = SECCOMP_RET_ERRNO | errno.ENOSYS


def test_exactly_the_selected_numbers_are_traced():
    nrs = {0, 2, 56, 57, 257, 435}
    prog = build_filter(nrs, pt.AUDIT_ARCH_X86_64)
    for nr in range(0, 600):
        want = SECCOMP_RET_TRACE if nr in nrs else SECCOMP_RET_ALLOW
        assert run_filter(prog, nr, pt.AUDIT_ARCH_X86_64) == want, nr


def test_foreign_abis_stop_for_the_loop():
    """i386/x32/AArch32 calls are not refused in the kernel: they stop, so the loop can skip, count and report them."""
    prog = build_filter({0, 59}, pt.AUDIT_ARCH_X86_64)
    assert run_filter(prog, 59, pt.AUDIT_ARCH_I386) == SECCOMP_RET_TRACE
    assert run_filter(prog, 1, pt.AUDIT_ARCH_I386) == SECCOMP_RET_TRACE  # even a number not selected natively
    assert run_filter(prog, 0x40000000 | 59, pt.AUDIT_ARCH_X86_64) == SECCOMP_RET_TRACE  # x32
    assert run_filter(prog, 0x40000000 | 1, pt.AUDIT_ARCH_X86_64) == SECCOMP_RET_TRACE
    assert run_filter(prog, 1, pt.AUDIT_ARCH_X86_64) == SECCOMP_RET_ALLOW
    assert all(k != ENOSYS_ACTION for _, _, _, k in prog)
    arm = build_filter({221}, pt.AUDIT_ARCH_AARCH64)
    assert run_filter(arm, 221, pt.AUDIT_ARCH_AARCH64) == SECCOMP_RET_TRACE
    assert run_filter(arm, 5, pt.AUDIT_ARCH_ARM) == SECCOMP_RET_TRACE
    assert run_filter(arm, 0x40000000 | 5, pt.AUDIT_ARCH_AARCH64) == SECCOMP_RET_ALLOW  # no x32 on arm64


def test_long_sets_keep_jumps_in_8_bits():
    nrs = set(range(1000, 1600, 1))  # 600 numbers: three blocks
    prog = build_filter(nrs, pt.AUDIT_ARCH_X86_64)
    assert all(jt <= 255 and jf <= 255 for _, jt, jf, _ in prog)
    for nr in (999, 1000, 1199, 1200, 1399, 1400, 1599, 1600):
        want = SECCOMP_RET_TRACE if nr in nrs else SECCOMP_RET_ALLOW
        assert run_filter(prog, nr, pt.AUDIT_ARCH_X86_64) == want, nr


KERNEL_CHECK = r"""
import ctypes, errno, os, sys
sys.path.insert(0, sys.argv[1])
from pdigpy.tracer.seccomp import build_filter, pack_filter, install_filter
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
GETPPID = int(sys.argv[2])
# 400 numbers that do not exist, then getppid last: the jump to RET_TRACE crosses blocks
install_filter(pack_filter(build_filter(list(range(5000, 5400)) + [GETPPID])))
r = libc.syscall(GETPPID)
e = ctypes.get_errno()
print(r, errno.errorcode.get(e), os.getpid() > 0)
"""


def test_kernel_accepts_the_program_and_trace_without_tracer_is_enosys():
    """A RET_TRACE filter with no tracer fails the syscall with ENOSYS (why the child waits to be seized)."""
    getppid = {"x86_64": 110, "aarch64": 173}[pt.MACHINE]
    p = subprocess.run(
        [sys.executable, "-c", KERNEL_CHECK, str(REPO), str(getppid)], capture_output=True, timeout=30
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().split() == ["-1", "ENOSYS", "True"]


def test_filter_syscalls_follow_the_event_types():
    t = Tracer(None, TraceOptions(event_types=frozenset({"openat", "execve"})))
    assert t.filter_syscalls() == ["execve", "openat"]
    everything = Tracer(None, TraceOptions()).filter_syscalls()
    assert {"openat", "execve", "clone3", "connect"} <= set(everything)


def test_no_new_privs_only_when_required(run_traced):
    """As root (CAP_SYS_ADMIN) the filter is installed without NO_NEW_PRIVS: setuid keeps working."""
    r = run_traced(["sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"])
    assert r.rc == 0
    fields = dict(line.split(":\t") for line in r.stdout.decode().splitlines())
    assert fields["Seccomp"] == "2"  # filter mode: the filter is in place
    assert fields["NoNewPrivs"] == "0"


def test_no_new_privs_set_when_the_kernel_requires_it():
    """Without CAP_SYS_ADMIN the kernel refuses a filter unless NO_NEW_PRIVS is set; pdigpy sets it then."""
    import shutil

    assert shutil.which("setpriv"), "setpriv(1) is required"
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
    runner = str(REPO / "tests" / "helpers" / "run_tracer.py")
    app = ["sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"]
    p = subprocess.run(drop + [sys.executable, runner, "--"] + app, capture_output=True, timeout=60, cwd="/")
    assert p.returncode == 0, p.stderr
    fields = dict(line.split(":\t") for line in p.stdout.decode().splitlines())
    assert fields == {"NoNewPrivs": "1", "Seccomp": "2"}


DENY_SECCOMP = r"""
import ctypes, os, struct, sys
sys.path.insert(0, sys.argv[1])
from pdigpy.tracer import ptrace as pt
# a runtime profile that refuses new filters: prctl and seccomp fail with EPERM
nrs = {"x86_64": (157, 317), "aarch64": (167, 277)}[pt.MACHINE]
ins = [(0x20, 0, 0, 0)]
for nr in nrs:
    ins += [(0x15, 0, 1, nr), (0x06, 0, 0, 0x00050000 | 1)]
ins.append((0x06, 0, 0, 0x7FFF0000))
prog = b"".join(struct.pack("=HBBI", *i) for i in ins)
buf = ctypes.create_string_buffer(prog, len(prog))
fprog = pt.SockFprog(len(ins), ctypes.addressof(buf))
assert pt.prctl(pt.PR_SET_SECCOMP, pt.SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) == 0
os.execv(sys.executable, [sys.executable] + sys.argv[2:])
"""


def test_filter_refused_by_the_environment_falls_back_to_ptrace_syscall(tmp_path):
    runner = str(REPO / "tests" / "helpers" / "run_tracer.py")
    ev = tmp_path / "ev.jsonl"
    st = tmp_path / "st.json"
    app = ["sh", "-c", "cat /etc/hostname >/dev/null; echo traced"]
    p = subprocess.run([sys.executable, "-c", DENY_SECCOMP, str(REPO), runner, "--events", str(ev),
                        "--stats", str(st), "--"] + app, capture_output=True, timeout=60)
    assert p.returncode == 0
    assert p.stdout == b"traced\n"
    lines = p.stderr.decode().splitlines()
    assert len(lines) == 1 and "seccomp filter was refused" in lines[0], p.stderr
    import json

    stats = json.loads(st.read_text())
    assert stats["seccomp_stops"] == 0 and stats["syscall_stops"] > 0
    events = [json.loads(x) for x in ev.read_text().splitlines()]
    names = [e["args"].get("name") for e in events if e["type"] == "openat"]
    assert "/etc/hostname" in names
    # exec failures are still reported as such
    q = subprocess.run([sys.executable, "-c", DENY_SECCOMP, str(REPO), runner, "--", "/nonexistent-pdigpy"],
                       capture_output=True, timeout=60)
    assert q.returncode == 127
    assert len(q.stderr.decode().splitlines()) == 1 and "not found" in q.stderr.decode()


def test_argument_filters_narrow_a_syscall_to_some_values():
    F_DUPFD, F_GETFL, F_DUPFD_CLOEXEC = 0, 3, 1030
    prog = build_filter({72, 257}, pt.AUDIT_ARCH_X86_64, arg_filters={72: (1, {F_DUPFD, F_DUPFD_CLOEXEC})})
    fcntl = lambda cmd: run_filter(prog, 72, pt.AUDIT_ARCH_X86_64, (3, cmd, 0, 0, 0, 0))  # noqa: E731
    assert fcntl(F_DUPFD_CLOEXEC) == SECCOMP_RET_TRACE
    assert fcntl(F_DUPFD) == SECCOMP_RET_TRACE
    assert fcntl(F_GETFL) == SECCOMP_RET_ALLOW
    assert run_filter(prog, 257, pt.AUDIT_ARCH_X86_64, (0, 0, 0, 0, 0, 0)) == SECCOMP_RET_TRACE
    assert run_filter(prog, 0, pt.AUDIT_ARCH_X86_64) == SECCOMP_RET_ALLOW


FCNTL_APP = r"""
import fcntl, os
fd = os.open("/", os.O_RDONLY)
for _ in range(50):
    fcntl.fcntl(fd, fcntl.F_GETFL)
os.close(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100))
print("ok")
"""


def test_argument_filters_in_a_real_trace():
    """fcntl traced only for F_DUPFD_CLOEXEC: one event, not 51, from the kernel's own filtering."""
    code = (
        "import sys, json; sys.path.insert(0, %r)\n"
        "from pdigpy.tracer.session import Tracer, TraceOptions\n"
        "ev = []\n"
        "class S:\n def on_event(self, e): ev.append(e)\n def on_snapshot(self, i): pass\n"
        "af = {'fcntl': (1, frozenset({0, 1030}))} if sys.argv[1] == 'narrow' else None\n"
        "t = Tracer(S(), TraceOptions(event_types=frozenset({'fcntl'}), arg_filters=af))\n"
        "rc = t.run_command([sys.executable, '-c', sys.argv[2]])\n"
        "print(json.dumps([rc, len([e for e in ev if e.type == 'fcntl' and e.res == 100])," 
        " len([e for e in ev if e.type == 'fcntl'])]), file=sys.stderr)\n"
    ) % str(REPO)
    import json

    out = {}
    for mode in ("narrow", "all"):
        p = subprocess.run([sys.executable, "-c", code, mode, FCNTL_APP], capture_output=True, timeout=60)
        assert p.stdout == b"ok\n", p.stderr
        out[mode] = json.loads(p.stderr.decode().strip().splitlines()[-1])
    assert out["narrow"][:2] == [0, 1] and out["all"][:2] == [0, 1]
    assert out["all"][2] >= 51 and out["narrow"][2] <= out["all"][2] - 50

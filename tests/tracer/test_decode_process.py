"""Process, credential and kernel-facing syscalls decoded from real programs."""

import os

import pytest
from decode_support import compile_c, trace

from pdigpy.events import flags as F

PROG = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/quota.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);       /* fails: already traced by pdigpy */
    syscall(SYS_kill, getpid(), 0);
    syscall(SYS_setuid, 0);
    syscall(SYS_setresgid, 0, 0, 0);
    syscall(SYS_prctl, PR_SET_NAME, "t2renamed", 0, 0, 0);
    long m = syscall(SYS_memfd_create, "t2memfd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    syscall(SYS_unshare, CLONE_NEWUTS);
    syscall(SYS_mprotect, 0, 0, PROT_READ | PROT_EXEC);
    syscall(SYS_bpf, 5, 0, 0);                           /* BPF_PROG_LOAD without attributes: fails */
    syscall(SYS_setns, -1, CLONE_NEWNET);                /* bad fd: fails */
    syscall(SYS_seccomp, 99, 0, 0);                      /* unknown operation: EINVAL */
    struct dqblk dq;
    syscall(SYS_quotactl, QCMD(Q_GETQUOTA, USRQUOTA), "/dev/t2-no-such-dev", 1000, &dq);
    syscall(SYS_quotactl, QCMD(Q_QUOTAON, GRPQUOTA), "/dev/t2-no-such-dev", 4, "/t2-aquota.group");
    char *args[] = {"t2-no-such", "x", NULL};
    char *env[] = {"T2_MARK=1", NULL};
    syscall(SYS_execve, "/nonexistent-t2/prog", args, env);  /* fails with ENOENT */
    char *args2[] = {argv[1], "arg with space", "two", NULL};
    char *env2[] = {"T2_MARK=yes", "PATH=/usr/bin:/bin", NULL};
    syscall(SYS_execve, argv[1], args2, env2);
    return 3;
}
"""

TYPES = "quotactl,bpf,setns,seccomp,ptrace,kill,setuid,setresgid,prctl,memfd_create,unshare,mprotect,execve,clone,clone3,fork,vfork,procexit"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("t2proc")
    exe = compile_c(PROG, tmp)
    link = tmp / "t2-true-link"  # comm comes from the name given to execve
    os.symlink("/bin/true", link)
    r = trace([exe, str(link)], TYPES, tmp)
    assert r.rc == 0, r.stderr
    r.link = str(link)
    r.exe = exe
    return r


def test_ptrace_traceme_is_seen_and_fails(run):
    p = run.of_type("ptrace")[0]
    assert p.args["request"] == 1  # PPM_PTRACE_TRACEME
    assert p.res == -1  # EPERM: the process is already traced
    assert F.render_flags("ptrace_requests", p.args["request"]) == "PTRACE_TRACEME"


def test_kill_has_no_exit_stop(run):
    k = run.of_type("kill")[0]
    assert k.res is None and k.args["sig"] == 0 and k.args["pid"] == k.pid


def test_credentials_prctl_memfd_unshare(run):
    su = run.of_type("setuid")[0]
    assert (su.res, su.args["uid"]) == (0, 0)
    sg = run.of_type("setresgid")[0]
    assert sg.res == 0 and (sg.args["rgid"], sg.args["egid"], sg.args["sgid"]) == (0, 0, 0)
    pr = run.of_type("prctl")[0]
    assert (pr.res, pr.args["option"], pr.args["arg2_str"]) == (0, 15, "t2renamed")
    mf = run.of_type("memfd_create")[0]
    assert mf.res >= 0 and mf.args["name"] == "t2memfd" and mf.args["flags"] == 1 | 2
    un = run.of_type("unshare")[0]
    assert un.args["flags"] == F.CL_CLONE_NEWUTS and un.res in (0, -1)
    mp = [e for e in run.of_type("mprotect") if e.args["addr"] == 0]  # ours, not the loader's
    assert len(mp) == 1 and mp[0].args["prot"] == 1 | 4 and mp[0].args["length"] == 0


def test_failed_then_successful_execve(run):
    execs = run.of_type("execve")
    failed = [e for e in execs if e.res != 0]
    assert len(failed) == 1
    f = failed[0]
    assert f.res == -2 and f.args["filename"] == "/nonexistent-t2/prog"
    assert f.args["comm"] == "t2renamed"  # the old process context (renamed by prctl)
    ok = [e for e in execs if e.res == 0 and e.args.get("filename") == run.link]
    assert len(ok) == 1
    e = ok[0].args
    assert e["exe"] == run.link and e["args"] == ["arg with space", "two"]
    assert e["env"] == ["T2_MARK=yes", "PATH=/usr/bin:/bin"]
    assert e["comm"] == "t2-true-link"
    assert e["trusted_exepath"] == os.path.realpath("/bin/true")
    assert e["uid"] == 0 and e["pid"] == ok[0].pid and e["tid"] == ok[0].tid
    assert e["flags"] & F.EXE_WRITABLE  # root may write /bin/true
    st = os.stat(os.path.realpath("/bin/true"))
    assert (e["exe_ino"], e["exe_ino_mtime"]) == (st.st_ino, st.st_mtime_ns)


def test_clone_family_events_from_threads_and_forks(tmp_path):
    import sys

    code = (
        "import os, threading\n"
        "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n    os._exit(7)\n"
        "os.waitpid(pid, 0)\n"
    )
    r = trace([sys.executable, "-c", code], "clone,clone3,fork,vfork,procexit", tmp_path)
    assert r.rc == 0, r.stderr
    clones = r.of_type("clone", "clone3", "fork", "vfork")
    thread_parent = [e for e in clones if e.args["flags"] & F.CL_CLONE_THREAD and e.res > 0]
    assert thread_parent, [(e.type, e.args["flags"]) for e in clones]
    assert thread_parent[0].args["flags"] & F.CL_CLONE_VM
    forks = [e for e in clones if not e.args["flags"] & F.CL_CLONE_THREAD and e.res > 0]
    assert forks
    child = forks[0].res
    exits = [e for e in r.of_type("procexit") if e.tid == child]
    assert exits and exits[0].args["ret"] == 7 and exits[0].args["sig"] == 0


def test_bpf_setns_seccomp_attempts(run):
    b = run.of_type("bpf")[0]
    assert b.res < 0 and b.args["fd"] == b.res and b.args["cmd"] == 5
    assert F.render_flags("bpf_commands", b.args["cmd"]) == "BPF_PROG_LOAD"
    ns = run.of_type("setns")[0]
    assert ns.res == -9 and ns.args["fd"] == -1 and ns.args["nstype"] == F.CL_CLONE_NEWNET
    sc = run.of_type("seccomp")[0]
    assert sc.res == -22 and sc.args["op"] == 99


def test_quotactl_attempts(run):
    get, on = run.of_type("quotactl")
    assert get.res < 0 and get.args["special"] == "/dev/t2-no-such-dev"
    assert F.render_flags("quotactl_cmds", get.args["cmd"]) == "Q_GETQUOTA"
    assert F.render_flags("quotactl_types", get.args["type"]) == "USRQUOTA"
    assert get.args["id"] == 1000 and get.args["quota_fmt"] == 1 and get.args["dqb_bhardlimit"] == 0
    assert F.render_flags("quotactl_cmds", on.args["cmd"]) == "Q_QUOTAON"
    assert F.render_flags("quotactl_types", on.args["type"]) == "GRPQUOTA"
    assert on.args["quotafilepath"] == "/t2-aquota.group"
    assert F.render_flags("quotactl_quota_fmts", on.args["quota_fmt"]) == "QFMT_VFS_V1"

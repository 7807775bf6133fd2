"""Evasion: the alternative entries to the syscalls the default rules rely on.

Each attempt is run under the CLI with the bundled rules and is either
detected (the test asserts the event and the alert) or a documented limit of
docs/security.md (the test asserts the limit exactly as documented, so a
change in behaviour shows up here).
"""

from __future__ import annotations

import os
import platform
import uuid
from pathlib import Path

import pytest

from pdigpy.events import flags as F

x86_only = pytest.mark.skipif(platform.machine() != "x86_64", reason="int 0x80 exists on x86_64 only")


def _alerts(stderr: str, text: str) -> list[str]:
    """Alert lines (they start with the time; the end-of-run summary does not)."""
    return [ln for ln in stderr.splitlines() if text in ln and ln[:2].isdigit()]


def test_openat2_read_of_a_credential_store_is_detected(run_pdigpy, cprog):
    prog = cprog("evasion")
    r = run_pdigpy([prog, "openat2", "/etc/shadow"])
    assert r.rc == 0, r.stderr
    assert r.lines("openat2") and int(r.lines("openat2")[0][1].split("=")[1]) >= 0
    ev = [e for e in r.of_type("openat2") if e.args.get("name") == "/etc/shadow"]
    assert len(ev) == 1 and ev[0].res >= 0
    got = _alerts(r.stderr, "Credential store opened for reading")
    assert len(got) == 1 and "file=/etc/shadow" in got[0] and f"exe={prog}" in got[0]


def test_openat2_write_below_etc_is_detected(run_pdigpy, cprog):
    target = Path("/etc") / f"pdigpy-hostile-{uuid.uuid4().hex[:12]}"
    try:
        r = run_pdigpy([cprog("evasion"), "openat2", str(target), "w"])
        assert r.rc == 0, r.stderr
        assert target.exists()
    finally:
        target.unlink(missing_ok=True)
    got = _alerts(r.stderr, "File below /etc opened for writing")
    assert len(got) == 1 and f"file={target}" in got[0]


@pytest.mark.parametrize("mode", ["execveat", "execveat-fd"])
def test_execveat_of_a_shell_is_detected(run_pdigpy, cprog, mode):
    r = run_pdigpy([cprog("evasion"), mode, "/bin/sh", "-c", "exit 0"])
    assert r.rc == 0, r.stderr
    child = int(r.lines("child")[0][1])
    ex = [e for e in r.events if e.type in ("execve", "execveat") and e.pid == child and e.res == 0]
    assert len(ex) == 1
    got = _alerts(r.stderr, "Shell spawned by a non-shell program")
    assert len(got) == 1 and f"pid={child} " in got[0] and "parent=evasion" in got[0]


def test_execveat_from_a_memfd_is_detected(run_pdigpy, cprog):
    r = run_pdigpy([cprog("evasion"), "memfd-exec", "/bin/echo", "fileless"])
    assert r.rc == 0, r.stderr
    assert "fileless\n" in r.stdout
    child = int(r.lines("child")[0][1])
    got = _alerts(r.stderr, "Fileless execution from memfd")
    assert len(got) == 1 and f"pid={child} " in got[0] and "exe=/memfd:hostile" in got[0]


@x86_only
def test_int80_open_is_refused_with_enosys_counted_and_reported(run_pdigpy, cprog, work):
    """The i386 entry stops at the seccomp filter and pdigpy refuses it (ENOSYS) without running it; the
    attempt is counted and reported once on stderr (docs/security.md), as in --no-seccomp mode."""
    marker = work / "int80-marker"
    marker.write_text("x")
    r = run_pdigpy([cprog("evasion"), "int80-open", str(marker)])
    assert r.rc == 0, r.stderr
    assert r.lines("int80-open") == [["int80-open", "res=-38"]]  # -ENOSYS: the open never happened
    assert not r.opens_of(marker)
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("pdigpy:")]
    assert len(warn) == 1 and "i386 ABI" in warn[0] and "ENOSYS" in warn[0]


@x86_only
def test_int80_execve_is_refused_with_enosys(run_pdigpy, cprog):
    r = run_pdigpy([cprog("evasion"), "int80-execve", "/bin/echo", "via-int80"])
    assert r.rc == 0, r.stderr
    assert "via-int80" not in r.stdout
    assert r.lines("int80-execve-child") == [["int80-execve-child", "res=-38"]]
    child = int(r.lines("child")[0][1])
    assert not [e for e in r.of_type("execve", "execveat") if e.pid == child]


@x86_only
def test_int80_without_seccomp_runs_is_counted_and_reported_but_not_decoded(run_pdigpy, cprog, work):
    """--no-seccomp (and attach mode): the i386 call runs. It is counted and reported once on stderr, but
    not decoded, so an open through int 0x80 is invisible to rules (limit, docs/security.md); an exec
    through int 0x80 is still seen, because the exec event comes from the ptrace exec stop."""
    marker = work / "int80-ns-marker"
    marker.write_text("x")
    r = run_pdigpy([cprog("evasion"), "int80-open", str(marker)], opts=["--no-seccomp"])
    assert r.rc == 0, r.stderr
    assert int(r.lines("int80-open")[0][1].split("=")[1]) >= 0  # it ran
    assert not r.opens_of(marker)  # not decoded
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("pdigpy:")]
    assert len(warn) == 1 and "i386 ABI" in warn[0]
    r2 = run_pdigpy([cprog("evasion"), "int80-execve", "/bin/echo", "via-int80"], opts=["--no-seccomp"])
    assert r2.rc == 0, r2.stderr
    assert "via-int80\n" in r2.stdout
    child = int(r2.lines("child")[0][1])
    ex = [e for e in r2.of_type("execve") if e.pid == child and e.res == 0]
    assert len(ex) == 1 and ex[0].args["exe"] == "/bin/echo"


def test_renameat2_of_a_shell_history_is_detected(run_pdigpy, cprog, work):
    hist = work / ".bash_history"
    hist.write_text("ls\n")
    r = run_pdigpy([cprog("evasion"), "renameat2", str(hist), str(work / "gone")])
    assert r.rc == 0, r.stderr
    assert r.lines("renameat2") == [["renameat2", "res=0"]]
    ev = r.of_type("renameat2")
    assert len(ev) == 1 and ev[0].res == 0
    got = _alerts(r.stderr, "Log or shell history cleared")
    assert len(got) == 1 and "syscall=renameat2" in got[0] and str(hist) in got[0]


@pytest.mark.parametrize("parent_flag", [False, True], ids=["plain", "CLONE_PARENT"])
def test_raw_clone3_without_clone_thread_is_a_process(run_pdigpy, cprog, work, parent_flag):
    marker = work / "clone3-marker"
    marker.write_text("x")
    r = run_pdigpy([cprog("evasion"), "clone3", str(marker)] + (["parent"] if parent_flag else []))
    assert r.rc == 0, r.stderr
    app, child = int(r.lines("parent")[0][1]), int(r.lines("parent")[0][3])
    caller = [e for e in r.of_type("clone3") if e.res == child]
    assert len(caller) == 1 and caller[0].tid == app
    side = [e for e in r.of_type("clone3") if e.res == 0 and e.tid == child]
    assert len(side) == 1
    assert side[0].pid == child  # its own process, not a thread of the app
    assert not side[0].args["flags"] & F.CL_CLONE_THREAD
    if parent_flag:  # a sibling of the app: its parent is the app's parent (pdigpy is transparent)
        assert side[0].args["ptid"] == os.getpid()  # pytest started pdigpy
    else:
        assert side[0].args["ptid"] == app
    opens = r.opens_of(marker)
    assert [(e.pid, e.tid) for e in opens] == [(child, child)]
    ex = [e for e in r.of_type("procexit") if e.tid == child]
    assert len(ex) == 1 and ex[0].args["status"] == 9 << 8


def test_io_uring_open_is_invisible_but_the_ring_setup_is_seen(run_pdigpy, cprog, work):
    """Limit (docs/security.md): an IORING_OP_OPENAT never passes through the syscall entry, so no
    open event exists for it; io_uring_setup itself is traced (the state needs it)."""
    marker = work / "uring-marker"
    marker.write_text("x")
    r = run_pdigpy([cprog("evasion"), "io_uring", str(marker)])
    assert r.rc == 0, r.stderr
    res = int(r.lines("io_uring")[0][1].split("=")[1])
    if res == -38 or res == -1:  # io_uring disabled on this kernel (sysctl kernel.io_uring_disabled)
        pytest.skip("io_uring is disabled here")
    assert res >= 0  # the kernel opened the marker for the app
    setups = r.of_type("io_uring_setup")
    assert len(setups) == 1 and setups[0].res >= 0
    assert not r.opens_of(marker)  # invisible


def test_io_uring_setup_raises_a_default_alert(run_pdigpy, cprog, work):
    marker = work / "uring-rule-marker"
    marker.write_text("x")
    r = run_pdigpy([cprog("evasion"), "io_uring", str(marker)])
    assert r.rc == 0
    assert [ln for ln in r.stderr.splitlines() if "io_uring" in ln.lower() and not ln.startswith("pdigpy:")]


@pytest.mark.slow
def test_toctou_path_flip_the_name_may_lie_the_inode_does_not(run_pdigpy, cprog, work):
    """A second thread flips the path buffer while the first opens it (docs/security.md, TOCTOU).

    The name in the event is what pdigpy read at the seccomp stop; the kernel
    reads the buffer again afterwards, so the two can differ. fd.ino/fd.dev are
    taken from the opened fd at the exit stop: they are always the file the
    kernel opened. The test pins that: the inode sequence of the events is
    exactly the app's fstat() sequence. How often the name lied is printed.
    """
    benign, secret = work / "benign-file-name-x", work / "secret-file-name-y"
    benign.write_text("a")
    secret.write_text("b")
    r = run_pdigpy([cprog("toctou"), "3000", str(benign), str(secret)], opts=["--no-summary"])
    assert r.rc == 0, r.stderr
    app_inos = [int(w[1]) for w in r.lines("open")]
    secret_ino = int(r.lines("ino-secret")[0][1])
    opens = [e for e in r.of_type("openat") if str(e.args.get("name", "")).startswith(str(work) + "/")
             and e.res is not None and e.res >= 0]
    assert [e.args["ino"] for e in opens] == app_inos
    lied = sum(1 for e in opens if (e.args["ino"] == secret_ino) != (e.args["name"] == str(secret)))
    print(f"TOCTOU: {lied} of {len(opens)} open events named another file than the one opened")


def test_a_runtime_seccomp_errno_hides_the_call_from_pdigpy(run_pdigpy, cprog, work):
    """Limit (docs/security.md): a filter installed before pdigpy's (a container runtime's profile)
    that answers ERRNO wins over pdigpy's TRACE. The app gets the error, pdigpy sees no stop."""
    import subprocess
    import sys

    hist = work / ".bash_history"
    hist.write_text("ls\n")
    unlinkat = 263 if platform.machine() == "x86_64" else 35
    ev = work / "capture.jsonl"
    from pdigpy.events.capture import read_capture

    cmd = [cprog("preseccomp"), str(unlinkat), "1", "--", sys.executable, "-m", "pdigpy", "--events", str(ev),
           "--no-summary", "--", "rm", str(hist)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1  # rm failed: EPERM from the runtime's filter
    assert "Operation not permitted" in p.stderr
    assert hist.exists()
    events = [v for k, v in read_capture(ev) if k == "event"]
    assert events and not [e for e in events if e.type == "unlinkat"]  # no stop, no event ...
    assert "Log or shell history cleared" not in p.stderr  # ... no alert
    # the same command without the runtime's filter is seen and alerted
    r = run_pdigpy(["rm", str(hist)])
    assert r.rc == 0 and len([e for e in r.of_type("unlinkat") if e.res == 0]) == 1
    assert "Log or shell history cleared" in r.stderr

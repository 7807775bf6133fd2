"""A signal aimed at the process group of pdigpy and the app reaches the app once.

``kill -TERM -PGID`` (a CI runner cancelling a job, ``kill 0`` in a parent
shell, a supervisor) queues the signal to every member of the group: the
app gets it from the kernel, and pdigpy must not forward its own copy. A
signal aimed at pdigpy alone (``docker stop``) is still forwarded.

The harness starts the tracer with ``start_new_session=True`` so that the
group kills never reach pytest. The app is a small C program counting, per
signal, how many copies it received and how many of them came from pdigpy
(its parent, ``si_pid``). It prints its counts and exits on SIGPWR sent to
pdigpy: the relay reads its signalfd lowest signal first and the app
dequeues lowest first, so every copy of a lower signal (relayed or not) is
counted before SIGPWR ends the app -- counts, no sleeps.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from tracer_helpers import children_of, runner_argv, wait_for

COUNTER_C = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t total[65], from_parent[65], done, unblock;
static pid_t parent;

static void on_sig(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    int relayed = si->si_pid == parent;
    total[sig]++;
    from_parent[sig] += relayed;
    char line[] = "got 00 0\n";  /* one line per copy, so that a test can wait for it */
    line[4] = '0' + sig / 10;
    line[5] = '0' + sig % 10;
    line[7] = '0' + relayed;
    if (write(1, line, sizeof line - 1) < 0) _exit(8);
}

static void on_end(int sig) { (void)sig; done = 1; }
static void on_unblock(int sig) { (void)sig; unblock = 1; }

int main(int argc, char **argv) {
    parent = getppid();
    if (argc > 1 && strcmp(argv[1], "own-group") == 0 && setpgid(0, 0) != 0) return 9;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sig;
    sa.sa_flags = SA_SIGINFO;
    int counted[] = {SIGTERM, SIGINT, SIGUSR1, SIGHUP};
    for (unsigned i = 0; i < sizeof counted / sizeof counted[0]; i++) sigaction(counted[i], &sa, NULL);
    signal(SIGPWR, on_end);
    signal(SIGUSR2, on_unblock);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    if (argc > 1 && strcmp(argv[1], "block-term") == 0) sigprocmask(SIG_BLOCK, &term, NULL);
    alarm(60);  /* never hang the suite */
    printf("ready %d\n", (int)getpgrp());
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "kill0") == 0) kill(0, SIGTERM);  /* a script's `kill 0` */
    while (!done) {
        pause();
        if (unblock) sigprocmask(SIG_UNBLOCK, &term, NULL);  /* SIGUSR2: take a held SIGTERM now */
    }
    printf("TERM %d/%d INT %d/%d USR1 %d/%d HUP %d/%d\n",
           total[SIGTERM], from_parent[SIGTERM], total[SIGINT], from_parent[SIGINT],
           total[SIGUSR1], from_parent[SIGUSR1], total[SIGHUP], from_parent[SIGHUP]);
    return 0;
}
"""


@pytest.fixture(scope="module")
def counter(tmp_path_factory) -> str:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required to build the signal counter")
    d = tmp_path_factory.mktemp("sigcount")
    src = d / "sigcount.c"
    src.write_text(COUNTER_C)
    exe = d / "sigcount"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True, capture_output=True)
    return str(exe)


class GroupRun:
    """The tracer (leader of a fresh session and process group) running the counter."""

    def __init__(self, argv: list[str], tmp_path, seccomp: bool = True) -> None:
        self.stats_path = tmp_path / f"stats-{time.monotonic_ns()}.json"
        ev = tmp_path / f"events-{time.monotonic_ns()}.jsonl"
        cmd = runner_argv(ev, self.stats_path, seccomp) + ["--"] + argv
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.pgid = self.proc.pid
        line = self.proc.stdout.readline().decode()
        assert line.startswith("ready "), line
        self.app_pgid = int(line.split()[1])
        self.app = wait_for(lambda: (children_of(self.proc.pid) or [0])[0], what="the app")

    def finish(self) -> tuple[dict[str, tuple[int, int]], dict]:
        """SIGPWR to pdigpy ends the app; returns {signal: (received, of which from pdigpy)}, stats."""
        os.kill(self.proc.pid, signal.SIGPWR)
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, (out, err)
        assert err == b""
        words = out.decode().splitlines()[-1].split()
        counts = {}
        for name, val in zip(words[0::2], words[1::2]):
            got, relayed = val.split("/")
            counts[name] = (int(got), int(relayed))
        return counts, json.loads(self.stats_path.read_text())

    def expect(self, sig: int, relayed: bool) -> None:
        """Wait for the app's line saying it got ``sig`` (from pdigpy or not)."""
        import select

        assert select.select([self.proc.stdout], [], [], 20)[0], f"the app never got signal {sig}"
        assert self.proc.stdout.readline() == b"got %02d %d\n" % (sig, relayed)

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


@pytest.fixture
def group_run(tmp_path):
    runs: list[GroupRun] = []

    def start(*args: str, seccomp: bool = True) -> GroupRun:
        r = GroupRun(list(args), tmp_path, seccomp)
        runs.append(r)
        return r

    yield start
    for r in runs:
        r.kill()


@pytest.mark.parametrize("seccomp", [True, False])
def test_sigterm_to_the_group_reaches_the_app_once(group_run, counter, seccomp):
    r = group_run(counter, seccomp=seccomp)
    assert r.app_pgid == r.pgid == os.getpgid(r.app)
    os.killpg(r.pgid, signal.SIGTERM)
    counts, stats = r.finish()
    assert counts["TERM"] == (1, 0)  # the kernel's copy, none from pdigpy
    assert stats["signals_deduplicated"] == 1
    assert stats["signals_forwarded"] == 1  # SIGPWR only


def test_sigterm_to_pdigpy_alone_is_forwarded_once(group_run, counter):
    r = group_run(counter)
    os.kill(r.proc.pid, signal.SIGTERM)
    counts, stats = r.finish()
    assert counts["TERM"] == (1, 1)
    assert (stats["signals_deduplicated"], stats["signals_forwarded"]) == (0, 2)


def test_group_kill_then_kill_of_pdigpy_gives_two(group_run, counter):
    r = group_run(counter)
    os.killpg(r.pgid, signal.SIGTERM)
    # two SIGTERMs pending at once are one to the kernel: let each be taken first
    r.expect(signal.SIGTERM, relayed=False)
    wait_for(lambda: _received(r.proc.pid, "TERM"), what="pdigpy's SIGTERM read")
    os.kill(r.proc.pid, signal.SIGTERM)
    counts, stats = r.finish()
    assert counts["TERM"] == (2, 1)
    assert (stats["signals_deduplicated"], stats["signals_forwarded"]) == (1, 2)


def test_kill_of_pdigpy_then_group_kill_gives_two(group_run, counter):
    r = group_run(counter)
    os.kill(r.proc.pid, signal.SIGTERM)
    # the relayed copy must have reached the app before the group kill, or the
    # kernel merges the two pending SIGTERMs into one
    r.expect(signal.SIGTERM, relayed=True)
    os.killpg(r.pgid, signal.SIGTERM)
    counts, stats = r.finish()
    assert counts["TERM"] == (2, 1)
    assert (stats["signals_deduplicated"], stats["signals_forwarded"]) == (1, 2)


def _received(pid: int, name: str) -> bool:
    """True once ``pid`` no longer holds ``name`` pending (it was delivered, or read from a signalfd)."""
    bit = 1 << (getattr(signal, "SIG" + name) - 1)
    with open(f"/proc/{pid}/status") as f:
        st = f.read()
    pend = int(st.split("ShdPnd:\t")[1].split()[0], 16) | int(st.split("SigPnd:\t")[1].split()[0], 16)
    return not pend & bit


@pytest.mark.parametrize("sig,name", [(signal.SIGINT, "INT"), (signal.SIGUSR1, "USR1"), (signal.SIGHUP, "HUP")])
def test_other_signals_to_the_group_reach_the_app_once(group_run, counter, sig, name):
    r = group_run(counter)
    os.killpg(r.pgid, sig)
    counts, stats = r.finish()
    assert counts[name] == (1, 0)
    assert counts["TERM"] == (0, 0)
    assert stats["signals_deduplicated"] == 1


def test_many_group_kills_each_reach_the_app_once(group_run, counter):
    r = group_run(counter)
    for _ in range(5):
        os.killpg(r.pgid, signal.SIGUSR1)
        r.expect(signal.SIGUSR1, relayed=False)
        wait_for(lambda: _received(r.proc.pid, "USR1"), what="pdigpy's SIGUSR1 read")
    counts, stats = r.finish()
    # a copy relayed by mistake would show up as from pdigpy
    assert counts["USR1"][1] == 0
    assert stats["signals_deduplicated"] == stats["signals_forwarded"] + 4 == 5


def test_app_in_its_own_group_still_gets_a_group_kill_once(group_run, counter):
    r = group_run(counter, "own-group")
    assert r.app_pgid == r.app != r.pgid
    os.killpg(r.pgid, signal.SIGTERM)  # reaches pdigpy only
    counts, stats = r.finish()
    assert counts["TERM"] == (1, 1)
    assert (stats["signals_deduplicated"], stats["signals_forwarded"]) == (0, 2)


def test_direct_kill_of_the_app_then_of_pdigpy_from_another_sender_is_forwarded(group_run, counter):
    """The record of what the app received names its sender: another sender's signal is not its copy."""
    r = group_run(counter)
    os.kill(r.app, signal.SIGTERM)  # from pytest
    r.expect(signal.SIGTERM, relayed=False)
    subprocess.run(["kill", "-TERM", str(r.proc.pid)], check=True)  # from kill(1)
    counts, stats = r.finish()
    assert counts["TERM"] == (2, 1)
    assert stats["signals_deduplicated"] == 0


def test_shell_app_with_trap_gets_a_group_kill_once(group_run):
    """The usual entrypoint script: ``trap`` on TERM, a ``sleep`` loop (the sleep dies of the group kill too)."""
    script = ('trap "echo got-term" TERM; trap "echo bye; exit 0" PWR; echo "ready $(ps -o pgid= $$)"; '
              "while :; do sleep 0.05; done")
    r = group_run("sh", "-c", script)
    os.killpg(r.pgid, signal.SIGTERM)
    assert r.proc.stdout.readline() == b"got-term\n"
    os.kill(r.proc.pid, signal.SIGPWR)
    out, err = r.proc.communicate(timeout=30)
    assert (r.proc.returncode, out) == (0, b"bye\n")
    assert err in (b"", b"Terminated\n")  # dash reports the foreground sleep the group kill ended
    stats = json.loads(r.stats_path.read_text())
    assert (stats["signals_deduplicated"], stats["signals_forwarded"]) == (1, 1)


def test_once_the_root_is_gone_each_remaining_process_gets_a_group_kill_once(tmp_path, counter):
    """After the root exits, signals go to every traced process; each is checked on its own."""
    st = tmp_path / "stats.json"
    cmd = runner_argv(tmp_path / "ev.jsonl", st) + ["--", "sh", "-c", 'echo root $$; "$0" & "$0" & exit 0', counter]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        root = int(p.stdout.readline().split()[1])
        assert p.stdout.readline().startswith(b"ready ") and p.stdout.readline().startswith(b"ready ")
        wait_for(lambda: not os.path.exists(f"/proc/{root}"), what="the root reaped")
        os.killpg(p.pid, signal.SIGTERM)
        assert [p.stdout.readline(), p.stdout.readline()] == [b"got 15 0\n"] * 2
        wait_for(lambda: _received(p.pid, "TERM"), what="pdigpy's SIGTERM read")
        os.kill(p.pid, signal.SIGPWR)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert (p.returncode, err) == (0, b"")
    summaries = [line for line in out.decode().splitlines() if line.startswith("TERM ")]
    assert [s.split()[1] for s in summaries] == ["1/0", "1/0"], out
    stats = json.loads(st.read_text())
    assert (stats["signals_deduplicated"], stats["signals_forwarded"]) == (2, 2)


def test_group_kill_held_pending_by_the_app_is_not_relayed_and_leaves_no_stale_record(group_run, counter):
    """The app blocks SIGTERM: the group kill's copy stays pending, pdigpy's is dropped.

    When the app unblocks and takes it, that delivery was already accounted for:
    a later SIGTERM from the same sender to pdigpy alone is still relayed.
    """
    r = group_run(counter, "block-term")
    os.killpg(r.pgid, signal.SIGTERM)
    wait_for(lambda: _received(r.proc.pid, "TERM"), what="pdigpy's SIGTERM read")
    assert not _received(r.app, "TERM")  # held by the app
    os.kill(r.proc.pid, signal.SIGUSR2)  # relayed after the SIGTERM was decided: unblock
    r.expect(signal.SIGTERM, relayed=False)
    os.kill(r.proc.pid, signal.SIGTERM)
    r.expect(signal.SIGTERM, relayed=True)
    counts, stats = r.finish()
    assert counts["TERM"] == (2, 1)
    assert (stats["signals_deduplicated"], stats["signals_forwarded"]) == (1, 3)


def test_group_kill_from_outside_a_pid_namespace_reaches_the_app_once(tmp_path, counter):
    """pdigpy as PID 1: a sender outside the namespace shows as pid 0 to both pdigpy and the app."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare(1) is required")
    st = tmp_path / "stats.json"
    cmd = ["unshare", "-fp", "--mount-proc"] + runner_argv(tmp_path / "ev.jsonl", st) + ["--", counter]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert p.stdout.readline() == b"ready 0\n"  # its process group lies outside the namespace
        pid1 = wait_for(lambda: (children_of(p.pid) or [0])[0], what="pdigpy as pid 1")
        with open(f"/proc/{pid1}/status") as f:
            assert "NSpid:\t%d\t1\n" % pid1 in f.read()
        os.killpg(p.pid, signal.SIGTERM)  # unshare(1) dies of it; pdigpy and the app go on
        assert p.stdout.readline() == b"got 15 0\n"
        wait_for(lambda: _received(pid1, "TERM"), what="pdigpy's SIGTERM read")
        os.kill(pid1, signal.SIGPWR)
        out = p.stdout.read()
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    assert out.split(b" INT")[0] == b"TERM 1/0", out
    stats = json.loads(st.read_text())
    assert (stats["signals_deduplicated"], stats["signals_forwarded"]) == (1, 1)


PY_CLEANUP_APP = r"""
import time
print("ready", flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    try:
        time.sleep(0.5)  # cleanup; a second SIGINT here would abort it
        print("clean shutdown", flush=True)
    except KeyboardInterrupt:
        print("cleanup interrupted", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_python_app_cleanup_survives_a_group_kill(tmp_path, sig):
    """The user-visible harm: a second copy turns a graceful shutdown into a forced one."""
    from tracer_helpers import PYTHON

    app = PY_CLEANUP_APP
    if sig == signal.SIGTERM:  # the usual server idiom: SIGTERM raises KeyboardInterrupt too
        app = "import signal\nsignal.signal(signal.SIGTERM, signal.default_int_handler)\n" + app
    st = tmp_path / "stats.json"
    cmd = runner_argv(tmp_path / "ev.jsonl", st) + ["--", PYTHON, "-c", app]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert p.stdout.readline() == b"ready\n"
        os.killpg(p.pid, sig)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert (p.returncode, out, err) == (0, b"clean shutdown\n", b"")
    stats = json.loads(st.read_text())
    assert (stats["signals_deduplicated"], stats["signals_forwarded"]) == (1, 0)


def test_kill_0_by_the_app_itself_reaches_it_once(group_run, counter):
    """``trap 'kill 0' EXIT`` in an entrypoint script: the app signals its own group, pdigpy included."""
    r = group_run(counter, "kill0")
    r.expect(signal.SIGTERM, relayed=False)
    wait_for(lambda: _received(r.proc.pid, "TERM"), what="pdigpy's SIGTERM read")
    counts, stats = r.finish()
    assert counts["TERM"] == (1, 0)
    assert (stats["signals_deduplicated"], stats["signals_forwarded"]) == (1, 1)

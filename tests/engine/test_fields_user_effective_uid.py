"""user.uid is the effective uid, as in Falco 0.44, on a real traced process whose real and
effective uids differ.

Falco's drivers send the task's euid as the "uid" parameter of clone/execve exit events, and
libsinsp's setuid/setreuid/setresuid parsers set the thread's user from the new effective uid
(parsers.h: "the user corresponding to the effective user id"). Falco has no field for the real
uid; user.loginuid is the audit login uid, which setuid calls do not change.

The traced program (root) runs setresuid(0, 65534, 0): real root, effective nobody; opens a
file; execs /bin/true in that state; the fields must say 65534/nobody at both events.
"""

from __future__ import annotations

import os
import pwd
import subprocess

import pytest

from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.state.tables import State
from pdigpy.tracer.session import TraceOptions, Tracer

PROGRAM = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (setresuid(0, 65534, 0) != 0) return 10;   /* real root, effective nobody, saved root */
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) return 11;
    close(fd);
    execl("/bin/true", "true", (char *)0);
    return 12;
}
"""

FIELDS = ("user.uid", "user.name", "user.loginuid", "proc.name", "fd.name")

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch uids")


class _AtEvent:
    def __init__(self) -> None:
        self.state = State()
        reg = FieldRegistry(state=self.state)
        self.fields = {n: reg.bind(n) for n in FIELDS}
        self.seen: list[tuple[str, dict, int, int]] = []

    def on_snapshot(self, info) -> None:
        self.state.add_snapshot(info)

    def on_event(self, evt) -> None:
        self.state.apply(evt)
        t = evt.thread
        if t is None or evt.type not in ("setresuid", "openat", "execve"):
            return
        if t.comm not in ("uidprobe", "true"):
            return
        self.seen.append((evt.type, {n: bf.extract(evt) for n, bf in self.fields.items()}, t.uid, t.euid))


@needs_root
def test_user_uid_is_the_effective_uid(tmp_path):
    (tmp_path / "uidprobe.c").write_text(PROGRAM)
    subprocess.run(["gcc", "-O0", "-o", str(tmp_path / "uidprobe"), str(tmp_path / "uidprobe.c")], check=True)
    target = "/etc/passwd"  # readable by nobody (the test's temp directory is not)
    sink = _AtEvent()
    tracer = Tracer(sink, TraceOptions(event_types=frozenset({"setresuid", "openat", "execve"}),
                                       follow_descendants=True))
    assert tracer.run_command([str(tmp_path / "uidprobe"), target]) == 0
    nobody = pwd.getpwuid(65534).pw_name
    by_type = {}
    for etype, values, real, effective in sink.seen:
        if etype == "openat" and values["fd.name"] != target:
            continue  # the loader's opens ran before the switch
        by_type.setdefault(etype, []).append((values, real, effective))
    (setres, real, eff), = by_type["setresuid"]
    assert (setres["user.uid"], setres["user.name"], real, eff) == (65534, nobody, 0, 65534)
    (opened, real, eff), = by_type["openat"]
    assert (opened["user.uid"], opened["user.name"], real, eff) == (65534, nobody, 0, 65534)
    # the launch exec ran as root; the second exec (true) runs with euid nobody
    execs = [(v["proc.name"], v["user.uid"]) for v, _, _ in by_type["execve"]]
    assert execs == [("uidprobe", 0), ("true", 65534)]
    # the audit login uid is not touched by setresuid
    assert len({v["user.loginuid"] for v, _, _ in by_type["execve"]}) == 1

"""decode.FD_STAT: opens stat the new fd for dev/ino only when switched on (the default); switched
off, dev and ino are 0 and everything else about the open is unchanged. Traced for real."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

from decode_support import _RUNNER
from pdigpy.events import flags as F
from pdigpy.state.needs import fd_stat_needed


def trace_cat(path, tmp_path, fd_stat: bool):
    runner = f"from pdigpy.tracer import decode; decode.set_fd_stat({fd_stat})\n" + _RUNNER
    out = tmp_path / f"events-{fd_stat}.pickle"
    p = subprocess.run([sys.executable, "-c", runner, str(out), "openat,open", "/bin/cat", str(path)],
                       capture_output=True, timeout=60)
    assert p.returncode == 0 and p.stdout == b"hello\n", p.stderr
    with open(out, "rb") as fh:
        _rc, events, _snaps = pickle.load(fh)
    (evt,) = [e for e in events if e.args.get("name") == str(path)]
    return evt


@pytest.mark.parametrize("fd_stat", [True, False])
def test_open_dev_ino_follow_the_switch(tmp_path, fd_stat):
    target = tmp_path / "fd-stat-target.txt"
    target.write_text("hello\n")
    evt = trace_cat(target, tmp_path, fd_stat)
    st = os.stat(target)
    assert evt.res == evt.args["fd"] >= 0
    assert evt.args["flags"] & F.O_RDONLY
    if fd_stat:
        assert (evt.args["ino"], evt.args["dev"]) == (st.st_ino, st.st_dev & 0xFFFFFFFF)
    else:
        assert (evt.args["ino"], evt.args["dev"]) == (0, 0)


def test_fd_stat_needed_finds_every_way_to_show_dev_or_ino():
    assert not fd_stat_needed(["- rule: r\n  condition: fd.name = /x\n  output: %proc.name %fd.name\n", ""])
    for text in ("fd.ino = 5", "fd.dev.major > 0", "%evt.args", "%evt.arg.ino", "%evt.rawarg.dev", "%evt.arg[4]"):
        assert fd_stat_needed(["nothing here", text]), text
    assert not fd_stat_needed([])

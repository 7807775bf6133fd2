"""Real processes for the field tests: a `sh -c 'sleep; true'` chain read from /proc.

The chain is pytest -> sh -> sleep, started in a private temp cwd with a marker variable
in its environment; every process from pid 1 down to sleep is snapshotted into a real
State with read_procinfo, exactly as the tracer does before the first event.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

from pdigpy.events.model import Event
from pdigpy.state.tables import State
from pdigpy.tracer.procfs import read_procinfo


@dataclass
class Chain:
    state: State
    sh: subprocess.Popen
    sh_pid: int
    sleep_pid: int
    cwd: str
    marker: str

    def event(self, etype: str, res: int | None = 0, args: dict | None = None, tid: int | None = None,
              num: int = 1, ts: int | None = None) -> Event:
        """An event of the sleep process, passed through the real State like the tracer's."""
        tid = self.sleep_pid if tid is None else tid
        evt = Event(num=num, ts=time.time_ns() if ts is None else ts, tid=tid, pid=tid, type=etype, res=res,
                    args=dict(args or {}))
        self.state.apply(evt)
        return evt


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _ancestry(pid: int) -> list[int]:
    out = []
    while pid > 0:
        out.append(pid)
        info = read_procinfo(pid)
        if info is None:
            break
        pid = info.ptid
    return out


def start_chain(tmp_path, marker: str) -> Chain:
    env = dict(os.environ, PDIGPY_FIELD_TEST=marker)
    sh = subprocess.Popen(["sh", "-c", "sleep 30; true"], cwd=str(tmp_path), env=env)
    deadline = time.monotonic() + 5
    sleep_pid = 0
    while time.monotonic() < deadline:
        kids = _children(sh.pid)
        if kids and read_procinfo(kids[0]) is not None and read_procinfo(kids[0]).comm == "sleep":
            sleep_pid = kids[0]
            break
        time.sleep(0.01)
    assert sleep_pid, "sleep child did not appear"
    state = State()
    for pid in reversed(_ancestry(sleep_pid)):  # pid 1 first, as the tracer presents them
        info = read_procinfo(pid)
        assert info is not None
        state.add_snapshot(info)
    return Chain(state=state, sh=sh, sh_pid=sh.pid, sleep_pid=sleep_pid, cwd=str(tmp_path), marker=marker)


def stop_chain(chain: Chain) -> None:
    chain.sh.kill()  # the shell first, so that it does not report its child's death on stderr
    chain.sh.wait()
    try:
        os.kill(chain.sleep_pid, 9)
    except ProcessLookupError:
        pass

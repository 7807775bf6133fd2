"""Random event streams: the state never raises, never counts a fault, keeps its indexes consistent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pdigpy.events.model import SockAddr, SockTuple
from pdigpy.state.tables import State
from pdigpy.state.users import UserDb
from state_helpers import THREAD_FLAGS, base_state, clone_pair, ev, execve, openat, procexit

TIDS = st.integers(min_value=200, max_value=212)
FDS = st.integers(min_value=-1, max_value=8)
RES = st.one_of(st.none(), st.integers(min_value=-13, max_value=8))
NAMES = st.sampled_from(["x", "../y", "/etc/passwd", "a//b/./c", "", ".."])


def _one(draw_tid, kind, fd, res, name, flags):
    tid = draw_tid
    if kind == "open":
        return [openat(tid, res if res is not None else fd, name, flags, dirfd=fd if fd > 2 else -100)]
    if kind == "fork":
        return list(clone_pair(tid, tid, tid + 13 if tid + 13 <= 225 else tid - 13))
    if kind == "thread":
        return list(clone_pair(tid, tid, tid + 20, THREAD_FLAGS))
    if kind == "exec":
        return [execve(tid, "/bin/x", [name], res=0 if res is None or res >= 0 else res)]
    if kind == "exit":
        return [procexit(tid)]
    if kind == "dup2":
        return [ev("dup2", tid, res, res=res, oldfd=fd, newfd=(fd + 1) % 9)]
    if kind == "fcntl":
        return [ev("fcntl", tid, res, res=res, fd=fd, cmd=26)]
    if kind == "close":
        return [ev("close", tid, res, res=res, fd=fd)]
    if kind == "socket":
        return [ev("socket", tid, res, fd=res, domain=flags % 17, type=1, proto=0)]
    if kind == "connect":
        return [ev("connect", tid, res, res=res, fd=fd,
                   tuple=SockTuple("ipv4", "tcp", "1.1.1.1", 1, "2.2.2.2", 2),
                   addr=SockAddr("ipv4", "2.2.2.2", 2))]
    if kind == "pipe":
        return [ev("pipe2", tid, res, res=res, fd1=fd, fd2=fd + 1, ino=7, flags=flags)]
    if kind == "chdir":
        return [ev("chdir", tid, res, res=res, path=name)]
    if kind == "fchdir":
        return [ev("fchdir", tid, res, res=res, fd=fd)]
    return [ev("read", tid, res, res=res, fd=fd, data=b"", size=0)]


KINDS = st.sampled_from(["open", "fork", "thread", "exec", "exit", "dup2", "fcntl", "close",
                         "socket", "connect", "pipe", "chdir", "fchdir", "read"])
STEPS = st.lists(st.tuples(TIDS, KINDS, FDS, RES, NAMES, st.integers(0, 8191)), max_size=60)


def check_consistent(state: State) -> None:
    for tid, thread in state.threads.items():
        assert thread.tid == tid
        group = state.groups.get(thread.pid)
        assert group is not None and tid in group.tids
        assert thread.fds is not None and thread.proc is not None
    for pid, group in state.groups.items():
        assert group.tids and group.main is not None and group.main.pid == pid
        assert all(t in state.threads for t in group.tids)


@settings(max_examples=150, deadline=None)
@given(steps=STEPS)
def test_random_streams(steps) -> None:
    state = base_state()
    for step in steps:
        for evt in _one(*step):
            state.apply(evt)
            assert evt.thread is not None
            if evt.fdinfo is not None:
                assert isinstance(evt.fdinfo.name, str)
    assert state.errors == 0, state.last_error
    state.apply(ev("getpid", 100, 100))
    check_consistent(state)


def test_userdb_fallbacks_and_header_round_trip(tmp_path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/zsh\n# comment\nbad line\n"
                                "al:x:1000:1000:Al,,,:/home/al:/bin/sh\nal2:x:1000:1:dup:/x:/y\n")
    (etc / "group").write_text("root:x:0:\nstaff:x:50:al\n")
    db = UserDb(str(tmp_path))
    assert (db.user_name(0), db.user_home(0), db.user_shell(0)) == ("root", "/root", "/bin/zsh")
    assert (db.user_name(1000), db.user_home(1000), db.user_shell(1000)) == ("al", "/home/al", "/bin/sh")
    assert (db.user_name(4242), db.user_home(4242), db.user_shell(4242)) == ("<NA>", "<NA>", "<NA>")
    assert db.group_name(50) == "staff" and db.group_name(7) == "<NA>"
    copy = UserDb.from_header(db.to_header())
    assert copy.users == db.users and copy.groups == db.groups
    empty = UserDb(str(tmp_path / "nowhere"))
    assert empty.user_name(0) == "root" and empty.group_name(0) == "root"
    assert empty.user_name(-1) == "<NA>"
    state = State.from_capture_header({"users": {"5": ["five", "/h", "/s"]}, "groups": {}})
    assert state.users.user_name(5) == "five"

"""evt.arg / evt.rawarg / evt.args rendering of constructed events (pure functions)."""

from types import SimpleNamespace

from pdigpy.events.model import Event, SockAddr, SockTuple
from pdigpy.events.render import errno_name, format_bytebuf, render_arg, render_args, render_rawarg

FDS = {3: ("f", "/etc/passwd"), 4: ("4", "127.0.0.1:40000->127.0.0.1:8080", "tcp"), 5: ("d", "/tmp")}


def fd_resolver(evt, fd):
    return FDS.get(fd)


def ev(type_, args, res=None, cwd=None):
    e = Event(num=1, ts=0, tid=10, pid=10, type=type_, res=res, args=args)
    if cwd is not None:
        e.thread = SimpleNamespace(proc=SimpleNamespace(cwd=cwd))
    return e


def test_open_args_like_falco():
    e = ev("openat", {"fd": 3, "dirfd": -100, "name": "/etc/passwd", "flags": 4097, "mode": 0,
                      "dev": 0xFD01, "ino": 42}, res=3)
    assert render_args(e, fd_resolver) == (
        "fd=3(<f>/etc/passwd) dirfd=-100(AT_FDCWD) name=/etc/passwd flags=4097(O_RDONLY|O_CLOEXEC) "
        "mode=0 dev=FD01 ino=42"
    )
    assert render_arg(e, "fd", fd_resolver) == "<f>/etc/passwd"
    assert render_arg(e, "flags") == "O_RDONLY|O_CLOEXEC"
    assert render_rawarg(e, "flags") == "4097"
    assert render_arg(e, "nope") is None


def test_failed_open_and_modes():
    e = ev("openat", {"fd": -2, "dirfd": -100, "name": "/nope", "flags": 262, "mode": 0o644,
                      "dev": 0, "ino": 0}, res=-2)
    text = render_args(e, fd_resolver)
    assert "fd=-2(ENOENT)" in text
    assert "flags=262(O_TRUNC|O_CREAT|O_WRONLY)" in text
    assert "mode=0644" in text


def test_errno_res_and_names():
    e = ev("connect", {"res": -111, "tuple": None, "fd": 4, "addr": SockAddr("ipv4", "127.0.0.1", 9)}, res=-111)
    assert render_arg(e, "res") == "ECONNREFUSED"
    assert render_rawarg(e, "res") == "-111"
    assert render_arg(e, "tuple") == "NULL"
    assert render_arg(e, "addr") == "127.0.0.1:9"
    assert render_arg(e, "fd", fd_resolver) == "<4t>127.0.0.1:40000->127.0.0.1:8080"
    assert errno_name(-2) == "ENOENT" and errno_name(11) == "EAGAIN" and errno_name(95) == "EOPNOTSUPP"
    ok = ev("connect", {"res": 0, "tuple": SockTuple("ipv4", "tcp", "127.0.0.1", 40000, "127.0.0.1", 8080),
                        "fd": 4, "addr": None}, res=0)
    assert render_arg(ok, "res") == "0"
    assert render_arg(ok, "tuple") == "127.0.0.1:40000->127.0.0.1:8080"


def test_enum_flags_and_signals():
    p = ev("ptrace", {"res": -1, "addr": 0, "data": 0, "request": 1, "pid": 0}, res=-1)
    assert render_arg(p, "request") == "PTRACE_TRACEME"
    s = ev("socket", {"fd": 3, "domain": 17, "type": 3, "proto": 0}, res=3)
    assert render_arg(s, "domain") == "AF_PACKET"
    k = ev("kill", {"res": None, "pid": 123, "sig": 9})
    assert render_args(k) == "res=<NA> pid=123 sig=9(SIGKILL)"


def test_relative_paths_resolve_against_cwd_or_dirfd():
    e = ev("openat", {"fd": 6, "dirfd": -100, "name": "../etc/shadow", "flags": 1, "mode": 0, "dev": 0,
                      "ino": 0}, cwd="/home/u")
    assert render_arg(e, "name") == "/home/etc/shadow"
    assert "name=../etc/shadow(/home/etc/shadow)" in render_args(e)
    at = ev("unlinkat", {"res": 0, "dirfd": 5, "name": "x", "flags": 0x200})
    assert render_arg(at, "name", fd_resolver) == "/tmp/x"
    assert render_arg(at, "flags") == "AT_REMOVEDIR"
    sym = ev("symlink", {"res": 0, "target": "/etc/shadow", "linkpath": "/tmp/l"})
    assert render_arg(sym, "target") == "/etc/shadow"


def test_execve_args_render_as_nul_separated_buffer():
    e = ev("execve", {"res": 0, "exe": "sh", "args": ["-c", "echo hi"], "flags": 1 | 4}, res=0)
    assert render_arg(e, "args") == "-c.echo hi."
    assert render_arg(e, "flags") == "EXE_WRITABLE|EXE_FROM_MEMFD"
    assert format_bytebuf(b"GET /\r\n\x00\xff") == "GET /...."


def test_uid_and_pid_resolvers():
    e = ev("setuid", {"res": 0, "uid": 0}, res=0)
    assert render_arg(e, "uid", uid_resolver=lambda u: "root") == "root"
    assert render_args(e, uid_resolver=lambda u: "root") == "res=0 uid=0(root)"
    assert render_arg(e, "uid") == "0"

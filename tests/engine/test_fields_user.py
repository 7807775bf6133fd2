"""user.* and group.*: names from the State's user database (a traced root's /etc files)."""

from __future__ import annotations

import os
import uuid

import pytest
from fields_support import start_chain, stop_chain

from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.fields.user import LocalUserDb
from pdigpy.state.users import UserDb


@pytest.fixture
def chain(tmp_path):
    c = start_chain(tmp_path, "u-" + uuid.uuid4().hex[:8])
    yield c
    stop_chain(c)


@pytest.fixture
def traced_root(tmp_path):
    etc = tmp_path / "root" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("alice:x:1500:1600:Alice:/home/alice:/bin/zsh\nbob:x:1501:1501::/srv/bob:/bin/sh\n")
    (etc / "group").write_text("devs:x:1600:alice\nbob:x:1501:\n")
    return str(tmp_path / "root")


def field(reg, name, evt):
    return reg.bind(name).extract(evt)


@pytest.mark.parametrize(
    "uid, gid, name, home, shell, group",
    [
        (1500, 1600, "alice", "/home/alice", "/bin/zsh", "devs"),
        (1501, 1501, "bob", "/srv/bob", "/bin/sh", "bob"),
        (0, 0, "root", "/root", "/bin/bash", "root"),  # not in this passwd: Falco's root fallback
        (4242, 4243, "<NA>", "<NA>", "<NA>", "<NA>"),
    ],
)
def test_names_and_fallbacks(chain, traced_root, uid, gid, name, home, shell, group):
    chain.state.users = UserDb(root=traced_root)
    reg = FieldRegistry(state=chain.state)
    chain.event("getpid", res=1).thread.euid = 0  # the State applies setuid/setgid as for a root process
    chain.event("setgid", res=0, args={"res": 0, "gid": gid})
    e = chain.event("setuid", res=0, args={"res": 0, "uid": uid}, num=2)
    got = [field(reg, n, e) for n in ("user.uid", "user.name", "user.homedir", "user.shell", "group.gid",
                                      "group.name")]
    assert got == [uid, name, home, shell, gid, group]


def test_loginuid_unset_is_minus_one(chain):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("getpid", res=1)
    e.thread.loginuid = 4294967295
    assert field(reg, "user.loginuid", e) == -1
    assert field(reg, "user.loginname", e) == "<NA>"
    e.thread.loginuid = 0
    assert field(reg, "user.loginname", e) == "root"


def test_uid_field_is_32_bit_for_literal_conversion():
    assert FieldRegistry().bind("user.uid").extra["bits"] == 32


def test_local_user_db_matches_host():
    import pwd

    db = LocalUserDb()
    me = pwd.getpwuid(os.getuid())
    assert db.user_name(os.getuid()) == me.pw_name
    assert db.user_home(os.getuid()) == me.pw_dir
    assert db.user_name(3_999_999_999) == "<NA>"

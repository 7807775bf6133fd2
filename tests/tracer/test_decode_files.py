"""File syscalls decoded from a real C program (raw syscall(2) calls, so each is exactly one event)."""

import os

import pytest
from decode_support import compile_c, trace

from pdigpy.events import flags as F

PROG = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    if (chdir(argv[1])) return 1;
    long fd = syscall(SYS_open, "created.txt", O_WRONLY | O_CREAT | O_TRUNC, 0640); close(fd);
    fd = syscall(SYS_open, "created.txt", O_WRONLY | O_CREAT | O_TRUNC, 0640); close(fd);
    fd = syscall(SYS_openat, AT_FDCWD, "excl.txt", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600); close(fd);
    syscall(SYS_openat, AT_FDCWD, "/nonexistent-t2/x", O_RDONLY);
    long dfd = syscall(SYS_open, ".", O_RDONLY | O_DIRECTORY);
    fd = syscall(SYS_openat, dfd, "created.txt", O_RDONLY);
    syscall(SYS_dup2, fd, 40);
    syscall(SYS_dup3, fd, 41, O_CLOEXEC);
    syscall(SYS_dup, fd);
    int p[2];
    syscall(SYS_pipe2, p, O_CLOEXEC | O_NONBLOCK);
    syscall(SYS_pipe, p);
    syscall(SYS_mkdir, "sub", 0750);
    syscall(SYS_mkdirat, dfd, "sub2", 0700);
    syscall(SYS_rename, "created.txt", "sub/moved.txt");
    syscall(SYS_renameat2, dfd, "excl.txt", dfd, "excl2.txt", 0);
    syscall(SYS_symlink, "/etc/passwd", "lnk");
    syscall(SYS_symlinkat, "/etc/shadow", dfd, "lnk2");
    syscall(SYS_link, "excl2.txt", "hard");
    syscall(SYS_linkat, dfd, "excl2.txt", dfd, "hard2", 0);
    syscall(SYS_chmod, "excl2.txt", 04755);
    syscall(SYS_fchmodat, dfd, "excl2.txt", 0644);
    syscall(SYS_unlink, "lnk");
    syscall(SYS_unlinkat, dfd, "sub2", AT_REMOVEDIR);
    syscall(SYS_rmdir, "no-such-dir");
    syscall(SYS_creat, "creat.txt", 0600);
    syscall(SYS_chdir, "/nonexistent-t2");
    syscall(SYS_fchdir, dfd);
    syscall(SYS_close, 40);
    fd = syscall(SYS_openat, AT_FDCWD, "caf\xe9-\xff.txt", O_WRONLY | O_CREAT, 0600);  /* not UTF-8 */
    write(1, "done\n", 5);
    return 0;
}
"""

TYPES = ("open,openat,creat,close,dup,dup2,dup3,pipe,pipe2,mkdir,mkdirat,rename,renameat2,symlink,symlinkat,"
         "link,linkat,chmod,fchmodat,unlink,unlinkat,rmdir,chdir,fchdir")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("t2files")
    exe = compile_c(PROG, tmp)
    work = tmp / "work"
    work.mkdir()
    r = trace([exe, str(work)], TYPES, tmp)
    assert r.rc == 0 and r.stdout == b"done\n", r.stderr
    r.work = str(work)
    return r


def only(events, **match):
    found = [e for e in events if all(e.args.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(e.type, e.args) for e in events])
    return found[0]


def test_open_created_then_existing(run):
    opens = run.of_type("open")
    first, second = [e for e in opens if e.args["name"] == "created.txt"]
    assert first.res == first.args["fd"] >= 0
    assert first.args["flags"] == F.O_TRUNC | F.O_CREAT | F.O_WRONLY | F.O_F_CREATED
    assert first.args["mode"] == 0o640
    assert second.args["flags"] == F.O_TRUNC | F.O_CREAT | F.O_WRONLY  # existed: not created
    st = os.stat(os.path.join(run.work, "sub", "moved.txt"))  # the same file, renamed later
    assert (first.args["ino"], first.args["dev"]) == (st.st_ino, st.st_dev & 0xFFFFFFFF)


def test_openat_excl_failed_and_dirfd(run):
    excl = only(run.of_type("openat"), name="excl.txt")
    assert excl.args["dirfd"] == -100
    assert excl.args["flags"] == F.O_EXCL | F.O_CREAT | F.O_RDWR | F.O_CLOEXEC | F.O_F_CREATED
    failed = only(run.of_type("openat"), name="/nonexistent-t2/x")
    assert failed.res == -2 and failed.args["fd"] == -2
    assert failed.args["flags"] == F.O_RDONLY and failed.args["ino"] == 0
    dirfd = only(run.of_type("open"), name=".")
    assert dirfd.args["flags"] == F.O_DIRECTORY | F.O_RDONLY
    rel = only(run.of_type("openat"), name="created.txt")
    assert rel.args["dirfd"] == dirfd.res and rel.res >= 0


def test_dups_and_pipes(run):
    fd = only(run.of_type("openat"), name="created.txt").res
    dup2 = run.of_type("dup2")[0]
    assert (dup2.res, dup2.args["oldfd"], dup2.args["newfd"]) == (40, fd, 40)
    dup3 = run.of_type("dup3")[0]
    assert (dup3.res, dup3.args["newfd"], dup3.args["flags"]) == (41, 41, F.O_CLOEXEC)
    dup = run.of_type("dup")[0]
    assert dup.args["oldfd"] == fd and dup.res >= 0 and dup.res not in (fd, 40, 41)
    pipe2 = run.of_type("pipe2")[0]
    assert pipe2.res == 0 and pipe2.args["fd1"] >= 0 and pipe2.args["fd2"] == pipe2.args["fd1"] + 1
    assert pipe2.args["flags"] == F.O_NONBLOCK | F.O_CLOEXEC and pipe2.args["ino"] > 0
    pipe = run.of_type("pipe")[0]
    assert pipe.res == 0 and pipe.args["ino"] > 0 and pipe.args["ino"] != pipe2.args["ino"]
    close40 = only(run.of_type("close"), fd=40)
    assert close40.res is None  # close takes no exit stop


def test_directory_and_name_calls(run):
    assert only(run.of_type("mkdir"), path="sub").args["mode"] == 0o750
    mkdirat = run.of_type("mkdirat")[0]
    assert (mkdirat.res, mkdirat.args["path"], mkdirat.args["mode"]) == (0, "sub2", 0o700)
    ren = run.of_type("rename")[0]
    assert (ren.res, ren.args["oldpath"], ren.args["newpath"]) == (0, "created.txt", "sub/moved.txt")
    ren2 = run.of_type("renameat2")[0]
    assert ren2.args["oldpath"] == "excl.txt" and ren2.args["newdirfd"] == ren2.args["olddirfd"] >= 0
    sym = run.of_type("symlink")[0]
    assert (sym.res, sym.args["target"], sym.args["linkpath"]) == (0, "/etc/passwd", "lnk")
    symat = run.of_type("symlinkat")[0]
    assert (symat.args["target"], symat.args["linkpath"]) == ("/etc/shadow", "lnk2")
    link = run.of_type("link")[0]
    assert (link.res, link.args["oldpath"], link.args["newpath"]) == (0, "excl2.txt", "hard")
    linkat = run.of_type("linkat")[0]
    assert (linkat.args["oldpath"], linkat.args["newpath"], linkat.args["flags"]) == ("excl2.txt", "hard2", 0)
    chmod = run.of_type("chmod")[0]
    assert (chmod.res, chmod.args["filename"], chmod.args["mode"]) == (0, "excl2.txt", 0o4755)
    fchmodat = run.of_type("fchmodat")[0]
    assert fchmodat.args["mode"] == 0o644
    assert only(run.of_type("unlink"), path="lnk").res == 0
    unlinkat = run.of_type("unlinkat")[0]
    assert (unlinkat.res, unlinkat.args["name"], unlinkat.args["flags"]) == (0, "sub2", 0x200)
    rmdir = run.of_type("rmdir")[0]
    assert (rmdir.res, rmdir.args["path"]) == (-2, "no-such-dir")


def test_creat_and_cwd_changes(run):
    creat = run.of_type("creat")[0]
    assert creat.res >= 0 and creat.args["name"] == "creat.txt" and creat.args["mode"] == 0o600
    assert creat.args["creat_flags"] == F.O_TRUNC | F.O_CREAT | F.O_WRONLY | F.O_F_CREATED
    chdirs = run.of_type("chdir")
    assert [(e.res, e.args["path"]) for e in chdirs] == [(0, run.work), (-2, "/nonexistent-t2")]
    fchdir = run.of_type("fchdir")[0]
    assert fchdir.res == 0 and fchdir.args["fd"] == only(run.of_type("open"), name=".").res


def test_every_event_matches_its_schema(run):
    from pdigpy.events.schema import EVENT_SCHEMA

    for e in run.events:
        assert list(e.args) == [p.name for p in EVENT_SCHEMA[e.type]], e.type


def test_non_utf8_names_survive(run):
    raw = b"caf\xe9-\xff.txt"
    ev = [e for e in run.of_type("openat") if e.args["name"] and os.fsencode(e.args["name"]) == raw]
    assert len(ev) == 1 and ev[0].res >= 0
    assert os.path.exists(os.path.join(os.fsencode(run.work), raw))

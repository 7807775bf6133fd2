"""fd-creating calls, data calls and kernel-module attempts decoded from a real C program."""

import pytest
from decode_support import compile_c, trace

from pdigpy.events import flags as F
from pdigpy.tracer.decode import DATA_SNAPLEN

PROG = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
int main(int argc, char **argv) {
    if (chdir(argv[1])) return 1;
    int fd = open("data.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
    syscall(SYS_write, fd, "0123456789", 10);
    syscall(SYS_pwrite64, fd, "AB", 2, 20);
    struct iovec wiov[2] = {{"hello ", 6}, {"world", 5}};
    syscall(SYS_writev, fd, wiov, 2);
    char big[300]; memset(big, 'z', sizeof big);
    syscall(SYS_write, fd, big, sizeof big);
    char buf[400];
    syscall(SYS_pread64, fd, buf, 4, 2);
    lseek(fd, 0, SEEK_SET);
    char b1[3], b2[4];
    struct iovec riov[2] = {{b1, 3}, {b2, 4}};
    syscall(SYS_readv, fd, riov, 2);
    lseek(fd, 0, SEEK_SET);
    syscall(SYS_read, fd, buf, 5);
    syscall(SYS_eventfd2, 5, EFD_CLOEXEC);
    sigset_t m; sigemptyset(&m); sigaddset(&m, SIGUSR1);
    syscall(SYS_signalfd4, -1, &m, 8, SFD_NONBLOCK);
    syscall(SYS_timerfd_create, CLOCK_MONOTONIC, TFD_CLOEXEC);
    syscall(SYS_inotify_init1, IN_NONBLOCK);
    syscall(SYS_epoll_create1, EPOLL_CLOEXEC);
    int sv[2];
    syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv);
    syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 100);
    syscall(SYS_pidfd_open, getpid(), 0);
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS};
    syscall(SYS_openat2, AT_FDCWD, "data.txt", &how, sizeof how);
    syscall(SYS_openat, AT_FDCWD, "viadir.txt", O_CREAT | O_WRONLY, 0644);
    syscall(SYS_openat, AT_FDCWD, "viadir.txt", O_CREAT | O_WRONLY, 0644);
    struct iovec siov = {"msgdata", 7};
    struct msghdr mh = {0}; mh.msg_iov = &siov; mh.msg_iovlen = 1;
    syscall(SYS_sendmsg, sv[0], &mh, 0);
    char rb[64];
    struct iovec rio = {rb, sizeof rb};
    struct msghdr rh = {0}; rh.msg_iov = &rio; rh.msg_iovlen = 1;
    syscall(SYS_recvmsg, sv[1], &rh, 0);
    struct io_uring_params p = {0};
    syscall(SYS_io_uring_setup, 4, &p);
    syscall(SYS_init_module, "notamodule", 10, "opt=1");
    int nf = open("/dev/null", O_RDONLY);
    syscall(SYS_finit_module, nf, "x=1", 0);
    return 0;
}
"""

TYPES = ("openat,openat2,write,pwrite,writev,read,pread,readv,eventfd2,signalfd4,timerfd_create,inotify_init1,"
         "epoll_create1,socketpair,fcntl,pidfd_open,sendmsg,recvmsg,io_uring_setup,init_module,finit_module")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("t2fds")
    exe = compile_c(PROG, tmp)
    work = tmp / "work"
    work.mkdir()
    r = trace([exe, str(work)], TYPES, tmp)
    assert r.rc == 0, r.stderr
    return r


def test_writes_are_decoded_at_entry_without_exit_stop(run):
    w = run.of_type("write")
    assert w[0].res is None and w[0].args["data"] == b"0123456789" and w[0].args["size"] == 10
    assert len(w[1].args["data"]) == DATA_SNAPLEN and w[1].args["size"] == 300
    pw = run.of_type("pwrite")[0]
    assert (pw.args["data"], pw.args["pos"], pw.res) == (b"AB", 20, None)
    wv = run.of_type("writev")[0]
    assert (wv.args["data"], wv.args["size"]) == (b"hello world", 11)


def test_reads_carry_the_data_read(run):
    pr = [e for e in run.of_type("pread") if e.args["pos"] == 2][0]  # not the loader's
    assert (pr.res, pr.args["data"], pr.args["pos"], pr.args["size"]) == (4, b"2345", 2, 4)
    rv = [e for e in run.of_type("readv") if e.res == 7][0]
    assert (rv.res, rv.args["data"]) == (7, b"0123456")
    rd = [e for e in run.of_type("read") if e.args["size"] == 5][0]
    assert (rd.res, rd.args["data"]) == (5, b"01234")


def test_fd_creators(run):
    ev = run.of_type("eventfd2")[0]
    assert ev.res >= 0 and ev.args["initval"] == 5 and ev.args["flags"] == F.O_CLOEXEC
    sf = run.of_type("signalfd4")[0]
    assert sf.res >= 0 and sf.args["fd"] == -1 and sf.args["mask"] == 1 << (10 - 1)  # SIGUSR1
    tf = run.of_type("timerfd_create")[0]
    assert tf.res >= 0 and tf.args["clockid"] == 1
    ino = run.of_type("inotify_init1")[0]
    assert ino.res >= 0 and ino.args["flags"] == F.O_NONBLOCK
    ep = run.of_type("epoll_create1")[0]
    assert ep.res >= 0 and ep.args["flags"] == 1
    sp = run.of_type("socketpair")[0]
    assert sp.res == 0 and sp.args["fd2"] == sp.args["fd1"] + 1 and sp.args["domain"] == 1
    assert sp.args["source"] and sp.args["peer"] and sp.args["source"] != sp.args["peer"]  # socket inodes
    fc = run.of_type("fcntl")[0]
    assert fc.res >= 100 and fc.args["cmd"] == 26  # PPM F_DUPFD_CLOEXEC
    pf = run.of_type("pidfd_open")[0]
    assert pf.res >= 0 and pf.args["pid"] == pf.pid


def test_openat2_and_created_flag_through_cwd(run):
    o2 = run.of_type("openat2")[0]
    assert o2.res >= 0 and o2.args["flags"] == F.O_RDONLY | F.O_CLOEXEC
    assert o2.args["resolve"] == 1 << 3  # RESOLVE_NO_SYMLINKS
    assert o2.args["ino"] > 0
    first, second = [e for e in run.of_type("openat") if e.args["name"] == "viadir.txt"]
    assert first.args["flags"] & F.O_F_CREATED and not second.args["flags"] & F.O_F_CREATED
    assert first.args["mode"] == 0o644


def test_msg_calls(run):
    sm = run.of_type("sendmsg")[0]
    assert (sm.res, sm.args["data"], sm.args["size"], sm.args["tuple"]) == (7, b"msgdata", 7, None)
    rm = run.of_type("recvmsg")[0]
    assert (rm.res, rm.args["data"], rm.args["size"]) == (7, b"msgdata", 64)


def test_io_uring_and_module_attempts(run):
    io = run.of_type("io_uring_setup")[0]
    assert io.args["entries"] == 4
    if io.res >= 0:
        assert io.args["sq_entries"] == 4 and io.args["cq_entries"] >= 4 and io.args["features"]
    im = run.of_type("init_module")[0]
    assert im.res < 0 and im.args["img"] == b"notamodule" and im.args["length"] == 10
    assert im.args["uargs"] == "opt=1"
    fm = run.of_type("finit_module")[0]
    assert fm.res < 0 and fm.args["uargs"] == "x=1" and fm.args["fd"] >= 0

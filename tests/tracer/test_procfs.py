"""read_procinfo on real processes started by the test."""

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from pdigpy.tracer.procfs import parse_cgroups, read_procinfo

NOBODY = 65534


def _wait_exec(proc, comm: str, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(f"/proc/{proc.pid}/comm") as fh:
                if fh.read().strip() == comm:
                    return
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"child never became {comm}")


@pytest.fixture
def child(tmp_path):
    started = []

    def start(argv, **kw):
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()
        p.wait()


@pytest.fixture
def open_dir():
    """A directory nobody can enter (pytest's tmp_path is inside a 0700 directory)."""
    path = tempfile.mkdtemp(prefix="pdigpy-t2-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_shell_child_fields(child, open_dir):
    before = time.time_ns()
    p = child(
        ["/bin/sh", "-c", "read x", "arg one", "two"],
        cwd=open_dir,
        env={"PDIGPY_T2_MARK": "x y", "PATH": "/usr/bin:/bin"},
        user=NOBODY,
        group=NOBODY,
    )
    _wait_exec(p, "sh")
    info = read_procinfo(p.pid)
    assert info is not None
    assert info.tid == info.pid == p.pid
    assert info.ptid == os.getpid()
    assert info.exe == "/bin/sh" and info.comm == "sh"
    assert info.args == ["-c", "read x", "arg one", "two"]
    assert "PDIGPY_T2_MARK=x y" in info.env
    assert info.cwd == open_dir
    assert (info.uid, info.euid, info.gid, info.egid) == (NOBODY, NOBODY, NOBODY, NOBODY)
    assert info.exepath == os.path.realpath("/bin/sh")
    st = os.stat(info.exepath)
    assert (info.exe_ino, info.exe_ino_mtime, info.exe_ino_ctime) == (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    assert info.exe_writable is False  # root-owned 0755 binary, nobody without capabilities
    assert info.cap_effective == 0 and info.cap_permitted == 0
    assert info.vtid == p.pid and info.vpid == p.pid  # host pid namespace
    assert before - 2_000_000_000 <= info.start_ts <= time.time_ns()
    assert info.fdlimit == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    with open("/proc/self/cgroup", "rb") as fh:
        assert info.cgroups == parse_cgroups(fh.read())
    with open("/proc/self/stat", "rb") as fh:
        mine = fh.read().rsplit(b")", 1)[1].split()
    assert info.tty == int(mine[4]) and info.sid == int(mine[3])
    assert info.pgid == int(mine[2])  # Popen keeps our process group
    with open("/proc/self/loginuid") as fh:
        own = int(fh.read())
    assert info.loginuid == (-1 if own == 0xFFFFFFFF else own)
    assert info.pidns_init_start_ts > 0
    assert not info.exe_from_memfd and not info.exe_upper_layer and not info.exe_lower_layer


def test_root_owned_copy_is_writable_for_root_and_deleted_suffix_is_stripped(child, tmp_path):
    exe = tmp_path / "t2sleep"
    shutil.copy("/bin/sleep", exe)
    os.chmod(exe, 0o755)
    p = child([str(exe), "30"])
    _wait_exec(p, "t2sleep")
    info = read_procinfo(p.pid)
    assert info.exe_writable is True  # root: CAP_DAC_OVERRIDE on a writable file system
    assert info.comm == "t2sleep" and info.args == ["30"]
    os.unlink(exe)
    info = read_procinfo(p.pid)
    assert info.exepath == str(exe)  # " (deleted)" stripped


def test_memfd_executable(child):
    code = (
        "import os\n"
        "fd = os.memfd_create('t2memfd', 0)\n"
        "os.write(fd, open('/bin/sleep', 'rb').read())\n"
        "os.execv(f'/proc/self/fd/{fd}', ['sleep', '30'])\n"
    )
    p = child([sys.executable, "-c", code])
    _memfd_comm(p)
    info = read_procinfo(p.pid)
    assert info.exe_from_memfd is True
    assert info.exepath.startswith("/memfd:t2memfd")
    assert info.exe == "sleep"


def _memfd_comm(p) -> str:
    # comm of a program executed through /proc/self/fd/N is the fd number
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            if os.readlink(f"/proc/{p.pid}/exe").startswith("/memfd:"):
                with open(f"/proc/{p.pid}/comm") as fh:
                    return fh.read().strip()
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError("child never executed the memfd")


def test_thread_of_a_process(child):
    code = "import threading, sys\nt = threading.Thread(target=sys.stdin.read)\nt.start()\nt.join()\n"
    p = child([sys.executable, "-c", code])
    end = time.monotonic() + 10
    while time.monotonic() < end and len(os.listdir(f"/proc/{p.pid}/task")) < 2:
        time.sleep(0.01)
    tids = [int(t) for t in os.listdir(f"/proc/{p.pid}/task") if int(t) != p.pid]
    assert tids
    info = read_procinfo(tids[0])
    assert info.tid == tids[0] and info.pid == p.pid and info.vtid == tids[0]


def test_dead_process_gives_none():
    p = subprocess.Popen(["true"])
    p.wait()
    assert read_procinfo(p.pid) is None
    assert read_procinfo(2**22 + 12345) is None


def test_parse_cgroups_v1_and_v2():
    assert parse_cgroups(b"4:cpu,cpuacct:/docker/abc\n1:name=systemd:/x\n") == [
        "cpu=/docker/abc", "cpuacct=/docker/abc", "systemd=/x"]
    v2 = parse_cgroups(b"0::/system.slice/foo.service\n")
    assert v2 and all(item.endswith("=/system.slice/foo.service") for item in v2)


def test_long_argv_and_env_are_read_in_full(child):
    # 12 arguments of 100 kB (one string may not exceed 128 kB): more than 1 MiB of argv
    big_args = [chr(ord("a") + i) * 100_000 for i in range(12)]
    env = {"T2_BIG": "e" * 100_000, "PATH": "/usr/bin:/bin"}
    p = child(["/bin/sh", "-c", "read x", *big_args, "tail"], env=env)
    _wait_exec(p, "sh")
    info = read_procinfo(p.pid)
    assert info.args == ["-c", "read x", *big_args, "tail"]
    assert "T2_BIG=" + "e" * 100_000 in info.env


def _children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    if int(fh.read().rsplit(b")", 1)[1].split()[1]) == pid:
                        out.append(int(name))
            except OSError:
                pass
    return out


def _wait_children(pid: int, timeout: float = 10.0) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        kids = _children(pid)
        if kids:
            return kids
        time.sleep(0.02)
    raise AssertionError(f"no child of {pid}")


def test_nested_pid_namespace(child):
    if shutil.which("unshare") is None:
        pytest.fail("util-linux unshare is needed for the pid-namespace test")
    p = child(["unshare", "--pid", "--fork", "sh", "-c", "sleep 30 & wait"])
    init = _wait_children(p.pid)[0]  # sh: pid 1 in the new namespace
    inner = _wait_children(init)[0]  # sleep: pid 2 there
    _wait_exec(type("P", (), {"pid": inner})(), "sleep")
    sh_info = read_procinfo(init)
    info = read_procinfo(inner)
    assert (sh_info.vpid, sh_info.vtid) == (1, 1)
    assert (info.vpid, info.vtid) == (2, 2) and info.pid == inner and info.ptid == init
    assert info.pidns_init_start_ts == sh_info.start_ts
    assert info.pidns_init_start_ts != read_procinfo(os.getpid()).pidns_init_start_ts

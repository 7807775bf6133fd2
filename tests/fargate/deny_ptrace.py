"""Run a command where ptrace(2) fails with EPERM, as in a container whose runtime refuses it.

Usage: python deny_ptrace.py COMMAND [ARGS...]. A seccomp filter (inherited by
the command and its children) makes every ptrace call fail with EPERM: the
situation of EKS on Fargate, where SYS_PTRACE cannot be added.
"""

import errno
import os
import platform
import sys

from pdigpy.tracer.seccomp import (
    BPF_JMP_JEQ_K,
    BPF_LD_W_ABS,
    BPF_RET_K,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    install_filter,
    pack_filter,
)

NR_PTRACE = {"x86_64": 101, "aarch64": 117}[platform.machine()]

prog = [
    (BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    (BPF_JMP_JEQ_K, 0, 1, NR_PTRACE),
    (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM),
    (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
]
install_filter(pack_filter(prog))
os.execvp(sys.argv[1], sys.argv[1:])

"""execve at the kernel's argument limits: argv near ARG_MAX, one argument at MAX_ARG_STRLEN.

pdigpy reads a new image's argv and environment from /proc/PID/cmdline and /environ after the
exec, in full (pdigpy/tracer/procfs.py reads up to 64 MiB; the kernel refuses more than ARG_MAX
long before that), so proc.args and proc.cmdline are complete. Limits in docs/limits.md.
"""

from __future__ import annotations

import errno
import os

import pytest

from bounds_helpers import trace

MAX_ARG_STRLEN = 32 * os.sysconf("SC_PAGE_SIZE")  # per string, NUL included (131072 on 4 KiB pages)
ARG_MAX = os.sysconf("SC_ARG_MAX")  # argv + envp (+ pointers): RLIMIT_STACK / 4, 2 MiB by default


def _execs(traced):
    return [e for e in traced.events if e.type == "execve" and e.args.get("comm") == "true"]


def _expected_args(n: int, size: int) -> list[str]:
    return [chr(ord("a") + i % 26) * size for i in range(n)]


@pytest.mark.slow
def test_argv_of_about_1_mib_is_complete(tmp_path, bounds_prog) -> None:
    n, size = 8000, 127  # 8000 strings of 128 bytes with their NUL: 1,024,000 bytes, half of ARG_MAX
    assert n * (size + 1) + n * 8 < ARG_MAX
    traced = trace(tmp_path, [str(bounds_prog), "exec", str(n), str(size)])
    assert traced.code == 0, traced.stderr
    assert "child status 0" in traced.stderr
    (evt,) = _execs(traced)
    assert evt.res == 0
    assert evt.args["args"] == _expected_args(n, size)
    (alert,) = [a for a in traced.alerts if a["rule"] == "h2 bounds exec"]
    cmdline = alert["output_fields"]["proc.cmdline"]
    assert cmdline == "true " + " ".join(_expected_args(n, size))
    assert len(cmdline) == 5 + n * (size + 1) - 1


def test_one_argument_of_max_arg_strlen_is_complete(tmp_path, bounds_prog) -> None:
    size = MAX_ARG_STRLEN - 1  # the longest string execve accepts
    traced = trace(tmp_path, [str(bounds_prog), "exec", "1", str(size)])
    assert traced.code == 0, traced.stderr
    (evt,) = _execs(traced)
    assert evt.res == 0
    assert evt.args["args"] == ["a" * size]
    (alert,) = [a for a in traced.alerts if a["rule"] == "h2 bounds exec"]
    assert alert["output_fields"]["proc.cmdline"] == "true " + "a" * size


def test_one_argument_over_max_arg_strlen_fails_with_e2big(tmp_path, bounds_prog) -> None:
    traced = trace(tmp_path, [str(bounds_prog), "exec", "1", str(MAX_ARG_STRLEN)])
    assert traced.code == 0, traced.stderr
    assert f"execv: {-errno.E2BIG}" in traced.stderr
    failed = [e for e in traced.events if e.type == "execve" and e.res == -errno.E2BIG]
    assert len(failed) == 1
    # A failed exec leaves the caller's image: the event describes the caller (docs/limits.md).
    assert failed[0].args["args"][:1] == ["exec"]
    assert failed[0].args["filename"] == "/bin/true"  # what it tried to run
    assert not _execs(traced)

"""errno numbers to the names Falco prints (``evt.res``, ``fd=-2(ENOENT)``).

Python's errno table picks a few aliases Falco does not use (EDEADLOCK,
ENOTSUP); Falco's names win. Kernel-internal codes that leak to userspace
through ptrace (ERESTARTSYS & co., seen at syscall-exit stops) are added.
"""

from __future__ import annotations

import errno as _errno

ERRNO_NAMES: dict[int, str] = dict(_errno.errorcode)
ERRNO_NAMES.update(
    {
        11: "EAGAIN",
        35: "EDEADLK",
        95: "EOPNOTSUPP",
        512: "ERESTARTSYS",
        513: "ERESTARTNOINTR",
        514: "ERESTARTNOHAND",
        515: "ENOIOCTLCMD",
        516: "ERESTART_RESTARTBLOCK",
        517: "EPROBE_DEFER",
        518: "EOPENSTALE",
        524: "ENOTSUPP",
    }
)


def errno_name(n: int) -> str:
    """Name for errno ``n`` (sign ignored, so a raw ``res`` of -2 gives ENOENT); the number if unknown."""
    n = -n if n < 0 else n
    return ERRNO_NAMES.get(n, str(n))

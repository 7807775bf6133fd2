"""Microseconds per field extraction, on a real process's records (pytest -> sh -> sleep chain).

Run: .venv/bin/python bench/bench_fields.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "engine"))

from fields_support import start_chain, stop_chain  # noqa: E402

from pdigpy.engine.fields.registry import FieldRegistry  # noqa: E402
from pdigpy.engine.format import OutputFormatter  # noqa: E402

FIELDS = [
    ("evt.type", None), ("evt.num", None), ("evt.res", None), ("evt.is_open_read", None), ("evt.arg.flags", None),
    ("proc.name", None), ("proc.pname", None), ("proc.cmdline", None), ("proc.aname", "3"), ("proc.aname", None),
    ("proc.cwd", None), ("proc.duration", None), ("thread.cap_effective", None),
    ("user.name", None), ("user.uid", None), ("fd.name", None), ("fd.typechar", None), ("fd.directory", None),
    ("fd.num", None), ("container.id", None), ("container.image.repository", None),
]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        chain = start_chain(Path(tmp), "bench")
        try:
            reg = FieldRegistry(state=chain.state)
            evt = chain.event("openat", res=3, args={"fd": 3, "dirfd": -100, "name": "/etc/passwd", "flags": 1,
                                                     "mode": 0, "dev": 0, "ino": 0})
            n = 200_000
            print(f"{'field':34} us/extraction")
            for name, arg in FIELDS:
                extract = reg.bind(name, arg).extract
                t = min(timeit.repeat(lambda: extract(evt), number=n, repeat=3))
                label = name if arg is None else f"{name}[{arg}]"
                print(f"{label:34} {t / n * 1e6:8.3f}")
            fmt = OutputFormatter("file=%fd.name proc=%proc.name parent=%proc.pname cmd=%proc.cmdline "
                                  "user=%user.name gp=%proc.aname[2] container_id=%container.id", reg)
            n = 20_000
            t = min(timeit.repeat(lambda: fmt.render(evt), number=n, repeat=3))
            print(f"{'render (7 fields, text+fields)':34} {t / n * 1e6:8.3f}")
        finally:
            stop_chain(chain)


if __name__ == "__main__":
    main()

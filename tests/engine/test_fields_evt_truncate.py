"""truncate/ftruncate on a real traced process.

Falco 0.44 has syscall codes for them (PPM_SC_TRUNCATE, PPM_SC_FTRUNCATE in the driver's syscall
tables) but no dedicated event: they arrive as generic events whose evt.type is the syscall name,
so a rule can say ``evt.type in (truncate, ftruncate)``. pdigpy emits them the same way, with its
usual small parameter choice for generic events (res, the path or fd, the length).
"""

from __future__ import annotations

import os
import subprocess

from pdigpy.engine.compiler import compile_condition
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.grammar import parse_condition
from pdigpy.events.schema import EVENT_CATEGORY, EVENT_SCHEMA
from pdigpy.state.tables import State
from pdigpy.tracer.session import TraceOptions, Tracer

PROGRAM = r"""
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (truncate(argv[1], 5) != 0) return 10;            /* by path, relative to the cwd */
    int fd = open(argv[1], O_WRONLY);
    if (fd < 0) return 11;
    if (ftruncate(fd, 0) != 0) return 12;                /* by fd: log clearing */
    if (truncate("missing-file", 0) == 0) return 13;     /* fails with ENOENT */
    return 0;
}
"""


class _Collect:
    def __init__(self) -> None:
        self.state = State()
        self.reg = FieldRegistry(state=self.state)
        self.fields = {n: self.reg.bind(n) for n in ("evt.type", "evt.res", "evt.arg.path", "evt.arg.length",
                                                      "evt.arg.fd", "evt.category", "proc.name", "fd.name")}
        self.rule = compile_condition(parse_condition("evt.type in (truncate, ftruncate) and evt.res = SUCCESS"),
                                      self.reg)
        self.seen: list[tuple[dict, bool]] = []

    def on_snapshot(self, info) -> None:
        self.state.add_snapshot(info)

    def on_event(self, evt) -> None:
        self.state.apply(evt)
        if evt.type in ("truncate", "ftruncate"):
            self.seen.append(({n: bf.extract(evt) for n, bf in self.fields.items()}, self.rule(evt)))


def test_truncate_and_ftruncate_are_generic_events_rules_can_name(tmp_path):
    (tmp_path / "trunc.c").write_text(PROGRAM)
    subprocess.run(["gcc", "-O0", "-o", str(tmp_path / "trunc"), str(tmp_path / "trunc.c")], check=True)
    log = tmp_path / "app.log"
    log.write_text("0123456789")
    sink = _Collect()
    tracer = Tracer(sink, TraceOptions(event_types=frozenset({"truncate", "ftruncate", "openat"}),
                                       follow_descendants=True))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert tracer.run_command([str(tmp_path / "trunc"), "app.log"]) == 0
    finally:
        os.chdir(cwd)
    assert log.read_text() == ""
    got = [(v["evt.type"], v["evt.res"], v["evt.arg.path"], v["evt.arg.length"], matched) for v, matched in sink.seen]
    assert [g[0] for g in got] == ["truncate", "ftruncate", "truncate"]
    assert got[0] == ("truncate", "SUCCESS", str(log), "5", True)
    assert got[1][:2] == ("ftruncate", "SUCCESS") and got[1][3:] == ("0", True)
    assert sink.seen[1][0]["fd.name"] == str(log)  # pdigpy-only: Falco's generic events have no fd.*
    assert got[2] == ("truncate", "ENOENT", str(tmp_path / "missing-file"), "0", False)
    assert all(v["evt.category"] == "other" and v["proc.name"] == "trunc" for v, _ in sink.seen)


def test_schema_and_category_match_falco_generic_events():
    assert [p.name for p in EVENT_SCHEMA["truncate"]] == ["res", "path", "length"]
    assert [p.name for p in EVENT_SCHEMA["ftruncate"]] == ["res", "fd", "length"]
    # Falco's generic event (PPME_GENERIC_X) is in the "other" category
    assert EVENT_CATEGORY["truncate"] == EVENT_CATEGORY["ftruncate"] == "other"

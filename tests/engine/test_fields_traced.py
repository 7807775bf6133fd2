"""Fields on real traced events: the tracer -> State -> field extraction pipeline on a shell script."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.format import OutputFormatter
from pdigpy.state.tables import State
from pdigpy.tracer.session import TraceOptions, Tracer


class Collect:
    def __init__(self) -> None:
        self.state = State()
        self.events = []

    def on_snapshot(self, info) -> None:
        self.state.add_snapshot(info)

    def on_event(self, evt) -> None:
        self.state.apply(evt)
        self.events.append(evt)


@pytest.fixture
def traced(tmp_path):
    marker = "traced-" + uuid.uuid4().hex[:8]
    (tmp_path / "present.txt").write_text(marker)
    sink = Collect()
    tracer = Tracer(sink, TraceOptions(event_types=frozenset({"openat", "open", "execve", "connect", "socket",
                                                               "close"}), follow_descendants=True))
    script = f"cd {tmp_path} && cat present.txt > /dev/null; cat ./missing-{marker}.conf 2>/dev/null; exit 3"
    rc = tracer.run_command(["sh", "-c", script])
    assert rc == 3
    return sink, tmp_path, marker


def _cat_opens(sink, name_part):
    return [e for e in sink.events if e.type in ("open", "openat") and name_part in str(e.args.get("name"))
            and e.thread is not None and e.thread.comm == "cat"]


def test_successful_and_failed_opens_of_a_traced_cat(traced):
    sink, tmp, marker = traced
    reg = FieldRegistry(state=sink.state)
    f = {n: reg.bind(n) for n in ("proc.name", "proc.pname", "proc.cmdline", "proc.cwd", "fd.name", "fd.nameraw",
                                  "fd.num", "fd.typechar", "fd.directory", "fd.filename", "evt.res",
                                  "evt.is_open_read", "container.id", "proc.aname", "user.uid")}
    ok = _cat_opens(sink, "present.txt")
    assert len(ok) == 1
    e = ok[0]
    assert f["proc.name"].extract(e) == "cat"
    assert f["proc.pname"].extract(e) == "sh"
    assert f["proc.cmdline"].extract(e) == "cat present.txt"
    assert f["proc.cwd"].extract(e) == f"{tmp}/"
    assert f["fd.name"].extract(e) == f"{tmp}/present.txt"
    assert f["fd.nameraw"].extract(e) == "present.txt"
    assert f["fd.num"].extract(e) >= 0
    assert f["fd.filename"].extract(e) == "present.txt"
    assert f["evt.res"].extract(e) == "SUCCESS"
    assert f["evt.is_open_read"].extract(e) is True
    assert f["user.uid"].extract(e) == os.geteuid()
    assert f["proc.aname"].extract(e)[0] == "sh"

    bad = _cat_opens(sink, f"missing-{marker}")
    assert len(bad) == 1
    e = bad[0]
    # Falco's open_file_failed: fd.typechar='f' and fd.num=-1 and evt.res startswith E
    assert (f["fd.typechar"].extract(e), f["fd.num"].extract(e), f["evt.res"].extract(e)) == ("f", -1, "ENOENT")
    assert f["fd.name"].extract(e) == f"{tmp}/missing-{marker}.conf"
    assert f["fd.nameraw"].extract(e) == f"./missing-{marker}.conf"
    assert f["fd.directory"].extract(e) == str(tmp)
    assert f["fd.filename"].extract(e) is None
    text, fields = OutputFormatter("%proc.name %fd.name %evt.res %evt.arg.flags", reg).render(e)
    assert text == f"cat {tmp}/missing-{marker}.conf ENOENT O_RDONLY"
    assert fields["fd.name"] == f"{tmp}/missing-{marker}.conf"


def test_container_id_of_a_traced_process_matches_its_cgroups(traced):
    sink, _, _ = traced
    reg = FieldRegistry(state=sink.state)
    e = _cat_opens(sink, "present.txt")[0]
    from pdigpy.engine.fields.container import parse_container_id

    parsed = parse_container_id(e.thread.proc.cgroups)
    want = "host" if parsed is None else parsed[0][:12]
    assert reg.bind("container.id").extract(e) == want


def test_execve_event_sees_the_new_image(traced):
    sink, _, _ = traced
    reg = FieldRegistry(state=sink.state)
    execs = [e for e in sink.events if e.type == "execve" and e.res == 0 and e.thread is not None
             and e.thread.comm == "cat"]
    assert len(execs) == 2
    assert reg.bind("proc.exepath").extract(execs[0]) == os.path.realpath(
        subprocess.run(["sh", "-c", "command -v cat"], capture_output=True, text=True).stdout.strip())
    assert reg.bind("proc.args").extract(execs[0]) == "present.txt"

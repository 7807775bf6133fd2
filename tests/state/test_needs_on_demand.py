"""The state's syscalls traced on demand: field -> groups, the engine's field list, and real
traced runs showing that a left-out group changes no value a loaded rule can read.

The differential tests trace needs_on_demand_workload.c once with every state syscall (and
every syscall, so that any rule set finds its event types), capture it, and replay the capture
into fresh States: once with the full state set, once with only what ``state_event_types``
keeps (the events the seccomp filter would not stop on are dropped, as the filter would drop
them). The fields the rules read must have the same value on every event a rule evaluates.
Each group is also left out on purpose, to show that the needs_workload exercises it and that the
comparison notices.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from pdigpy.engine.engine import RuleEngine
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.events.capture import CaptureWriter, read_capture
from pdigpy.state.needs import (
    CAPABILITIES,
    CREDENTIALS,
    CWD,
    FD_TABLE,
    GROUP_REQUIRES,
    LIFECYCLE_EVENT_TYPES,
    SESSION,
    STATE_EVENT_TYPES,
    STATE_GROUPS,
    field_state_groups,
    is_classified,
    needed_state_groups,
    state_event_types,
)
from pdigpy.state.tables import State

tracer_session = pytest.importorskip("pdigpy.tracer.session")

REPO = Path(__file__).resolve().parents[2]
UPSTREAM = REPO / "../shared/corpus/upstream-rules"
DEFAULT_RULES = REPO / "rules" / "pdigpy_rules.yaml"
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="setuid/capset in the needs_workload need root")

ALL = frozenset(STATE_GROUPS)
PATHS = frozenset({FD_TABLE, CWD})


# --------------------------------------------------------------------------- field -> groups

@pytest.mark.parametrize("fields, groups", [
    ((), set()),
    (("proc.name", "proc.cmdline", "proc.pname", "proc.aname[2]", "proc.exepath", "proc.tty"), set()),
    (("evt.type", "evt.res", "evt.rawres", "evt.num", "evt.time", "evt.is_open_read"), set()),
    (("container.id", "container.name", "k8s.pod.label.app", "container.label[x]", "thread.cgroup.cpu"), set()),
    (("user.loginuid", "user.loginname"), set()),
    (("evt.rawarg.fd", "evt.rawarg.path", "evt.rawarg[name]"), set()),
    # evt.arg by parameter type: flags/uid/pid render from the value (or the user db)
    (("evt.arg.flags", "evt.arg.uid", "evt.arg.pid", "evt.arg[flags]"), set()),
    (("evt.arg.fd",), PATHS),  # "3(<f>/etc/passwd)": the fd's entry
    (("evt.arg.path",), PATHS),  # a relative path made absolute (cwd or dirfd)
    (("evt.arg.nosuchparam",), ALL),
    (("evt.arg[0]",), ALL),
    (("evt.args",), ALL),
    (("fd.name",), PATHS),
    (("fd.sport",), PATHS),
    (("fd.types[1]",), PATHS),
    (("proc.fdopencount",), PATHS),
    (("proc.stdout.name",), PATHS),
    (("evt.category",), PATHS),
    (("evt.is_syslog",), PATHS),
    (("fs.path.name",), PATHS),
    (("fs.path.nameraw",), PATHS),  # fchmod's path is its fd's name
    (("evt.abspath",), PATHS),
    (("proc.cwd",), PATHS),  # fchdir: the cwd comes from an fd's name
    (("user.name",), {CREDENTIALS}),
    (("user.uid", "group.name"), {CREDENTIALS}),
    (("thread.cap_effective",), {CAPABILITIES}),
    (("proc.sid",), {SESSION}),
    (("proc.sname", "proc.is_vpgid_leader", "proc.vpgid.name"), {SESSION}),
    (("proc.name", "user.name", "thread.cap_permitted"), {CREDENTIALS, CAPABILITIES}),
    (("proc.notafield",), ALL),
    (("plugin.field",), ALL),
])
def test_fields_to_groups(fields, groups):
    assert needed_state_groups(fields) == frozenset(groups)
    expected = frozenset().union(*(STATE_GROUPS[g] for g in groups)) if groups else frozenset()
    assert state_event_types(fields) == expected


def test_everything_and_unanalysable_rules_give_todays_set():
    assert state_event_types(["proc.name"], everything=True) == STATE_EVENT_TYPES
    assert state_event_types(None) == STATE_EVENT_TYPES
    assert state_event_types(["evt.args"]) == STATE_EVENT_TYPES
    assert state_event_types([]) == frozenset()


def test_groups_partition_the_state_set():
    seen: set[str] = set()
    for group, types in STATE_GROUPS.items():
        assert types and not types & seen, group
        seen |= types
    assert seen == STATE_EVENT_TYPES
    assert not seen & LIFECYCLE_EVENT_TYPES
    for group, required in GROUP_REQUIRES.items():
        assert group in STATE_GROUPS and required <= ALL


def test_every_registered_field_is_classified():
    """A new field must be placed on purpose; falling to 'unknown' would silently cost the full set."""
    names = [info.name for info in FieldRegistry(None).infos()]
    assert len(names) > 200
    assert [n for n in names if not is_classified(n)] == []
    assert not is_classified("proc.notafield")


# --------------------------------------------------------------------------- engine side

def _engine(text: str, append_output=None) -> RuleEngine:
    engine = RuleEngine(FieldRegistry(None), append_output=append_output, cache=False)
    result = engine.load_text(text)
    assert result.ok, result.report_text()
    return engine


RULES = """
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve and proc.name in (shells)
- macro: in_session
  condition: proc.sid > 0
- rule: shell
  desc: d
  condition: spawned and not in_session
  output: "shell %proc.cmdline %toupper(user.name) %30proc.pname"
  priority: WARNING
  exceptions:
    - name: known_parent
      fields: [proc.pexe, thread.cap_effective]
      values: [[/bin/make, x]]
- rule: opened
  desc: d
  condition: evt.type = openat and fd.name = /etc/passwd
  output: "open"
  priority: WARNING
  enabled: false
"""


def test_referenced_fields_walks_macros_exceptions_and_outputs():
    engine = _engine(RULES, append_output=[])
    fields = engine.referenced_fields()
    assert {"evt.type", "proc.name", "proc.sid", "proc.pexe", "thread.cap_effective",
            "proc.cmdline", "user.name", "proc.pname"} <= fields
    assert "fd.name" not in fields  # only a disabled rule reads it
    assert needed_state_groups(fields) == {SESSION, CAPABILITIES, CREDENTIALS}
    engine.enable("opened")
    assert "fd.name" in engine.referenced_fields()
    engine.disable(tag=None, rule="*")
    assert engine.referenced_fields() == frozenset()


def test_referenced_fields_follow_append_and_override():
    engine = _engine(RULES + """
- macro: in_session
  condition: proc.sname != x
  override:
    condition: replace
- rule: shell
  output: "%fd.num"
  override:
    output: append
""", append_output=[])
    fields = engine.referenced_fields()
    assert "proc.sname" in fields and "proc.sid" not in fields
    assert "fd.num" in fields and "proc.cmdline" in fields


def test_referenced_fields_count_append_output():
    append = [{"extra_output": "cwd=%proc.cwd"},
              {"match": {"tags": ["never"]}, "extra_output": "%proc.sid"},
              {"extra_fields": ["fd.name", {"who": "%user.name"}]}]
    fields = _engine(RULES, append_output=append).referenced_fields()
    assert {"proc.cwd", "fd.name", "user.name"} <= fields
    assert "proc.sid" in fields  # from the rule's own macro, not from the unmatched entry
    # the default append_output (suggested container fields) adds no state group
    default = _engine(RULES).referenced_fields()
    assert any(f.startswith("container.") for f in default)
    assert needed_state_groups(default) == {SESSION, CAPABILITIES, CREDENTIALS}


# --------------------------------------------------------------------------- real traced runs

class _Sink:
    def __init__(self, capture: CaptureWriter | None = None) -> None:
        self.state = State()
        self.capture = capture
        self.events: list = []

    def on_snapshot(self, info) -> None:
        if self.capture is not None:
            self.capture.write_snapshot(info)
        self.state.add_snapshot(info)

    def on_event(self, evt) -> None:
        if self.capture is not None:
            self.capture.write_event(evt)
        self.state.apply(evt)
        self.events.append(evt)


def _trace(argv: list[str], event_types, sink) -> tuple[int, object]:
    tracer = tracer_session.Tracer(sink, tracer_session.TraceOptions(event_types=event_types))
    rc = tracer.run_command(argv)
    return rc, tracer.stats


@pytest.fixture(scope="module")
def recording(needs_workload, tmp_path_factory) -> Path:
    """One run of the needs_workload with every syscall traced, captured."""
    work = Path("/tmp") / f"pdigpy-needs-{uuid.uuid4().hex[:8]}"
    (work / "a" / "b").mkdir(parents=True)
    (work / "a" / "b" / "f").write_text("f\n")
    path = tmp_path_factory.mktemp("capture") / "needs_workload.jsonl"
    try:
        writer = CaptureWriter(path)
        writer.write_header({"test": "needs"})
        rc, _stats = _trace([str(needs_workload), str(work), "3"], None, _Sink(writer))
        writer.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert rc == 0
    return path


def _split(key: str) -> tuple[str, str | None]:
    if key.endswith("]") and "[" in key:
        name, arg = key[:-1].split("[", 1)
        return name, arg
    return key, None


def _values(capture: Path, keep: frozenset[str], probes: frozenset[str] | None, fields) -> list[tuple]:
    """Replay the capture, stopping only on ``keep`` (plus lifecycle events); the fields' values on
    every kept event of a ``probes`` type (None: every kept event)."""
    records = read_capture(capture)
    _kind, header = next(records)
    state = State.from_capture_header(header)
    registry = FieldRegistry(state)
    bound = [(key, registry.bind(*_split(key))) for key in sorted(fields)]
    out = []
    for kind, value in records:
        if kind == "snapshot":
            state.add_snapshot(value)
            continue
        if value.type not in keep and value.type not in LIFECYCLE_EVENT_TYPES:
            continue
        state.apply(value)
        if probes is not None and value.type not in probes:
            continue
        row = []
        for key, bf in bound:
            try:
                row.append((key, repr(bf.extract(value))))
            except Exception as exc:  # a field that raises is a value too
                row.append((key, type(exc).__name__))
        out.append((value.num, value.type, tuple(row)))
    return out


def _diff(full: list[tuple], reduced: list[tuple]) -> list[tuple]:
    assert [r[:2] for r in full] == [r[:2] for r in reduced]
    return [(a[0], a[1], x, y) for a, b in zip(full, reduced) for x, y in zip(a[2], b[2]) if x != y]


# group -> (fields reading it, event types a rule would evaluate them on)
GROUP_PROBES = {
    FD_TABLE: ({"fd.name", "fd.type", "proc.stdout.name", "evt.arg.fd"}, {"write", "execve", "openat"}),
    CWD: ({"proc.cwd", "fs.path.name", "evt.abspath", "fd.name"}, {"write", "mkdirat", "openat"}),
    SESSION: ({"proc.sid", "proc.vpgid", "proc.is_sid_leader", "proc.is_vpgid_leader"}, {"write"}),
    CREDENTIALS: ({"user.uid", "user.name", "group.gid", "group.name"}, {"write"}),
    CAPABILITIES: ({"thread.cap_effective", "thread.cap_inheritable"}, {"write"}),
}


@pytest.mark.parametrize("group", sorted(GROUP_PROBES))
def test_each_group_is_needed_and_what_it_needs_is_enough(group, recording):
    if group in (CREDENTIALS, CAPABILITIES) and not ROOT:
        pytest.skip("the needs_workload changes ids and caps only as root")
    fields, probes = GROUP_PROBES[group]
    probes = frozenset(probes)
    full = _values(recording, STATE_EVENT_TYPES | probes, probes, fields)
    assert len(full) >= 3
    assert STATE_GROUPS[group] <= state_event_types(fields)
    for field in fields:  # each field alone brings what it needs
        alone = _values(recording, state_event_types([field]) | probes, probes, {field})
        assert _diff(_values(recording, STATE_EVENT_TYPES | probes, probes, {field}), alone) == [], field
    # without the group (even with everything else) some value goes wrong: the group is needed.
    # The probe types stay: a rule on them has them traced whatever the state wants.
    without = (STATE_EVENT_TYPES - STATE_GROUPS[group]) | probes
    assert _diff(full, _values(recording, without, probes, fields)), f"{group} made no difference"


# An argument for the fields that need one (those with an optional one are also tried bare).
EXAMPLE_ARGS = {
    "evt.type.is": ["write"], "evt.rawarg": ["fd", "name"], "thread.cgroup": ["cpu"],
    "evt.arg": ["fd", "name", "path", "flags", "uid", "pid", "res", "dirfd", "tuple", "0", "1"],
    "container.label": ["x"], "k8s.pod.label": ["x"], "container.mount": ["0"],
    "container.mount.source": ["0"], "container.mount.dest": ["0"], "container.mount.mode": ["0"],
    "container.mount.rdwr": ["0"], "container.mount.propagation": ["0"],
}
EXTRA_FORMS = ["proc.aname[1]", "proc.aexepath[1]", "proc.apid[2]", "proc.args[0]", "proc.env[PATH]",
               "fd.types[0]"]


def _every_field_form() -> list[str]:
    forms = []
    for info in FieldRegistry(None).infos():
        if info.arg == "required":
            forms += [f"{info.name}[{a}]" for a in EXAMPLE_ARGS[info.name]]
        else:
            forms.append(info.name)
    return forms + EXTRA_FORMS


def test_every_field_alone_reads_what_the_full_state_reads(recording):
    """Each field, traced with only the groups it maps to, has the full state's value on every
    event a rule could see: rules on the non-state types, and rules on openat (which has the
    open's own state change applied whatever the groups)."""
    types = {value.type for kind, value in read_capture(recording) if kind == "event"}
    plain = frozenset(types) - STATE_EVENT_TYPES
    assert {"write", "mkdirat", "execve"} <= plain
    wrong = {}
    forms = _every_field_form()
    assert len(forms) > 220
    for probes in (plain, plain | {"openat"}):
        full = _values(recording, frozenset(types), probes, forms)
        by_field = {}
        for field in forms:
            reduced = _values(recording, state_event_types([field]) | probes, probes, {field})
            only = [(n, t, tuple(kv for kv in row if kv[0] == field)) for n, t, row in full]
            by_field[field] = _diff(only, reduced)
        wrong.update({f: d[:2] for f, d in by_field.items() if d})
    assert wrong == {}


def test_fd_table_and_cwd_need_each_other(recording):
    """fd.name of a relative open needs the cwd; proc.cwd after fchdir needs the fd table."""
    for field, other, probes in (("fd.name", CWD, frozenset({"openat"})), ("proc.cwd", FD_TABLE, frozenset({"write"}))):
        full = _values(recording, STATE_EVENT_TYPES | probes, probes, {field})
        alone = state_event_types([field]) - STATE_GROUPS[other]
        assert _diff(full, _values(recording, alone | probes, probes, {field})), field


def _rule_sets() -> list[tuple[str, list[Path]]]:
    sets = [("default", [DEFAULT_RULES])]
    for name in ("falco_rules", "falco-incubating_rules", "falco-sandbox_rules"):
        path = UPSTREAM / f"{name}.yaml"
        if path.exists():
            sets.append((name, [path] if name == "falco_rules" else [UPSTREAM / "falco_rules.yaml", path]))
    return sets


@pytest.mark.parametrize("name, files", _rule_sets(), ids=[n for n, _ in _rule_sets()])
def test_rule_corpora_read_the_same_values_with_their_reduced_set(name, files, recording):
    engine = RuleEngine(FieldRegistry(None), cache=False)
    result = engine.load_files([str(f) for f in files])
    assert result.ok, result.report_text()
    if name != "default":
        engine.enable(rule="*")  # upstream ships many rules disabled: check them all
    fields = engine.referenced_fields()
    assert len(fields) > 20
    chosen = state_event_types(fields)
    left_out = ALL - needed_state_groups(fields)
    for field in fields:
        assert not field_state_groups(field) & left_out, field
    rule_types = frozenset(engine.event_types())
    full = _values(recording, STATE_EVENT_TYPES | rule_types, rule_types, fields)
    assert len(full) > 10
    assert _diff(full, _values(recording, chosen | rule_types, rule_types, fields)) == []


EXEC_ONLY = """
- rule: shell in the build
  desc: a shell ran
  condition: evt.type in (execve, execveat) and proc.name in (bash, sh, dash)
  output: "shell %proc.cmdline parent=%proc.pname user=%user.name caps=%thread.cap_effective"
  priority: WARNING
"""

FD_NAMES = """
- rule: file opened
  desc: any open
  condition: evt.type in (open, openat) and fd.name startswith /tmp/pdigpy-needs-
  output: "open %fd.name"
  priority: NOTICE
"""


def _traced(engine: RuleEngine) -> frozenset[str]:
    """What app.traced_event_types gives for a live run (without --events)."""
    return frozenset(engine.event_types()) | state_event_types(engine.referenced_fields())


def test_exec_only_rules_cost_no_stop_per_open(needs_workload, needs_workdir):
    engine = _engine(EXEC_ONLY)
    traced = _traced(engine)
    assert not traced & STATE_GROUPS[FD_TABLE] and not traced & STATE_GROUPS[CWD]
    rc, stats = _trace([str(needs_workload), str(needs_workdir), "100"], traced, _Sink())
    assert rc == 0
    assert stats.seccomp_stops < 30, stats  # the exec's attempts, setuid/capset: no open, dup or fcntl
    # the same run with the full state set stops on every one of the 100+ opens
    rc, full = _trace([str(needs_workload), str(needs_workdir), "100"], frozenset(engine.event_types()) | STATE_EVENT_TYPES,
                      _Sink())
    assert rc == 0 and full.seccomp_stops >= 100 + stats.seccomp_stops, (full, stats)


def test_fd_name_rule_still_gets_relative_names(needs_workload, needs_workdir):
    engine = _engine(FD_NAMES)
    traced = _traced(engine)
    assert STATE_GROUPS[FD_TABLE] | STATE_GROUPS[CWD] <= traced
    assert not traced & STATE_GROUPS[CREDENTIALS]
    sink = _Sink()
    rc, _stats = _trace([str(needs_workload), str(needs_workdir), "2"], traced, sink)
    assert rc == 0
    names = {}
    for evt in sink.events:
        for alert in engine.evaluate(evt):
            names.setdefault(evt.fdinfo.nameraw, set()).add(alert.output_fields["fd.name"])
    base = f"{needs_workdir}/a"
    assert names["b/f"] == {f"{base}/b/f"}  # relative to the chdir'd cwd
    assert names["f"] == {f"{base}/b/f"}  # openat(dirfd copy, "f") and open("f") after fchdir
    assert names["b"] == {f"{base}/b"}

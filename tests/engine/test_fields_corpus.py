"""Every field the upstream rules corpus uses binds, and every rule output compiles.

The field list is taken from the corpus itself (a regex over every condition), not typed in,
so a new upstream field shows up here first.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.format import OutputFormatter, parse_append_output, rule_formatter
from pdigpy.events.model import Event

CORPUS = Path(__file__).resolve().parents[2] / "../shared/corpus/upstream-rules"
CURRENT = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
FIELD_RX = re.compile(
    r"(?<![\w./%-])((?:evt|syscall|proc|thread|user|group|fd|fs|container|k8s)\.[A-Za-z0-9_.]+)"
    r"(?:\[([^\]]*)\])?(?![\w/:-])"
)


def _items(name: str) -> list[dict]:
    return [i for i in yaml.safe_load((CORPUS / name).read_text()) if isinstance(i, dict)]


def corpus_condition_fields() -> set[tuple[str, str | None]]:
    found = set()
    for name in CURRENT:
        for item in _items(name):
            cond = item.get("condition")
            if isinstance(cond, str):
                for m in FIELD_RX.finditer(cond):
                    found.add((m.group(1).rstrip("."), m.group(2)))
    return found


def corpus_outputs() -> list[tuple[str, str, list[str]]]:
    return [(item["rule"], item["output"], list(item.get("tags") or []))
            for name in CURRENT for item in _items(name) if "rule" in item and "output" in item]


def test_corpus_is_there():
    assert all((CORPUS / n).is_file() for n in CURRENT)


def test_every_condition_field_binds():
    reg = FieldRegistry()
    fields = corpus_condition_fields()
    assert len({n for n, _ in fields}) >= 65  # the analysis counts 71 (with evt.arg.* folded per name)
    failures = []
    for name, arg in sorted(fields, key=lambda f: (f[0], f[1] or "")):
        try:
            reg.bind(name, arg)
        except Exception as exc:  # collect them all for one readable failure
            failures.append(f"{name}[{arg}]: {exc}")
    assert not failures, failures


# The analysis's (upstream-rules-analysis.md §2.3/§2.4) field lists, as an independent check.
ANALYSIS_FIELDS = """
fd.name proc.name proc.cmdline container.image.repository proc.aname proc.pname proc.args evt.type fd.directory
fd.typechar proc.pcmdline user.name evt.arg.path container.mount.dest[/proc*] proc.pexe proc.exe evt.rawres
thread.cap_permitted evt.arg.oldpath evt.arg.uid evt.arg.name fd.num evt.res k8s.ns.name fd.net fd.l4proto fd.ip
fd.sport evt.arg.request evt.arg.newpath container.id evt.arg.mode evt.is_open_read fd.sip.name fd.filename
fd.connected fd.name_changed fd.snet evt.arg.flags user.uid thread.cap_effective evt.is_open_write evt.num proc.tty
container.privileged proc.vpid fd.nameraw evt.arg.target proc.cwd fd.type proc.env fd.sip evt.arg.cmd
user.loginuid proc.duration proc.exepath evt.arg.domain proc.is_exe_upper_layer proc.is_exe_from_memfd
proc.aexe[2] fd.port fd.rnet fd.sockfamily k8s.pod.name evt.arg.filename fd.cip fd.cnet fd.cip.name
evt.is_open_exec evt.buffer proc.is_vpgid_leader
fd.lport fd.rport proc.pexepath group.gid group.name user.loginname proc.sname container.start_ts evt.args
evt.arg.linkpath proc.aexepath[2] proc.exe_ino.ctime proc.exe_ino.mtime proc.exe_ino.ctime_duration_proc_start
evt.arg.fd fd.rip.name fd.lip.name container.mounts fd.rip proc.aname[7] evt.time
container.name container.image.tag
""".split()


@pytest.mark.parametrize("token", ANALYSIS_FIELDS)
def test_analysis_field_binds(token):
    name, _, arg = token.partition("[")
    FieldRegistry().bind(name, arg[:-1] if arg else None)


def test_every_rule_output_compiles_with_default_append_output():
    reg = FieldRegistry()
    append = parse_append_output([{"suggested_output": True}])
    outputs = corpus_outputs()
    assert len(outputs) >= 90
    evt = Event(num=1, ts=1_700_000_000_123456789, tid=1, pid=1, type="openat", res=-2)
    for rule, output, tags in outputs:
        fmt = rule_formatter(output, rule, tags, reg, append)
        text, fields = fmt.render(evt)  # no thread: every process field renders <NA>
        assert text.endswith(" container_id=<NA> container_name=<NA> container_image_repository=<NA> "
                             "container_image_tag=<NA> k8s_pod_name=<NA> k8s_ns_name=<NA>"), rule
        assert "evt.type" in fields and fields["evt.type"] == "openat", rule


def test_output_fields_in_corpus_are_display_fields():
    reg = FieldRegistry()
    for rule, output, _ in corpus_outputs():
        fmt = OutputFormatter(output, reg)
        for key in fmt.field_keys:
            assert not key.startswith(("fd.ip", "fd.net", "fd.port", "fd.proto")), (rule, key)

"""Rule output templates: Falco's token rules, <NA>, typed output_fields, append_output."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
from fields_support import start_chain, stop_chain

from pdigpy.engine.alert import Alert
from pdigpy.engine.fields.registry import FieldRegistry
from pdigpy.engine.format import (
    FormatError,
    OutputFormatter,
    alert_to_json,
    alert_to_text,
    append_output_for,
    parse_append_output,
    rule_formatter,
)
from pdigpy.engine.priority import Priority
from pdigpy.events.model import Event, SockAddr, SockTuple

AT_FDCWD = -100
TS = 1470327477881781397


@pytest.fixture
def chain(tmp_path):
    c = start_chain(tmp_path, "fmt-" + uuid.uuid4().hex[:8])
    c.state.get_thread(c.sleep_pid).proc.cgroups = ["unified=/user.slice/user-0.slice/session-1.scope"]
    yield c
    stop_chain(c)


@pytest.fixture
def utc():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def open_shadow(chain):
    return chain.event("openat", res=3, ts=TS, args={"fd": 3, "dirfd": AT_FDCWD, "name": "/etc/shadow", "flags": 1,
                                                     "mode": 0, "dev": 0, "ino": 0})


@pytest.mark.parametrize(
    "template, text",
    [
        ("%proc.name)", "sleep)"),  # the token ends where the field does
        ("%proc.exepath123", None),  # proc.exepath then literal 123 (checked below)
        ("%container.image.repository:%container.image.tag", ":"),  # host: image fields are ""
        ("[%5proc.name]", "[sleep]"),
        ("[%3proc.name]", "[sle]"),
        ("[%8proc.name]", "[sleep   ]"),
        ("%toupper(proc.name)-%tolower(proc.pname)", "SLEEP-sh"),
        ("%basename(fd.name)", "shadow"),
        ("%proc.name.", "sleep."),
        ("a%container.info b", "a b"),
        ("%fd.num %evt.res %proc.cmdline", "3 SUCCESS sleep 30"),
        ("%user.loginuid", None),
        ("%proc.aname[1] %proc.aname[99]", "sh <NA>"),
        ("no fields at all", "no fields at all"),
    ],
)
def test_token_rules(chain, template, text):
    reg = FieldRegistry(state=chain.state)
    e = open_shadow(chain)
    got, _ = OutputFormatter(template, reg).render(e)
    if template == "%proc.exepath123":
        assert got == e.thread.proc.exepath + "123"
    elif template == "%user.loginuid":
        assert got in ("-1", str(e.thread.loginuid))
    else:
        assert got == text


@pytest.mark.parametrize(
    "template, message",
    [
        ("trailing %", "formatting cannot end with a %"),
        ("a %nosuch.field b", "unknown filter"),
        ("%fd.ip", "filter only"),
        ("%fd.net", "filter only"),
        ("%evt.arg.nosuchparam", "unknown event argument"),
        ("%toupper(proc.aname)", "does not support transformers"),
        ("%toupper(proc.name", "unterminated transformer"),
        ("100% sure", "unknown filter"),
    ],
)
def test_bad_templates(template, message):
    with pytest.raises(FormatError, match=message):
        OutputFormatter(template, FieldRegistry())


def test_typed_output_fields(chain, utc):
    reg = FieldRegistry(state=chain.state)
    e = open_shadow(chain)
    fmt = OutputFormatter("t=%evt.time fd=%fd.name n=%fd.num tty=%proc.tty u=%user.uid r=%evt.is_open_read "
                          "a=%proc.aname[2] an=%proc.aname lu=%user.loginuid cap=%thread.cap_effective "
                          "up=%toupper(proc.name)", reg)
    text, fields = fmt.render(e)
    assert text.startswith("t=16:17:57.881781397 fd=/etc/shadow n=3 tty=")
    assert fields["evt.time"] == TS  # time fields are ns integers in JSON
    assert fields["fd.name"] == "/etc/shadow" and fields["fd.num"] == 3
    assert isinstance(fields["proc.tty"], int) and isinstance(fields["user.uid"], int)
    assert fields["evt.is_open_read"] is True
    assert isinstance(fields["proc.aname[2]"], str)
    assert fields["proc.aname"] == text.split(" an=")[1].split(" lu=")[0]  # space-joined ancestors
    assert fields["proc.name"] == "sleep"  # a transformer contributes its inner field
    assert "up=SLEEP" in text
    assert list(fields) == ["evt.time", "fd.name", "fd.num", "proc.tty", "user.uid", "evt.is_open_read",
                            "proc.aname[2]", "proc.aname", "user.loginuid", "thread.cap_effective", "proc.name"]


def test_missing_values_are_na_in_text_and_null_in_json(chain):
    reg = FieldRegistry(state=chain.state)
    e = chain.event("getpid", res=1, ts=TS)
    text, fields = OutputFormatter("f=%fd.name p=%proc.aname[50] k=%k8s.ns.name", reg).render(e)
    assert text == "f=<NA> p=<NA> k=<NA>"
    assert fields == {"fd.name": None, "proc.aname[50]": None, "k8s.ns.name": None}


def test_socket_values(chain):
    reg = FieldRegistry(state=chain.state)
    chain.event("socket", res=4, args={"fd": 4, "domain": 2, "type": 1, "proto": 0})
    e = chain.event("connect", res=0, num=2, args={
        "res": 0, "tuple": SockTuple("ipv4", "tcp", "10.1.2.3", 40000, "93.184.216.34", 443), "fd": 4,
        "addr": SockAddr("ipv4", "93.184.216.34", 443)})
    text, fields = OutputFormatter("%fd.name %fd.sip:%fd.sport %fd.l4proto %fd.types", reg).render(e)
    assert text == "10.1.2.3:40000->93.184.216.34:443 93.184.216.34:443 tcp (ipv4)"
    assert fields["fd.sip"] == "93.184.216.34" and fields["fd.sport"] == 443
    assert fields["fd.types"] == ["ipv4"]


def test_buffer_and_control_characters(chain):
    reg = FieldRegistry(state=chain.state)
    chain.event("openat", res=3, args={"fd": 3, "dirfd": AT_FDCWD, "name": "/tmp/a\nb", "flags": 2, "mode": 0})
    e = chain.event("write", res=5, num=2, args={"res": 5, "data": b"hi\x00\xffz", "fd": 3, "size": 5})
    text, fields = OutputFormatter("%fd.name|%evt.buffer", reg).render(e)
    assert text == "/tmp/a\ufffdb|hi..z"  # one line, always: control characters are replaced
    assert fields["evt.buffer"] == "hi..z"
    text64, _ = OutputFormatter("%evt.buffer", reg, buffer_format_base64=True).render(e)
    assert text64 == "aGkA/3o="


def test_suggested_output_on_a_host_process(chain):
    """Spec §4.6: the default append_output on a host process."""
    reg = FieldRegistry(state=chain.state)
    e = open_shadow(chain)
    fmt = rule_formatter("File %fd.name", "r", ["filesystem"], reg, parse_append_output([{"suggested_output": True}]))
    text, fields = fmt.render(e)
    assert text == ("File /etc/shadow container_id=host container_name=host container_image_repository= "
                    "container_image_tag= k8s_pod_name=<NA> k8s_ns_name=<NA>")
    assert fields["container.id"] == "host" and fields["k8s.pod.name"] is None


def test_append_output_matching_and_extra_fields(chain):
    reg = FieldRegistry(state=chain.state)
    entries = parse_append_output([
        {"match": {"tags": ["filesystem", "mitre"]}, "extra_output": "on=%evt.hostname"},
        {"match": {"rule": "r"}, "extra_output": "pid=%proc.pid",
         "extra_fields": ["proc.ppid", {"who": "%user.name@%proc.name"}, "proc.aname[1]"]},
        {"match": {"source": "k8s_audit"}, "extra_output": "NEVER"},
        {"extra_output": "[all]"},
    ])
    suffix, extra = append_output_for(entries, "r", ["filesystem"], reg)
    assert suffix == " pid=%proc.pid [all]"
    suffix2, _ = append_output_for(entries, "other", ["mitre", "filesystem", "x"], reg)
    assert suffix2 == " on=%evt.hostname [all]"
    e = open_shadow(chain)
    text, fields = rule_formatter("x", "r", ["filesystem"], reg, entries).render(e)
    assert text == f"x pid={chain.sleep_pid} [all]"
    assert fields["proc.ppid"] == chain.sh_pid
    assert fields["who"] == f"{reg.users.user_name(e.thread.euid)}@sleep"  # formatted string under its key
    assert fields["proc.aname[1]"] == "sh"
    assert "NEVER" not in text


@pytest.mark.parametrize(
    "value, message",
    [
        ({"suggested_output": True}, "append_output: must be a list"),
        (["x"], r"append_output\[0\]: must be a mapping"),
        ([{"match": {"rules": "x"}}], r"append_output\[0\].match: unknown key 'rules'"),
        ([{"extra_ouput": "x"}], r"append_output\[0\]: unknown key 'extra_ouput'"),
        ([{"extra_fields": "proc.name"}], r"append_output\[0\].extra_fields: must be a list"),
        ([{"extra_fields": [1]}], r"append_output\[0\].extra_fields\[0\]"),
        ([{"suggested_output": "yes"}], r"append_output\[0\].suggested_output: must be true or false"),
    ],
)
def test_append_output_config_errors_name_the_key(value, message):
    with pytest.raises(ValueError, match=message):
        parse_append_output(value)


def test_end_to_end_alert_line_and_json(chain, utc):
    """A corpus-style rule output rendered for a real process, then as Falco's line and JSON."""
    reg = FieldRegistry(state=chain.state)
    e = open_shadow(chain)
    fmt = rule_formatter("Sensitive file opened for reading by non-trusted program | file=%fd.name "
                         "gparent=%proc.aname[2] evt_type=%evt.type user=%user.name process=%proc.name",
                         "Read sensitive file untrusted", ["filesystem"], reg,
                         parse_append_output([{"suggested_output": True}]))
    text, fields = fmt.render(e)
    fields.setdefault("evt.time", e.ts)  # what the engine does
    alert = Alert(time_ns=e.ts, rule="Read sensitive file untrusted", priority=Priority.WARNING, output=text,
                  output_fields=fields, tags=["maturity_stable", "filesystem"], hostname="h")
    line = alert_to_text(alert)
    assert line.startswith("16:17:57.881781397: Warning Sensitive file opened for reading by non-trusted program | "
                           "file=/etc/shadow gparent=")
    assert line.endswith("container_id=host container_name=host container_image_repository= "
                         "container_image_tag= k8s_pod_name=<NA> k8s_ns_name=<NA>")
    obj = json.loads(alert_to_json(alert))
    assert obj["output"] == line
    assert obj["output_fields"]["evt.time"] == TS
    assert obj["output_fields"]["container.image.repository"] == ""
    assert obj["tags"] == ["filesystem", "maturity_stable"]
    assert obj["time"] == "2016-08-04T16:17:57.881781397Z"


def test_render_without_state():
    e = Event(num=1, ts=1, tid=1, pid=1, type="close", res=0, args={"res": 0, "fd": 3})
    text, fields = OutputFormatter("%evt.type %evt.arg.fd %proc.name", FieldRegistry()).render(e)
    assert text == "close 3 <NA>"


def test_multi_argument_transformers(chain):
    reg = FieldRegistry(state=chain.state)
    e = open_shadow(chain)
    text, fields = OutputFormatter('%concat(proc.name, "-", proc.pname) %len(fd.name) '
                                   '%toupper(basename(fd.name))', reg).render(e)
    assert text == "sleep-sh 11 SHADOW"
    assert fields == {"proc.name": "sleep", "proc.pname": "sh", "fd.name": "/etc/shadow"}

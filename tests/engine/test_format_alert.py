"""Falco's alert text line and JSON object, byte for byte against Falco's documented examples."""

from __future__ import annotations

import json
import os
import time

import pytest

from pdigpy.engine.alert import Alert
from pdigpy.engine.format import alert_to_json, alert_to_text, time_iso8601, time_json, time_local
from pdigpy.engine.priority import Priority


@pytest.fixture
def utc_tz():
    """Falco's examples were taken on hosts in UTC; evt.time is local time."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


# Falco's regression data (open_from_cat, time_format_iso_8601: true).
REGRESSION_JSON = (
    '{"hostname":"test-falco-hostname","output":"2016-08-04T16:17:57.881781397+0000: Warning An open was seen '
    '(command=cat /dev/null)","output_fields":{"evt.time.iso8601":1470327477881781397,"proc.cmdline":"cat /dev/null"},'
    '"priority":"Warning","rule":"open_from_cat","source":"syscall","tags":["filesystem","process","testing"],'
    '"time":"2016-08-04T16:17:57.881781397Z"}'
)

# A real Falco 0.39-era line (alerts-and-forwarding.md §1.1).
MINIKUBE_JSON = (
    '{"hostname":"minikube","output":"15:41:04.268296715: Warning Sensitive file opened for reading by non-trusted '
    'program (file=/etc/shadow gparent=systemd ggparent=<NA> ... k8s_pod_name=<NA>)","output_fields":'
    '{"container.id":"ff95ee645d8a","container.image.repository":"nginx","container.image.tag":"latest",'
    '"container.name":"k8s_nginx_...","evt.time":1735573264268296715,"evt.type":"openat","fd.name":"/etc/shadow",'
    '"k8s.ns.name":null,"k8s.pod.name":null,"proc.aname[2]":"systemd","proc.aname[3]":null,"proc.aname[4]":null,'
    '"proc.cmdline":"cat /etc/shadow","proc.exepath":"/usr/bin/cat","proc.name":"cat","proc.pname":"containerd-shim",'
    '"proc.tty":34816,"user.loginuid":-1,"user.name":"root","user.uid":0},"priority":"Warning","rule":'
    '"Read sensitive file untrusted","source":"syscall","tags":["T1555","container","filesystem","host",'
    '"maturity_stable","mitre_credential_access"],"time":"2024-12-30T15:41:04.268296715Z"}'
)


def test_regression_example_iso8601_byte_for_byte():
    alert = Alert(
        time_ns=1470327477881781397,
        rule="open_from_cat",
        priority=Priority.WARNING,
        output="An open was seen (command=cat /dev/null)",
        output_fields={"proc.cmdline": "cat /dev/null"},
        tags=["testing", "process", "filesystem"],
        hostname="test-falco-hostname",
    )
    assert alert_to_json(alert, time_format_iso_8601=True) == REGRESSION_JSON
    assert alert_to_text(alert, time_format_iso_8601=True) == (
        "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)"
    )


def test_minikube_example_byte_for_byte(utc_tz):
    expected = json.loads(MINIKUBE_JSON)
    fields = dict(expected["output_fields"])
    del fields["evt.time"]  # the prefix time field is merged in by alert_to_json
    alert = Alert(
        time_ns=1735573264268296715,
        rule="Read sensitive file untrusted",
        priority=Priority.WARNING,
        output=expected["output"].split(": Warning ", 1)[1],
        output_fields=fields,
        tags=list(reversed(expected["tags"])),
        hostname="minikube",
    )
    assert alert_to_json(alert) == MINIKUBE_JSON
    assert alert_to_text(alert) == expected["output"]


def test_prefix_time_field_not_overridden_and_priority_labels():
    alert = Alert(time_ns=5, rule="r", priority=Priority.INFORMATIONAL, output="x",
                  output_fields={"evt.time": 5}, hostname="h")
    obj = json.loads(alert_to_json(alert))
    assert obj["output_fields"] == {"evt.time": 5}
    assert obj["priority"] == "Informational"
    assert obj["tags"] == []
    assert "message" not in obj


def test_include_flags():
    alert = Alert(time_ns=1, rule="r", priority=Priority.DEBUG, output="msg", hostname="h", tags=["b", "a"])
    obj = json.loads(alert_to_json(alert, include_output=False, include_tags=False, include_message=True,
                                   include_output_fields=False))
    assert sorted(obj) == ["hostname", "message", "priority", "rule", "source", "time"]
    assert obj["message"] == "msg"


def test_hostname_from_env(monkeypatch):
    import pdigpy.engine.format as fmt

    monkeypatch.setattr(fmt, "_hostname", None)
    monkeypatch.setenv("FALCO_HOSTNAME", "from-env")
    alert = Alert(time_ns=1, rule="r", priority=Priority.NOTICE, output="m")
    assert json.loads(alert_to_json(alert))["hostname"] == "from-env"
    monkeypatch.setattr(fmt, "_hostname", None)


def test_json_escaping_like_nlohmann():
    bad = os.fsdecode(b"caf\xe9 \xc3\xa9")  # invalid UTF-8 byte, then a valid é
    alert = Alert(time_ns=1, rule="r\"q", priority=Priority.ERROR, output="a\tb\x01/c",
                  output_fields={"fd.name": bad, "n": None, "b": True, "i": -1}, hostname="h")
    text = alert_to_json(alert)
    assert ': Error a\\tb\\u0001/c"' in text
    assert '"fd.name":"caf\ufffd é"' in text
    assert '"rule":"r\\"q"' in text
    assert '"b":true' in text and '"n":null' in text and '"i":-1' in text
    text.encode("utf-8")  # always valid UTF-8


@pytest.mark.parametrize(
    "ns, local, iso, zulu",
    [
        (0, "00:00:00.000000000", "1970-01-01T00:00:00.000000000+0000", "1970-01-01T00:00:00.000000000Z"),
        (1470327477881781397, "16:17:57.881781397", "2016-08-04T16:17:57.881781397+0000",
         "2016-08-04T16:17:57.881781397Z"),
        (1735573264000000001, "15:41:04.000000001", "2024-12-30T15:41:04.000000001+0000",
         "2024-12-30T15:41:04.000000001Z"),
    ],
)
def test_time_formats(utc_tz, ns, local, iso, zulu):
    assert time_local(ns) == local
    assert time_iso8601(ns) == iso
    assert time_json(ns) == zulu


def test_text_line_uses_local_time():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"  # +05:30, no DST
    time.tzset()
    try:
        alert = Alert(time_ns=1470327477881781397, rule="r", priority=Priority.CRITICAL, output="o")
        assert alert_to_text(alert) == "21:47:57.881781397: Critical o"
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_iso_mode_replaces_the_engines_evt_time_prefix_field():
    """The engine always puts evt.time in output_fields; ISO mode shows evt.time.iso8601 instead."""
    alert = Alert(
        time_ns=1470327477881781397, rule="open_from_cat", priority=Priority.WARNING,
        output="An open was seen (command=cat /dev/null)",
        output_fields={"proc.cmdline": "cat /dev/null", "evt.time": 1470327477881781397},
        tags=["filesystem", "process", "testing"], hostname="test-falco-hostname",
    )
    assert alert_to_json(alert, time_format_iso_8601=True) == REGRESSION_JSON

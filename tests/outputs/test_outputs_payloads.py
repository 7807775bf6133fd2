"""falcosidekick's serialisation details, the Go template subset, and the bounded queue."""

from __future__ import annotations

import json
import threading
import time

import pytest
from outputs_helpers import make_alert

from pdigpy.engine.format import alert_to_json
from pdigpy.outputs.gotemplate import GoTemplate, TemplateError
from pdigpy.outputs.payloads import (falco_payload, go_json, go_time_string, marshal_payload, rfc3339nano,
                                     slack_message)
from pdigpy.outputs.queue import BoundedQueue


def test_go_json_escapes_like_encoding_json():
    assert go_json({"s": "<NA> & \u2028 é \x01 \n"}) == b'{"s":"\\u003cNA\\u003e \\u0026 \\u2028 \xc3\xa9 \\u0001 \\n"}'
    assert go_json([1, None, True], newline=True) == b"[1,null,true]\n"


@pytest.mark.parametrize("falco_time, nano, go_string", [
    ("2024-12-30T15:41:04.268296715Z", "2024-12-30T15:41:04.268296715Z", "2024-12-30 15:41:04.268296715 +0000 UTC"),
    ("2023-05-25T13:44:05.478445900Z", "2023-05-25T13:44:05.4784459Z", "2023-05-25 13:44:05.4784459 +0000 UTC"),
    ("2001-01-01T01:10:00.000000000Z", "2001-01-01T01:10:00Z", "2001-01-01 01:10:00 +0000 UTC"),
])
def test_go_time_formats(falco_time, nano, go_string):
    assert rfc3339nano(falco_time) == nano
    assert go_time_string(falco_time) == go_string


def test_falco_payload_from_falcos_json_keeps_struct_order_and_types():
    alert = make_alert()
    payload = falco_payload(alert_to_json(alert), "6ba7b810-9dad-41d1-80b4-00c04fd430c8")
    body = marshal_payload(payload)
    assert body.startswith(b'{"uuid":"6ba7b810-9dad-41d1-80b4-00c04fd430c8","output":"')
    decoded = json.loads(body)
    assert decoded["output_fields"]["proc.tty"] == 34816 and decoded["output_fields"]["proc.pname"] is None
    assert decoded["source"] == "syscall"


def test_empty_source_becomes_syscalls_and_long_fields_are_cut():
    long = "x" * 600
    alert = make_alert(source="", output=f"cmd={long} " + "y" * 3600)
    alert.output_fields["proc.cmdline"] = long
    payload = falco_payload(alert_to_json(alert))
    assert payload["source"] == "syscalls"
    cut = "x" * 507 + "[...]"
    assert payload["output_fields"]["proc.cmdline"] == cut
    assert f"cmd={cut} " in payload["output"]  # sidekick replaces the value in the output text too


def test_short_payloads_are_not_cut():
    alert = make_alert()
    alert.output_fields["proc.cmdline"] = "x" * 600
    assert falco_payload(alert_to_json(alert))["output_fields"]["proc.cmdline"] == "x" * 600


def test_slack_unknown_tags_and_hostname_are_left_out():
    payload = falco_payload(alert_to_json(make_alert(tags=[])))
    payload["hostname"] = ""
    fields = slack_message(payload)["attachments"][0]["fields"]
    assert [f["title"] for f in fields][:4] == ["rule", "priority", "source", "fd.name"]


@pytest.mark.parametrize("text, expected", [
    ("{{ .Rule }} / {{.Priority}}", "R / Warning"),
    ('{{ index .OutputFields "user.name" }}', "root"),
    ('{{ index .OutputFields "nope" }}', "<no value>"),
    ('{{ or (index .OutputFields "nope") "fallback" }}', "fallback"),
    ('{{ or (index .OutputFields "user.name") "fallback" }}', "root"),
    ("{{ .Tags }} {{ .Hostname }}", "[a b] h"),
    ('{{ index .OutputFields "proc.tty" }}', "34816"),
    ("a  {{- .Rule -}}  b", "aRb"),
    ("x{{/* a comment */}}y", "xy"),
    ("{{ .OutputFields }}", "map[proc.tty:34816 user.name:root]"),
    ("no actions", "no actions"),
    ('{{ print .Rule "-" .Source }}', "R-syscall"),
])
def test_go_template_subset(text, expected):
    data = {"Rule": "R", "Priority": "Warning", "Tags": ["a", "b"], "Hostname": "h", "Source": "syscall",
            "OutputFields": {"user.name": "root", "proc.tty": 34816}}
    assert GoTemplate(text).render(data) == expected


@pytest.mark.parametrize("text", ["{{ range .Tags }}x{{ end }}", "{{ .Rule | printf }}", "{{ .Nope }}", "{{ .Rule",
                                  "{{ index .OutputFields }}"])
def test_go_template_refuses_what_it_cannot_do(text):
    with pytest.raises(TemplateError):
        GoTemplate(text)


def test_queue_refuses_when_full_and_keeps_order():
    q = BoundedQueue(3)
    assert [q.put(i) for i in range(5)] == [True, True, True, False, False]
    assert [q.get(0) for _ in range(3)] == [0, 1, 2]
    assert q.get(0.01) is None


def test_queue_wait_done_and_drain():
    q = BoundedQueue(10)
    for i in range(4):
        q.put(i)
    assert not q.wait_done(time.monotonic() + 0.05)

    def consume():
        for _ in range(2):
            q.get(1)
            q.task_done()

    t = threading.Thread(target=consume)
    t.start()
    t.join()
    assert q.drain() == [2, 3]
    assert q.wait_done(time.monotonic() + 0.05)
    q.close()
    assert q.get(5) is None and not q.put(9)


@pytest.mark.parametrize("method, body, status", [
    ("POST", b'{"rule":"r","priority":"Warning","time":"2024-12-30T15:41:04.268296715Z","output_fields":{"a":1}}', 200),
    ("POST", b'{"rule":"r","priority":"info","time":"2024-12-30T15:41:04Z","output_fields":{"a":1}}', 200),
    ("PUT", b'{"rule":"r","priority":"Warning","time":"2024-12-30T15:41:04Z","output_fields":{"a":1}}', 400),
    ("POST", b'{"rule":"","priority":"Warning","time":"2024-12-30T15:41:04Z","output_fields":{"a":1}}', 400),
    ("POST", b'{"rule":"r","priority":"Info2","time":"2024-12-30T15:41:04Z","output_fields":{"a":1}}', 400),
    ("POST", b'{"rule":"r","priority":"Warning","time":"15:41:04.268296715","output_fields":{"a":1}}', 400),
    ("POST", b'{"rule":"r","priority":"Warning","time":"2024-12-30T15:41:04Z","output_fields":{}}', 400),
    ("POST", b'not json', 400),
])
def test_the_sidekick_check_used_by_the_tests_can_refuse(method, body, status):
    from outputs_helpers import sidekick_check

    assert sidekick_check(method, body)[0] == status

"""Slack and generic webhook forwarders against a local receiver, in falcosidekick's formats."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from outputs_helpers import make_alert

from pdigpy.engine.format import alert_to_text
from pdigpy.engine.priority import Priority
from pdigpy.outputs import OutputHub

LONG_PATH = "/usr/lib/very/long/path/to/some/binary/cat"  # 41 runes: not "short" in Slack


def alert():
    a = make_alert()
    a.output_fields["proc.exepath"] = LONG_PATH
    return a


def run(config: dict, *alerts) -> None:
    config.setdefault("stderr_output", {"enabled": False})
    hub = OutputHub.from_config(config)
    hub.start()
    for a in alerts:
        hub.submit(a)
    report = hub.close(5, report=False)
    assert report.all_delivered, report.lines()


def slack_config(url: str, **slack) -> dict:
    return {"forwarders": {"slack": {"webhookurl": url, "username": "pdigpy-test", "footer": "pdigpy-footer",
                                     "icon": "https://example.invalid/icon.png", "channel": "#alerts", **slack}}}


def expected_fields() -> list[dict]:
    return [
        {"title": "rule", "value": "Read sensitive file untrusted", "short": True},
        {"title": "priority", "value": "Warning", "short": True},
        {"title": "source", "value": "syscall", "short": True},
        {"title": "hostname", "value": "test-host", "short": True},
        {"title": "tags", "value": "T1555, filesystem, mitre_credential_access", "short": True},
        # string output fields only, sorted; numbers and nulls are skipped as sidekick does
        {"title": "fd.name", "value": "/etc/shadow", "short": True},
        {"title": "proc.cmdline", "value": "cat /etc/shadow", "short": True},
        {"title": "proc.exepath", "value": LONG_PATH, "short": False},
        {"title": "proc.name", "value": "cat", "short": True},
        {"title": "user.name", "value": "root", "short": True},
        {"title": "time", "value": "2024-12-30 15:41:04.268296715 +0000 UTC", "short": False},
    ]


def test_slack_all_layout(receiver, utc_tz):
    a = alert()
    run(slack_config(receiver.url), a)
    [req] = receiver.requests
    assert req.method == "POST"
    assert req.header("Content-Type") == "application/json; charset=utf-8"
    assert req.header("User-Agent") == "Falcosidekick"
    assert req.body.endswith(b"}\n")  # Go's json.Encoder
    assert b"\\u003cNA\\u003e" in req.body and b"<NA>" not in req.body  # Go escapes HTML characters
    message = json.loads(req.body)
    assert list(message) == ["username", "icon_url", "channel", "attachments"]
    output = alert_to_text(a)
    assert output.startswith("15:41:04.268296715: Warning ")
    assert message == {
        "username": "pdigpy-test",
        "icon_url": "https://example.invalid/icon.png",
        "channel": "#alerts",
        "attachments": [{
            "fallback": output,
            "color": "#ffc700",
            "text": output,
            "fields": expected_fields(),
            "footer": "pdigpy-footer",
        }],
    }
    assert list(message["attachments"][0]) == ["fallback", "color", "text", "fields", "footer"]


def test_slack_text_layout_has_null_fields_and_no_footer(receiver, utc_tz):
    a = alert()
    run(slack_config(receiver.url, outputformat="text"), a)
    message = json.loads(receiver.requests[0].body)
    assert message["attachments"] == [{"fallback": alert_to_text(a), "color": "#ffc700", "text": alert_to_text(a),
                                       "fields": None}]
    assert b'"fields":null' in receiver.requests[0].body


def test_slack_fields_layout_has_no_text(receiver, utc_tz):
    a = alert()
    run(slack_config(receiver.url, outputformat="fields"), a)
    message = json.loads(receiver.requests[0].body)
    assert message["attachments"] == [{"fallback": alert_to_text(a), "color": "#ffc700",
                                       "fields": expected_fields(), "footer": "pdigpy-footer"}]


def test_slack_messageformat_template(receiver):
    template = 'Alert: rule *{{ .Rule }}* by *{{ index .OutputFields "user.name" }}* pod {{ index .OutputFields "k8s.pod.name" }} ({{ .Priority }})'
    run(slack_config(receiver.url, messageformat=template), alert())
    message = json.loads(receiver.requests[0].body)
    assert message["text"] == "Alert: rule *Read sensitive file untrusted* by *root* pod <no value> (Warning)"
    assert list(message)[0] == "text"


@pytest.mark.parametrize("priority, colour", [
    (Priority.EMERGENCY, "#e20b0b"), (Priority.ALERT, "#ff5400"), (Priority.CRITICAL, "#ff5400"),
    (Priority.ERROR, "#e20b0b"), (Priority.WARNING, "#ffc700"), (Priority.NOTICE, "#5bffb5"),
    (Priority.INFORMATIONAL, "#68c2ff"), (Priority.DEBUG, "#ccfff2"),
])
def test_slack_colour_by_priority(receiver, priority, colour):
    run(slack_config(receiver.url), make_alert(priority=priority))
    attachment = json.loads(receiver.requests[0].body)["attachments"][0]
    assert attachment["color"] == colour
    assert attachment["fields"][1] == {"title": "priority", "value": priority.label, "short": True}


def test_minimumpriority_filters_per_forwarder(receiver):
    config = slack_config(receiver.url, minimumpriority="error")
    config["stderr_output"] = {"enabled": False}
    hub = OutputHub.from_config(config)
    hub.start()
    hub.submit(make_alert(rule="warn", priority=Priority.WARNING))
    hub.submit(make_alert(rule="crit", priority=Priority.CRITICAL))
    hub.submit(make_alert(rule="err", priority=Priority.ERROR))
    report = hub.close(5, report=False)
    rules = [json.loads(r.body)["attachments"][0]["fields"][0]["value"] for r in receiver.requests]
    assert rules == ["crit", "err"]
    assert report.counters.sinks["forwarders.slack"].queued == 2


def test_webhook_put_custom_headers_and_sidekick_payload(receiver, utc_tz):
    a = make_alert(time_ns=1735573264268296700)  # trailing zeros are trimmed in Go's RFC3339Nano
    a.output_fields["evt.time"] = a.time_ns
    config = {"forwarders": {"webhook": {"address": receiver.url + "hook", "method": "PUT",
                                         "customheaders": {"Authorization": "Bearer s3cret", "X-Team": "sec",
                                                           "content-type": "application/x-falco"}}}}
    run(config, a)
    [req] = receiver.requests
    assert req.method == "PUT" and req.path == "/hook"
    assert req.header("Authorization") == "Bearer s3cret" and req.header("X-Team") == "sec"
    assert req.header("Content-Type") == "application/x-falco"  # custom headers replace the defaults
    assert req.header("User-Agent") == "Falcosidekick"
    assert req.body.endswith(b"}\n")
    payload = json.loads(req.body)
    assert list(payload) == ["uuid", "output", "priority", "rule", "time", "output_fields", "source", "tags", "hostname"]
    assert uuid.UUID(payload["uuid"]).version == 4
    assert payload["time"] == "2024-12-30T15:41:04.2682967Z"
    assert payload["output"] == alert_to_text(a)
    assert payload["priority"] == "Warning" and payload["source"] == "syscall"
    assert payload["tags"] == ["T1555", "filesystem", "mitre_credential_access"]
    assert payload["output_fields"]["evt.time"] == 1735573264268296700
    assert payload["output_fields"]["proc.pname"] is None
    assert re.search(rb'"output_fields":\{"evt.time":1735573264268296700,"fd.name"', req.body)


def test_webhook_default_post_and_omitted_empty_tags(receiver):
    run({"forwarders": {"webhook": {"address": receiver.url}}}, make_alert(tags=[], hostname=""))
    [req] = receiver.requests
    assert req.method == "POST"
    assert req.header("Content-Type") == "application/json; charset=utf-8"
    payload = json.loads(req.body)
    assert "tags" not in payload  # omitempty, as Go marshals FalcoPayload
    assert payload["hostname"]  # Falco fills the host name when the alert has none

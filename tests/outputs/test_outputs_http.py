"""Falco's http_output against a real local receiver: the exact request Falco's libcurl makes."""

from __future__ import annotations

import json

from outputs_helpers import ALERT_NS, make_alert, sidekick_check

from pdigpy.engine.format import alert_to_json, alert_to_text
from pdigpy.outputs import OutputHub

# Falco's JSON for make_alert() in ISO mode, written out by hand from Falco's format (sorted keys,
# compact, 9-digit UTC time, evt.time.iso8601 merged into output_fields, sorted tags).
GOLDEN_ISO = (
    '{"hostname":"test-host","output":"2024-12-30T15:41:04.268296715+0000: Warning Sensitive file opened for '
    'reading by non-trusted program (file=/etc/shadow user=root proc=cat cmd=cat /etc/shadow parent=<NA>)",'
    '"output_fields":{"evt.time.iso8601":1735573264268296715,"fd.name":"/etc/shadow","proc.cmdline":"cat /etc/shadow",'
    '"proc.name":"cat","proc.pname":null,"proc.tty":34816,"user.loginuid":-1,"user.name":"root"},'
    '"priority":"Warning","rule":"Read sensitive file untrusted","source":"syscall",'
    '"tags":["T1555","filesystem","mitre_credential_access"],"time":"2024-12-30T15:41:04.268296715Z"}'
)


def http_config(url: str, **http: object) -> dict:
    return {
        "json_output": True,
        "stderr_output": {"enabled": False},
        "http_output": {"enabled": True, "url": url, **http},
        "pdigpy": {"retry": {"window": 2, "initial_backoff": 0.05, "max_backoff": 0.2}},
    }


def iso_alert():
    alert = make_alert()
    alert.output_fields = {k: v for k, v in alert.output_fields.items() if k != "evt.time"}
    return alert


def test_body_is_falcos_json_byte_for_byte_and_sidekick_accepts_it(receiver):
    config = http_config(receiver.url + "falco", user_agent="falcosecurity/falco")
    config["time_format_iso_8601"] = True
    hub = OutputHub.from_config(config)
    hub.start()
    assert hub.submit(iso_alert())
    report = hub.close(5)
    [req] = receiver.requests
    assert req.method == "POST" and req.path == "/falco"
    assert req.body == GOLDEN_ISO.encode()
    assert not req.body.endswith(b"\n")
    assert sidekick_check(req.method, req.body) == (200, "")
    # The headers libcurl sends, in its order (Host first, then User-Agent, Accept, Content-Type, Content-Length).
    assert [k for k, _ in req.headers] == ["Host", "User-Agent", "Accept", "Content-Type", "Content-Length"]
    assert req.header("Content-Type") == "application/json"
    assert req.header("User-Agent") == "falcosecurity/falco"
    assert req.header("Accept") == "*/*"
    assert req.header("Host") == f"127.0.0.1:{receiver.port}"
    assert req.header("Content-Length") == str(len(GOLDEN_ISO.encode()))
    c = report.counters.sinks["http_output"]
    assert (c.queued, c.sent, c.retried, c.failed, c.dropped) == (1, 1, 0, 0, 0)
    assert report.all_delivered and report.lines() == []


def test_default_time_format_body_equals_alert_to_json(receiver, utc_tz):
    alert = make_alert()
    hub = OutputHub.from_config(http_config(receiver.url))
    hub.start()
    hub.submit(alert)
    hub.close(5)
    [req] = receiver.requests
    assert req.body == alert_to_json(alert).encode()
    body = json.loads(req.body)
    assert body["output"].startswith("15:41:04.268296715: Warning Sensitive file opened")
    assert body["output_fields"]["evt.time"] == ALERT_NS
    assert body["time"] == "2024-12-30T15:41:04.268296715Z"
    assert sidekick_check(req.method, req.body)[0] == 200


def test_json_include_keys_are_honoured(receiver):
    config = http_config(receiver.url)
    config.update(json_include_output_property=False, json_include_tags_property=False)
    hub = OutputHub.from_config(config)
    hub.start()
    hub.submit(make_alert())
    hub.close(5)
    body = json.loads(receiver.requests[0].body)
    assert "output" not in body and "tags" not in body
    assert body["rule"] == "Read sensitive file untrusted"


def test_text_mode_posts_the_text_line_as_text_plain(receiver):
    alert = make_alert()
    config = http_config(receiver.url)
    config["json_output"] = False
    hub = OutputHub.from_config(config)
    hub.start()
    hub.submit(alert)
    hub.close(5)
    [req] = receiver.requests
    assert req.header("Content-Type") == "text/plain"
    assert req.body == alert_to_text(alert).encode()
    # falcosidekick would refuse it, as it refuses Falco's text mode.
    assert sidekick_check(req.method, req.body)[0] == 400


def test_compress_uploads_user_agent_and_quoted_url(receiver):
    config = http_config(f'"{receiver.url}x?y=1"', compress_uploads=True, user_agent="my-agent/2", keep_alive=True)
    hub = OutputHub.from_config(config)
    hub.start()
    hub.submit(make_alert())
    hub.submit(make_alert(rule="second"))
    hub.close(5)
    first, second = receiver.requests
    assert first.path == "/x?y=1"
    assert first.header("User-Agent") == "my-agent/2"
    # libcurl's CURLOPT_TRANSFER_ENCODING: asks for a compressed answer; the upload stays plain.
    assert first.header("TE") == "gzip" and first.header("Connection") == "TE"
    assert json.loads(first.body)["rule"] == "Read sensitive file untrusted"
    assert json.loads(second.body)["rule"] == "second"


def test_echo_prints_the_answer_on_stderr_not_stdout(receiver, capsys):
    receiver.reply = b"answer-from-receiver\n"
    hub = OutputHub.from_config(http_config(receiver.url, echo=True))
    hub.start()
    hub.submit(make_alert())
    hub.close(5)
    out, err = capsys.readouterr()
    assert "answer-from-receiver" in err
    assert out == ""


def test_sidekick_refusal_is_a_final_failure_not_retried(receiver):
    receiver.status = 400
    hub = OutputHub.from_config(http_config(receiver.url))
    hub.start()
    hub.submit(make_alert())
    report = hub.close(5, report=False)
    c = report.counters.sinks["http_output"]
    assert (c.sent, c.retried, c.failed) == (0, 0, 1)
    assert len(receiver.requests) == 1
    assert "HTTP 400" in report.errors["http_output"]

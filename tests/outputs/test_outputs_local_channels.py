"""Falco's local channels: stderr/stdout, file, syslog (to a socket of the test's own) and program."""

from __future__ import annotations

import os
import re
import socket
import sys
import time

import pytest
from outputs_helpers import make_alert

from pdigpy.engine.format import alert_to_json, alert_to_text
from pdigpy.engine.priority import Priority
from pdigpy.outputs import ConfigError, OutputHub


def run(config: dict, *alerts, timeout: float = 5):
    hub = OutputHub.from_config(config)
    hub.start()
    for a in alerts:
        hub.submit(a)
    return hub.close(timeout, report=False)


# -- stderr / stdout ------------------------------------------------------------------------------

def test_stderr_is_the_default_and_plain_when_not_a_terminal(capsys):
    a = make_alert()
    report = run({}, a)
    out, err = capsys.readouterr()
    assert err == alert_to_text(a) + "\n"
    assert out == ""  # never the app's stdout by default
    assert report.counters.sinks["stderr_output"].sent == 1


def test_stderr_is_coloured_by_priority_on_a_terminal(monkeypatch):
    master, slave = os.openpty()
    tty = open(slave, "w", encoding="utf-8", closefd=True)
    monkeypatch.setattr(sys, "stderr", tty)
    try:
        run({}, make_alert(priority=Priority.WARNING), make_alert(priority=Priority.CRITICAL, rule="c"))
        tty.flush()
        data = b""
        while True:
            chunk = os.read(master, 65536)
            data += chunk
            if data.count(b"\n") >= 2 or not chunk:
                break
    finally:
        monkeypatch.undo()
        tty.close()
        os.close(master)
    text = data.decode()
    assert "\x1b[33m" in text  # yellow: Warning
    assert "\x1b[1;31m" in text  # bold red: Critical
    assert "Sensitive file opened" in text


def test_json_on_stdout_when_asked(capsys):
    a = make_alert()
    run({"json_output": True, "stdout_output": {"enabled": True}, "stderr_output": {"enabled": False}}, a)
    out, err = capsys.readouterr()
    assert out == alert_to_json(a) + "\n" and err == ""


# -- file ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("keep_alive", [False, True])
def test_file_appends_one_line_per_alert(tmp_path, keep_alive):
    path = tmp_path / "events.txt"
    path.write_text("earlier line\n")
    a, b = make_alert(rule="one"), make_alert(rule="two")
    run({"json_output": True, "stderr_output": {"enabled": False},
         "file_output": {"enabled": True, "filename": str(path), "keep_alive": keep_alive}}, a, b)
    assert path.read_text() == "earlier line\n" + alert_to_json(a) + "\n" + alert_to_json(b) + "\n"


def test_unwritable_file_is_a_startup_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^file_output.filename: cannot open .*No such file or directory"):
        OutputHub.from_config({"file_output": {"enabled": True, "filename": str(tmp_path / "missing" / "x.txt")}})


# -- syslog ----------------------------------------------------------------------------------------

SYSLOG_LINE = re.compile(r"^<(\d+)>([A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d) ([^:]+): (.*)$", re.S)


@pytest.fixture
def unix_dgram(tmp_path):
    path = str(tmp_path / "log")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def test_syslog_datagram_as_glibc_writes_it(unix_dgram):
    path, sock = unix_dgram
    a = make_alert()
    report = run({"stderr_output": {"enabled": False}, "syslog_output": {"enabled": True, "address": path}}, a)
    data = sock.recv(65536)
    m = SYSLOG_LINE.match(data.decode())
    assert m, data
    assert int(m.group(1)) == 1 * 8 + 4  # facility user, severity warning (Falco's priority number)
    assert m.group(3) == "pdigpy"
    assert m.group(4) == alert_to_text(a)  # the full line, prefix included; no newline
    assert report.counters.sinks["syslog_output"].sent == 1


def test_syslog_facility_ident_and_severities(unix_dgram):
    path, sock = unix_dgram
    alerts = [make_alert(priority=p, rule=p.label) for p in Priority]
    run({"json_output": True, "stderr_output": {"enabled": False},
         "syslog_output": {"enabled": True, "address": path, "facility": "local3", "ident": "falco"}}, *alerts)
    for p in Priority:
        m = SYSLOG_LINE.match(sock.recv(65536).decode())
        assert int(m.group(1)) == 19 * 8 + int(p)
        assert m.group(3) == "falco"
        assert m.group(4) == alert_to_json(alerts[int(p)])


def test_syslog_over_udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    try:
        port = sock.getsockname()[1]
        a = make_alert(priority=Priority.ERROR)
        run({"stderr_output": {"enabled": False},
             "syslog_output": {"enabled": True, "address": f"udp://127.0.0.1:{port}"}}, a)
        m = SYSLOG_LINE.match(sock.recv(65536).decode())
        assert int(m.group(1)) == 8 + 3 and m.group(4) == alert_to_text(a)
    finally:
        sock.close()


def test_syslog_stream_socket_gets_nul_terminated_messages(tmp_path):
    path = str(tmp_path / "stream-log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(5)
    try:
        a, b = make_alert(rule="one"), make_alert(rule="two")
        hub = OutputHub.from_config({"stderr_output": {"enabled": False},
                                     "syslog_output": {"enabled": True, "address": path}})
        conn, _ = server.accept()
        conn.settimeout(5)
        hub.start()
        hub.submit(a)
        hub.submit(b)
        hub.close(5, report=False)
        data = b""
        while data.count(b"\0") < 2:
            data += conn.recv(65536)
        first, second, _ = data.split(b"\0")
        assert SYSLOG_LINE.match(first.decode()).group(4) == alert_to_text(a)
        assert SYSLOG_LINE.match(second.decode()).group(4) == alert_to_text(b)
        conn.close()
    finally:
        server.close()


def test_syslog_without_a_daemon_is_a_startup_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^syslog_output.address: cannot reach the syslog socket"):
        OutputHub.from_config({"syslog_output": {"enabled": True, "address": str(tmp_path / "nobody")}})


# -- program ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("keep_alive, processes", [(False, 3), (True, 1)])
def test_program_gets_one_line_per_alert_on_stdin(tmp_path, keep_alive, processes):
    out, pids = tmp_path / "out.txt", tmp_path / "pids.txt"
    program = f"echo $$ >> {pids}; cat >> {out}"
    alerts = [make_alert(rule=f"p{i}") for i in range(3)]
    report = run({"json_output": True, "stderr_output": {"enabled": False},
                  "program_output": {"enabled": True, "program": program, "keep_alive": keep_alive}}, *alerts)
    assert out.read_text() == "".join(alert_to_json(a) + "\n" for a in alerts)
    assert len(pids.read_text().split()) == processes
    assert report.counters.sinks["program_output"].sent == 3


def test_program_through_the_shell_pipeline(tmp_path):
    out = tmp_path / "rules.txt"
    run({"json_output": True, "stderr_output": {"enabled": False},
         "program_output": {"enabled": True, "program": f"tr -d '\\n' | wc -c > {out}"}}, make_alert())
    assert int(out.read_text()) == len(alert_to_json(make_alert()).encode())


def test_program_stdout_goes_to_stderr_never_stdout(capfd):
    a = make_alert()
    run({"stderr_output": {"enabled": False}, "program_output": {"enabled": True, "program": "cat"}}, a)
    out, err = capfd.readouterr()
    assert out == ""
    assert err == alert_to_text(a) + "\n"


def test_program_failure_is_counted():
    report = run({"stderr_output": {"enabled": False},
                  "program_output": {"enabled": True, "program": "cat > /dev/null; exit 3"}}, make_alert())
    c = report.counters.sinks["program_output"]
    assert (c.sent, c.failed) == (0, 1)
    assert "exited with status 3" in report.errors["program_output"]


def test_empty_program_is_a_startup_error():
    with pytest.raises(ConfigError, match=r"^program_output.program: is empty"):
        OutputHub.from_config({"program_output": {"enabled": True, "program": " "}})


def test_reopen_moves_to_a_new_file_after_rotation(tmp_path):
    path = tmp_path / "events.txt"
    hub = OutputHub.from_config({"json_output": True, "stderr_output": {"enabled": False},
                                 "file_output": {"enabled": True, "filename": str(path), "keep_alive": True}})
    hub.start()
    hub.submit(make_alert(rule="before"))
    deadline = time.monotonic() + 5
    while hub.counters.sinks["file_output"].sent < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    path.rename(tmp_path / "events.txt.1")  # logrotate
    hub.reopen()
    hub.submit(make_alert(rule="after"))
    hub.close(5, report=False)
    assert "before" in (tmp_path / "events.txt.1").read_text()
    assert "after" in path.read_text() and "before" not in path.read_text()


def test_reopen_restarts_a_kept_alive_program(tmp_path):
    pids = tmp_path / "pids.txt"
    hub = OutputHub.from_config({"stderr_output": {"enabled": False},
                                 "program_output": {"enabled": True, "keep_alive": True,
                                                    "program": f"echo $$ >> {pids}; cat > /dev/null"}})
    hub.start()
    hub.submit(make_alert())
    deadline = time.monotonic() + 5
    while hub.counters.sinks["program_output"].sent < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    hub.reopen()
    hub.submit(make_alert())
    report = hub.close(5, report=False)
    assert report.counters.sinks["program_output"].sent == 2
    assert len(pids.read_text().split()) == 2

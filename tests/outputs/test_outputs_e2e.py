"""End to end: pdigpy traces a real program; its alerts reach a local receiver before pdigpy exits."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from outputs_helpers import Receiver, sidekick_check

RULES = """
- rule: Test read of passwd
  desc: the traced program opens /etc/passwd
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/passwd
  output: "passwd opened (proc=%proc.name file=%fd.name)"
  priority: WARNING
  tags: [filesystem, pdigpy_outputs_test]
"""


def pdigpy(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pdigpy", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return str(path)


def test_alert_of_a_program_that_exits_at_once_is_delivered_before_pdigpy_exits(rules_file, tmp_path):
    receiver = Receiver(delay=0.2).start()  # slow enough that only the flush at exit can explain delivery
    try:
        out_file = tmp_path / "program.txt"
        result = pdigpy(
            "-r", rules_file, "--no-summary",
            "-o", "json_output=true",
            "-o", "http_output.enabled=true", "-o", f"http_output.url={receiver.url}falco",
            "-o", f"forwarders.webhook.address={receiver.url}hook",
            "-o", "program_output.enabled=true", "-o", f"program_output.program=cat >> {out_file}",
            "--", "cat", "/etc/passwd",
        )
        assert result.returncode == 0, result.stderr
        assert "root:" in result.stdout  # the app's stdout, untouched
        by_path = {r.path: r for r in receiver.requests}  # no waiting: pdigpy has already exited
        falco = by_path["/falco"]
        alert = json.loads(falco.body)
        assert alert["rule"] == "Test read of passwd"
        assert alert["output_fields"]["proc.name"] == "cat"
        assert sidekick_check(falco.method, falco.body)[0] == 200
        assert json.loads(by_path["/hook"].body)["rule"] == "Test read of passwd"
        assert json.loads(out_file.read_text())["rule"] == "Test read of passwd"
        stderr_alerts = [line for line in result.stderr.splitlines() if line.startswith("{")]
        assert [json.loads(line)["rule"] for line in stderr_alerts] == ["Test read of passwd"]
    finally:
        receiver.stop()


def test_a_dead_receiver_is_reported_and_does_not_change_the_apps_exit_code(rules_file):
    from outputs_helpers import free_port

    port = free_port()
    result = pdigpy(
        "-r", rules_file, "--no-summary",
        "-o", f"forwarders.webhook.address=http://127.0.0.1:{port}/", "-o", "pdigpy.flush_timeout=1",
        "--", "sh", "-c", "cat /etc/passwd > /dev/null; exit 3",
    )
    assert result.returncode == 3
    assert "forwarders.webhook: 1 of 1 alert(s) not delivered" in result.stderr
    assert "Connection refused" in result.stderr


def test_a_bad_output_setting_stops_pdigpy_before_the_app_runs(rules_file, tmp_path):
    marker = tmp_path / "ran"
    result = pdigpy("-r", rules_file, "-o", "forwarders.slack.webhook_url=http://x/", "--", "touch", str(marker))
    assert result.returncode != 0
    assert "forwarders.slack.webhook_url: unknown key; did you mean 'webhookurl'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()

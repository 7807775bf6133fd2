"""The end-of-run reports: summary (stderr), JUnit XML, stats lines."""

from __future__ import annotations

import io
import json
import time
import xml.etree.ElementTree as ET

from pdigpy.engine.alert import Alert
from pdigpy.engine.priority import Priority
from pdigpy.report.junit import MAX_FAILURES_PER_RULE, JUnitReport
from pdigpy.report.summary import AlertSummary
from pdigpy.stats import Stats, StatsReporter, format_text


def _alert(rule: str, priority: Priority, proc: str = "cat", pid: int = 100, output: str = "x") -> Alert:
    return Alert(time_ns=time.time_ns(), rule=rule, priority=priority, output=output,
                 output_fields={"evt.time": 1}, tags=["b", "a"], proc_name=proc, pid=pid)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_summary_counts_rules_and_processes_most_severe_first():
    summary = AlertSummary()
    for _ in range(3):
        summary.record(_alert("Noisy notice", Priority.NOTICE, "sh", 7))
    summary.record(_alert("Read ssh key", Priority.WARNING, "cat", 10))
    summary.record(_alert("Read ssh key", Priority.WARNING, "wc", 11))
    assert summary.total == 5
    assert summary.most_severe() == Priority.WARNING
    text = summary.render_plain()
    lines = text.splitlines()
    assert lines[0] == "pdigpy summary: 5 alerts from 2 rules"
    assert "Read ssh key" in lines[1] and "Warning" in lines[1] and "cat (10)" in lines[1] and "wc (11)" in lines[1]
    assert "Noisy notice" in lines[2] and "sh (7) x3" in lines[2] and lines[2].split()[0] == "3"


def test_summary_is_plain_off_a_terminal_and_a_table_on_one():
    summary = AlertSummary()
    summary.record(_alert("Shell spawned", Priority.NOTICE, "python3", 42))
    plain = io.StringIO()
    summary.print(plain)
    assert plain.getvalue() == summary.render_plain()
    tty = _Tty()
    summary.print(tty)
    out = tty.getvalue()
    assert "Shell spawned" in out and "python3 (42)" in out and "Count" in out
    assert out != plain.getvalue()


def test_empty_summary():
    assert AlertSummary().render_plain() == "pdigpy summary: no rule fired\n"


def test_junit_xml_lists_each_alert_as_a_failure(tmp_path):
    report = JUnitReport()
    report.record(_alert("Read ssh key", Priority.WARNING, output="ssh key read by cat\x01 <&>"))
    report.record(_alert("Read ssh key", Priority.WARNING, output="again"))
    report.record(_alert("Shell spawned", Priority.NOTICE, output="sh from python"))
    path = tmp_path / "out.xml"
    report.write(str(path), rule_names=["Quiet rule", "Read ssh key"], properties={"command": "demo"})
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "2"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["Quiet rule", "Read ssh key", "Shell spawned"]
    assert cases["Quiet rule"].find("failure") is None
    failures = cases["Read ssh key"].findall("failure")
    assert [f.get("message") for f in failures] == ["ssh key read by cat\\x01 <&>", "again"]
    assert failures[0].get("type") == "Warning"
    assert "rule: Read ssh key" in failures[0].text
    assert suite.find("properties/property").get("value") == "demo"


def test_junit_caps_failures_per_rule(tmp_path):
    report = JUnitReport()
    for i in range(MAX_FAILURES_PER_RULE + 5):
        report.record(_alert("Flood", Priority.INFORMATIONAL, output=str(i)))
    path = tmp_path / "flood.xml"
    report.write(str(path))
    case = ET.parse(path).getroot().find("testsuite/testcase")
    assert len(case.findall("failure")) == MAX_FAILURES_PER_RULE
    assert "5 more alerts" in case.find("system-out").text


def test_stats_file_gets_json_lines_and_a_final_record(tmp_path):
    stats = Stats()
    for t in ("openat", "openat", "read"):
        stats.count_event(t)
    stats.count_alert("r1")
    stats.output_counters = lambda: {"drops": 2, "queue_depth": 1}
    path = tmp_path / "stats.jsonl"
    err = io.StringIO()
    reporter = StatsReporter(stats, interval=0.05, path=str(path), verbose=True, stderr=err)
    reporter.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and path.stat().st_size == 0:
        time.sleep(0.02)
    reporter.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[-1]["kind"] == "final"
    assert any(r["kind"] == "interval" for r in records[:-1])
    final = records[-1]
    assert final["events"] == 3 and final["events_by_type"] == {"openat": 2, "read": 1}
    assert final["alerts_by_rule"] == {"r1": 1} and final["drops"] == 2 and final["queue_depth"] == 1
    assert final["cpu_user_s"] >= 0
    # -v: the final line is also on stderr, as text
    assert err.getvalue().startswith("pdigpy stats (final")
    assert "events=3" in format_text(final)

"""``--junit-xml FILE``: the alerts as a JUnit report, for CI dashboards.

One test suite ``pdigpy``; one test case per rule (class ``pdigpy.rules``):
a rule that fired is a failing case with one ``<failure>`` per alert (the
first :data:`MAX_FAILURES_PER_RULE`, then a note of how many more); a loaded
rule that did not fire is a passing case, so the dashboard shows what was
checked. Written with xml.etree, so the file is always well-formed.
"""

from __future__ import annotations

import os
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from pdigpy.engine.alert import Alert

MAX_FAILURES_PER_RULE = 100


class JUnitReport:
    def __init__(self) -> None:
        self.alerts: dict[str, list[Alert]] = {}
        self.counts: dict[str, int] = {}
        self.started = time.time()

    def record(self, alert: Alert) -> None:
        self.counts[alert.rule] = self.counts.get(alert.rule, 0) + 1
        kept = self.alerts.setdefault(alert.rule, [])
        if len(kept) < MAX_FAILURES_PER_RULE:
            kept.append(alert)

    def to_element(self, rule_names: Iterable[str] = (), properties: dict[str, str] | None = None) -> ET.Element:
        names = list(dict.fromkeys([*rule_names, *self.alerts]))
        elapsed = f"{time.time() - self.started:.3f}"
        failing = sum(1 for n in names if n in self.alerts)
        suites = ET.Element("testsuites", name="pdigpy", tests=str(len(names)), failures=str(failing),
                            errors="0", time=elapsed)
        suite = ET.SubElement(suites, "testsuite", name="pdigpy", tests=str(len(names)), failures=str(failing),
                              errors="0", skipped="0", time=elapsed, hostname=socket.gethostname(),
                              timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.started)))
        if properties:
            props = ET.SubElement(suite, "properties")
            for key, value in properties.items():
                ET.SubElement(props, "property", name=key, value=_clean(value))
        for name in names:
            case = ET.SubElement(suite, "testcase", classname="pdigpy.rules", name=_clean(name), time="0")
            for alert in self.alerts.get(name, []):
                failure = ET.SubElement(case, "failure", message=_clean(alert.output), type=alert.priority.label)
                failure.text = _clean(_alert_detail(alert))
            more = self.counts.get(name, 0) - len(self.alerts.get(name, []))
            if more > 0:
                ET.SubElement(case, "system-out").text = f"{more} more alerts of this rule not listed"
        return suites

    def write(self, path: str, rule_names: Iterable[str] = (), properties: dict[str, str] | None = None) -> None:
        tree = ET.ElementTree(self.to_element(rule_names, properties))
        ET.indent(tree)
        tmp = f"{path}.tmp{os.getpid()}"
        tree.write(tmp, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, path)


def _alert_detail(alert: Alert) -> str:
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(alert.time_ns // 1_000_000_000))
    when += f".{alert.time_ns % 1_000_000_000:09d}Z"
    lines = [f"{when} {alert.priority.label} {alert.output}",
             f"rule: {alert.rule}", f"process: {alert.proc_name} (pid {alert.pid})"]
    if alert.tags:
        lines.append("tags: " + ", ".join(sorted(alert.tags)))
    return "\n".join(lines)


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters, even escaped; make them visible instead."""
    return "".join(ch if ch in "\t\n\r" or (ord(ch) >= 0x20 and not 0xD800 <= ord(ch) <= 0xDFFF
                                             and ch not in "\ufffe\uffff") else f"\\x{ord(ch):02x}"
                   for ch in str(text))

"""fd.l4proto has one rule (pdigpy.events.model.l4proto) for socket(), for the tuples of
connect/accept (borrowed sockets) and for fds read from /proc: the protocol decides TCP, UDP and
ICMP, else the socket type. A traced raw UDP socket is "udp" at its connect (the tuple's own rule
once said "raw" there and overwrote what socket() had set)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from pdigpy.events.model import l4proto

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "cli"))
from cli_helpers import run_pdigpy  # noqa: E402


@pytest.mark.parametrize("socktype, proto, expected", [
    (socket.SOCK_STREAM, 0, "tcp"),
    (socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0, "tcp"),
    (socket.SOCK_DGRAM, 0, "udp"),
    (socket.SOCK_DGRAM, socket.IPPROTO_ICMP, "icmp"),  # ping socket
    (socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6, "icmp"),
    (socket.SOCK_RAW, socket.IPPROTO_ICMP, "icmp"),
    (socket.SOCK_RAW, socket.IPPROTO_UDP, "udp"),
    (socket.SOCK_RAW, socket.IPPROTO_TCP, "tcp"),
    (socket.SOCK_RAW, 255, "raw"),
    (socket.SOCK_SEQPACKET, 0, ""),
])
def test_l4proto_rule(socktype, proto, expected):
    assert l4proto(socktype, proto) == expected


RULES = """
- rule: pdigpy test raw udp socket
  desc: socket and connect of the test's raw socket
  condition: evt.type in (socket, connect) and fd.typechar = 4 and proc.name = python3
  output: "%evt.type l4proto=%fd.l4proto"
  priority: NOTICE
"""

APP = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
s.connect(("127.0.0.1", 9))
s.close()
"""


def test_raw_udp_socket_is_udp_at_connect(tmp_path):
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).close()
    except PermissionError:
        pytest.skip("raw sockets need CAP_NET_RAW")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    out = tmp_path / "alerts.jsonl"
    run = run_pdigpy("-r", str(rules), "--no-summary", "-o", "json_output=true", "-o", "file_output.enabled=true",
                     "-o", f"file_output.filename={out}", "--", "/usr/bin/python3", "-c", APP)
    assert run.returncode == 0, run.stderr
    seen = [json.loads(line)["output_fields"] for line in out.read_text().splitlines() if line.strip()]
    # at socket() it has no role yet, so Falco reads <NA>; connect gives it one
    assert [(f["evt.type"], f["fd.l4proto"]) for f in seen] == [("socket", "<NA>"), ("connect", "udp")]

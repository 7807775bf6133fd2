"""The real ``pdigpy`` command: rules see fds from before tracing; replay gives the same alerts.

- ``pdigpy -- CMD 3>FILE``: a shell redirection opened before pdigpy starts
  the app; a rule on ``fd.name`` fires on the app's writes to it (directly on
  fd 3, and through a dup to stdout).
- an inherited listening TCP socket on 127.0.0.1: fd.type ipv4, is_server,
  the port (the app shuts it down: shutdown's fd is the listener).
- ``pdigpy -p PID`` of a process that already has a log file and a connected
  socket open.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "cli"))
from cli_helpers import pdigpy_argv, run_pdigpy  # noqa: E402
from test_inherited_fds import _switches, _wait_attached  # noqa: E402

INHERITED_RULE = "pdigpy test inherited fd written"
LISTENER_RULE = "pdigpy test inherited listener shut down"


def _rules(path: Path, log: str, port: int = 0) -> Path:
    path.write_text(f"""\
- rule: {INHERITED_RULE}
  desc: the app writes to a file it did not open itself
  condition: evt.type in (write, sendto) and (fd.name = "{log}" or (fd.type = ipv4 and fd.sport = {port}))
  output: "inherited fd written (num=%fd.num name=%fd.name type=%fd.type proc=%proc.name)"
  priority: WARNING
  tags: [pdigpy_test]

- rule: {LISTENER_RULE}
  desc: the app shuts down a listening socket it was handed
  condition: evt.type = shutdown and fd.type = ipv4 and fd.is_server = true and fd.sport = {port}
  output: "listener (name=%fd.name l4=%fd.l4proto sport=%fd.sport)"
  priority: NOTICE
  tags: [pdigpy_test]
""")
    return path


def _alerts(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            alert = json.loads(line)
            alert.pop("time", None)
            alert.pop("hostname", None)
            out.append(alert)
    return out


def _json_file_output(path: Path) -> list[str]:
    return ["-o", "json_output=true", "-o", "file_output.enabled=true", "-o", f"file_output.filename={path}",
            "-o", "stderr_output.enabled=false"]


def _replay(capture: Path, rules: Path, tmp_path: Path) -> list[dict]:
    out = tmp_path / f"replayed-{uuid.uuid4().hex[:6]}.jsonl"
    rep = run_pdigpy("replay", str(capture), "-r", str(rules), *_json_file_output(out))
    assert rep.returncode == 0, rep.stderr
    return _alerts(out)


@pytest.fixture
def log_path():
    path = Path(f"/tmp/pdigpy-inherited-cli-{uuid.uuid4().hex[:10]}.log")
    yield path
    path.unlink(missing_ok=True)


def test_shell_redirect_before_pdigpy_is_known_to_rules(tmp_path, log_path):
    rules = _rules(tmp_path / "rules.yaml", str(log_path))
    live, capture = tmp_path / "live.jsonl", tmp_path / "capture.jsonl"
    app = (f"echo via-dup >&3; exec {sys.executable} -S -c "
           "'import os; os.write(3, b\"direct\\n\")'")
    # the shell opens the file as fd 3 of pdigpy itself, which the app inherits
    cmd = ["sh", "-c", f'exec "$@" 3>{log_path}', "sh", *pdigpy_argv(), "-r", str(rules),
           "--events", str(capture), *_json_file_output(live), "--", "sh", "-c", app]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert log_path.read_text() == "via-dup\ndirect\n"
    alerts = _alerts(live)
    fired = {(a["output_fields"]["proc.name"], a["output_fields"]["fd.num"]) for a in alerts
             if a["rule"] == INHERITED_RULE}
    assert ("sh", 1) in fired  # echo after dup2(3, 1)
    assert any(num == 3 and name.startswith("python") for name, num in fired)  # straight on fd 3
    assert all(a["output_fields"]["fd.name"] == str(log_path) and a["output_fields"]["fd.type"] == "file"
               for a in alerts)
    # the capture carries the inherited fd in the root's snapshot
    snaps = [json.loads(line) for line in capture.read_text().splitlines() if '"kind":"snapshot"' in line]
    with_fds = [s for s in snaps if "fds" in s["info"]]
    assert len(with_fds) == 1
    assert {"num": 3, "type": "file", "name": str(log_path)}.items() <= next(
        fd for fd in with_fds[0]["info"]["fds"] if fd["num"] == 3).items()
    assert _replay(capture, rules, tmp_path) == alerts


def test_inherited_listening_socket_is_an_ipv4_server(tmp_path, log_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    rules = _rules(tmp_path / "rules.yaml", str(log_path), port)
    live, capture = tmp_path / "live.jsonl", tmp_path / "capture.jsonl"
    got: list[bytes] = []

    def client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
            got.append(c.recv(2))

    t = threading.Thread(target=client, daemon=True)
    t.start()
    app = ("import socket; s = socket.socket(fileno=3); c, _ = s.accept(); c.sendall(b'hi'); "
           "s.shutdown(socket.SHUT_RDWR)")
    # pdigpy starts with the listener as its fd 3, as systemd's socket activation would hand it
    as_fd3 = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.execvp(sys.argv[2], sys.argv[2:])"
    cmd = [sys.executable, "-S", "-c", as_fd3, str(listener.fileno()), *pdigpy_argv(), "-r", str(rules),
           "--events", str(capture), *_json_file_output(live), "--", sys.executable, "-S", "-c", app]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, pass_fds=(listener.fileno(),))
    finally:
        t.join(timeout=30)
        listener.close()
    assert res.returncode == 0, res.stderr
    assert got == [b"hi"]
    alerts = _alerts(live)
    shut = [a for a in alerts if a["rule"] == LISTENER_RULE]
    assert len(shut) == 1
    assert dict(shut[0]["output_fields"], **{"evt.time": 0}) == {"evt.time": 0, "fd.name": f"127.0.0.1:{port}", "fd.l4proto": "tcp", "fd.sport": port}
    assert _replay(capture, rules, tmp_path) == alerts


TARGET = (
    "import os, socket, sys\n"
    "log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND)\n"
    "c = socket.create_connection(('127.0.0.1', int(sys.argv[2])))\n"
    "print('ready', flush=True)\n"
    "os.read(0, 3)  # held here while pdigpy attaches\n"
    "os.write(log, b'after attach\\n')\n"
    "c.sendall(b'hi')\n"
    "sys.exit(3)\n"
)


def test_attach_to_a_process_with_an_open_log_and_socket(tmp_path, log_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    rules = _rules(tmp_path / "rules.yaml", str(log_path), port)
    live, capture = tmp_path / "live.jsonl", tmp_path / "capture.jsonl"
    target = subprocess.Popen([sys.executable, "-S", "-c", TARGET, str(log_path), str(port)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    conn, _ = server.accept()
    pd = None
    try:
        assert target.stdout.readline() == b"ready\n"
        before = {target.pid: _switches(target.pid)[1]}
        pd = subprocess.Popen([*pdigpy_argv(), "-p", str(target.pid), "-r", str(rules), "--events",
                               str(capture), *_json_file_output(live)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_attached([target.pid], before, timeout=60)
        target.stdin.write(b"go\n")
        target.stdin.flush()
        conn.settimeout(30)
        assert conn.recv(2) == b"hi"
        _out, err = pd.communicate(timeout=60)
        assert target.wait(timeout=30) == 3
    finally:
        conn.close()
        server.close()
        if pd is not None and pd.poll() is None:
            pd.kill()
        if target.poll() is None:
            target.kill()
        target.stdin.close()
        target.stdout.close()
    assert pd.returncode == 3, err  # the target's exit code
    alerts = [a for a in _alerts(live) if a["rule"] == INHERITED_RULE]
    names = sorted(a["output_fields"]["fd.name"] for a in alerts)
    assert len(alerts) == 2, alerts
    assert names[0] == str(log_path)
    assert names[1].startswith("127.0.0.1:") and names[1].endswith(f"->127.0.0.1:{port}")
    assert {a["output_fields"]["fd.type"] for a in alerts} == {"file", "ipv4"}
    assert _replay(capture, rules, tmp_path) == _alerts(live)

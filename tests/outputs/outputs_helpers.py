"""Real counterparts for the output tests: an HTTP receiver, falcosidekick's input check, alerts."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from pdigpy.engine.alert import Alert
from pdigpy.engine.priority import Priority

# 2024-12-30T15:41:04.268296715Z
ALERT_NS = 1735573264268296715


def make_alert(**changes: Any) -> Alert:
    values: dict[str, Any] = dict(
        time_ns=ALERT_NS,
        rule="Read sensitive file untrusted",
        priority=Priority.WARNING,
        output="Sensitive file opened for reading by non-trusted program (file=/etc/shadow user=root "
               "proc=cat cmd=cat /etc/shadow parent=<NA>)",
        output_fields={
            "evt.time": ALERT_NS,
            "fd.name": "/etc/shadow",
            "proc.cmdline": "cat /etc/shadow",
            "proc.name": "cat",
            "proc.pname": None,
            "proc.tty": 34816,
            "user.loginuid": -1,
            "user.name": "root",
        },
        tags=["filesystem", "T1555", "mitre_credential_access"],
        hostname="test-host",
    )
    values.update(changes)
    return Alert(**values)


# ---------------------------------------------------------------------------------------------
# falcosidekick's input validation (main.go mainHandler / newFalcoPayload / FalcoPayload.Check)

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
SIDEKICK_PRIORITIES = {"emergency", "alert", "critical", "error", "warning", "notice", "informational", "info", "debug"}


def sidekick_check(method: str, body: bytes) -> tuple[int, str]:
    """(status, reason) as falcosidekick's main handler would answer this request."""
    if method != "POST":
        return 400, "Please send with post http method"
    try:
        payload = json.loads(body)
    except ValueError:
        return 400, "Please send a valid request body"
    if not isinstance(payload, dict):
        return 400, "Please send a valid request body"
    t = payload.get("time")
    if not isinstance(t, str) or not _RFC3339.match(t):
        return 400, "Please send a valid request body"  # Go: time.Time fails to unmarshal
    m = _RFC3339.match(t)
    try:
        datetime(*(int(m.group(i)) for i in range(1, 7)))
    except ValueError:
        return 400, "Please send a valid request body"
    priority = payload.get("priority")
    if not isinstance(priority, str) or priority.lower() not in SIDEKICK_PRIORITIES:
        return 400, "Please send a valid request body"
    if not payload.get("rule"):
        return 400, "Please send a valid request body"
    if not isinstance(payload.get("output_fields"), dict) or not payload["output_fields"]:
        return 400, "Please send a valid request body"
    return 200, ""


# ---------------------------------------------------------------------------------------------
# HTTP receiver


@dataclass
class Request:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Receiver:
    """A ThreadingHTTPServer on 127.0.0.1 that records requests and answers as told."""

    status: int | Callable[[Request], int] = 200
    reply: bytes = b""
    delay: float = 0.0  # seconds before answering
    requests: list[Request] = field(default_factory=list)  # every request seen
    accepted: list[Request] = field(default_factory=list)  # those answered with 2xx
    port: int = 0
    ssl_context: Any = None  # an ssl.SSLContext (server side) to serve https
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _got: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, list(self.headers.items()), body)
                with receiver._got:
                    receiver.requests.append(request)
                    receiver._got.notify_all()
                status = receiver.status(request) if callable(receiver.status) else receiver.status
                with receiver._got:
                    if 200 <= status < 300:
                        receiver.accepted.append(request)
                    receiver._got.notify_all()
                if receiver.delay:
                    time.sleep(receiver.delay)
                reply = receiver.reply
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the client gave up waiting (timeout tests)

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # failed TLS handshakes and clients that gave up are part of the tests

        server = Server(("127.0.0.1", self.port), Handler)
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context is not None else 'http'}://127.0.0.1:{self.port}/"

    def wait_for(self, count: int, timeout: float = 10.0, accepted: bool = False) -> list[Request]:
        """The requests seen (or accepted), once there are ``count`` of them or after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._got:
            while len(self.accepted if accepted else self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._got.wait(remaining)
            return list(self.accepted if accepted else self.requests)


def sidekick_status(request: Request) -> int:
    return sidekick_check(request.method, request.body)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

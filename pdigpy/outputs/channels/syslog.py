"""Falco's ``syslog_output``: ``syslog(priority, "%s", message)`` as glibc sends it.

Falco never calls openlog(), so glibc's defaults apply: facility ``user``, the
program name as ident, no pid; the severity is the Falco priority number
(Emergency 0 .. Debug 7, the same scale as syslog). The datagram glibc writes
to ``/dev/log`` is ``<PRI>Mmm dd hh:mm:ss ident: message`` with PRI =
facility * 8 + severity, local time, no trailing newline.

pdigpy writes that datagram itself instead of calling libc's syslog(), so the
destination can be chosen (pdigpy keys in the same block):

- ``address``: a unix socket path (default ``/dev/log``) or ``udp://host:port``;
- ``ident``: default ``pdigpy`` (the program name, as with Falco's ``falco``);
- ``facility``: default ``user``; also kern, mail, daemon, auth, syslog, lpr,
  news, uucp, cron, authpriv, ftp, local0..local7.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

from pdigpy.outputs.config import ConfigError, Section
from pdigpy.outputs.retry import DeliveryError
from pdigpy.outputs.sink import Sink

if TYPE_CHECKING:
    from pdigpy.outputs.render import Rendered
    from pdigpy.outputs.settings import OutputSettings

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    **{f"local{i}": 16 + i for i in range(8)},
}
DEFAULT_ADDRESS = "/dev/log"


def syslog_datagram(facility: int, severity: int, ident: str, message: str, when: float | None = None) -> bytes:
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime(when))
    return f"<{facility * 8 + severity}>{stamp} {ident}: {message}".encode("utf-8", "replace")


class SyslogChannel(Sink):
    name = "syslog_output"
    retry = True  # a restarting syslog daemon refuses for a moment

    def __init__(self, address: str, facility: int, ident: str, timeout: float) -> None:
        super().__init__()
        self.address = address
        self.facility = facility
        self.ident = ident
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._stream = False  # unix stream sockets need a NUL after each message (as glibc does)

    def connect(self) -> None:
        if self.address.startswith("udp://"):
            host, port = parse_udp(self.address)
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(self.timeout)
            sock.connect((host, port))
            self._sock, self._stream = sock, False
            return
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.settimeout(self.timeout)
            sock.connect(self.address)
            self._sock, self._stream = sock, False
        except OSError as exc:
            sock.close()
            if exc.errno != 91:  # EPROTOTYPE: the daemon listens on a stream socket, like glibc's fallback
                raise
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(self.address)
            self._sock, self._stream = sock, True

    def send(self, item: Rendered) -> None:
        data = syslog_datagram(self.facility, int(item.alert.priority), self.ident, item.message)
        if self._stream:
            data += b"\0"
        try:
            if self._sock is None:
                self.connect()
            assert self._sock is not None
            if self._stream:
                self._sock.sendall(data)
            else:
                self._sock.send(data)
        except OSError as exc:
            self.close(0)
            raise DeliveryError(f"syslog {self.address}: {exc.strerror or exc}") from None

    def close(self, deadline: float) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def parse_udp(address: str) -> tuple[str, int]:
    rest = address[len("udp://"):]
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected udp://HOST:PORT, got {address!r}")
    return host, int(port)


def syslog_channel(section: Section, settings: OutputSettings) -> SyslogChannel:
    address = section.str("address", DEFAULT_ADDRESS).strip() or DEFAULT_ADDRESS
    facility = FACILITIES[section.choice("facility", tuple(FACILITIES), "user")]
    ident = section.str("ident", "pdigpy")
    channel = SyslogChannel(address, facility, ident, settings.output_timeout)
    try:
        channel.connect()
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(section.key("address") if section.has("address") else section.path,
                          f"cannot reach the syslog socket {address!r} ({why}); start a syslog daemon, "
                          "set syslog_output.address, or set syslog_output.enabled=false") from None
    return channel

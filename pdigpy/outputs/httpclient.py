"""A small persistent HTTP/1.1 client for the HTTP sinks (http_output, Slack, webhook).

Standard library only (http.client + ssl), one connection per sink thread,
reused between alerts like libcurl's handle in Falco. A request that fails on
a reused connection (the server closed it while idle) is sent once more on a
fresh one. Every attempt is bounded by the timeout (falco.yaml
``output_timeout``), connect and response alike.

Statuses: 2xx is success (``success`` narrows it); 408, 425, 429 and 5xx
are worth retrying; any other status is a final failure for that alert.
Transport errors (refused, reset, timeout, TLS) are worth retrying.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Iterable
from urllib.parse import urlsplit

from pdigpy.outputs.retry import DeliveryError

RETRYABLE_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))


def parse_http_url(url: str) -> tuple[str, str, int | None, str]:
    """(scheme, host, port, path-with-query); raises ValueError with a short reason."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in URL {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in URL {url!r}") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


class HttpTarget:
    def __init__(
        self,
        url: str,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        tcp_keepalive: bool = False,
        success: Iterable[int] | None = None,
    ) -> None:
        self.url = url
        self.scheme, self.host, self.port, self.path = parse_http_url(url)
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.tcp_keepalive = tcp_keepalive
        self.success = frozenset(success) if success is not None else frozenset(range(200, 300))
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.connect()
        if self.tcp_keepalive and conn.sock is not None:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def request(self, method: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, bytes]:
        """Send one request; returns (status, response body) for a success, else raises DeliveryError."""
        for attempt in (1, 2):
            reused = self._conn is not None
            try:
                if self._conn is None:
                    self._conn = self._connect()
                conn = self._conn
                conn.putrequest(method, self.path, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders(body)
                response = conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reused and attempt == 1:
                    continue  # stale keep-alive connection: once more on a fresh one
                raise DeliveryError(f"{self.url}: connection lost ({exc.__class__.__name__})") from None
            except (socket.timeout, TimeoutError):
                self.close()
                raise DeliveryError(f"{self.url}: no answer within {self.timeout:g}s") from None
            except ssl.SSLError as exc:
                self.close()
                raise DeliveryError(f"{self.url}: TLS error: {exc.reason or exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or exc.__class__.__name__
                raise DeliveryError(f"{self.url}: {why}") from None
            if response.status in self.success:
                return response.status, data
            snippet = data[:200].decode("utf-8", "replace").strip()
            detail = f": {snippet}" if snippet else ""
            raise DeliveryError(f"{self.url}: HTTP {response.status} {response.reason}{detail}",
                                retryable=response.status in RETRYABLE_STATUSES)
        raise AssertionError("unreachable")

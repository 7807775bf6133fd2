"""Falco's ``http_output``: one POST per alert, as Falco's libcurl call makes it.

The request, as Falco sends it (e.g. to falcosidekick):

- ``POST <url>``; a URL wrapped in quotes is unquoted, as Falco does;
- body: the message exactly, with no trailing newline;
- headers: ``Host``, ``User-Agent: <user_agent>`` (default ``falcosecurity/falco``),
  ``Accept: */*``, ``Content-Type: application/json`` with ``json_output``
  (else ``text/plain``), ``Content-Length``; with ``compress_uploads: true``
  also ``Connection: TE`` and ``TE: gzip`` - that is what libcurl's
  CURLOPT_TRANSFER_ENCODING does (it asks the server to compress its *answer*;
  the upload itself is never compressed, in Falco either).

TLS (https URLs): ``insecure`` skips certificate and host checks; the CA is
``ca_cert``, else ``ca_bundle`` (files), else ``ca_path`` (a hashed directory);
``mtls`` presents ``client_cert`` / ``client_key``. ``keep_alive`` turns on TCP
keepalive probes; the connection itself is reused between alerts either way,
as libcurl does. ``echo`` prints the server's answer - on stderr, since
pdigpy never writes on the app's stdout.

Differences, for delivery guarantees: Falco ignores the HTTP status and retries
only timeouts (``max_consecutive_timeouts``); pdigpy counts 2xx as delivered,
retries transport errors, 408/425/429 and 5xx within the retry window, and
gives up at once on other statuses. ``max_consecutive_timeouts`` is accepted
and superseded by the retry window.
"""

from __future__ import annotations

import os
import ssl
import sys
from typing import TYPE_CHECKING

from pdigpy.outputs.config import ConfigError, Section
from pdigpy.outputs.httpclient import HttpTarget, parse_http_url
from pdigpy.outputs.sink import Sink

if TYPE_CHECKING:
    from pdigpy.outputs.render import Rendered
    from pdigpy.outputs.settings import OutputSettings


class HttpChannel(Sink):
    name = "http_output"
    retry = True

    def __init__(self, target: HttpTarget, user_agent: str, json_output: bool, compress_uploads: bool,
                 echo: bool) -> None:
        super().__init__()
        self.target = target
        self.echo = echo
        headers = [("User-Agent", user_agent), ("Accept", "*/*")] if user_agent else [("Accept", "*/*")]
        if compress_uploads:
            headers += [("Connection", "TE"), ("TE", "gzip")]
        headers.append(("Content-Type", "application/json" if json_output else "text/plain"))
        self.headers = headers

    def send(self, item: Rendered) -> None:
        body = item.message.encode("utf-8", "replace")
        _, answer = self.target.request("POST", self.headers + [("Content-Length", str(len(body)))], body)
        if self.echo and answer:
            sys.stderr.write(answer.decode("utf-8", "replace"))
            sys.stderr.flush()

    def close(self, deadline: float) -> None:
        self.target.close()


def unquote_url(url: str) -> str:
    url = url.strip()
    if len(url) >= 2 and url[0] == url[-1] and url[0] in "\"'":
        return url[1:-1]
    return url


def falco_ssl_context(section: Section) -> ssl.SSLContext:
    """libcurl's verification settings from http_output's keys, as Falco sets them."""
    ca_cert = section.str("ca_cert").strip()
    ca_bundle = section.str("ca_bundle").strip()
    ca_path = section.str("ca_path", "/etc/ssl/certs").strip()
    try:
        if ca_cert or ca_bundle:
            key = "ca_cert" if ca_cert else "ca_bundle"
            ctx = ssl.create_default_context(cafile=ca_cert or ca_bundle)
        elif ca_path and os.path.isdir(ca_path):
            key = "ca_path"
            ctx = ssl.create_default_context(capath=ca_path)
        else:
            key = "ca_path"
            ctx = ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(section.key(key), f"cannot load CA certificates ({exc}); give a PEM file or directory") from None
    if section.bool("insecure", False):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if section.bool("mtls", False):
        cert = section.str("client_cert", "/etc/ssl/certs/client.crt")
        key_file = section.str("client_key", "/etc/ssl/certs/client.key")
        try:
            ctx.load_cert_chain(cert, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(section.key("client_cert"), f"cannot load the client certificate {cert!r} and key "
                              f"{key_file!r} ({exc}); fix the paths or set http_output.mtls=false") from None
    return ctx


def http_channel(section: Section, settings: OutputSettings) -> HttpChannel:
    url = unquote_url(section.str("url"))
    if not url:
        raise ConfigError(section.key("url"), "is empty; give the receiver's URL, e.g. http://falcosidekick:2801/, "
                          "or set http_output.enabled=false")
    try:
        scheme = parse_http_url(url)[0]
    except ValueError as exc:
        raise ConfigError(section.key("url"), f"{exc}") from None
    section.number("max_consecutive_timeouts", 5, integer=True)
    ctx = falco_ssl_context(section) if scheme == "https" else None
    target = HttpTarget(url, settings.output_timeout, ctx, tcp_keepalive=section.bool("keep_alive", False))
    return HttpChannel(
        target,
        user_agent=section.str("user_agent", "falcosecurity/falco"),
        json_output=settings.json_output,
        compress_uploads=section.bool("compress_uploads", False),
        echo=section.bool("echo", False),
    )

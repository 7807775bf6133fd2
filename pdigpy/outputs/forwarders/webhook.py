"""Generic webhook, as falcosidekick's ``webhook`` output.

Keys (``forwarders.webhook``): ``address`` (required), ``method`` (``POST``
default, or ``PUT``), ``customheaders`` (a map; they are set after the default
headers, so they can replace them), ``minimumpriority``, ``checkcert``, ``mutualtls``.

The body is falcosidekick's FalcoPayload JSON with a trailing newline
(json.Encoder), headers ``Content-Type: application/json; charset=utf-8`` and
``User-Agent: Falcosidekick``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pdigpy.outputs.config import ConfigError, Section
from pdigpy.outputs.forwarders.common import (HTTP_TLS_KEYS, SIDEKICK_CONTENT_TYPE, SIDEKICK_SUCCESS,
                                              SIDEKICK_USER_AGENT, sidekick_ssl_context)
from pdigpy.outputs.httpclient import HttpTarget, parse_http_url
from pdigpy.outputs.payloads import marshal_payload
from pdigpy.outputs.sink import Sink

if TYPE_CHECKING:
    from pdigpy.outputs.render import Rendered
    from pdigpy.outputs.settings import OutputSettings

KEYS = ("address", "method", "customheaders", "minimumpriority") + HTTP_TLS_KEYS


class WebhookForwarder(Sink):
    name = "forwarders.webhook"
    retry = True
    needs_payload = True

    def __init__(self, target: HttpTarget, method: str, custom_headers: dict[str, str], min_priority) -> None:
        super().__init__(min_priority)
        self.target = target
        self.method = method
        headers = {"Content-Type": SIDEKICK_CONTENT_TYPE, "User-Agent": SIDEKICK_USER_AGENT}
        lowered = {k.lower(): k for k in headers}
        for key, value in custom_headers.items():
            headers.pop(lowered.get(key.lower(), key), None)
            headers[key] = value
        self.headers = list(headers.items())

    def send(self, item: Rendered) -> None:
        assert item.payload is not None
        body = marshal_payload(item.payload, newline=True)
        self.target.request(self.method, self.headers + [("Content-Length", str(len(body)))], body)

    def close(self, deadline: float) -> None:
        self.target.close()


def webhook_forwarder(section: Section, forwarders: Section, settings: OutputSettings) -> WebhookForwarder:
    section.check_keys(KEYS)
    url = section.required_str("address", "give the receiver's URL, e.g. http://127.0.0.1:8080/alerts")
    try:
        scheme = parse_http_url(url)[0]
    except ValueError as exc:
        raise ConfigError(section.key("address"), str(exc)) from None
    headers = section.mapping("customheaders")
    for key, value in headers.items():
        if not key.strip() or any(c in key + value for c in "\r\n"):
            raise ConfigError(section.key("customheaders"), f"bad header {key!r}; names must be non-empty, "
                              "and names and values on one line")
    ctx = sidekick_ssl_context(forwarders, section) if scheme == "https" else None
    return WebhookForwarder(
        HttpTarget(url, settings.output_timeout, ctx, success=SIDEKICK_SUCCESS),
        section.choice("method", ("POST", "PUT"), "POST"),
        headers,
        section.priority("minimumpriority"),
    )

"""Slack incoming webhook, in falcosidekick's message layout.

Keys (``forwarders.slack``), as falcosidekick names them: ``webhookurl``
(required), ``channel``, ``username``, ``icon``, ``footer``, ``outputformat``
(``all`` | ``text`` | ``fields``), ``messageformat`` (a Go template, see
:mod:`pdigpy.outputs.gotemplate`), ``minimumpriority``, ``checkcert``, ``mutualtls``.

The body is sidekick's legacy-attachments message (:func:`payloads.slack_message`)
as Go's json.Encoder writes it (trailing newline), POSTed with sidekick's
headers. Slack answers ``200 ok``; 429 and 5xx are retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pdigpy.outputs.config import ConfigError, Section
from pdigpy.outputs.forwarders.common import (HTTP_TLS_KEYS, SIDEKICK_CONTENT_TYPE, SIDEKICK_SUCCESS,
                                              SIDEKICK_USER_AGENT, sidekick_ssl_context)
from pdigpy.outputs.gotemplate import GoTemplate, TemplateError
from pdigpy.outputs.httpclient import HttpTarget, parse_http_url
from pdigpy.outputs.payloads import SLACK_OUTPUT_FORMATS, go_json, slack_message
from pdigpy.outputs.sink import Sink

if TYPE_CHECKING:
    from pdigpy.outputs.render import Rendered
    from pdigpy.outputs.settings import OutputSettings

KEYS = ("webhookurl", "channel", "username", "icon", "footer", "outputformat", "messageformat",
        "minimumpriority") + HTTP_TLS_KEYS


class SlackForwarder(Sink):
    name = "forwarders.slack"
    retry = True
    needs_payload = True

    def __init__(self, target: HttpTarget, *, outputformat: str, messageformat: GoTemplate | None,
                 username: str, icon: str, channel: str, footer: str, min_priority) -> None:
        super().__init__(min_priority)
        self.target = target
        self.options = dict(outputformat=outputformat, messageformat=messageformat, username=username,
                            icon=icon, channel=channel, footer=footer)

    def message(self, item: Rendered) -> dict:
        assert item.payload is not None
        return slack_message(item.payload, **self.options)

    def send(self, item: Rendered) -> None:
        body = go_json(self.message(item), newline=True)
        self.target.request("POST", [("User-Agent", SIDEKICK_USER_AGENT), ("Content-Length", str(len(body))),
                                     ("Content-Type", SIDEKICK_CONTENT_TYPE)], body)

    def close(self, deadline: float) -> None:
        self.target.close()


def slack_forwarder(section: Section, forwarders: Section, settings: OutputSettings) -> SlackForwarder:
    section.check_keys(KEYS)
    url = section.required_str("webhookurl", "give the Slack incoming-webhook URL (https://hooks.slack.com/services/...)")
    try:
        scheme = parse_http_url(url)[0]
    except ValueError as exc:
        raise ConfigError(section.key("webhookurl"), str(exc)) from None
    template = None
    text = section.str("messageformat")
    if text.strip():
        try:
            template = GoTemplate(text)
        except TemplateError as exc:
            raise ConfigError(section.key("messageformat"), f"{exc}") from None
    ctx = sidekick_ssl_context(forwarders, section) if scheme == "https" else None
    return SlackForwarder(
        HttpTarget(url, settings.output_timeout, ctx, success=SIDEKICK_SUCCESS),
        outputformat=section.choice("outputformat", SLACK_OUTPUT_FORMATS, "all"),
        messageformat=template,
        username=section.str("username", "pdigpy"),
        icon=section.str("icon", ""),
        channel=section.str("channel", ""),
        footer=section.str("footer", "pdigpy"),
        min_priority=section.priority("minimumpriority"),
    )

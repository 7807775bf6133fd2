"""Building an OutputHub from the configuration: which sinks are on, each checked at start-up.

Falco's channels are switched on by ``<channel>.enabled`` (stderr_output on,
the others off, by default). Forwarders live under a top-level
``forwarders:`` block with falcosidekick's names; a forwarder is on when its
block is present (its required key must then be set). Every problem is a
ConfigError naming the key, raised here, before the traced app starts.
"""

from __future__ import annotations

from typing import TextIO

from pdigpy.outputs.config import ConfigError, Section
from pdigpy.outputs.hub import OutputHub
from pdigpy.outputs.settings import read_settings
from pdigpy.outputs.sink import Sink

FORWARDERS = ("slack", "kafka", "aws", "webhook")
HINTS = {"lambda": "write it as forwarders.aws.lambda (falcosidekick's layout)"}


def build_sinks(config: dict) -> list[Sink]:
    if not isinstance(config, dict):
        raise ConfigError("config", f"expected a mapping of falco.yaml keys, got {type(config).__name__}")
    settings = read_settings(config)
    top = Section(config, "")
    sinks: list[Sink] = []

    def enabled(name: str, default: bool) -> Section | None:
        section = top.section(name)
        return section if section.bool("enabled", default) else None

    if (s := enabled("stderr_output", True)) is not None:
        from pdigpy.outputs.channels.stream import stderr_channel

        colour = s.raw("color")  # pdigpy key: true/false forces colour; absent: when stderr is a terminal
        sinks.append(stderr_channel(settings.buffered, None if colour is None else s.bool("color", False)))
    if enabled("stdout_output", False) is not None:
        from pdigpy.outputs.channels.stream import stdout_channel

        sinks.append(stdout_channel(settings.buffered))
    if (s := enabled("file_output", False)) is not None:
        from pdigpy.outputs.channels.file import file_channel

        sinks.append(file_channel(s, settings))
    if (s := enabled("syslog_output", False)) is not None:
        from pdigpy.outputs.channels.syslog import syslog_channel

        sinks.append(syslog_channel(s, settings))
    if (s := enabled("program_output", False)) is not None:
        from pdigpy.outputs.channels.program import program_channel

        sinks.append(program_channel(s, settings))
    if (s := enabled("http_output", False)) is not None:
        from pdigpy.outputs.channels.http import http_channel

        sinks.append(http_channel(s, settings))

    forwarders = top.section("forwarders")
    if forwarders.data:  # the forwarders package is imported only when a forwarder is configured
        from pdigpy.outputs.forwarders.common import GLOBAL_KEYS
    for name in forwarders.data:
        if name not in FORWARDERS and name not in GLOBAL_KEYS:
            hint = HINTS.get(name, f"pdigpy forwards to: {', '.join(FORWARDERS)}")
            raise ConfigError(forwarders.key(str(name)), f"unknown forwarder; {hint}")
    if forwarders.data.get("slack") is not None:
        from pdigpy.outputs.forwarders.slack import slack_forwarder

        sinks.append(slack_forwarder(forwarders.section("slack"), forwarders, settings))
    if forwarders.data.get("webhook") is not None:
        from pdigpy.outputs.forwarders.webhook import webhook_forwarder

        sinks.append(webhook_forwarder(forwarders.section("webhook"), forwarders, settings))
    if forwarders.data.get("kafka") is not None:
        from pdigpy.outputs.forwarders.kafka import kafka_forwarder

        sinks.append(kafka_forwarder(forwarders.section("kafka"), forwarders, settings))
    if forwarders.data.get("aws") is not None:
        from pdigpy.outputs.forwarders.aws_lambda import lambda_forwarder

        sinks.append(lambda_forwarder(forwarders.section("aws"), forwarders, settings))
    return sinks


def build_hub(config: dict, status_stream: TextIO | None = None) -> OutputHub:
    from pdigpy.outputs.render import Renderer

    settings = read_settings(config)
    sinks = build_sinks(config)
    renderer = Renderer(settings, need_payload=any(s.needs_payload for s in sinks))
    return OutputHub(settings, sinks, renderer, status_stream)

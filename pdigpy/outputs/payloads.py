"""falcosidekick's payload shapes, built from Falco's own JSON alert.

pdigpy's forwarders stand in for falcosidekick, so they start where sidekick
starts: from the JSON object Falco posts (``alert_to_json`` with every property
included, as Falco's Helm chart configures it). This module applies sidekick's
input handling to it (fresh UUIDv4, empty source -> ``syscalls``, sorted tags,
the 4096/512-byte truncation) and serialises the result the way Go does:

- :func:`go_json` is ``json.Marshal``: struct field order, HTML characters
  escaped as ``\\u003c`` ``\\u003e`` ``\\u0026``, U+2028/2029 escaped, no newline;
  ``newline=True`` is ``json.Encoder.Encode`` (webhook, Slack).
- :func:`falco_payload` is sidekick's ``FalcoPayload`` (Kafka, Lambda, webhook).
- :func:`slack_message` is sidekick's Slack attachment message.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from datetime import datetime, timezone
from typing import Any

from pdigpy.outputs.gotemplate import GoTemplate

# falcosidekick's colours (outputs/constants.go) by Falco priority label.
SLACK_COLORS = {
    "Emergency": "#e20b0b",
    "Alert": "#ff5400",
    "Critical": "#ff5400",
    "Error": "#e20b0b",
    "Warning": "#ffc700",
    "Notice": "#5bffb5",
    "Informational": "#68c2ff",
    "Debug": "#ccfff2",
}

SLACK_OUTPUT_FORMATS = ("all", "text", "fields")

_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def go_json(value: Any, newline: bool = False) -> bytes:
    """``value`` serialised like Go's encoding/json (dict order is kept: build dicts in struct order)."""
    # Outside strings JSON never contains these characters, so translating the whole text is safe.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_GO_ESCAPES)
    return (text + "\n" if newline else text).encode("utf-8")


def _parse_time(text: str) -> tuple[datetime, int]:
    """Falco's ``time`` (``...HH:MM:SS.nnnnnnnnnZ``) as a UTC datetime (whole seconds) and nanoseconds."""
    base, _, frac = text.rstrip("Z").partition(".")
    seconds = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    nanos = int((frac + "000000000")[:9]) if frac else 0
    return seconds, nanos


def rfc3339nano(text: str) -> str:
    """Go's ``time.RFC3339Nano`` of Falco's ``time``: the fraction without trailing zeros (none if zero)."""
    seconds, nanos = _parse_time(text)
    frac = ("%09d" % nanos).rstrip("0")
    return seconds.strftime("%Y-%m-%dT%H:%M:%S") + ("." + frac if frac else "") + "Z"


def go_time_string(text: str) -> str:
    """Go's ``Time.String()`` of Falco's ``time``: ``2023-05-25 13:44:05.478445995 +0000 UTC``."""
    seconds, nanos = _parse_time(text)
    frac = ("%09d" % nanos).rstrip("0")
    return seconds.strftime("%Y-%m-%d %H:%M:%S") + ("." + frac if frac else "") + " +0000 UTC"


def _truncate_long_fields(payload: dict[str, Any]) -> None:
    """sidekick: over 4096 bytes, string output_fields over 512 bytes become 507 bytes + ``[...]``."""
    if len(go_json(payload)) <= 4096:
        return
    fields = payload.get("output_fields") or {}
    for key, value in fields.items():
        if isinstance(value, str):
            raw = value.encode("utf-8")
            if len(raw) > 512:
                cut = raw[:507].decode("utf-8", "replace") + "[...]"
                payload["output"] = payload.get("output", "").replace(value, cut)
                fields[key] = cut


def falco_payload(falco_json: str, event_uuid: str | None = None) -> dict[str, Any]:
    """sidekick's ``FalcoPayload`` for Falco's JSON alert, as an ordered dict ready for :func:`go_json`."""
    src = json.loads(falco_json)
    payload: dict[str, Any] = {
        "uuid": event_uuid or str(uuidlib.uuid4()),
        "output": src.get("output", ""),
        "priority": src.get("priority", ""),
        "rule": src.get("rule", ""),
        "time": src.get("time", ""),
        "output_fields": src.get("output_fields"),
        "source": src.get("source") or "syscalls",
        "tags": sorted(src.get("tags") or []),
        "hostname": src.get("hostname", ""),
    }
    _truncate_long_fields(payload)
    return payload


def marshal_payload(payload: dict[str, Any], newline: bool = False) -> bytes:
    """``json.Marshal(FalcoPayload)``: omitempty uuid/tags/hostname, RFC3339Nano time."""
    out = {k: v for k, v in payload.items() if not (k in ("uuid", "tags", "hostname") and not v)}
    out["time"] = rfc3339nano(payload["time"])
    return go_json(out, newline)


def template_data(payload: dict[str, Any]) -> dict[str, Any]:
    """The names a sidekick Go template sees (``.Rule``, ``.OutputFields`` ...)."""
    return {
        "UUID": payload["uuid"],
        "Output": payload["output"],
        "Priority": payload["priority"],
        "Rule": payload["rule"],
        "Time": go_time_string(payload["time"]),
        "OutputFields": payload["output_fields"] or {},
        "Source": payload["source"],
        "Tags": payload["tags"],
        "Hostname": payload["hostname"],
    }


def slack_message(
    payload: dict[str, Any],
    *,
    outputformat: str = "all",
    messageformat: GoTemplate | None = None,
    username: str = "",
    icon: str = "",
    channel: str = "",
    footer: str = "",
) -> dict[str, Any]:
    """sidekick's Slack webhook message (legacy attachments) for one payload, in Go field order."""
    fields: list[dict[str, Any]] | None = None
    attachment: dict[str, Any] = {"fallback": payload["output"], "color": SLACK_COLORS.get(payload["priority"], "")}
    if outputformat in ("all", "fields"):
        fields = [
            {"title": "rule", "value": payload["rule"], "short": True},
            {"title": "priority", "value": payload["priority"], "short": True},
            {"title": "source", "value": payload["source"], "short": True},
        ]
        if payload["hostname"]:
            fields.append({"title": "hostname", "value": payload["hostname"], "short": True})
        if payload["tags"]:
            fields.append({"title": "tags", "value": ", ".join(sorted(payload["tags"])), "short": True})
        output_fields = payload["output_fields"] or {}
        for key in sorted(output_fields):
            value = output_fields[key]
            if isinstance(value, str):  # sidekick skips numbers, booleans and nulls
                fields.append({"title": key, "value": value, "short": len(value) < 36})
        fields.append({"title": "time", "value": go_time_string(payload["time"]), "short": False})
    if outputformat in ("all", "text"):
        attachment["text"] = payload["output"]
    attachment["fields"] = fields
    if outputformat in ("all", "fields") and footer:
        attachment["footer"] = footer
    message: dict[str, Any] = {}
    if messageformat is not None:
        text = messageformat.render(template_data(payload))
        if text:
            message["text"] = text
    if username:
        message["username"] = username
    if icon:
        message["icon_url"] = icon
    if channel:
        message["channel"] = channel
    message["attachments"] = [attachment]
    return message

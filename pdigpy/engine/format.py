"""Falco's output formatting: rule output templates, the text alert line, the JSON alert object.

Three layers, each usable on its own:

- :class:`OutputFormatter` compiles a rule's ``output`` template once (``%field``,
  ``%field[arg]``, ``%20field``, ``%transformer(field)``) and renders it per alert into the
  message text and the typed ``output_fields`` (Falco's JSON typing: strings, ints, bools,
  null; time fields as ns integers).
- :func:`alert_to_text` and :func:`alert_to_json` turn an :class:`~pdigpy.engine.alert.Alert`
  into the exact line Falco prints (text) or emits (``json_output: true``).
- :func:`parse_append_output` / :func:`append_output_for` implement falco.yaml's
  ``append_output`` list (``extra_output``, ``extra_fields``, ``suggested_output``).

Encoding choice (Falco <= 0.44 behaviour): the text line is emitted as is; field values have
invalid UTF-8 and non-printable control characters replaced by U+FFFD when they are rendered,
so an alert is always one line of valid UTF-8. The JSON object is serialised like nlohmann's
``dump()``: compact, keys sorted, raw UTF-8, invalid UTF-8 replaced by U+FFFD.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from pdigpy.engine.fields.base import FILTER_ONLY, FieldError

if TYPE_CHECKING:
    from pdigpy.engine.alert import Alert
    from pdigpy.engine.fields.base import BoundField
    from pdigpy.events.model import Event

NA = "<NA>"

# ---------------------------------------------------------------------------
# Time strings
# ---------------------------------------------------------------------------


def time_local(ns: int) -> str:
    """``%evt.time``: local time of day with nine fraction digits, ``15:41:04.268296715``."""
    return time.strftime("%H:%M:%S", time.localtime(ns // 1_000_000_000)) + ".%09d" % (ns % 1_000_000_000)


def time_iso8601(ns: int) -> str:
    """``%evt.time.iso8601``: UTC, ``2016-08-04T16:17:57.881781397+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + ".%09d+0000" % (ns % 1_000_000_000)


def time_json(ns: int) -> str:
    """The JSON ``time`` key: UTC with nine fraction digits and ``Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + ".%09dZ" % (ns % 1_000_000_000)


_hostname: str | None = None


def default_hostname() -> str:
    """``FALCO_HOSTNAME`` if set, else gethostname(); computed once."""
    global _hostname
    if _hostname is None:
        _hostname = os.environ.get("FALCO_HOSTNAME") or socket.gethostname()
    return _hostname


# ---------------------------------------------------------------------------
# String hygiene
# ---------------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x1f\x7f]")


def valid_utf8(text: str) -> str:
    """The text with undecodable bytes (surrogate escapes, lone surrogates) as U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def printable_value(text: str) -> str:
    """A field value as Falco <= 0.44 prints it: invalid UTF-8 and control chars become U+FFFD."""
    if text.isprintable():
        return text
    return _CONTROL.sub("\ufffd", valid_utf8(text))


# ---------------------------------------------------------------------------
# Alert text line and JSON object
# ---------------------------------------------------------------------------


def alert_prefix(alert: Alert, time_format_iso_8601: bool = False) -> str:
    stamp = time_iso8601(alert.time_ns) if time_format_iso_8601 else time_local(alert.time_ns)
    return f"{stamp}: {alert.priority.label}"


def alert_to_text(alert: Alert, time_format_iso_8601: bool = False) -> str:
    """Falco's text alert line: ``<evt.time>: <Priority> <output>`` (no newline)."""
    return f"{alert_prefix(alert, time_format_iso_8601)} {valid_utf8(alert.output)}"


def prefix_time_key(time_format_iso_8601: bool = False) -> str:
    """The output_fields key of the prefix time field, merged into every JSON alert."""
    return "evt.time.iso8601" if time_format_iso_8601 else "evt.time"


def _json_clean(value: Any) -> Any:
    if isinstance(value, str):
        return valid_utf8(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_clean(v) for v in value]
    if isinstance(value, bytes):
        return valid_utf8(os.fsdecode(value))
    if isinstance(value, float):
        return value
    return valid_utf8(str(value))  # ip addresses, networks


def alert_to_json(
    alert: Alert,
    include_output: bool = True,
    include_tags: bool = True,
    *,
    include_message: bool = False,
    include_output_fields: bool = True,
    time_format_iso_8601: bool = False,
) -> str:
    """Falco's JSON alert object, byte for byte (falco_formats::format_event, JSON branch).

    Keys are sorted at every level, the encoding is compact raw UTF-8. ``output_fields``
    always carries the prefix time field (``evt.time``, or ``evt.time.iso8601`` in ISO mode)
    as integer ns; ``tags`` are sorted. The ``include_*`` flags are falco.yaml's
    ``json_include_*_property`` keys.
    """
    obj: dict[str, Any] = {
        "hostname": valid_utf8(alert.hostname or default_hostname()),
        "priority": alert.priority.label,
        "rule": valid_utf8(alert.rule),
        "source": alert.source,
        "time": time_json(alert.time_ns),
    }
    if include_output:
        obj["output"] = alert_to_text(alert, time_format_iso_8601)
    if include_message:
        obj["message"] = valid_utf8(alert.output)
    if include_output_fields:
        fields = {k: _json_clean(v) for k, v in alert.output_fields.items()}
        fields.setdefault(prefix_time_key(time_format_iso_8601), alert.time_ns)
        obj["output_fields"] = fields
    if include_tags:
        obj["tags"] = sorted(set(valid_utf8(t) for t in alert.tags))
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

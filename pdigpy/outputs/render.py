"""Rendering an alert once for every sink, on the dispatcher thread (never on the tracer's).

Falco's channels all receive the same message: the JSON object when
``json_output`` is on, else the text line. The forwarders receive
falcosidekick's payload, built from Falco's full JSON. Rendering itself is
:mod:`pdigpy.engine.format`'s job; this module only decides what to render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pdigpy.engine.alert import Alert
from pdigpy.engine.format import alert_to_json, alert_to_text
from pdigpy.outputs.settings import OutputSettings


@dataclass(init=False, repr=False, eq=False)  # methods written out: dataclass() would exec them at every start
class Rendered:
    """Rendered(alert, message, submitted, payload)."""

    __slots__ = ("alert", "message", "submitted", "payload")
    alert: Alert
    message: str  # what Falco's channels write: JSON object or text line, no newline
    submitted: float  # time.monotonic() at submit(); the retry window counts from here
    payload: dict[str, Any] | None  # falcosidekick's FalcoPayload, for forwarders

    def __init__(
        self,
        alert: Alert,
        message: str,
        submitted: float,
        payload: dict[str, Any] | None = None,
    ) -> None:
        self.alert = alert
        self.message = message
        self.submitted = submitted
        self.payload = payload

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(alert={self.alert!r}, message={self.message!r}, submitted={self.submitted!r}, payload={self.payload!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return (self.alert, self.message, self.submitted, self.payload) == (other.alert, other.message, other.submitted, other.payload)  # type: ignore[attr-defined]
        return NotImplemented


class Renderer:
    def __init__(self, settings: OutputSettings, need_payload: bool) -> None:
        self.settings = settings
        self.need_payload = need_payload

    def render(self, alert: Alert, submitted: float) -> Rendered:
        s = self.settings
        if s.json_output:
            message = alert_to_json(
                alert,
                s.include_output,
                s.include_tags,
                include_message=s.include_message,
                include_output_fields=s.include_output_fields,
                time_format_iso_8601=s.time_format_iso_8601,
            )
        else:
            message = alert_to_text(alert, s.time_format_iso_8601)
        payload = None
        if self.need_payload:
            # What Falco would post to falcosidekick: every property, whatever the channels use.
            full = alert_to_json(alert, True, True, time_format_iso_8601=s.time_format_iso_8601)
            import uuid  # here: forwarders only (uuid and the payload module cost ~5 ms to import)

            from pdigpy.outputs.payloads import falco_payload

            payload = falco_payload(full, str(uuid.uuid4()))
        return Rendered(alert, message, submitted, payload)

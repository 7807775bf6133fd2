"""stderr (pdigpy's default channel) and stdout (Falco's ``stdout_output``).

Both write Falco's message plus ``\\n``. On stderr, when it is a terminal, the
line is coloured by priority through rich; anywhere else it is plain text, so
logs and pipes get exactly Falco's bytes. stdout is never coloured and is off
by default: pdigpy shares stdout with the traced app, and writes there only
when ``stdout_output.enabled`` asks for it.

With ``buffered_outputs: false`` (the default) each line is flushed at once.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable, TextIO

from pdigpy.engine.priority import Priority
from pdigpy.outputs.retry import DeliveryError
from pdigpy.outputs.sink import Sink

if TYPE_CHECKING:
    from pdigpy.outputs.render import Rendered

PRIORITY_STYLES = {
    Priority.EMERGENCY: "bold red",
    Priority.ALERT: "bold red",
    Priority.CRITICAL: "bold red",
    Priority.ERROR: "red",
    Priority.WARNING: "yellow",
    Priority.NOTICE: "cyan",
    Priority.INFORMATIONAL: "green",
    Priority.DEBUG: "dim",
}


class StreamChannel(Sink):
    def __init__(
        self,
        name: str,
        get_stream: Callable[[], TextIO],
        buffered: bool,
        colour: bool | None = False,
    ) -> None:
        super().__init__()
        self.name = name
        self._get_stream = get_stream  # looked up per alert: tests and the CLI may swap sys.stderr
        self.buffered = buffered
        self.colour = colour  # None: colour when the stream is a terminal
        self._console = None
        self._console_stream = None

    def _coloured(self, stream: TextIO) -> bool:
        if self.colour is not None:
            return self.colour
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    def send(self, item: Rendered) -> None:
        stream = self._get_stream()
        try:
            if self._coloured(stream):
                self._print_coloured(stream, item)
            else:
                stream.write(item.message + "\n")
            if not self.buffered:
                stream.flush()
        except (OSError, ValueError) as exc:  # closed pipe or stream
            raise DeliveryError(f"cannot write to {self.name}: {exc}", retryable=False) from None

    def _print_coloured(self, stream: TextIO, item: Rendered) -> None:
        if self._console is None or self._console_stream is not stream:
            from rich.console import Console  # only when colouring a terminal: keeps start-up light

            self._console = Console(file=stream, force_terminal=True, soft_wrap=True, highlight=False,
                                    markup=False, emoji=False)
            self._console_stream = stream
        from rich.text import Text

        self._console.print(Text(item.message, style=PRIORITY_STYLES.get(item.alert.priority, "")))

    def close(self, deadline: float) -> None:
        try:
            self._get_stream().flush()
        except (OSError, ValueError):
            pass


def stderr_channel(buffered: bool, colour: bool | None = None) -> StreamChannel:
    return StreamChannel("stderr_output", lambda: sys.stderr, buffered, colour)


def stdout_channel(buffered: bool) -> StreamChannel:
    return StreamChannel("stdout_output", lambda: sys.stdout, buffered, False)

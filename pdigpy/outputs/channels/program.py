"""Falco's ``program_output``: the message plus ``\\n`` on the stdin of a shell command.

The command runs through ``/bin/sh -c`` (like popen), so pipelines work
(``jq '{text: .output}' | curl -d @- URL``).

- ``keep_alive: false`` (Falco's default): one process per alert; the sender
  thread waits for it to exit, as pclose() does. A non-zero exit status counts
  the alert as failed.
- ``keep_alive: true``: one process for the whole run, one line per alert; if
  it dies it is started again for the next alert. An alert counts as sent once
  the program has read it from its pipe (or, alive, has not read it within
  2 s); one it died without reading counts as failed. At exit its stdin is
  closed and pdigpy waits for it up to the flush timeout; a non-zero exit
  status then is reported on stderr.

The programs are started, and waited for, by a spawner process forked when the
channel is built (:mod:`pdigpy.outputs.spawner`): the tracer's wait loop reaps
every child of pdigpy, which would steal their exit statuses.

Differences from Falco, because pdigpy shares the terminal with the traced app:
the program's stdout goes to pdigpy's stderr (the app's stdout is the app's),
and it runs in its own session, so a Ctrl-C meant for the app does not kill it
before it has delivered the last alerts.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from pdigpy.outputs.config import ConfigError, Section
from pdigpy.outputs.retry import DeliveryError
from pdigpy.outputs.spawner import SHELL, ProgramSpawner, SpawnerError
from pdigpy.outputs.sink import Sink

if TYPE_CHECKING:
    from pdigpy.outputs.render import Rendered
    from pdigpy.outputs.settings import OutputSettings


class ProgramChannel(Sink):
    name = "program_output"

    def __init__(self, program: str, keep_alive: bool, buffered: bool) -> None:
        super().__init__()
        self.program = program
        self.keep_alive = keep_alive
        self.buffered = buffered
        # Forked now, while pdigpy is still single-threaded and before the app is traced
        # (OutputHub.from_config runs before Tracer.run_command): see pdigpy.outputs.spawner.
        self._spawner: ProgramSpawner | None = None
        self._spawner_error = ""
        try:
            self._spawner = ProgramSpawner(program, buffered)
        except SpawnerError as exc:
            self._spawner_error = str(exc)

    def _request(self, op: bytes, data: bytes = b"") -> str:
        if self._spawner is None:
            raise DeliveryError(self._spawner_error, retryable=False)
        try:
            return self._spawner.request(op, data)
        except SpawnerError as exc:
            self._spawner, self._spawner_error = None, str(exc)
            raise DeliveryError(str(exc), retryable=False) from None

    def send(self, item: Rendered) -> None:
        data = (item.message + "\n").encode("utf-8", "replace")
        if self.keep_alive and self.reopen_requested:  # SIGUSR1: Falco restarts a kept-alive program
            self.reopen_requested = False
            self._request(b"C", b"1.0")
        error = self._request(b"K" if self.keep_alive else b"R", data)
        if error:
            raise DeliveryError(error, retryable=False)

    def close(self, deadline: float) -> None:
        spawner, self._spawner = self._spawner, None
        if spawner is None:
            return
        try:
            error = spawner.request(b"C", str(max(0.0, deadline - time.monotonic())).encode()) if self.keep_alive else ""
        except SpawnerError:
            error = ""
        finally:
            spawner.stop()
        if error:
            raise DeliveryError(error, retryable=False)


def program_channel(section: Section, settings: OutputSettings) -> ProgramChannel:
    program = section.str("program", "").strip()
    if not program:
        raise ConfigError(section.key("program"), "is empty; give a shell command that reads alerts on its stdin, "
                          "e.g. \"logger -t pdigpy\", or set program_output.enabled=false")
    if not os.access(SHELL, os.X_OK):
        raise ConfigError(section.key("program"), f"{SHELL} is not available to run the program; "
                          "set program_output.enabled=false")
    return ProgramChannel(program, section.bool("keep_alive", False), settings.buffered)

"""Falco's ``program_output``: the message plus ``\\n`` on the stdin of a shell command.

The command runs through ``/bin/sh -c`` (like popen), so pipelines work
(``jq '{text: .output}' | curl -d @- URL``).

- ``keep_alive: false`` (Falco's default): one process per alert; the sender
  thread waits for it to exit, as pclose() does. A non-zero exit status counts
  the alert as failed.
- ``keep_alive: true``: one process for the whole run, one line per alert; if
  it dies it is started again for the next alert. At exit its stdin is closed
  and pdigpy waits for it up to the flush timeout.

Differences from Falco, because pdigpy shares the terminal with the traced app:
the program's stdout goes to pdigpy's stderr (the app's stdout is the app's),
and it runs in its own session, so a Ctrl-C meant for the app does not kill it
before it has delivered the last alerts.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import TYPE_CHECKING

from pdigpy.outputs.config import ConfigError, Section
from pdigpy.outputs.retry import DeliveryError
from pdigpy.outputs.sink import Sink

if TYPE_CHECKING:
    from pdigpy.outputs.render import Rendered
    from pdigpy.outputs.settings import OutputSettings

SHELL = "/bin/sh"


class ProgramChannel(Sink):
    name = "program_output"

    def __init__(self, program: str, keep_alive: bool, buffered: bool) -> None:
        super().__init__()
        self.program = program
        self.keep_alive = keep_alive
        self.buffered = buffered
        self._proc: subprocess.Popen | None = None

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(
            [SHELL, "-c", self.program],
            stdin=subprocess.PIPE,
            stdout=2,  # pdigpy's stderr: never the app's stdout
            start_new_session=True,
            bufsize=-1 if self.buffered else 0,
        )

    def send(self, item: Rendered) -> None:
        data = (item.message + "\n").encode("utf-8", "replace")
        if self.keep_alive:
            self._send_kept(data)
            return
        try:
            proc = self._spawn()
        except OSError as exc:
            raise DeliveryError(f"cannot start {self.program!r}: {exc.strerror or exc}", retryable=False) from None
        try:
            assert proc.stdin is not None
            proc.stdin.write(data)
            proc.stdin.close()
        except OSError:
            pass  # the program did not read its stdin; its exit status tells
        status = proc.wait()
        if status != 0:
            raise DeliveryError(f"program {self.program!r} exited with status {status}", retryable=False)

    def _send_kept(self, data: bytes) -> None:
        if self.reopen_requested:  # SIGUSR1: Falco restarts a kept-alive program
            self.reopen_requested = False
            self.close(time.monotonic() + 1.0)
        for attempt in (1, 2):  # a dead kept-alive program is restarted once per alert
            if self._proc is None or self._proc.poll() is not None:
                try:
                    self._proc = self._spawn()
                except OSError as exc:
                    raise DeliveryError(f"cannot start {self.program!r}: {exc.strerror or exc}", retryable=False) from None
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(data)
                if not self.buffered:
                    self._proc.stdin.flush()
                return
            except OSError as exc:
                self._reap()
                if attempt == 2:
                    raise DeliveryError(f"program {self.program!r} is not reading: {exc.strerror or exc}",
                                        retryable=False) from None

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()
            except OSError:
                pass
            proc.poll()

    def close(self, deadline: float) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()  # end of input: the program finishes its work and exits
        except OSError:
            pass
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass  # still running at the flush timeout: left to finish on its own


def program_channel(section: Section, settings: OutputSettings) -> ProgramChannel:
    program = section.str("program", "").strip()
    if not program:
        raise ConfigError(section.key("program"), "is empty; give a shell command that reads alerts on its stdin, "
                          "e.g. \"logger -t pdigpy\", or set program_output.enabled=false")
    if not os.access(SHELL, os.X_OK):
        raise ConfigError(section.key("program"), f"{SHELL} is not available to run the program; "
                          "set program_output.enabled=false")
    return ProgramChannel(program, section.bool("keep_alive", False), settings.buffered)

"""Falco's ``file_output``: append ``message + "\\n"`` to a file.

``keep_alive: false`` (Falco's default) opens and closes the file for every
alert, so log rotation needs nothing; ``true`` keeps it open. The file is
opened once at start-up to check it can be written (a clear error then, never
a surprise at the first alert).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TextIO

from pdigpy.outputs.config import ConfigError, Section
from pdigpy.outputs.retry import DeliveryError
from pdigpy.outputs.sink import Sink

if TYPE_CHECKING:
    from pdigpy.outputs.render import Rendered
    from pdigpy.outputs.settings import OutputSettings


class FileChannel(Sink):
    name = "file_output"

    def __init__(self, filename: str, keep_alive: bool, buffered: bool) -> None:
        super().__init__()
        self.filename = filename
        self.keep_alive = keep_alive
        self.buffered = buffered
        self._file: TextIO | None = None

    def _open(self) -> TextIO:
        return open(self.filename, "a", encoding="utf-8", errors="replace", buffering=-1 if self.buffered else 1)

    def send(self, item: Rendered) -> None:
        if self.reopen_requested:
            self.reopen_requested = False
            self.reopen()
        try:
            if self.keep_alive:
                if self._file is None:
                    self._file = self._open()
                self._file.write(item.message + "\n")
                if not self.buffered:
                    self._file.flush()
            else:
                with self._open() as f:
                    f.write(item.message + "\n")
        except OSError as exc:
            self._file = None
            raise DeliveryError(f"cannot write {self.filename}: {exc.strerror or exc}", retryable=False) from None

    def reopen(self) -> None:
        """Close the kept-open file so the next alert reopens it (Falco does this on SIGUSR1).

        Called on the sender thread only; other threads use OutputHub.reopen()."""
        f, self._file = self._file, None
        if f is not None:
            f.close()

    def close(self, deadline: float) -> None:
        self.reopen()


def file_channel(section: Section, settings: OutputSettings) -> FileChannel:
    filename = os.path.expanduser(section.str("filename", "./events.txt"))
    if not filename.strip():
        raise ConfigError(section.key("filename"), "is empty; give the path of the file to append alerts to")
    try:
        with open(filename, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigError(section.key("filename"), f"cannot open {filename!r} for appending ({exc.strerror or exc}); "
                          "fix the path or its permissions, or set file_output.enabled=false") from None
    return FileChannel(filename, section.bool("keep_alive", False), settings.buffered)

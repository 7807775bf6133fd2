"""Falco's priorities, most severe first (the same order as syslog severities)."""

from __future__ import annotations

import enum


class Priority(enum.IntEnum):
    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6
    DEBUG = 7

    @property
    def label(self) -> str:
        """The name as Falco prints it in alerts: ``Warning``, ``Informational`` ..."""
        return self.name.capitalize()

    @classmethod
    def parse(cls, text: str) -> Priority:
        """Case-insensitive, accepting Falco's aliases (``info``, ``warn``)."""
        key = text.strip().upper()
        key = {"INFO": "INFORMATIONAL", "WARN": "WARNING", "EMERG": "EMERGENCY", "CRIT": "CRITICAL", "ERR": "ERROR"}.get(key, key)
        try:
            return cls[key]
        except KeyError:
            raise ValueError(f"unknown priority {text!r}; use one of: " + ", ".join(p.name.lower() for p in cls)) from None
